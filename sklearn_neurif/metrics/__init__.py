"""Asset-pricing metrics (uncentred R-squared, errors, rank IC) and scorers."""

from ._regression import RankICResult, mae, r2_predictive, r2_total, rank_ic, rmse
from ._scorers import predictive_r2_scorer, total_r2_scorer

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
