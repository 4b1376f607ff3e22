"""Asset-pricing metrics (uncentred R-squared, errors, rank IC) and scorers.

The out-of-sample evaluation of a fitted model, which combines these with
portfolio sorts, lives one layer up in :mod:`sklearn_neurif.evaluation`.
"""

from ._regression import RankICResult, mae, r2_predictive, r2_total, rank_ic, rmse
from ._scorers import r2_predictive_scorer, r2_total_scorer

__all__ = [
    "RankICResult",
    "mae",
    "r2_predictive",
    "r2_predictive_scorer",
    "r2_total",
    "r2_total_scorer",
    "rank_ic",
    "rmse",
]
