"""The report's conclusion, written from the evidence of a :class:`StudyResult`.

It says, in this order: whether each model's out-of-sample predictive R²
interval contains zero; which forecast-accuracy differences survive Holm's
correction across every Diebold-Mariano pair tested (raw and adjusted
p-values); which per-model signals (rank IC, long-short mean, alpha) are
significant and of which sign, before and after Holm's correction across
that family; whether the sign of a model's predictive R² or rank IC
depends on its number of factors K (the sensitivity line of every model
that selects K); and the caveats of the run (caps on NeurIF's training,
models without factor structure, a quick run). It never names a "best" model on a
point estimate whose interval contains zero without saying so.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from ..inference import holm

__all__ = ["conclusion", "k_sign_changes", "neurif_cap", "without_factor_structure"]


def _pct(value) -> str:
    return f"{100 * value:.3f}%" if np.isfinite(value) else "n/a"


def conclusion(r) -> str:
    """The conclusion paragraphs of the report (Markdown)."""
    parts = [_accuracy(r), _forecast_tests(r), _signals(r), _k_dependence(r)]
    parts.append(_caveats(r))
    return "\n\n".join(p for p in parts if p)


def _accuracy(r) -> str:
    ci, n = r.r2_intervals, r.split["test"]["n_periods_with_return"]
    cells, contains, above, below = [], [], [], []
    for m in r.models:
        est, lo, hi = (
            float(ci.loc[m, k])
            for k in ("r2_predictive", "predictive_lo", "predictive_hi")
        )
        cells.append(f"{m} {_pct(est)} [{_pct(lo)}, {_pct(hi)}]")
        if np.isfinite(lo) and np.isfinite(hi):
            (above if lo > 0 else below if hi < 0 else contains).append(m)
    text = (
        f"**Accuracy.** Out-of-sample predictive R² over {n} test months, with "
        f"95% Newey-West intervals: {'; '.join(cells)}. "
    )
    if contains and not (above or below):
        return text + (
            "Every interval contains zero: no model's forecasts are told apart from "
            "a zero forecast on these months, whatever the ranking of the point "
            "estimates."
        )
    if above:
        text += f"Above zero: {', '.join(above)}. "
    if below:
        text += f"Below zero (worse than forecasting zero): {', '.join(below)}. "
    if contains:
        text += f"Containing zero: {', '.join(contains)}."
    return text.strip()


def _forecast_tests(r) -> str:
    dm = r.diebold_mariano
    if dm.empty:
        return ""
    adjusted = dm["pvalue_holm"] if "pvalue_holm" in dm else holm(dm["pvalue"])
    rows = []
    for row, p_adj in zip(dm.itertuples(index=False), adjusted, strict=True):
        better = row.model_2 if row.stat > 0 else row.model_1
        rows.append(
            f"{row.model_1} vs {row.model_2}: {better} has the smaller squared errors, "
            f"DM {row.stat:.2f}, p = {row.pvalue:.3f}, Holm-adjusted {p_adj:.3f}"
        )
    significant = [
        f"{a} vs {b}"
        for a, b, p in zip(dm.model_1, dm.model_2, adjusted, strict=True)
        if p < 0.05
    ]
    raw = int((dm.pvalue < 0.05).sum())
    text = (
        f"**Forecast accuracy tests.** Diebold-Mariano tests of all {len(dm)} model "
        "pairs, Holm's correction across them (family-wise 5%): "
        + "; ".join(rows)
        + ". "
    )
    if significant:
        return text + f"Significant after the correction: {', '.join(significant)}."
    text += (
        "No difference in forecast accuracy is significant at 5% after the correction"
    )
    if raw:
        text += f" ({raw} pair(s) below 5% before it)"
    return text + "."


def _signal_tests(r) -> list:
    """(label, stat, t) of each model's rank IC, long-short mean and alpha."""
    head = r.summary()
    main = "VW" if "LS NW t VW" in head else "EW"
    alpha_t = [c for c in head.columns if c.endswith(f"alpha {main} t")]
    tests = []
    for m in r.models:
        row = head.loc[m]
        tests.append((f"{m}'s rank IC", row["rank IC mean"], row["rank IC NW t"]))
        tests.append(
            (
                f"{m}'s long-short {main} mean",
                row[f"LS mean {main}"],
                row[f"LS NW t {main}"],
            )
        )
        for col in alpha_t:
            name = col.split(" alpha")[0]
            value = row[col[: -len(" t")] + " (monthly)"]
            tests.append((f"{m}'s {name} alpha ({main})", value, row[col]))
    return [
        (label, float(v), float(t)) for label, v, t in tests if np.isfinite(float(t))
    ]


def _signals(r) -> str:
    tests = _signal_tests(r)
    if not tests:
        return ""
    p = 2 * norm.sf(np.abs([t for *_, t in tests]))
    adjusted = holm(p)
    found = []
    for (label, _, t), raw, adj in zip(tests, p, adjusted, strict=True):
        if raw < 0.05:
            sign = "positive" if t > 0 else "negative"
            kept = "survives" if adj < 0.05 else "not after"
            found.append(
                f"{label} is significantly {sign} (t = {t:.2f}, p = {raw:.3f}; Holm {adj:.3f}, {kept} the correction)"
            )
    text = (
        f"**Signals.** {len(tests)} per-model tests (rank IC, long-short mean and "
        "alpha, Newey-West t, normal p-values), Holm's correction across them: "
    )
    text += (
        "; ".join(found) + "."
        if found
        else "none is significant at 5%, before or after the correction."
    )
    alphas = [(label, v) for label, v, _ in tests if "alpha" in label]
    if len(alphas) > 1 and all(v < 0 for _, v in alphas):
        text += " Every long-short alpha is negative."
    elif len(alphas) > 1 and all(v > 0 for _, v in alphas):
        text += " Every long-short alpha is positive."
    return text


#: Headline figures whose sign the conclusion checks across K, and their format.
_SIGNED = {
    "r2_predictive": ("predictive R²", _pct),
    "ic_mean": ("rank IC", lambda v: f"{v:.3f}"),
}


def k_sign_changes(r) -> list:
    """``(model, figure, chosen, {K: value})`` where the figure's sign depends on K.

    The figure at each fixed K of the sensitivity line and with the K chosen
    per refit (the headline): listed when some are above zero and some below.
    """
    table = getattr(r, "k_sensitivity", None)
    if table is None or table.empty:
        return []
    out = []
    for model in table.index.unique("model"):
        for key in _SIGNED:
            by_k = table.loc[model, key].astype(float).to_dict()
            values = [*by_k.values(), float(r.test[model][key])]
            if any(v > 0 for v in values) and any(v < 0 for v in values):
                out.append((model, key, float(r.test[model][key]), by_k))
    return out


def _k_dependence(r) -> str:
    changes = k_sign_changes(r)
    if not changes:
        table = getattr(r, "k_sensitivity", None)
        if table is None or table.empty:
            return ""
        models = list(table.index.unique("model"))
        grids = "their grids" if len(models) > 1 else "its grid"
        return (
            "**Choice of K.** The signs of the predictive R² and rank IC of "
            f"{', '.join(models)} do not depend on K: the same at every K of "
            f"{grids} as with the K chosen per refit."
        )
    sentences = []
    for model, key, chosen, by_k in changes:
        label, fmt = _SIGNED[key]
        sides = []
        for sign, keep in (
            ("positive", lambda v: v > 0),
            ("negative", lambda v: v < 0),
        ):
            ks = [k for k, v in by_k.items() if keep(v)]
            if ks:
                values = [by_k[k] for k in ks]
                span = (fmt(values[0]) if len(ks) == 1
                        else f"{fmt(min(values))} to {fmt(max(values))}")  # fmt: skip
                sides.append(f"{sign} at K = {', '.join(map(str, ks))} ({span})")
        sentences.append(
            f"{model}'s {label} depends on K in its sign: {fmt(chosen)} with K chosen "
            f"per refit, {' and '.join(sides)}"
        )
    return (
        "**Choice of K.** "
        + "; ".join(sentences)
        + ". Read such a sign as a consequence of the choice of K, not as a "
        "finding (the sensitivity line below)."
    )


def neurif_cap(r) -> str:
    """A sentence stating any cap on NeurIF's training in this run (or '')."""
    if "NeurIF" not in r.models:
        return ""
    from .. import NeurIFRegressor

    defaults = NeurIFRegressor().get_params()
    used = r.config["params"].get("NeurIF", {})
    capped = [
        f"{key}={used[key]} (default {defaults[key]})"
        for key in ("max_epochs", "patience")
        if key in used and used[key] != defaults[key]
    ]
    if not capped:
        return ""
    return (
        f"NeurIF was trained with {', '.join(capped)} in every refit, a cap that "
        "holds the run's time budget: its figures are those of the capped model, "
        "not of the estimator at its defaults."
    )


def without_factor_structure(r) -> list:
    """Models without realised factors (no total R², no attribution)."""
    flags = r.config.get("factor_structure")
    if flags is None:
        return [m for m in r.models if not np.isfinite(r.test[m]["r2_total"])]
    return [m for m in r.models if not flags.get(m, True)]


def _caveats(r) -> str:
    notes = [neurif_cap(r)]
    plain = without_factor_structure(r)
    if plain:
        notes.append(
            f"{', '.join(plain)}: no factor structure (no realised factors), so no "
            "total R² and no characteristic attribution; every predictive figure "
            "and test above applies to them."
        )
    if r.config.get("quick"):
        notes.append("This is a quick run: a subsample and few epochs, not results.")
    notes = [n for n in notes if n]
    return "**Caveats.** " + " ".join(notes) if notes else ""
