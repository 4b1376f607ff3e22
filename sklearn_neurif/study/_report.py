"""Write a :class:`StudyResult` as ``report.md``, PNG figures and ``metrics.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._conclusion import conclusion, neurif_cap, without_factor_structure
from ._figures import write_figures
from ._sensitivity import k_rule_text
from ._tables import refit_warnings

__all__ = ["write_report"]


def _fmt(value, digits=4):
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return "n/a"
        if value != 0 and abs(value) < 10 ** -(digits - 1):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def _table(frame: pd.DataFrame, index=True, digits=4) -> str:
    """Markdown table (no tabulate dependency)."""
    frame = frame.copy()
    header = ([frame.index.name or ""] if index else []) + [
        str(c) for c in frame.columns
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for idx, row in frame.iterrows():
        cells = ([str(idx)] if index else []) + [_fmt(v, digits) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _percent_cell(value) -> str:
    return f"{100 * value:.3f}%" if np.isfinite(value) else "n/a"


def _in_percent(frame: pd.DataFrame, labels, axis="index") -> pd.DataFrame:
    """``frame`` with the rows (``axis="index"``) or columns named in ``labels``
    printed in percent: the report's one unit for R² and returns."""
    out = frame.astype(object).copy()
    for label in labels:
        if axis == "index" and label in out.index:
            out.loc[label] = [_percent_cell(float(v)) for v in frame.loc[label]]
        elif axis == "columns" and label in out.columns:
            out[label] = [_percent_cell(float(v)) for v in frame[label]]
    return out


def _return_columns(frame: pd.DataFrame) -> list:
    """Columns of returns or R² in a table of long-short statistics or alphas."""
    return [
        c for c in frame.columns
        if c in ("mean", "alpha", "alpha_annual", "r2", "R2_total", "R2_predictive")
        or c.startswith("mean_net_")
    ]  # fmt: skip


#: Rows of an anomaly-test table that are alphas or R².
_ANOMALY_PERCENT_ROWS = ("mean_abs_alpha", "rms_alpha", "avg_R2", "cs_R2", "cs_R2_ols")

#: The report's unit convention, stated in its protocol.
UNITS = (
    "**Units:** R², returns and alphas are in percent in every table and "
    "figure of this report (a monthly return of 0.5% prints as 0.500%); "
    "t-statistics, Sharpe ratios, turnover, rank ICs and p-values are plain "
    "numbers; squared-error differentials are in squared decimal returns. "
    "`metrics.json` holds every number as a decimal."
)


def headline_table(head: pd.DataFrame) -> str:
    """The headline table (statistics as rows, models as columns) in Markdown.

    R², RMSE, long-short means and alphas in percent, the report's unit.
    ``head`` is ``StudyResult.summary().T``, or ``metrics.json``'s
    ``headline`` read back (``benchmarks/regenerate_study_docs.py``).
    """
    pct_rows = [
        r
        for r in head.index
        if r.endswith("R2")
        or r.endswith("(monthly)")
        or r.startswith("LS mean")
        or r == "RMSE"
    ]
    return _table(_in_percent(head, pct_rows))


def headline_markdown(result) -> str:
    """The headline section in Markdown (its title, months and table)."""
    n = result.split["test"]["n_periods_with_return"]
    title = f"## Headline{result.label}\n\n{n} test months with returns, the same "
    title += "months for every model."
    return f"{title}\n\n" + headline_table(result.summary().T)


def write_report(result, out_dir) -> dict:
    """Write ``report.md``, ``metrics.json`` and ``figures/*.png`` into ``out_dir``.

    Parameters
    ----------
    result : StudyResult
    out_dir : path
        Created if missing.

    Returns
    -------
    dict
        Paths of the files written (``report``, ``metrics``, ``figures``).
    """
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    figures = write_figures(result, out / "figures")
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(result.to_dict(), indent=1, allow_nan=False))
    report_path = out / "report.md"
    report_path.write_text(_markdown(result, figures))
    return {"report": report_path, "metrics": metrics_path, "figures": figures}


def _markdown(r, figures) -> str:
    c, d, q = r.config, r.data_info, r.label
    lines = [
        f"# Walk-forward study{q}: {', '.join(r.models)} out of sample",
        "",
    ]
    if c["quick"]:
        lines += [
            "**Quick run** (`--quick`): a subsample and few epochs, to check the "
            "pipeline; its numbers are not the study's results.",
            "",
        ]
    lines += [
        f"Data: **{d['name']}**, {d['n_rows']:,} rows, {d['n_entities']:,} entities, "
        f"{d['n_periods']} months, median {d['median_assets_per_period']:.0f} assets a "
        f"month; characteristics: {', '.join(d['characteristics'])}.",
        f"Rank-scaled per month into [-0.5, 0.5] plus a constant instrument; "
        f"{d['n_imputed']:,} missing characteristic cells set to the "
        "cross-sectional median (0).",
        "",
    ]
    lines += [f"- {n}" for n in d["notes"]]
    lines += ["", f"## Protocol{q}", "", _protocol(r), "", UNITS, ""]
    lines += [headline_markdown(r), ""]
    lines += [_headline_notes(r), "", "## Conclusion" + q, "", conclusion(r), ""]
    lines += _k_sensitivity_section(r)
    lines += _accuracy_sections(r) + _portfolio_sections(r) + _factor_sections(r)
    lines += _kps_section(r)
    lines += _refit_warnings_section(r)
    lines += [
        f"## Wall time{q}",
        "",
        _table(pd.Series(r.timings, name="seconds").round(1).astype(str).to_frame()),
        "",
        *_parallel_timing_note(r.config),
        _machine_line(),
        "",
        "All numbers and every monthly series are in `metrics.json`.",
        "",
    ]
    return "\n".join(lines)


def _machine_line() -> str:
    """Cores and load when the report is written: a run time means little without them."""
    cores = os.cpu_count()
    try:
        loads = "/".join(f"{v:.1f}" for v in os.getloadavg())
    except (AttributeError, OSError):  # not on every platform (e.g. Windows)
        loads = "n/a"
    return (
        f"Machine: {cores} CPU cores; load average {loads} (1, 5 and 15 minutes) "
        "when the report was written. Times on a loaded machine are longer."
    )


def _protocol(r) -> str:
    c, s = r.config, r.split
    grids = ", ".join(f"{m} {c['grids'][m] or 'no K'}" for m in r.models)
    return (
        f"Walk-forward (`walk_forward_predict`): test as-of months {s['test']['first']} "
        f"to {s['test']['last']} ({s['test']['n_periods_with_return']} with returns, "
        f"{s['test']['n_rows_with_return']:,} stock-months), {s['n_refits']} refits, "
        f"one every {c['refit_every']} months on an expanding window that starts "
        f"{s['first_train']['first']}; the last {c['validation_periods']} months of "
        "each window are its validation window (first window: validation "
        f"{s['first_validation']['first']} to {s['first_validation']['last']}). "
        "Inside each refit K is chosen by a GridSearchCV on the **K rule**: the "
        f"highest {k_rule_text(c['k_rule'])} on the validation window (one K: no "
        "search; your own estimators' searches keep their scoring), the chosen K "
        "is refitted on the whole window, and the nets stop early on that "
        "validation window. Grids: "
        f"{grids}. Parameters: `{c['params']}`; NeurIF seeds per refit: "
        f"{c['neurif_seeds']}. {neurif_cap(r)} "
        f"Sorts: {c['n_portfolios']} quantile portfolios, "
        "long-short = top minus bottom. Row (i, t) holds characteristics known at "
        "the end of t and the return over t+1. "
        f"Seed {c['seed']}, device {c['device']}, torch threads {c['torch_threads']}"
        f"{_workers_text(c)}."
    )


def _refit_warnings_section(r) -> list:
    """Per model: the refits that warned, how often, and the first warning."""
    rows = [
        (model, f"{warned} of {n}", len(said), _shortened(said[0], 400))
        for model, warned, n, said in refit_warnings(r.refits)
    ]
    if not rows:
        return []
    frame = pd.DataFrame(rows, columns=["model", "refits", "warnings", "the first"])
    return [
        f"## Warnings raised in the refits{r.label}",
        "",
        "Each distinct warning once per refit, summed up here rather than "
        "printed for every refit; all of them are in `metrics.json` (`refits`, "
        "column `warnings`).",
        "",
        _table(frame, index=False),
        "",
    ]


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _parallel_timing_note(config) -> list:
    """How to read the wall times when the refits ran in parallel workers."""
    n = config.get("n_jobs", 1)
    if n == 1:
        return []
    return [
        f"The refits ran in {n} parallel workers: a refit's line is the wall time "
        "until its result arrived (in schedule order), and the sensitivity fits "
        "add up the workers' seconds, which can exceed their share of the wall "
        "time.",
        "",
    ]


def _workers_text(config) -> str:
    """The parallel workers, if any (results from earlier versions have none)."""
    n = config.get("n_jobs", 1)
    return (
        "" if n == 1 else f" in each of {n} parallel workers (refits, bootstrap draws)"
    )


def _headline_notes(r) -> str:
    plain = without_factor_structure(r)
    missing = (
        f" (no total R² for {', '.join(plain)}: no factor structure)" if plain else ""
    )
    return (
        "R² are uncentred (benchmark zero) and pooled over all test stock-months; "
        "predictive R² uses the premia known at t, total R² the factors realised "
        f"over t+1{missing}. "
        "**DM p vs IPCA**: two-sided p-value of the Diebold-Mariano test (Gu, "
        "Kelly and Xiu 2020) on the monthly cross-sectional mean squared errors "
        "of the predicted returns, Newey-West variance. **Rank IC NW t**: "
        "Newey-West t-statistic of the mean monthly Spearman IC. LS: long-short "
        "decile portfolio on predicted returns, mean monthly return with its "
        "Newey-West t, annualised Sharpe, mean one-way turnover of both legs "
        "(at most 2), Sharpe net of 10 and 25 bp one-way costs (net = gross - "
        "cost x turnover of both legs; the first month pays for building both "
        "legs). Alpha: the long-short on the factor set, Newey-West t."
    )


def _accuracy_sections(r) -> list:
    q = r.label
    ci = r.r2_intervals.map(_percent_cell)
    dm = r.diebold_mariano.drop(columns="differential")
    plain = without_factor_structure(r)
    cols = ["model", "refit", "train_end", "test_start", "test_end", "K"]
    refits = r.refits[[*cols, "fit_time", "R2_predictive"]]
    return [
        f"## Out-of-sample R² with 95% confidence intervals{q}",
        "",
        "Newey-West (delta-method) intervals of the pooled R² from its monthly sums."
        + (f" n/a for {', '.join(plain)}: no factor structure." if plain else ""),
        "",
        _table(ci),
        "",
        "![R2 with confidence intervals](figures/r2_ci.png)",
        "",
        f"## Diebold-Mariano tests, every pair{q}",
        "",
        "A positive statistic: the second model has the smaller monthly mean "
        "squared errors. Two-sided p-values, Newey-West variance; `pvalue_holm`: "
        f"Holm-adjusted across the {len(dm)} pairs (family-wise error rate).",
        "",
        _table(dm, index=False),
        "",
        f"## K and fit time per refit{q}",
        "",
        "K chosen on each refit's validation window (its last months); "
        "R2_predictive is the refit's own test block.",
        "",
        "![validation R2 by K](figures/validation_r2_by_k.png)",
        "",
        _table(_in_percent(refits, ["R2_predictive"], "columns"), index=False),
        "",
    ]


def _portfolio_sections(r) -> list:
    q = r.label
    out = [
        f"## Portfolio sorts on predicted returns{q}",
        "",
        _table(_in_percent(r.sorts, _return_columns(r.sorts), "columns"), index=False),
        "",
        "Mean monthly return of each portfolio:",
        "",
        _table(_in_percent(r.deciles, r.deciles.columns, "columns")),
        "",
        "![decile means](figures/decile_means.png)",
        "",
        "![cumulative long-short](figures/cumulative_long_short.png)",
        "",
        "Monthly Spearman rank IC of each model's predicted returns (faint) and "
        "its rolling 12-month mean (bold); the legend gives the mean and its "
        "Newey-West t.",
        "",
        "![monthly rank IC](figures/rank_ic.png)",
        "",
        f"## Alphas of the long-short portfolios{q}",
        "",
    ]
    if r.alphas.empty:
        out.append("No observable factors for this data source: no alphas.")
    else:
        out += ["Monthly alpha, annualised, Newey-West t, R², months:", ""]
        percent = _return_columns(r.alphas)
        out.append(_table(_in_percent(r.alphas, percent, "columns"), index=False))
    return out


def _factor_sections(r) -> list:
    q = r.label
    out = ["", f"## Anomaly tests{q}", ""]
    if not r.anomaly:
        out.append("No anomaly test could be run (see the notes above).")
    out += [
        "Test assets (excess returns) regressed on each factor set over the test "
        "months: mean |alpha|, counts of |t| > 1.96 and > 3 (Newey-West), GRS "
        "F-test, average R². A model enters as the market plus its long-short "
        "portfolio: its latent factors change rotation at every refit, so they "
        "are not one factor series over the test months. cs_R2 is the uncentred "
        "cross-sectional R², 1 - sum(alpha²) / sum(mean return²) over the test "
        "assets: it is below zero, even far below, when the alphas are larger "
        "than the assets' own mean returns, as for long-short portfolios whose "
        "means are near zero; cs_R2_ols is the centred R² of the mean returns on "
        "the implied ones, with an intercept (docs/inference.md).",
        "",
    ]
    for name, summ in r.anomaly.items():
        out += [f"### {name}", "", _table(_in_percent(summ, _ANOMALY_PERCENT_ROWS)), ""]
    absent = [m for m in r.models if m not in r.attribution]
    plain = without_factor_structure(r)
    why = [f"{m} ({'no factor structure' if m in plain else 'no loadings'})"
           for m in absent]  # fmt: skip
    out += [
        f"## Loadings and characteristics (last refit){q}",
        "",
        "IPCA: Gamma; the other factor models: pooled OLS slopes of their "
        "loadings on the characteristics (NeurIF's "
        "`characteristic_attribution(method='regression')`, the same regression "
        "on the `transform` loadings of the others); the constant's row is left "
        "out of the heatmap."
        + (f" Empty panel, no loadings to attribute: {', '.join(why)}." if why else ""),
        "",
        "![attribution](figures/attribution_heatmap.png)",
        "",
    ]
    return out


def _k_sensitivity_section(r) -> list:
    """The sensitivity line: every fixed K of each model that selects K, by the chosen."""
    out = [f"## Sensitivity to K{r.label}", ""]
    table = r.k_sensitivity
    if table.empty:
        why = (
            "off in this run (`--no-k-sensitivity`, `StudySettings.k_sensitivity`)"
            if not r.config.get("k_sensitivity", True)
            else "no model selects K in this run (one K per model)"
        )
        return out + [f"Not computed: {why}.", ""]
    out += [
        "The headline figures of each model that selects K, at every fixed K of "
        "its grid over the same test months (each K fitted on every whole "
        "training window, as the search's refit would have fitted it), next to "
        "the K chosen per refit by the K rule, the highest validation "
        f"{k_rule_text(r.config['k_rule'])}. "
        "R² in percent; `refits` = refits whose search chose that K.",
        "",
    ]
    names = {"r2_total": "total R2", "r2_predictive": "predictive R2",
             "ic_mean": "rank IC mean", "ic_nw_t": "rank IC NW t"}  # fmt: skip
    for model in table.index.unique("model"):
        rows = table.loc[model]
        frame = rows[list(names)].rename(columns=names)
        frame.index = [f"K = {k}" for k in rows.index]
        ks = r.refits.loc[r.refits.model == model, "K"].astype(int)
        frame.loc[f"chosen ({', '.join(map(str, ks))})"] = [
            r.test[model][key] for key in names
        ]
        frame["refits"] = [*rows["n_refits_chosen"].astype(int), len(ks)]
        frame = frame.rename_axis(model).astype(object)
        for col in ("total R2", "predictive R2"):
            frame[col] = [f"{100 * v:.3f}%" if np.isfinite(v) else "n/a"
                          for v in frame[col].astype(float)]  # fmt: skip
        out += [_table(frame), ""]
    return out


def _kps_section(r) -> list:
    """KPS's two tables of IPCA (W_alpha, W_beta per characteristic), or why not."""
    out = [
        f"## IPCA bootstrap tests (Kelly, Pruitt and Su 2019), last refit{r.label}",
        "",
    ]
    tests = r.ipca_tests or {"skipped": "not computed for this result."}
    if tests["skipped"]:
        return out + [f"Not run: {tests['skipped']}", ""]
    w, n = tests["window"], tests["n_boot"]
    out += [
        f"On the training window of the last refit (refit {w['refit']}: as-of "
        f"months {w['first']} to {w['last']}, {w['n_periods']} months, K = "
        f"{w['K']} as chosen there), not on every refit. Wild residual "
        f"bootstrap of the managed portfolios, **{n} draws** per test (the "
        "study's `kps_n_boot`, sized to its time budget: a p-value's Monte "
        f"Carlo standard error is at most {0.5 / np.sqrt(n):.3f}); p-value = "
        "share of draws above the statistic.",
        "",
        "W_alpha (H0: Gamma_alpha = 0, characteristics carry no alpha beyond "
        "their betas), on the same window refitted with an intercept:",
        "",
        _table(tests["alpha"].drop(columns="n_boot")),
        "",
        "W_beta (H0: the characteristic's row of Gamma_beta is zero), one test "
        "per characteristic, on the model without intercept:",
        "",
        _table(tests["instruments"].drop(columns="n_boot")),
        "",
    ]
    return out
