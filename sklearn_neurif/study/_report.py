"""Write a :class:`StudyResult` as ``report.md``, PNG figures and ``metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..panel import as_of_to_return_period
from ._conclusion import conclusion, neurif_cap, without_factor_structure
from ._sensitivity import k_rule_text
from ._tables import WEIGHTING_LABELS

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


def _pct(frame: pd.DataFrame, rows) -> pd.DataFrame:
    out = frame.astype(object).copy()
    for r in rows:
        if r in out.index:
            out.loc[r] = [
                f"{100 * v:.3f}%" if np.isfinite(v) else "n/a" for v in frame.loc[r]
            ]
    return out


def headline_markdown(result) -> str:
    """The headline table in Markdown (R², means and alphas in percent)."""
    head = result.summary().T
    pct_rows = [
        r
        for r in head.index
        if r.endswith("R2") or r.endswith("(monthly)") or r.startswith("LS mean")
    ]
    n = result.split["test"]["n_periods_with_return"]
    title = f"## Headline{result.label}\n\n{n} test months with returns, the same "
    title += "months for every model."
    return f"{title}\n\n" + _table(_pct(head, pct_rows))


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
    figures = _figures(result, out / "figures")
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
    lines += ["", f"## Protocol{q}", "", _protocol(r), "", headline_markdown(r), ""]
    lines += [_headline_notes(r), "", "## Conclusion" + q, "", conclusion(r), ""]
    lines += _k_sensitivity_section(r)
    lines += _accuracy_sections(r) + _portfolio_sections(r) + _factor_sections(r)
    lines += _kps_section(r)
    lines += [
        f"## Wall time{q}",
        "",
        _table(pd.Series(r.timings, name="seconds").round(1).astype(str).to_frame()),
        "",
        "All numbers and every monthly series are in `metrics.json`.",
        "",
    ]
    return "\n".join(lines)


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
        f"Seed {c['seed']}, device {c['device']}, torch threads {c['torch_threads']}."
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
    ci = r.r2_intervals.map(lambda v: f"{100 * v:.3f}%" if np.isfinite(v) else "n/a")
    dm = r.diebold_mariano.drop(columns="differential")
    plain = without_factor_structure(r)
    cols = ["model", "refit", "train_end", "test_start", "test_end", "K"]
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
        _table(r.refits[[*cols, "fit_time", "R2_predictive"]], index=False),
        "",
    ]


def _portfolio_sections(r) -> list:
    q = r.label
    out = [
        f"## Portfolio sorts on predicted returns{q}",
        "",
        _table(r.sorts, index=False),
        "",
        "Mean monthly return of each portfolio:",
        "",
        _table(r.deciles),
        "",
        "![decile means](figures/decile_means.png)",
        "",
        "![cumulative long-short](figures/cumulative_long_short.png)",
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
        out.append(_table(r.alphas, index=False))
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
        "are not one factor series over the test months.",
        "",
    ]
    for name, summ in r.anomaly.items():
        out += [f"### {name}", "", _table(summ), ""]
    if r.attribution:
        absent = [m for m in r.models if m not in r.attribution]
        out += [
            f"## Loadings and characteristics (last refit){q}",
            "",
            "IPCA: Gamma; the nets: slopes of their loadings on the characteristics "
            "(`characteristic_attribution(method='regression')`); the constant's row "
            "is left out of the heatmap."
            + (
                f" Not shown: {', '.join(absent)} (no loadings on the "
                "characteristics to attribute)."
                if absent
                else ""
            ),
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


def _figures(r, folder: Path) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []

    def save(fig, name):
        path = folder / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    for name, draw in (
        ("r2_ci.png", _fig_r2),
        ("cumulative_long_short.png", _fig_cumulative),
        ("decile_means.png", _fig_deciles),
        ("rank_ic.png", _fig_ic),
        ("validation_r2_by_k.png", _fig_by_k),
    ):
        fig = draw(plt, r)
        save(fig, name)
    if r.attribution:
        save(_fig_attribution(plt, r), "attribution_heatmap.png")
    return paths


def _fig_r2(plt, r):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, kind in zip(axes, ("total", "predictive"), strict=True):
        ci = 100 * r.r2_intervals[[f"r2_{kind}", f"{kind}_lo", f"{kind}_hi"]].astype(
            float
        )
        x = np.arange(len(ci))
        mid = ci[f"r2_{kind}"].to_numpy()
        err = [mid - ci[f"{kind}_lo"].to_numpy(), ci[f"{kind}_hi"].to_numpy() - mid]
        ax.errorbar(x, mid, yerr=err, fmt="o", capsize=4)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, list(ci.index))
        ax.set_ylabel("%")
        ax.set_title(f"OOS {kind} R² with 95% NW interval{r.label}", fontsize=9)
    return fig


def _fig_cumulative(plt, r):
    weightings = sorted({w for _, w in r.long_short_returns})
    fig, axes = plt.subplots(1, len(weightings), figsize=(9, 3.5), squeeze=False)
    for ax, w in zip(axes[0], weightings, strict=True):
        for (model, ww), frame in r.long_short_returns.items():
            if ww == w:
                # By the month the return is earned (as-of + 1); log returns.
                earned = as_of_to_return_period(frame["predicted"].dropna())
                cum = np.log1p(earned).cumsum()
                ax.plot(cum.index.to_timestamp(), cum.to_numpy(), label=model)
        if r.market is not None:
            mkt = r.market.reindex(earned.index).dropna()
            cum = np.log1p(mkt).cumsum()
            ax.plot(cum.index.to_timestamp(), cum.to_numpy(), "k--", lw=1,
                    label="market excess")  # fmt: skip
        ax.axhline(0, color="k", lw=0.8)
        tag = WEIGHTING_LABELS.get(w, w)
        ax.set_title(f"Cumulative log return, long-short {tag}, gross{r.label}",
                     fontsize=9)  # fmt: skip
        ax.set_xlabel("month earned")
        ax.set_ylabel("sum of log returns")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelrotation=30)
    return fig


def _fig_deciles(plt, r):
    fig, ax = plt.subplots(figsize=(9, 3.5))
    frame = 100 * r.deciles.drop(columns="LS", errors="ignore")
    n = len(frame)
    width = 0.8 / max(n, 1)
    x = np.arange(frame.shape[1])
    for i, (label, row) in enumerate(frame.iterrows()):
        ax.bar(x + i * width - 0.4 + width / 2, row.to_numpy(), width, label=label)
    ax.set_xticks(x, list(frame.columns))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("mean monthly return, %")
    ax.set_title(f"Portfolios sorted on predicted returns (low to high){r.label}",
                 fontsize=9)  # fmt: skip
    ax.legend(fontsize=7, ncol=2)
    return fig


def _fig_ic(plt, r):
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for model, ev in r.evaluations.items():
        ic = ev.monthly["rank_ic"].dropna()
        ax.plot(ic.index.to_timestamp(), ic.to_numpy(), lw=1,
                label=f"{model} (mean {ev.ic_mean:.3f}, NW t {ev.ic_nw_tstat:.2f})")  # fmt: skip
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("as-of month")
    ax.set_ylabel("Spearman rank IC")
    ax.set_title(f"Monthly rank IC of the predicted returns{r.label}", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def _fig_attribution(plt, r):
    fig, axes = plt.subplots(1, len(r.attribution), figsize=(10, 4), squeeze=False)
    for ax, (model, frame) in zip(axes[0], r.attribution.items(), strict=True):
        # The constant instrument's row would dominate the colour scale.
        frame = frame.drop(index="const", errors="ignore")
        values = frame.to_numpy(dtype=float)
        lim = np.nanmax(np.abs(values)) or 1.0
        im = ax.imshow(values, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_yticks(range(len(frame.index)), [str(i) for i in frame.index])
        ax.set_xticks(
            range(frame.shape[1]), [str(j + 1) for j in range(frame.shape[1])]
        )
        ax.set_xlabel("factor")
        ax.set_title(f"{model}: loading ~ characteristic (last refit)", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def _fig_by_k(plt, r):
    """Validation predictive R² by K of every refit, the chosen K marked."""
    searched = [m for m in r.models if r.refits[r.refits.model == m].validation_r2
                .notna().any()]  # fmt: skip
    fig, axes = plt.subplots(1, max(len(searched), 1), figsize=(9, 3.5), squeeze=False)
    for ax, model in zip(axes[0], searched, strict=False):
        rows = r.refits[r.refits.model == model]
        for row in rows.itertuples(index=False):
            ks, vals = zip(*sorted(row.validation_r2.items()), strict=True)
            line = ax.plot(ks, 100 * np.array(vals), marker=".", lw=1,
                           label=f"refit {row.refit} (to {row.train_end})")  # fmt: skip
            ax.plot(row.K, 100 * row.validation_r2[row.K], "o", ms=9, mfc="none",
                    color=line[0].get_color())  # fmt: skip
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(ks)
        ax.set_xlabel("K")
        ax.set_ylabel("validation predictive R², %")
        ax.set_title(f"{model}: validation R² by K (circle: chosen){r.label}",
                     fontsize=9)  # fmt: skip
        ax.legend(fontsize=6)
    return fig
