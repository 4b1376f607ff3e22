"""Long-short portfolio scorers ``scorer(estimator, X, y)`` for GridSearchCV."""

from __future__ import annotations

import numpy as np

from ..panel import panel_index
from ._sorter import LS, _run_sort

__all__ = [
    "make_long_short_scorer",
    "long_short_sharpe_scorer",
    "long_short_mean_scorer",
]

_STATISTICS = ("sharpe", "mean", "tstat")


def make_long_short_scorer(
    statistic="sharpe", *, n_portfolios=10, long_short="top-bottom", min_assets=None
):
    """Build a scorer that sorts on ``estimator.predict(X)`` and scores the spread.

    The returned callable has the scorer signature ``(estimator, X, y)``:
    each period of ``X`` (from its ``(entity, time)`` MultiIndex) the assets
    are sorted into ``n_portfolios`` equal-weighted portfolios on the
    predicted return; the score is a statistic of the long-short returns
    (greater is better).

    Parameters
    ----------
    statistic : {"sharpe", "mean", "tstat"}, default="sharpe"
        Annualised Sharpe ratio (12 periods a year), mean per-period return,
        or Newey-West t-statistic of the long-short return.
    n_portfolios : int, default=10
    long_short : {"top-bottom", "bottom-top"}, default="top-bottom"
    min_assets : int, optional
        Periods with fewer assets are skipped (see :class:`PortfolioSorter`).

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``; NaN when the statistic is
        undefined (e.g. a single scored period for the Sharpe ratio).

    Notes
    -----
    ``estimator`` may be a Pipeline whose last step is the factor model: its
    ``predict`` runs the earlier steps. Rows with a missing return are
    masked (see :class:`PortfolioSorter`). A plain ``X`` (an array, or a
    frame without a MultiIndex) is one cross-section, as everywhere in the
    package: one sorted period, whose Sharpe ratio and t-statistic are NaN.
    """
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic must be one of {_STATISTICS}; got {statistic!r}.")

    def scorer(estimator, X, y) -> float:
        # A plain X is one cross-section (the package's convention, as in
        # PortfolioSorter), paired with a plain y by position.
        index = panel_index(X)
        signal = np.asarray(estimator.predict(X), dtype=np.float64).reshape(-1)
        result = _run_sort(
            index,
            signal,
            y,
            None,
            None,
            (n_portfolios, long_short, min_assets, None, 12),
        )
        return float(result.summary().loc[LS, statistic])

    scorer.__name__ = f"long_short_{statistic}_scorer"
    scorer.__doc__ = (
        f"Long-short {statistic} of {n_portfolios} portfolios sorted on predict(X)."
    )
    return scorer


#: Annualised Sharpe ratio of the decile long-short portfolio sorted on
#: ``predict(X)``, equal weights (``scorer(estimator, X, y)``).
long_short_sharpe_scorer = make_long_short_scorer("sharpe")

#: Mean per-period return of the decile long-short portfolio sorted on
#: ``predict(X)``, equal weights (``scorer(estimator, X, y)``).
long_short_mean_scorer = make_long_short_scorer("mean")
