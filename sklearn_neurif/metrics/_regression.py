"""Return-prediction metrics with the asset-pricing conventions.

Total and predictive R-squared are *uncentred* (benchmark: a zero return),
as in Kelly, Pruitt and Su (2019) and Gu, Kelly and Xiu (2021). scikit-learn's
``r2_score`` is centred on the sample mean and is not these metrics.
Missing returns (NaN in ``y_true``) are masked out of every metric.

Two Series are matched by index (``y_pred`` reordered to ``y_true``; other
labels are an error); arrays pair by position. Predictions that are not
finite are an error, not a score; ``sample_weight`` must be finite and
non-negative (``sklearn_neurif.panel.aligned_pair`` and
``check_sample_weight``).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import stats

from .._docstrings import fill_doc
from ..panel import PanelLayout, aligned_pair, check_sample_weight, row_periods_index

__all__ = ["r2_total", "r2_predictive", "rmse", "mae", "rank_ic", "RankICResult"]


def _masked_pair(y_true, y_pred, sample_weight=None):
    # One validation path (the panel layer): two Series are matched by index,
    # predictions must be finite, weights finite and non-negative.
    y_true, y_pred = aligned_pair(y_true, y_pred)
    w = check_sample_weight(sample_weight, len(y_true))
    if w is None:
        w = np.ones_like(y_true)
    keep = ~np.isnan(y_true)
    if not keep.any():
        raise ValueError("Every value of y_true is missing; the metric is undefined.")
    if not w[keep].any():
        raise ValueError("Every row with a return has sample_weight 0.")
    return y_true[keep], y_pred[keep], w[keep]


def _uncentred_r2(y_true, y_pred, sample_weight=None) -> float:
    y, p, w = _masked_pair(y_true, y_pred, sample_weight)
    denom = np.sum(w * y**2)
    if denom == 0:
        raise ValueError("All returns are zero; the uncentred R-squared is undefined.")
    return float(1.0 - np.sum(w * (y - p) ** 2) / denom)


def r2_total(y_true, y_fitted, *, sample_weight=None) -> float:
    r"""Total R-squared: how much of realised returns the factors explain.

    .. math::

        R^2_{\text{total}} = 1 - \frac{\sum_{i,t} (r_{i,t+1} - \hat\beta_{i,t}'
        \hat f_{t+1})^2}{\sum_{i,t} r_{i,t+1}^2}

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        Realised returns :math:`r_{i,t+1}`; NaN rows are left out.
    y_fitted : array-like of shape (n_rows,)
        Fitted values :math:`\hat\beta_{i,t}'\hat f_{t+1}` with the realised
        factors of the same period (``estimator.predict_total(X, y)``).
    sample_weight : array-like of shape (n_rows,), optional
        Row weights in both sums.

    Returns
    -------
    float
        Uncentred: the benchmark is a zero return, not the sample mean.

    Examples
    --------
    >>> r2_total([0.1, -0.1, 0.2], [0.1, 0.0, 0.2])
    0.8333333333333334
    """
    return _uncentred_r2(y_true, y_fitted, sample_weight)


def r2_predictive(y_true, y_pred, *, sample_weight=None) -> float:
    r"""Predictive R-squared: how much of returns the expected returns explain.

    .. math::

        R^2_{\text{pred}} = 1 - \frac{\sum_{i,t} (r_{i,t+1} - \hat\beta_{i,t}'
        \hat\lambda_{t+1})^2}{\sum_{i,t} r_{i,t+1}^2}

    with :math:`\hat\lambda_{t+1}` the factor premia known at ``t``
    (``estimator.predict(X)``).

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        Realised returns; NaN rows are left out.
    y_pred : array-like of shape (n_rows,)
        Expected returns known at ``t``.
    sample_weight : array-like of shape (n_rows,), optional
        Row weights.

    Returns
    -------
    float
        Uncentred; a model that predicts zero everywhere scores 0.

    Examples
    --------
    >>> r2_predictive([0.1, -0.1, 0.2], [0.0, 0.0, 0.0])
    0.0
    """
    return _uncentred_r2(y_true, y_pred, sample_weight)


@fill_doc
def rmse(y_true, y_pred, *, sample_weight=None) -> float:
    """Root mean squared error of predicted returns, NaN returns left out.

    {params_returns_pair}

    Returns
    -------
    float
        In return units: the square root of the weighted mean squared error.
    """
    return float(np.sqrt(_weighted_mean_loss(y_true, y_pred, sample_weight, np.square)))


@fill_doc
def mae(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean absolute error of predicted returns, NaN returns left out.

    {params_returns_pair}

    Returns
    -------
    float
        The weighted mean of absolute errors.
    """
    return _weighted_mean_loss(y_true, y_pred, sample_weight, np.abs)


def _weighted_mean_loss(y_true, y_pred, sample_weight, loss) -> float:
    # rmse and mae share the masking, weights and averaging; only loss differs.
    y, p, w = _masked_pair(y_true, y_pred, sample_weight)
    return float(np.sum(w * loss(y - p)) / np.sum(w))


@dataclass(frozen=True)
class RankICResult:
    """Monthly rank information coefficient and its summary statistics.

    Attributes
    ----------
    series : pandas.Series
        Spearman correlation of predicted and realised returns per period
        (labelled by the as-of period ``t``).
    mean : float
        Time-series mean of ``series``.
    std : float
        Time-series standard deviation (ddof=1).
    tstat : float
        ``mean / (std / sqrt(n_periods))``.
    n_periods : int
        Periods with at least ``min_assets`` valid assets.
    n_skipped : int
        Periods left out for having fewer valid assets.
    """

    series: pd.Series
    mean: float
    std: float
    tstat: float
    n_periods: int
    n_skipped: int

    def summary(self) -> pd.DataFrame:
        """Return the statistics as a one-row table."""
        return pd.DataFrame(
            {
                "mean IC": [self.mean],
                "std": [self.std],
                "t-stat": [self.tstat],
                "periods": [self.n_periods],
                "skipped": [self.n_skipped],
            },
            index=["rank IC"],
        )


def rank_ic(y_true, y_pred, periods=None, *, min_assets: int = 3) -> RankICResult:
    r"""Monthly rank information coefficient (Spearman) with mean and t-stat.

    .. math::

        IC_t = \operatorname{corr}_{\text{Spearman}}(\hat r_{\cdot,t+1},
        r_{\cdot,t+1}), \qquad t = \frac{\overline{IC}}{s_{IC}/\sqrt{T}}

    Parameters
    ----------
    y_true : Series or array-like of shape (n_rows,)
        Realised returns; NaN rows are left out of their period.
    y_pred : Series or array-like of shape (n_rows,)
        Predicted returns (a Series is matched to ``y_true`` by index). NaN
        or infinite predictions are refused, as by every metric: a model
        that predicts nothing for a row has no score there.
    periods : array-like of shape (n_rows,), optional
        Period of each row. Defaults to the time level of ``y_true``'s
        ``(entity, time)`` MultiIndex.
    min_assets : int, default=3
        Periods with fewer valid assets (a return and a prediction) are
        skipped (and counted); at least 2.

    Returns
    -------
    RankICResult

    Raises
    ------
    ValueError
        If no period has ``min_assets`` valid assets, ``min_assets`` is
        below 2, lengths or index labels differ, or a prediction is NaN or
        infinite.
    """
    if (
        not isinstance(min_assets, Integral)
        or isinstance(min_assets, bool)
        or min_assets < 2
    ):
        raise ValueError(
            f"min_assets must be an integer >= 2 (a rank correlation needs two "
            f"assets); got {min_assets!r}."
        )
    if periods is None:
        layout = PanelLayout.from_data(y_true)
    else:
        # The time-level checks apply: strings are never sorted as text.
        layout = PanelLayout(row_periods_index(periods))
    y, p = aligned_pair(y_true, y_pred)  # NaN predictions refused, as in r2
    if len(y) != layout.n_rows:
        raise ValueError("y_true, y_pred and periods must have the same length.")
    values, labels, skipped, constant = [], [], 0, 0
    for label, rows in zip(layout.periods, layout.period_rows(), strict=True):
        # A row counts when its return is known (predictions are finite).
        keep = rows[~np.isnan(y[rows])]
        if len(keep) < min_assets or np.ptp(p[keep]) == 0 or np.ptp(y[keep]) == 0:
            skipped += 1
            constant += len(keep) >= min_assets  # enough assets, no variation
            continue
        values.append(stats.spearmanr(p[keep], y[keep]).statistic)
        labels.append(label)
    if not values:
        if not constant:
            raise ValueError(
                f"No period has at least {min_assets} assets with returns."
            )
        raise ValueError(
            f"No period has a rank correlation: in {constant} period(s) with at "
            f"least {min_assets} assets the predictions or the returns are "
            f"constant, the other {skipped - constant} have fewer assets with "
            "returns."
        )
    series = pd.Series(values, index=pd.Index(labels, name="time"), name="rank_ic")
    n = len(series)
    std = float(series.std(ddof=1)) if n > 1 else float("nan")
    tstat = (
        float(series.mean() / (std / np.sqrt(n))) if n > 1 and std > 0 else float("nan")
    )
    return RankICResult(series, float(series.mean()), std, tstat, n, skipped)
