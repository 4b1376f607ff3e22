"""The study's tables, each from the runs and evaluations it summarises.

Diebold-Mariano tests of every pair, long-short statistics gross and net of
costs, alphas on the factor sets, the refit table, characteristic
attribution, and the data/split descriptions of the report. Weightings are
labelled ``"equal"``/``"value"`` (the values of the ``weighting``
parameters); reports print them as EW/VW.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..inference import diebold_mariano, holm, spanning_regression
from ..panel import as_of_to_return_period
from ..portfolio._sorter import LS

__all__ = [
    "WEIGHTING_LABELS",
    "alpha_table",
    "attribution_tables",
    "data_description",
    "dm_table",
    "refit_table",
    "refit_warnings",
    "sort_tables",
    "split_description",
    "headline_metrics",
]

#: Display label of each weighting (reports and headline rows).
WEIGHTING_LABELS = {"equal": "EW", "value": "VW"}


def dm_table(y, predictions: dict) -> pd.DataFrame:
    """Diebold-Mariano test of every model pair (in ``predictions``' order).

    ``pvalue`` is each test's own; ``pvalue_holm`` is Holm-adjusted across
    all the pairs (the family the report tests).
    """
    models, rows = list(predictions), []
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            res = diebold_mariano(y, predictions[a], predictions[b])
            rows.append(
                {
                    "model_1": a,
                    "model_2": b,
                    "stat": float(res.stat),
                    "pvalue": float(res.pvalue),
                    "mean_differential": float(res.differential.mean()),
                    "n_periods": int(res.n_periods),
                    "differential": res.differential,
                }
            )
    cols = ["model_1", "model_2", "stat", "pvalue", "mean_differential", "n_periods"]
    table = pd.DataFrame(rows, columns=[*cols, "differential"])
    # The report tests every pair: Holm's correction across the family.
    table.insert(4, "pvalue_holm", holm(table["pvalue"].to_numpy(float)))
    return table


def sort_tables(evaluations: dict, costs_bp=()):
    """Long-short statistics (gross and net), decile means, long-short returns."""
    stats, deciles, ls = [], [], {}
    for model, ev in evaluations.items():
        for w, sorts in ev.sorts.items():  # keyed by weighting: equal, value
            res = sorts.results["predicted"]
            summ = res.summary().loc[LS]
            stats.append(
                {
                    "model": model,
                    "signal": "predicted",
                    "weighting": w,
                    "mean": float(summ["mean"]),
                    "tstat": float(summ["tstat"]),
                    "sharpe": float(summ["sharpe"]),
                    "turnover": float(summ["turnover"]),
                    "n_periods": int(summ["n_periods"]),
                    **res.net_of_costs(costs_bp).to_dict(),
                }
            )
            deciles.append(sorts["predicted"].mean.rename(f"{model} {w}"))
            ls[(model, w)] = sorts.long_short_returns
    return pd.DataFrame(stats), pd.DataFrame(deciles), ls


def alpha_table(long_short: dict, factor_sets: dict) -> pd.DataFrame:
    """Alphas of each long-short portfolio on each factor set (months earned)."""
    rows = []
    for (model, w), frame in long_short.items():
        earned = as_of_to_return_period(frame)
        for name, fac in factor_sets.items():
            res = spanning_regression(earned, fac, join="inner")
            for signal in frame.columns:
                rows.append(
                    {
                        "model": model,
                        "weighting": w,
                        "signal": signal,
                        "factor_set": name,
                        "alpha": float(res.alpha[signal]),
                        "alpha_annual": float(res.alpha_annual[signal]),
                        "t_alpha": float(res.alpha_tstat[signal]),
                        "r2": float(res.r2[signal]),
                        "n_periods": int(res.n_periods[signal]),
                    }
                )
    cols = ["model", "weighting", "signal", "factor_set", "alpha", "alpha_annual"]
    return pd.DataFrame(rows, columns=cols + ["t_alpha", "r2", "n_periods"])


def refit_table(runs: dict) -> pd.DataFrame:
    """One row per model and refit (the runs' refit tables stacked)."""
    frames = [run.refits.assign(model=name) for name, run in runs.items()]
    cols = ["model", "refit", "train_start", "train_end", "test_start", "test_end"]
    cols += ["K", "best_params", "best_score", "validation_r2", "fit_time"]
    cols += ["k_refit_time", "R2_total", "R2_predictive", "warnings"]
    return pd.concat(frames, ignore_index=True)[cols]


def refit_warnings(refits: pd.DataFrame) -> list:
    """Per model whose refits warned: ``(model, refits that warned, refits, warnings)``.

    ``warnings`` is every refit's distinct warnings in schedule order (the
    refit table's ``warnings`` column); an older table without it gives none.
    """
    if "warnings" not in refits:
        return []
    out = []
    for model, rows in refits.groupby("model", sort=False):
        said = [w for refit in rows["warnings"] for w in refit]
        if said:
            warned = sum(bool(refit) for refit in rows["warnings"])
            out.append((model, warned, len(rows), said))
    return out


def headline_metrics(ev) -> dict:
    """The headline figures of one evaluation (``n_obs``: rows with a return)."""
    return {
        "r2_total": ev.r2_total,
        "r2_predictive": ev.r2_predictive,
        "rmse": ev.rmse,
        "ic_mean": float(ev.ic_mean),
        "ic_t": float(ev.ic_tstat),
        "ic_nw_t": float(ev.ic_nw_tstat),
        "ic_nw_lags": int(ev.ic_nw_lags),
        "n_obs": ev.n_rows,
        "n_periods": ev.n_periods,
    }


def attribution_tables(runs: dict, panel) -> dict:
    """Characteristic attribution of each factor model's last refit.

    IPCA: its Gamma. NeurIF: ``characteristic_attribution(method="regression")``.
    Any other model whose ``transform`` gives loadings (``loading_1..K``, e.g.
    the conditional autoencoder): the same pooled OLS slopes of its loadings
    on the characteristics, so that every factor model has its panel in the
    report. Models without loadings are left out (the report says so).
    """
    out = {}
    features = panel.features
    test = features[panel.test_rows]
    for model, run in runs.items():
        est = run.last_estimator
        if hasattr(est, "gamma_"):
            out[model] = _frame_gamma(est, list(features.columns))
        elif hasattr(est, "characteristic_attribution"):
            out[model] = est.characteristic_attribution(test, method="regression")
        elif (loadings := _loadings(est, test)) is not None:
            # Imported here: the neurif package imports torch, the study's
            # tables do not need it otherwise.
            from ..neurif._attribution import as_frame, regression_attribution

            out[model] = as_frame(
                regression_attribution(loadings, test.to_numpy(dtype=float)),
                list(features.columns),
                loadings.shape[1],
            )
    return out


def _loadings(est, X):
    """``est``'s loadings on ``X`` (the ``loading_*`` columns of ``transform``), or None."""
    if not hasattr(est, "transform"):
        return None
    try:
        names = [str(n) for n in est.get_feature_names_out()]
    except (AttributeError, ValueError, TypeError):
        return None  # a transformer that cannot name its outputs: no loadings
    cols = [i for i, n in enumerate(names) if n.startswith("loading_")]
    if not cols:
        return None
    return np.asarray(est.transform(X), dtype=float)[:, cols]


def _frame_gamma(est, names) -> pd.DataFrame:
    gamma = est.gamma_
    if isinstance(gamma, pd.DataFrame):
        return gamma
    cols = [f"factor_{j + 1}" for j in range(np.asarray(gamma).shape[1])]
    return pd.DataFrame(np.asarray(gamma), index=names, columns=cols)


def data_description(panel, notes) -> dict:
    """Rows, entities, months, characteristics, imputation, notes."""
    src, X, scaler, warmup = panel.source, panel.X, panel.scaler, list(panel.warmup)
    return {
        "name": src.name,
        "n_rows": len(X),
        "n_rows_source": len(src.X),
        "n_entities": int(X.index.get_level_values(0).nunique()),
        "n_periods": int(panel.time_of.nunique()),
        "median_assets_per_period": float(panel.n_assets),
        "characteristics": list(X.columns),
        "n_imputed": int(scaler.n_imputed_),
        "imputed_per_feature": scaler.n_imputed_per_feature_,
        "value_weights": panel.sizes is not None,
        "warmup_months_masked": warmup,
        "notes": list(src.notes) + _warmup_note(warmup) + notes,
    }


def _warmup_note(months) -> list:
    if not months:
        return []
    return [
        f"{len(months)} month(s) ({months[0]} to {months[-1]}) have a characteristic "
        "missing for every asset (no history yet): their returns are masked out of "
        "estimation and evaluation, their characteristics kept as history."
    ]


def split_description(panel) -> dict:
    """First training and validation windows, test months, number of refits."""
    table, periods, test_rows = panel.refit_periods, panel.time_of, panel.test_rows
    first = table.iloc[0]
    has_return = np.asarray(panel.y.notna())
    test_periods = periods[test_rows].unique().sort_values()
    return {
        "first_train": {
            "first": str(first.train_start),
            "last": str(first.validation_start - 1)
            if first.n_validation_periods
            else str(first.train_end),
        },
        "first_validation": {
            "first": str(first.validation_start),
            "last": str(first.train_end),
            "n_periods": int(first.n_validation_periods),
        },
        "test": {
            "first": str(test_periods[0]),
            "last": str(test_periods[-1]),
            "n_periods": len(test_periods),
            "n_periods_with_return": int(periods[test_rows & has_return].nunique()),
            "n_rows_with_return": int((test_rows & has_return).sum()),
        },
        "n_refits": len(table),
    }
