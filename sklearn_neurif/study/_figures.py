"""The study's figures, each drawn from a :class:`StudyResult` and written as PNG.

Conventions, the same in every figure (issue 20):

- R² and returns in **percent** (the report's unit convention);
- a title on every figure and every panel, labelled axes with their units;
- legends **below the panels**, in the figure's own margin
  (``fig.legend(loc="outside lower center")`` under constrained layout), never
  over the data; a colourbar says what the colour is and its unit;
- each model of the study keeps one colour in every figure, and every model
  appears in every figure or the figure says why it does not (e.g. a model
  without factor structure has no total R² and no loadings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..panel import as_of_to_return_period
from ._conclusion import without_factor_structure
from ._tables import WEIGHTING_LABELS

__all__ = ["FIGURES", "draw_figures", "write_figures"]

#: Months of the rolling mean drawn over the monthly rank IC.
IC_WINDOW = 12
#: Resolution of the PNG files (print quality at the figures' 7-inch width).
DPI = 150
WIDTH = 7.0


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none assumed
    import matplotlib.pyplot as plt

    return plt


def _new(plt, n_axes=1, height=3.2, ncols=None, **kwargs):
    """A figure of ``n_axes`` panels (``ncols`` a row) under constrained layout."""
    ncols = ncols or n_axes
    nrows = -(-n_axes // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(WIDTH, height * nrows), squeeze=False,
        layout="constrained", **kwargs,
    )  # fmt: skip
    axes = list(axes.ravel())
    for ax in axes[n_axes:]:
        ax.remove()  # a grid's unused last cells
    return fig, axes[:n_axes]


def _colours(r) -> dict:
    """One colour per model, the same in every figure."""
    import matplotlib

    cycle = matplotlib.colormaps["tab10"].colors
    return {m: cycle[i % len(cycle)] for i, m in enumerate(r.models)}


def _legend_below(fig, handles=None, labels=None, ncol=None):
    """The figure's legend in its bottom margin, outside every panel."""
    if handles is None:
        handles, labels = [], []
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", fontsize=7,
                   ncol=ncol or min(len(labels), 3), frameon=False)  # fmt: skip


def _not_shown(names, reason) -> str:
    return f"not shown: {', '.join(names)} ({reason})" if names else ""


def _title(fig, r, text, note=""):
    """Figure title; a second line states what is absent and why."""
    fig.suptitle(f"{text}{r.label}" + (f"\n{note}" if note else ""), fontsize=9)


def _zero_line(ax):
    ax.axhline(0, color="0.3", lw=0.7, zorder=0)


def fig_r2(plt, r):
    """Pooled out-of-sample total and predictive R² with 95% Newey-West intervals."""
    fig, axes = _new(plt, 2)
    colours, plain = _colours(r), without_factor_structure(r)
    for ax, kind in zip(axes, ("total", "predictive"), strict=True):
        ci = 100 * r.r2_intervals.reindex(r.models)[
            [f"r2_{kind}", f"{kind}_lo", f"{kind}_hi"]
        ].astype(float)
        for i, (model, row) in enumerate(ci.iterrows()):
            mid, lo, hi = row.to_numpy()
            if not np.isfinite(mid):
                # Keep the model on the axis and say why it has no point.
                ax.annotate("n/a", (i, 0), ha="center", va="bottom", fontsize=7)
                continue
            ax.errorbar(i, mid, yerr=[[mid - lo], [hi - mid]], fmt="o", capsize=4,
                        color=colours[model])  # fmt: skip
        _zero_line(ax)
        ax.set_xticks(range(len(ci)), list(ci.index), fontsize=8)
        ax.set_xlim(-0.5, len(ci) - 0.5)
        ax.set_xlabel("model")
        ax.set_ylabel(f"{kind} R², %")
        ax.set_title(f"{kind.capitalize()} R²", fontsize=9)
    note = (
        f"n/a: {', '.join(plain)} (no factor structure: no total R²)" if plain else ""
    )
    _title(fig, r, "Out-of-sample R² (uncentred, pooled) with 95% Newey-West "
           "intervals", note)  # fmt: skip
    return fig


def fig_cumulative(plt, r):
    """Cumulative log return of each model's long-short portfolio, by weighting."""
    weightings = list(dict.fromkeys(w for _, w in r.long_short_returns))
    fig, axes = _new(plt, max(len(weightings), 1), sharey=True)
    colours, earned = _colours(r), None
    for ax, w in zip(axes, weightings, strict=False):
        for (model, ww), frame in r.long_short_returns.items():
            if ww != w:
                continue
            # By the month the return is earned (as-of + 1); log returns add up.
            earned = as_of_to_return_period(frame["predicted"].dropna())
            cum = 100 * np.log1p(earned).cumsum()
            ax.plot(cum.index.to_timestamp(), cum.to_numpy(), lw=1.2,
                    color=colours[model], label=model)  # fmt: skip
        if r.market is not None and earned is not None:
            cum = 100 * np.log1p(r.market.reindex(earned.index).dropna()).cumsum()
            ax.plot(cum.index.to_timestamp(), cum.to_numpy(), "k--", lw=0.9,
                    label="market excess return")  # fmt: skip
        _zero_line(ax)
        ax.set_title(f"{WEIGHTING_LABELS.get(w, w)} long-short (top minus bottom)",
                     fontsize=9)  # fmt: skip
        ax.set_xlabel("month earned")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    if not weightings:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no long-short portfolio", ha="center")
    axes[0].set_ylabel("cumulative log return, %")
    _title(fig, r, "Cumulative gross return of the long-short portfolios sorted "
           "on predicted returns", _not_shown(_absent(r, r.long_short_returns),
                                              "no sort"))  # fmt: skip
    _legend_below(fig, ncol=4)
    return fig


def _absent(r, keyed) -> list:
    """Models of the study missing from a dict keyed by model or (model, ...)."""
    present = {k[0] if isinstance(k, tuple) else k for k in keyed}
    return [m for m in r.models if m not in present]


def fig_deciles(plt, r):
    """Mean monthly return of each portfolio of the sorts, per model and weighting."""
    frame = 100 * r.deciles.drop(columns="LS", errors="ignore")
    rows = list(frame.index)
    fig, axes = _new(plt, 1)
    ax, colours = axes[0], _colours(r)
    width = 0.8 / max(len(rows), 1)
    x = np.arange(frame.shape[1])
    for i, label in enumerate(rows):
        model, _, w = label.rpartition(" ")
        # Equal-weighted bars hatched, value-weighted plain: same model colour.
        ax.bar(x + i * width - 0.4 + width / 2, frame.loc[label].to_numpy(), width,
               color=colours.get(model, "0.5"), hatch="///" if w == "equal" else None,
               edgecolor="white", lw=0.3,
               label=f"{model} {WEIGHTING_LABELS.get(w, w)}")  # fmt: skip
    _zero_line(ax)
    ax.set_xticks(x, [str(c) for c in frame.columns], fontsize=8)
    ax.set_xlabel("portfolio of predicted return (1 = lowest)")
    ax.set_ylabel("mean monthly return, %")
    ax.set_title("Mean return by portfolio (EW hatched, VW plain)", fontsize=9)
    absent = [m for m in r.models if not any(s.rpartition(" ")[0] == m for s in rows)]
    _title(fig, r, "Portfolios sorted on predicted returns",
           _not_shown(absent, "no sort"))  # fmt: skip
    _legend_below(fig, ncol=4)
    return fig


def fig_rank_ic(plt, r):
    """Monthly rank IC (faint) and its rolling 12-month mean (bold), per model."""
    fig, axes = _new(plt, 1)
    ax, colours = axes[0], _colours(r)
    for model, ev in r.evaluations.items():
        ic = ev.monthly["rank_ic"].dropna()
        when = ic.index.to_timestamp()
        ax.plot(when, ic.to_numpy(), lw=0.6, alpha=0.3, color=colours[model])
        rolling = ic.rolling(IC_WINDOW, min_periods=IC_WINDOW).mean()
        ax.plot(when, rolling.to_numpy(), lw=2.0, color=colours[model],
                label=f"{model}: mean {ev.ic_mean:.3f}, NW t {ev.ic_nw_tstat:.2f}")  # fmt: skip
    _zero_line(ax)
    ax.set_xlabel("as-of month (return earned over the next month)")
    ax.set_ylabel("Spearman rank IC")
    ax.set_title(f"Bold: rolling {IC_WINDOW}-month mean; faint: monthly IC",
                 fontsize=9)  # fmt: skip
    _title(fig, r, "Rank information coefficient of the predicted returns",
           _not_shown(_absent(r, r.evaluations), "not evaluated"))  # fmt: skip
    _legend_below(fig, ncol=2)
    return fig


def fig_validation_by_k(plt, r):
    """The K rule's validation R² by K of every refit, the chosen K circled."""
    import matplotlib as mpl

    from ._sensitivity import k_rule_text

    # The search scores by the study's K rule (total or predictive R²).
    metric = k_rule_text(r.config.get("k_rule", "total_r2"))

    searched = [
        m for m in r.models
        if r.refits.loc[r.refits.model == m, "validation_r2"].notna().any()
    ]  # fmt: skip
    fig, axes = _new(plt, max(len(searched), 1), height=3.4)
    refits = r.refits[r.refits.model.isin(searched)]
    ends = [p.year + (p.month - 1) / 12 for p in refits.train_end] or [0.0]
    norm = mpl.colors.Normalize(min(ends), max(ends) + 1e-9)
    cmap = mpl.colormaps["viridis"]
    for ax, model in zip(axes, searched, strict=False):
        for row in refits[refits.model == model].itertuples(index=False):
            colour = cmap(norm(row.train_end.year + (row.train_end.month - 1) / 12))
            ks, vals = zip(*sorted(row.validation_r2.items()), strict=True)
            ax.plot(ks, 100 * np.array(vals), marker=".", lw=0.9, color=colour)
            ax.plot(row.K, 100 * row.validation_r2[row.K], "o", ms=8, mfc="none",
                    color=colour)  # fmt: skip
        _zero_line(ax)
        ax.set_xticks(ks)
        ax.set_xlabel("number of factors K")
        ax.set_ylabel(f"validation {metric}, %")
        ax.set_title(model, fontsize=9)
    if searched:
        bar = fig.colorbar(mpl.cm.ScalarMappable(norm, cmap), ax=axes, shrink=0.9)
        bar.set_label("end of the refit's training window (year)", fontsize=8)
        circle = mpl.lines.Line2D([], [], marker="o", ls="", mfc="none", color="0.2")
        _legend_below(fig, [circle], ["K chosen in the refit"])
    else:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no model searched over K", ha="center")
    unsearched = [m for m in r.models if m not in searched]
    _title(fig, r, f"Validation {metric} by K in each refit",
           _not_shown(unsearched, "no search over K"))  # fmt: skip
    return fig


def fig_attribution(plt, r):
    """How each factor model's loadings depend on the characteristics (last refit)."""
    fig, axes = _new(plt, len(r.models), height=3.0, ncols=min(len(r.models), 2))
    for ax, model in zip(axes, r.models, strict=True):
        frame = r.attribution.get(model)
        ax.set_title(model, fontsize=9)
        if frame is None:
            # Keep the model's panel and say why it is empty.
            ax.set_axis_off()
            why = ("no factor structure" if model in without_factor_structure(r)
                   else "no characteristic attribution")  # fmt: skip
            ax.text(0.5, 0.5, f"{why}:\nno loadings to attribute", ha="center",
                    va="center", fontsize=8, transform=ax.transAxes)  # fmt: skip
            continue
        # The constant instrument's row would dominate the colour scale.
        frame = frame.drop(index="const", errors="ignore")
        values = frame.to_numpy(dtype=float)
        lim = float(np.nanmax(np.abs(values))) or 1.0
        im = ax.imshow(values, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_yticks(range(len(frame.index)), [str(c) for c in frame.index],
                      fontsize=7)  # fmt: skip
        ax.set_xticks(
            range(frame.shape[1]), [str(j + 1) for j in range(frame.shape[1])]
        )
        ax.set_xlabel("factor k")
        ax.set_ylabel("characteristic (rank-scaled)", fontsize=8)
        bar = fig.colorbar(im, ax=ax, shrink=0.9)
        bar.set_label("loading change per unit\nof characteristic", fontsize=7)
    _title(fig, r, "Loadings on the characteristics, last refit\n(IPCA: Gamma; "
           "others: OLS slopes of their loadings; constant left out)")  # fmt: skip
    return fig


#: File name -> drawing function, in report order.
FIGURES = {
    "r2_ci.png": fig_r2,
    "validation_r2_by_k.png": fig_validation_by_k,
    "decile_means.png": fig_deciles,
    "cumulative_long_short.png": fig_cumulative,
    "rank_ic.png": fig_rank_ic,
    "attribution_heatmap.png": fig_attribution,
}


def draw_figures(result) -> dict:
    """Every figure of the report, drawn (Agg backend) and left open.

    Parameters
    ----------
    result : StudyResult

    Returns
    -------
    dict
        File name -> matplotlib ``Figure``; the caller closes them.
    """
    plt = _plt()
    return {name: draw(plt, result) for name, draw in FIGURES.items()}


def write_figures(result, folder) -> list:
    """Write every figure of the report as a PNG file into ``folder``.

    Parameters
    ----------
    result : StudyResult
    folder : path
        An existing folder.

    Returns
    -------
    list of Path
        The files written, in :data:`FIGURES` order.
    """
    plt, paths = _plt(), []
    for name, draw in FIGURES.items():
        fig = draw(plt, result)
        try:
            fig.savefig(Path(folder) / name, dpi=DPI)
        finally:
            plt.close(fig)  # many runs in one process: do not leak figures
        paths.append(Path(folder) / name)
    return paths
