r"""Tests of forecast differences on panels (Diebold-Mariano, Clark-West).

Both tests reduce a panel of forecast errors to one loss differential per
period, averaged over the assets of the period, and test its mean with a
Newey-West t-statistic (Gu, Kelly and Xiu 2020, section 2.2): the cross-
sectional average makes the differential a short time series whose serial
correlation the Newey-West variance absorbs.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..panel import aligned_forecast, check_panel_target, is_panel, panel_index
from ._spanning import newey_west_mean

__all__ = [
    "ForecastComparisonResult",
    "clark_west",
    "diebold_mariano",
    "monthly_r2",
]

_ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True, repr=False)
class ForecastComparisonResult:
    """A test of equal forecast accuracy on a panel.

    Attributes
    ----------
    test : str
        ``"Diebold-Mariano"`` or ``"Clark-West"``.
    stat : float
        Mean of :attr:`differential` over its Newey-West standard error
        (NaN when the differential is constant).
    pvalue : float
        Normal p-value of ``stat`` under :attr:`alternative`.
    alternative : str
        ``"two-sided"``, ``"greater"`` (the second forecast is more
        accurate: mean differential > 0) or ``"less"``.
    mean_differential : float
        Time-series mean of :attr:`differential`.
    n_periods : int
        Number of periods in the differential.
    nw_lags : int
        Newey-West (Bartlett) lags.
    differential : Series
        The per-period loss differential, indexed by period (``time``).
    n_rows : int
        Asset-period rows used (both forecasts and the return present).
    n_rows_dropped : int
        Rows of ``y`` left out for a missing return or forecast.
    """

    test: str
    stat: float
    pvalue: float
    alternative: str
    mean_differential: float
    n_periods: int
    nw_lags: int
    differential: pd.Series
    n_rows: int
    n_rows_dropped: int

    def summary(self) -> pd.DataFrame:
        """The statistics as a one-row table indexed by the test's name."""
        return pd.DataFrame(
            {
                "stat": [self.stat],
                "pvalue": [self.pvalue],
                "alternative": [self.alternative],
                "mean_differential": [self.mean_differential],
                "n_periods": [self.n_periods],
                "nw_lags": [self.nw_lags],
                "n_rows": [self.n_rows],
            },
            index=[self.test],
        )

    def __repr__(self) -> str:
        return (
            f"ForecastComparisonResult({self.test}: stat={self.stat:.4f}, "
            f"p={self.pvalue:.4g}, n_periods={self.n_periods}, alternative={self.alternative!r})"
        )


def _panel_returns(y) -> pd.Series:
    if not (isinstance(y, pd.Series) and is_panel(y)):
        raise TypeError(
            "y must be a pandas Series of returns on an (entity, time) MultiIndex; "
            f"got {type(y).__name__}."
        )
    # The package's one validation path: index (two levels, no missing or
    # duplicated keys, a time level ordered in time), numeric returns (no
    # booleans or text), no inf, not all missing; percent returns warned.
    check_panel_target(y, panel_index(y))
    return y


def _period_means(y, columns: dict) -> tuple[pd.DataFrame, int, int]:
    """Per-period means of per-row columns over rows where all are present."""
    frame = pd.DataFrame(columns, index=y.index)
    keep = frame.notna().all(axis=1).to_numpy()
    n_rows = int(keep.sum())
    if n_rows == 0:
        raise ValueError(
            "No row has the return and every forecast: nothing to compare."
        )
    times = y.index.get_level_values(-1)[keep]
    means = frame[keep].groupby(times, sort=True).mean().rename_axis("time")
    return means, n_rows, len(y) - n_rows


def _nw_test(test, differential, n_rows, n_dropped, nw_lags, alternative):
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be one of {_ALTERNATIVES}; got {alternative!r}."
        )
    if nw_lags is not None and (
        not isinstance(nw_lags, numbers.Integral)
        or isinstance(nw_lags, bool)
        or nw_lags < 0
    ):
        raise ValueError(f"nw_lags must be None or an integer >= 0; got {nw_lags!r}.")
    if len(differential) < 2:
        raise ValueError(
            f"The {test} test needs at least 2 periods with forecasts; got "
            f"{len(differential)}."
        )
    if np.ptp(differential.to_numpy()) == 0:
        raise ValueError(
            f"The {test} test is undefined: the loss differential is "
            f"{float(differential.iloc[0]):.3g} in every one of the "
            f"{len(differential)} periods (identical forecasts, or losses that "
            "differ by a constant), so its variance is zero."
        )
    nw = newey_west_mean(differential.to_numpy(), nw_lags)
    mean, stat, lags = nw.mean, nw.stat, nw.nw_lags
    if alternative == "two-sided":
        pvalue = 2 * stats.norm.sf(abs(stat))
    elif alternative == "greater":
        pvalue = stats.norm.sf(stat)
    else:
        pvalue = stats.norm.cdf(stat)
    return ForecastComparisonResult(
        test=test,
        stat=float(stat),
        pvalue=float(pvalue),
        alternative=alternative,
        mean_differential=float(mean),
        n_periods=len(differential),
        nw_lags=int(lags),
        differential=differential,
        n_rows=n_rows,
        n_rows_dropped=n_dropped,
    )


def diebold_mariano(y, pred1, pred2, *, nw_lags=None, alternative="two-sided"):
    r"""Diebold-Mariano test of equal accuracy of two panel forecasts.

    The Gu, Kelly and Xiu (2020) version: per period :math:`t` the loss
    differential is the difference of the cross-sectional mean squared
    errors,

    .. math::

        d_t = \frac{1}{n_t} \sum_{i} \left(e^{(1)}_{i,t+1}\right)^2
            - \frac{1}{n_t} \sum_{i} \left(e^{(2)}_{i,t+1}\right)^2,
        \qquad DM = \frac{\bar d}{\hat\sigma_{NW}(\bar d)},

    over the rows where the return and both forecasts are present, and
    :math:`\hat\sigma_{NW}` is the Newey-West standard error of the mean
    (:func:`newey_west_mean`: Bartlett kernel, no small-sample correction).
    ``DM`` is compared with the standard normal. A positive statistic means
    the second forecast has the smaller errors.

    Parameters
    ----------
    y : Series of shape (n_rows,)
        Realised returns on an ``(entity, time)`` MultiIndex (as-of
        labelling: row ``(i, t)`` holds the return over ``t+1``).
    pred1, pred2 : Series, array-like of shape (n_rows,) or float
        Forecasts. A Series is aligned with ``y`` by index (never by
        position); an array is read in ``y``'s row order; a number is the
        same forecast for every row (``0.0``: the zero forecast).
    nw_lags : int, optional
        Newey-West lags; default :func:`newey_west_lags` of the number of
        periods.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        ``"greater"``: the second forecast is more accurate (mean
        differential > 0).

    Returns
    -------
    ForecastComparisonResult
        ``stat``, ``pvalue``, ``n_periods``, ``differential`` (the
        series :math:`d_t`); ``summary()`` gives the table.

    Raises
    ------
    TypeError
        If ``y`` is not a numeric Series on an ``(entity, time)``
        MultiIndex.
    ValueError
        Misaligned forecasts, infinite values, fewer than 2 periods, a loss
        differential with zero variance (identical forecasts), or ``nw_lags``
        not below the number of periods.

    See Also
    --------
    clark_west : For nested models.
    monthly_r2 : Per-period R-squared of one forecast.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_neurif.inference import diebold_mariano
    >>> idx = pd.MultiIndex.from_product([range(50), range(60)], names=["entity", "time"])
    >>> rng = np.random.default_rng(0)
    >>> signal = pd.Series(rng.normal(0, 0.02, len(idx)), index=idx)
    >>> y = signal + pd.Series(rng.normal(0, 0.1, len(idx)), index=idx)
    >>> res = diebold_mariano(y, 0.0, signal)
    >>> bool(res.stat > 0), res.n_periods
    (True, 60)
    """
    y = _panel_returns(y)
    r = y.to_numpy(dtype=np.float64, na_value=np.nan)
    e1 = r - aligned_forecast(pred1, y, "pred1")
    e2 = r - aligned_forecast(pred2, y, "pred2")
    means, n_rows, n_dropped = _period_means(y, {"l1": e1**2, "l2": e2**2})
    d = (means["l1"] - means["l2"]).rename("dm_differential")
    return _nw_test("Diebold-Mariano", d, n_rows, n_dropped, nw_lags, alternative)


def clark_west(y, pred_small, pred_large, *, nw_lags=None):
    r"""Clark-West test that a larger model nesting a smaller one forecasts better.

    Under the null the nested (small) model is true and the larger one only
    adds estimation noise, which biases the Diebold-Mariano differential
    against it. Clark and West (2007) add back the squared forecast
    difference; per period :math:`t`, over the rows with all values,

    .. math::

        f_t = \frac{1}{n_t} \sum_{i} \left[ (r_{i,t+1} - \hat r^{s}_{i,t+1})^2
            - (r_{i,t+1} - \hat r^{l}_{i,t+1})^2
            + (\hat r^{s}_{i,t+1} - \hat r^{l}_{i,t+1})^2 \right],
        \qquad CW = \frac{\bar f}{\hat\sigma_{NW}(\bar f)},

    with the one-sided normal p-value :math:`P(N(0,1) > CW)` (alternative:
    the larger model is more accurate). The Newey-West standard error is the
    package's (:func:`newey_west_mean`).

    Parameters
    ----------
    y : Series of shape (n_rows,)
        Realised returns on an ``(entity, time)`` MultiIndex.
    pred_small : Series, array-like or float
        Forecast of the nested model (e.g. ``0.0``, the zero forecast, or
        IPCA with fewer factors). Aligned as in :func:`diebold_mariano`.
    pred_large : Series, array-like or float
        Forecast of the larger model.
    nw_lags : int, optional
        Newey-West lags; default :func:`newey_west_lags` of the number of
        periods.

    Returns
    -------
    ForecastComparisonResult
        ``alternative="greater"``; ``differential`` is :math:`f_t`.

    Raises
    ------
    TypeError, ValueError
        As for :func:`diebold_mariano`.

    See Also
    --------
    diebold_mariano : For non-nested models.
    """
    y = _panel_returns(y)
    r = y.to_numpy(dtype=np.float64, na_value=np.nan)
    p_small = aligned_forecast(pred_small, y, "pred_small")
    p_large = aligned_forecast(pred_large, y, "pred_large")
    adjusted = (r - p_small) ** 2 - (r - p_large) ** 2 + (p_small - p_large) ** 2
    means, n_rows, n_dropped = _period_means(y, {"f": adjusted})
    f = means["f"].rename("cw_differential")
    return _nw_test("Clark-West", f, n_rows, n_dropped, nw_lags, "greater")


def monthly_r2(y, pred) -> pd.Series:
    r"""Out-of-sample R-squared of each period (uncentred).

    .. math:: R^2_t = 1 - \frac{\sum_i (r_{i,t+1} - \hat r_{i,t+1})^2}{\sum_i r_{i,t+1}^2}

    over the rows of period ``t`` with a return and a forecast; the pooled
    version is :func:`sklearn_neurif.metrics.r2_predictive` (or
    ``r2_total`` for total-fit values).

    Parameters
    ----------
    y : Series of shape (n_rows,)
        Realised returns on an ``(entity, time)`` MultiIndex.
    pred : Series, array-like or float
        Forecasts or total-fit values, aligned as in :func:`diebold_mariano`.

    Returns
    -------
    Series
        One value per period with data, indexed by period (``time``); NaN
        for a period whose returns are all zero.

    Raises
    ------
    TypeError, ValueError
        As for :func:`diebold_mariano`.
    """
    y = _panel_returns(y)
    r = y.to_numpy(dtype=np.float64, na_value=np.nan)
    e = r - aligned_forecast(pred, y, "pred")
    means, _, _ = _period_means(y, {"sse": e**2, "sst": r**2})
    sst = means["sst"].where(means["sst"] > 0)
    return (1.0 - means["sse"] / sst).rename("r2")
