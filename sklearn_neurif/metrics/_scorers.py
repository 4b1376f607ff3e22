"""Scorers ``scorer(estimator, X, y)`` for GridSearchCV and cross_validate."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from .._docstrings import fill_doc
from ..panel import check_panel_target, panel_index
from ._regression import r2_predictive, r2_total

__all__ = ["r2_total_scorer", "r2_predictive_scorer", "resolve_final_step"]


def resolve_final_step(estimator, X):
    """Split a fitted Pipeline into its final step and the transformed ``X``.

    Scorers that need more than ``predict`` (realised factors, loadings) call
    methods of the factor model at the end of a Pipeline; the earlier steps
    (e.g. ``CrossSectionalRankScaler``) transform ``X`` first. The package's
    transformers keep the ``(entity, time)`` index, so the final step still
    sees the period of each row.

    Parameters
    ----------
    estimator : estimator, Pipeline or fitted search
        A fitted factor model, a Pipeline ending with one, or a fitted
        search (``GridSearchCV``...) whose ``best_estimator_`` is one.
    X : DataFrame
        Panel of characteristics.

    Returns
    -------
    final : estimator
        The last step (or ``estimator`` itself).
    Xt : DataFrame or array
        ``X`` passed through the earlier steps.
    """
    if hasattr(estimator, "best_estimator_"):
        # A fitted search (GridSearchCV, RandomizedSearchCV): its predict is
        # the refitted best model's, and so are the factor outputs.
        return resolve_final_step(estimator.best_estimator_, X)
    if isinstance(estimator, Pipeline):
        Xt = X
        for _, step in estimator.steps[:-1]:
            if step is None or step == "passthrough":
                continue
            Xt = step.transform(Xt)
        return resolve_final_step(estimator.steps[-1][1], Xt)
    return estimator, X


@fill_doc
def r2_total_scorer(estimator, X, y) -> float:
    """Out-of-sample total R-squared of a fitted factor model (greater is better).

    Realised factors of the scored periods come from a cross-sectional
    regression of their returns on the model's loadings
    (``predict_total(X, y)``), as in Kelly, Pruitt and Su (2019).

    Parameters
    ----------
    estimator : factor model or Pipeline ending with one
        Must have ``predict_total(X, y)``.
    {panel_X_y}

    Returns
    -------
    float
        :func:`~sklearn_neurif.metrics.r2_total` of the fitted values.
    """
    final, Xt = resolve_final_step(estimator, X)
    if not hasattr(final, "predict_total"):
        raise TypeError(
            f"r2_total_scorer needs a factor model with predict_total(X, y); "
            f"{type(final).__name__} has none."
        )
    return r2_total(_aligned_target(y, X), final.predict_total(Xt, y))


def r2_predictive_scorer(estimator, X, y) -> float:
    """Out-of-sample predictive R-squared of ``estimator.predict(X)``.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Anything with ``predict``.
    X : DataFrame
        Characteristics panel.
    y : Series
        Next-period returns.

    Returns
    -------
    float
        :func:`~sklearn_neurif.metrics.r2_predictive` (uncentred).
    """
    return r2_predictive(_aligned_target(y, X), estimator.predict(X))


def _aligned_target(y, X):
    """``y`` in ``X``'s row order (matched by index; refused if it cannot be)."""
    return check_panel_target(y, panel_index(X), check_units=False)
