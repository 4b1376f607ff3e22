"""Asset-pricing metrics (uncentred R-squared, errors, rank IC), scorers and
the out-of-sample evaluation of a fitted model (:func:`evaluate_factor_model`).

:func:`evaluate_factor_model` and :class:`FactorModelEvaluation` are imported
on first use (PEP 562): they need the portfolio sorts and Newey-West
statistics (statsmodels), which ``import sklearn_neurif.metrics`` alone does
not load.
"""

from .._lazy import lazy_attributes
from ._regression import RankICResult, mae, r2_predictive, r2_total, rank_ic, rmse
from ._scorers import predictive_r2_scorer, total_r2_scorer

_LAZY = {
    "FactorModelEvaluation": "._evaluation",
    "evaluate_factor_model": "._evaluation",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

# Eager names listed here (ruff reads the literal); the lazy ones come from _LAZY.
__all__ = [
    "RankICResult",
    "mae",
    "predictive_r2_scorer",
    "r2_predictive",
    "r2_total",
    "rank_ic",
    "rmse",
    "total_r2_scorer",
]
__all__ += list(_LAZY)
