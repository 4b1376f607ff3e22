"""How the study chooses K, and what each K of the grid would have given.

The **K rule** (:data:`K_RULES`) is the scorer of the search that chooses a
built-in model's number of factors inside each refit, on the refit's
validation window: validation total R² by default (Kelly, Pruitt and Su's
criterion; docs/study.md, "Choosing IPCA's K", for the comparison behind
it), or validation predictive R².

The **sensitivity line** reports, for every model that selects K, the
headline metrics at each fixed K of its grid over the same test months.
It costs little: :class:`KGridSearchCV` is the study's search, which after
choosing refits *every* K of the grid on the whole window (the validation
fits it already did are the ones it chooses among), so a grid of G costs
2G fits instead of G + 1; the walk-forward's ``on_refit`` hook
(:func:`refit_k_outputs`) predicts the refit's test block with each of
them, and :func:`k_sensitivity_table` scores each K's stitched predictions
with the functions :func:`~sklearn_neurif.evaluation.evaluate_factor_model`
uses. The chosen K's predictions are the walk-forward's own, so a K chosen
in every refit has exactly the headline's figures.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from ..evaluation._evaluation import accuracy
from ..metrics import r2_predictive_scorer, r2_total_scorer
from ..model_selection._walk_forward import realised_outputs

__all__ = [
    "K_RULES",
    "SENSITIVITY_COLUMNS",
    "KGridSearchCV",
    "check_k_rule",
    "empty_k_sensitivity",
    "k_rule_text",
    "k_sensitivity_table",
    "refit_k_outputs",
    "stitch_k_outputs",
]

#: The rules the study can choose K by: name -> (scorer, text of the report).
K_RULES = {
    "total_r2": (r2_total_scorer, "total R² (realised factors)"),
    "predictive_r2": (r2_predictive_scorer, "predictive R²"),
}

#: Columns of :attr:`StudyResult.k_sensitivity <.StudyResult>`.
SENSITIVITY_COLUMNS = [
    "r2_total",
    "r2_predictive",
    "ic_mean",
    "ic_nw_t",
    "n_refits_chosen",
]


def check_k_rule(k_rule) -> str:
    """``k_rule`` validated: one of :data:`K_RULES`.

    Raises
    ------
    ValueError
        Naming the rules the study knows.
    """
    if not isinstance(k_rule, str) or k_rule not in K_RULES:
        raise ValueError(
            f"k_rule must be one of {', '.join(map(repr, K_RULES))} (how K is "
            f"chosen on each refit's validation window); got {k_rule!r}."
        )
    return k_rule


def k_rule_text(k_rule) -> str:
    """The report's words for a K rule's metric (e.g. ``"predictive R²"``)."""
    return K_RULES[check_k_rule(k_rule)][1]


class KGridSearchCV(GridSearchCV):
    """A ``GridSearchCV`` over K that also refits every other K of its grid.

    It chooses and refits exactly as ``GridSearchCV`` (same scorer, same
    ``best_estimator_``); then fits ``clone(estimator)`` at every other
    point of ``param_grid`` on the same data, as the search's refit would
    have had it chosen that point. The grid must have a single parameter
    (the number of factors).

    Attributes
    ----------
    k_estimators_ : dict
        K -> the model fitted on the whole data at that K
        (``best_estimator_`` itself at the chosen K).
    k_refit_time_ : float
        Seconds spent on the extra fits (the sensitivity's cost).
    """

    def fit(self, X, y=None, **params):
        """Run the search, then fit every other K on all of ``X``, ``y``.

        Parameters
        ----------
        X : DataFrame
            The training window's panel.
        y : Series
            Its returns.
        **params : dict
            Passed to every fit.

        Returns
        -------
        self
        """
        super().fit(X, y, **params)
        start = time.perf_counter()
        self.k_estimators_ = {}
        for point in self.cv_results_["params"]:
            (k,) = point.values()
            if point == self.best_params_:
                self.k_estimators_[int(k)] = self.best_estimator_
            else:
                model = clone(self.estimator).set_params(**clone(point, safe=False))
                self.k_estimators_[int(k)] = model.fit(X, y, **params)
        self.k_refit_time_ = time.perf_counter() - start
        return self


def refit_k_outputs(refit, features, y) -> dict | None:
    """Every K's predictions and total fits of one refit's test block.

    Parameters
    ----------
    refit : WalkForwardRefit
        What ``walk_forward_predict``'s ``on_refit`` hook gets: its
        ``estimator`` a fitted :class:`KGridSearchCV` (else None is returned).
    features, y : DataFrame, Series
        The study's whole panel (the refit's test rows are taken from it,
        in the walk-forward's row order).

    Returns
    -------
    dict or None
        K -> ``(predictions, fitted)``, two Series on the block's rows; the
        chosen K's are the walk-forward's own.
    """
    search = refit.estimator
    if not hasattr(search, "k_estimators_"):
        return None
    index = refit.predictions.index
    periods = features.index.get_level_values(-1)
    rows = np.asarray(
        (periods >= refit.periods.test_start) & (periods <= refit.periods.test_end)
    )
    X_block, y_block = features[rows], y[rows]
    if not X_block.index.equals(index):  # the walk-forward's block, row by row
        raise RuntimeError("The refit's test rows differ from the panel's block.")
    (chosen,) = search.best_params_.values()
    out = {}
    for k, model in search.k_estimators_.items():
        if k == int(chosen):
            out[k] = (refit.predictions, refit.fitted)
            continue
        pred = np.asarray(model.predict(X_block), dtype=np.float64).ravel()
        _, fitted = realised_outputs(model, X_block, y_block)
        out[k] = (
            pd.Series(pred, index=index),
            None if fitted is None else pd.Series(fitted, index=index),
        )
    return out


def stitch_k_outputs(blocks, index) -> tuple | None:
    """Per-refit outputs of :func:`refit_k_outputs` -> two frames, one column per K.

    Rows are the panel's (``index``); NaN outside the test months. None
    when no refit kept every K's outputs.
    """
    blocks = [b for b in blocks if b is not None]
    if not blocks:
        return None
    ks = sorted(blocks[0])
    pred = pd.DataFrame(np.nan, index=index, columns=ks)
    fitted = pd.DataFrame(np.nan, index=index, columns=ks)
    for block in blocks:
        rows = index.get_indexer(next(iter(block.values()))[0].index)
        for k, (p, f) in block.items():
            pred.iloc[rows, ks.index(k)] = p.to_numpy()
            if f is not None:
                fitted.iloc[rows, ks.index(k)] = f.to_numpy()
    return pred, fitted


def k_metrics(y, pred, fitted) -> dict:
    """The headline's accuracy figures of one set of test predictions.

    The functions and inputs of
    :func:`~sklearn_neurif.evaluation.evaluate_factor_model` (uncentred
    pooled R², mean monthly rank IC and its Newey-West t at the default
    lags), so equal predictions give equal figures, to the last bit.
    """
    # As evaluate_factor_model: returns as a float Series on the rows,
    # model outputs as arrays in the same row order.
    y = pd.Series(np.asarray(y, dtype=np.float64), index=y.index)
    total = np.asarray(fitted, dtype=np.float64)
    fit = accuracy(
        y,
        np.asarray(pred, dtype=np.float64),
        total if np.isfinite(total).any() else None,
    )
    return {
        "r2_total": fit["r2_total"],
        "r2_predictive": fit["r2_predictive"],
        "ic_mean": float(fit["rank_ic"].mean),
        "ic_nw_t": float(fit["ic_nw"].stat),
    }


def k_sensitivity_table(runs, panel) -> pd.DataFrame:
    """One row per (model, K) of every model that selected K, on the test months.

    Parameters
    ----------
    runs : dict
        Model -> :class:`~sklearn_neurif.study._walk.ModelRun`; those with
        ``k_predictions`` enter.
    panel : PreparedPanel
        Its test rows are the headline's.

    Returns
    -------
    DataFrame
        Index ``(model, K)``; columns :data:`SENSITIVITY_COLUMNS`
        (``n_refits_chosen``: refits whose search chose that K).
    """
    rows = panel.test_rows
    y = panel.y[rows]
    records = {}
    for name, run in runs.items():
        if run.k_predictions is None:
            continue
        chosen = run.refits["K"].value_counts()
        for k in run.k_predictions.columns:
            figures = k_metrics(y, run.k_predictions[k][rows], run.k_fitted[k][rows])
            records[(name, int(k))] = {
                **figures,
                "n_refits_chosen": int(chosen.get(k, 0)),
            }
    if not records:
        return empty_k_sensitivity()
    index = pd.MultiIndex.from_tuples(list(records), names=["model", "K"])
    return pd.DataFrame(
        list(records.values()), index=index, columns=SENSITIVITY_COLUMNS
    )


def empty_k_sensitivity() -> pd.DataFrame:
    """The sensitivity table without rows (no model selects K)."""
    index = pd.MultiIndex.from_tuples([], names=["model", "K"])
    return pd.DataFrame(index=index, columns=SENSITIVITY_COLUMNS, dtype=float)
