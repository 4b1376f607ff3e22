"""Portfolio sorts on signals and factor-model outputs, long-short scorers."""

from ._scorers import (
    long_short_mean_scorer,
    long_short_sharpe_scorer,
    make_long_short_scorer,
)
from ._sorter import (
    FactorSortResult,
    PortfolioSorter,
    PortfolioSortResult,
    sort_on_factor_model,
)

__all__ = [
    "FactorSortResult",
    "PortfolioSortResult",
    "PortfolioSorter",
    "long_short_mean_scorer",
    "long_short_sharpe_scorer",
    "make_long_short_scorer",
    "sort_on_factor_model",
]
