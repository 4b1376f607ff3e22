"""Write a :class:`StudyResult` as ``report.md``, PNG figures and ``metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..panel import as_of_to_return_period

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
    """The headline table in Markdown (R² and alphas in percent)."""
    head = result.headline()
    pct_rows = [r for r in head.index if r.endswith("R2") or r.endswith("(monthly)")]
    return _table(_pct(head, pct_rows))


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
    c, d, s = r.config, r.data_info, r.split
    ipca_k, nf_k = r.chosen["IPCA"], r.chosen["NeurIF"]
    lines = [
        "# NeurIF study: IPCA vs NeurIF out of sample",
        "",
        f"Data: **{d['name']}**, {d['n_rows']:,} rows, {d['n_entities']:,} entities, "
        f"{d['n_periods']} months, median {d['median_assets_per_period']:.0f} assets a "
        f"month; characteristics: {', '.join(d['characteristics'])}.",
        f"Rank-scaled per month into [-0.5, 0.5]; {d['n_imputed']:,} missing "
        "characteristic cells set to the cross-sectional median (0).",
        "",
    ]
    lines += [f"- {n}" for n in d["notes"]]
    lines += [
        "",
        "## Protocol",
        "",
        "| sample | first as-of month | last as-of month | months | rows with a return |",
        "| --- | --- | --- | --- | --- |",
    ]
    for part, v in s.items():
        lines.append(
            f"| {part} | {v['first']} | {v['last']} | {v['n_periods']} | "
            f"{v['n_rows_with_return']:,} |"
        )
    lines += [
        "",
        "Row (i, t) holds characteristics known at the end of month t and the "
        "return over t+1, so the test returns are earned one month after the "
        "as-of months above. Period outputs (long-short returns, factors) are "
        "labelled by the as-of month in `metrics.json` (`long_short_returns`) "
        "and relabelled to the month earned before every regression on factor "
        "files; `factors` in `metrics.json` is labelled by the month earned.",
        "",
        f"K chosen by **{c['selection']}** (ties: smaller K) among IPCA "
        f"{c['ipca_grid']} and NeurIF {c['neurif_grid']}, each fitted on the "
        f"training months; the chosen K refitted on **{c['refit']}**, then "
        "evaluated once on the test months. NeurIF settings: "
        f"`{c['neurif_params']}` (early stopping on the last 20% of its own "
        "training months, best weights restored). Sorts: "
        f"{c['n_portfolios']} quantile portfolios, long-short = top minus bottom. "
        f"Seed {c['seed']}, device {c['device']}, quick={c['quick']}.",
        "",
        "## Headline (test months, same months for both models)",
        "",
        headline_markdown(r),
        "",
        "R² are uncentred (benchmark zero); predictive R² uses the premia known "
        "at t (IPCA: mean training factors; NeurIF: its premium head); total R² "
        "uses the factors realised over t+1. Alphas: long-short decile portfolio "
        "on predicted returns regressed on the factor set, Newey-West t.",
        "",
        _verdict(r),
        "",
        "## R² by number of factors",
        "",
        "Every K fitted on the training months only; validation and test R² of "
        "that same fit (the headline uses the refit of the chosen K).",
        "",
        _table(_by_k(r.by_k), index=True),
        "",
        "![R2 by K](figures/r2_by_k.png)",
        "",
        "## Portfolio sorts (test months)",
        "",
        "Long-short (top minus bottom) statistics per signal: mean monthly "
        "return, Newey-West t, annualised Sharpe, mean one-way turnover.",
        "",
        _table(r.sorts, index=False),
        "",
        "Mean monthly return of each portfolio, sorts on predicted returns:",
        "",
        _table(r.deciles),
        "",
        "![cumulative long-short](figures/cumulative_long_short.png)",
        "",
        "## Alphas of the long-short portfolios",
        "",
    ]
    if r.alphas.empty:
        lines.append("No observable factors for this data source: no alphas.")
    else:
        lines += [
            "Monthly alpha, annualised alpha, Newey-West t, R², months:",
            "",
            _table(r.alphas, index=False),
        ]
    lines += ["", "## Anomaly tests", ""]
    if not r.anomaly:
        lines.append("No anomaly test could be run (see the notes above).")
    for name, summ in r.anomaly.items():
        lines += [
            f"### {name}",
            "",
            "Test assets regressed on each factor set over the same months: "
            "mean |alpha|, count of |t| > 1.96 and > 3, GRS F-test, average R². "
            "Learned factors: realised factors of the refitted models (out of "
            "sample on the test months, in sample before)."
            + (
                " The external file's months that the panel covers are "
                "(mostly) in the models' estimation months: an in-sample test."
                if name.startswith("external")
                else ""
            ),
            "",
            _table(summ),
            "",
        ]
    lines += [
        "## Loadings and characteristics",
        "",
        f"IPCA: Gamma (K={ipca_k}). NeurIF: slopes of the pooled regression of its "
        f"loadings on the rank-scaled characteristics over the test months "
        f"(K={nf_k}; `characteristic_attribution(method='regression')`). The "
        "constant instrument's row is left out of the heatmap (it is in "
        "`metrics.json`).",
        "",
        "![attribution](figures/attribution_heatmap.png)",
        "",
        "![factors](figures/factor_time_series.png)",
        "",
        "## Wall time",
        "",
        _table(pd.Series(r.timings, name="seconds").round(1).astype(str).to_frame()),
        "",
        "All numbers are in `metrics.json`.",
        "",
    ]
    return "\n".join(lines)


def _by_k(by_k: pd.DataFrame) -> pd.DataFrame:
    frame = by_k.set_index(["model", "K"]).copy()
    frame.index = [f"{m} K={k}" for m, k in frame.index]
    frame.index.name = "model"
    return frame.map(lambda v: f"{100 * v:.3f}%")


def _verdict(r) -> str:
    ti, tn = r.test["IPCA"], r.test["NeurIF"]
    parts = []
    for key, label in (("r2_total", "total R²"), ("r2_predictive", "predictive R²")):
        better = "NeurIF" if tn[key] > ti[key] else "IPCA"
        parts.append(
            f"{label}: {better} is higher ({100 * tn[key]:.3f}% NeurIF vs "
            f"{100 * ti[key]:.3f}% IPCA)"
        )
    return "On these test months, " + "; ".join(parts) + "."


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

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, col, title in zip(
        axes,
        ("test_total_r2", "test_predictive_r2"),
        ("total R² (test)", "predictive R² (test)"),
        strict=False,
    ):
        for model, grp in r.by_k.groupby("model"):
            ax.plot(grp.K, 100 * grp[col], marker="o", label=model)
            ax.plot(grp.K, 100 * grp[col.replace("test", "valid")], ls=":", marker=".",
                    color=ax.lines[-1].get_color(), label=f"{model} (valid)")  # fmt: skip
        ax.set_xlabel("K")
        ax.set_ylabel("%")
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    save(fig, "r2_by_k.png")

    fig, axes = plt.subplots(1, len({w for _, w in r.ls_returns}), figsize=(9, 3.5))
    axes = np.atleast_1d(axes)
    for ax, w in zip(axes, sorted({w for _, w in r.ls_returns}), strict=False):
        for (model, ww), frame in r.ls_returns.items():
            if ww == w:
                # Plotted by the month the return is earned (as-of + 1).
                earned = as_of_to_return_period(frame["predicted"].dropna())
                cum = (1 + earned).cumprod()
                ax.plot(cum.index.to_timestamp() if hasattr(cum.index, "to_timestamp")
                        else cum.index, cum.to_numpy(), label=model)  # fmt: skip
        ax.set_title(f"long-short on predicted returns, {w}")
        ax.set_xlabel("month earned")
        ax.set_ylabel("growth of 1")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelrotation=30)
    save(fig, "cumulative_long_short.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (model, frame) in zip(axes, r.attribution.items(), strict=False):
        # The constant instrument's row would dominate the colour scale.
        frame = frame.drop(index="const", errors="ignore")
        values = frame.to_numpy(dtype=float)
        lim = np.nanmax(np.abs(values)) or 1.0
        im = ax.imshow(values, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_yticks(range(len(frame.index)), [str(i) for i in frame.index])
        ax.set_xticks(
            range(frame.shape[1]), [f"{j + 1}" for j in range(frame.shape[1])]
        )
        ax.set_xlabel("factor")
        ax.set_title(f"{model}: loading ~ characteristic")
        fig.colorbar(im, ax=ax, shrink=0.8)
    save(fig, "attribution_heatmap.png")

    fig, axes = plt.subplots(len(r.factors), 1, figsize=(9, 6), sharex=True)
    axes = np.atleast_1d(axes)
    test_start = pd.Period(r.split["test"]["first"], freq="M") + 1
    for ax, (model, frame) in zip(axes, r.factors.items(), strict=False):
        cum = (1 + frame.fillna(0)).cumprod()
        for col in cum:
            ax.plot(cum.index.to_timestamp(), cum[col].to_numpy(), label=col, lw=1)
        ax.axvline(test_start.to_timestamp(), color="k", ls="--", lw=0.8)
        ax.set_title(f"{model}: cumulative realised factors (dashed: test start)")
        ax.legend(fontsize=7, ncol=3)
    save(fig, "factor_time_series.png")
    return paths
