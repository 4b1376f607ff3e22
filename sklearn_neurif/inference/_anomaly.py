"""Anomaly tests: alphas of many test assets against factor sets, GRS test.

Test assets are anomaly long-short portfolios or characteristic-sorted
portfolios (T x M excess returns). Each factor set (observable factors such
as FF5, or a model's learned factors) gets the same periods, so the side-by-side
table compares like with like.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ._results import (
    AnomalyComparison,
    AnomalyTestResult,
    CrossSectionalR2Result,
    GRSResult,
)
from ._spanning import (
    _as_frame,
    _check_factors,
    align_periods,
    missing_return_rows,
    resolve_factor_set,
    spanning_regression,
)

__all__ = ["anomaly_test", "cross_sectional_r2", "grs_test"]


def grs_test(test_assets, factors) -> GRSResult:
    r"""Gibbons-Ross-Shanken (1989) finite-sample test that all alphas are zero.

    With ``T`` periods, ``M`` test assets and ``K`` traded factors, the
    time-series OLS regressions give alphas :math:`\hat\alpha` (M-vector) and
    residuals; :math:`\hat\Sigma` is the residual covariance and
    :math:`\hat\Omega` the factor covariance (both maximum likelihood,
    divided by ``T``), :math:`\bar f` the factor means. Then

    .. math::

        F = \frac{T - M - K}{M}\,
            \frac{\hat\alpha'\hat\Sigma^{-1}\hat\alpha}
                 {1 + \bar f'\hat\Omega^{-1}\bar f}
            \sim F(M, T - M - K)

    under normal, iid errors. The test presumes traded factors (excess
    returns), as the Fama-French and q5 factors and portfolio-based learned
    factors are.

    Parameters
    ----------
    test_assets : DataFrame or array of shape (T, M)
        Test-asset excess returns, complete (no NaN).
    factors : DataFrame or array of shape (T, K)
        Factor returns on the same periods.

    Returns
    -------
    GRSResult

    Raises
    ------
    ValueError
        If ``T <= M + K`` (the residual covariance is singular and the F
        distribution undefined), the residual covariance is singular for
        another reason (a test asset combines the others and the factors),
        or shapes/values are invalid.
    """
    R = np.asarray(test_assets, dtype=np.float64)
    F = np.asarray(factors, dtype=np.float64)
    if R.ndim == 1:
        R = R[:, None]
    if F.ndim == 1:
        F = F[:, None]
    T, M = R.shape
    K = F.shape[1]
    if F.shape[0] != T:
        raise ValueError(f"test_assets have {T} periods, factors {F.shape[0]}.")
    if T <= M + K:
        raise ValueError(
            f"The GRS test needs more periods than test assets plus factors: "
            f"T={T}, M={M}, K={K} (T must exceed M + K = {M + K})."
        )
    if not (np.isfinite(R).all() and np.isfinite(F).all()):
        raise ValueError("The GRS test needs complete, finite returns and factors.")
    X = np.column_stack([np.ones(T), F])
    coef, *_ = np.linalg.lstsq(X, R, rcond=None)
    resid = R - X @ coef
    alpha = coef[0]
    sigma = resid.T @ resid / T
    fbar = F.mean(axis=0)
    fc = F - fbar
    omega = fc.T @ fc / T
    rank = np.linalg.matrix_rank(sigma, hermitian=True)
    if rank < M:
        raise ValueError(
            f"The GRS test needs a nonsingular residual covariance; it has rank "
            f"{rank} < M={M}: some test asset is a combination of the others and "
            "the factors."
        )
    quad_alpha = float(alpha @ np.linalg.solve(sigma, alpha))
    quad_f = float(fbar @ np.linalg.solve(omega, fbar))
    df2 = T - M - K
    f_stat = df2 / M * quad_alpha / (1.0 + quad_f)
    wald = T * quad_alpha / (1.0 + quad_f)
    return GRSResult(
        stat=float(f_stat),
        pvalue=float(stats.f.sf(f_stat, M, df2)),
        df1=M,
        df2=df2,
        wald=float(wald),
    )


def cross_sectional_r2(test_returns, predicted_returns) -> CrossSectionalR2Result:
    r"""Cross-sectional fit of test assets' mean returns by mean predictions.

    With :math:`\bar r_m` and :math:`\bar p_m` the time-series means of the
    realised and predicted returns of test asset ``m`` (over the periods
    where both exist):

    .. math::

        R^2 = 1 - \frac{\sum_m (\bar r_m - \bar p_m)^2}{\sum_m \bar r_m^2},

    uncentred as the package's other R-squared metrics; ``r2_ols`` is the
    centred R-squared of the OLS of :math:`\bar r` on :math:`\bar p` with an
    intercept (also reported: intercept and slope).

    Parameters
    ----------
    test_returns : DataFrame (T, M)
        Realised returns of the test assets, indexed by period.
    predicted_returns : DataFrame (T, M)
        The model's predicted returns of the same assets (e.g. portfolio
        aggregates of ``predict``), same index and columns.

    Returns
    -------
    CrossSectionalR2Result

    Raises
    ------
    ValueError
        If the indexes or columns differ, or fewer than 3 test assets.
    """
    r, p = _as_frame(test_returns), _as_frame(predicted_returns)
    if not r.index.equals(p.index) or not r.columns.equals(p.columns):
        raise ValueError(
            "test_returns and predicted_returns must have the same periods and columns; "
            f"periods differ at {len(r.index.symmetric_difference(p.index))} label(s), "
            f"columns differ at {list(r.columns.symmetric_difference(p.columns))[:6]}."
        )
    both = r.notna().to_numpy() & p.notna().to_numpy()
    rbar = r.where(both).mean()
    pbar = p.where(both).mean()
    return _cs_r2(rbar, pbar)


def _cs_r2(rbar: pd.Series, pbar: pd.Series) -> CrossSectionalR2Result:
    if len(rbar) < 3:
        raise ValueError(
            f"Cross-sectional R2 needs at least 3 test assets; got {len(rbar)}."
        )
    rv, pv = rbar.to_numpy(dtype=float), pbar.to_numpy(dtype=float)
    r2 = 1.0 - np.sum((rv - pv) ** 2) / np.sum(rv**2)
    if np.ptp(pv) == 0:
        slope, intercept, r2_ols = np.nan, np.nan, np.nan
    else:
        slope, intercept = np.polyfit(pv, rv, 1)
        fitted = intercept + slope * pv
        r2_ols = 1.0 - np.sum((rv - fitted) ** 2) / np.sum((rv - rv.mean()) ** 2)
    return CrossSectionalR2Result(
        mean_returns=rbar,
        mean_predicted=pbar,
        r2=float(r2),
        r2_ols=float(r2_ols),
        intercept=float(intercept),
        slope=float(slope),
    )


def _resolve_sets(factors, factor_sets) -> dict:
    if isinstance(factors, dict):
        if factor_sets is not None:
            raise ValueError("Pass factor_sets only with a single factor DataFrame.")
        out = {}
        for label, frame in factors.items():
            if not isinstance(frame, pd.DataFrame):
                raise TypeError(
                    f"factors[{label!r}] must be a DataFrame; got {type(frame).__name__}."
                )
            out[str(label)] = frame
        return out
    if not isinstance(factors, pd.DataFrame):
        raise TypeError(
            f"factors must be a DataFrame or a dict of DataFrames; got {type(factors).__name__}."
        )
    if factor_sets is None:
        return {"factors": factors}
    if isinstance(factor_sets, str):
        factor_sets = [factor_sets]
    if isinstance(factor_sets, dict):
        return {str(k): resolve_factor_set(factors, v) for k, v in factor_sets.items()}
    out = {}
    for spec in factor_sets:
        if not isinstance(spec, str):
            raise TypeError(
                "factor_sets must be names of FACTOR_SETS or a dict label -> columns; "
                f"got {spec!r}."
            )
        out[spec] = resolve_factor_set(factors, spec)
    return out


def anomaly_test(
    test_assets,
    factors,
    factor_sets=None,
    *,
    nw_lags: int | None = None,
    join: str = "strict",
    missing: str = "drop",
) -> AnomalyComparison:
    r"""Alphas of test assets against one or more factor sets, with the GRS test.

    For each factor set and test asset ``m``, the time-series regression
    :math:`r_{m,t} = \alpha_m + b_m' f_t + e_{m,t}` (see
    :func:`~sklearn_neurif.inference.spanning_regression`) gives the alpha,
    its Newey-West t-statistic and the R-squared. Per set the result reports
    the mean absolute alpha, root mean squared alpha, the counts of
    ``|t| > 1.96`` and ``|t| > 3``, the GRS F statistic and p-value (see
    :func:`grs_test`; iid errors, finite-sample), the average R-squared and
    the cross-sectional R-squared
    :math:`1 - \sum_m \hat\alpha_m^2 / \sum_m \bar r_m^2` (the share of the
    test assets' mean returns explained by :math:`\hat b_m'\bar f`).

    With ``T <= M + K`` (more test assets than periods, e.g. 50 anomalies
    over 24 test months) the GRS test is undefined: the residual covariance
    is singular. Everything else is still computed; the set's ``grs_stat`` and
    ``grs_pvalue`` are NaN, ``grs_unavailable`` holds the reason, and
    ``summary()`` shows it in a ``GRS_unavailable`` row. The same holds when
    the residual covariance is singular for another reason (collinear test
    assets).

    Every set is estimated on the same periods: the test assets' periods
    (all must be covered by every set's factors, see ``join``), less periods
    where a test-asset return is missing (``missing``).

    Parameters
    ----------
    test_assets : DataFrame of shape (T, M)
        Test-asset excess returns (decimals) indexed by period.
    factors : DataFrame or dict of str -> DataFrame
        A frame of factor returns from which ``factor_sets`` are selected,
        or a dict ``{label: factor frame}`` (e.g. a model's learned factors
        next to FF5), each used whole.
    factor_sets : str, list of str or dict, optional
        With a single ``factors`` frame: names of :data:`FACTOR_SETS` or a
        dict ``{label: columns}``; default all columns as one set.
    nw_lags : int, optional
        Newey-West lags of the alpha t-statistics; default
        :math:`\lfloor 4 (T/100)^{2/9} \rfloor`.
    join : {"strict", "inner"}, default="strict"
        ``"strict"`` raises (listing the periods) when a set's factors miss
        test-asset periods; ``"inner"`` keeps the periods every set covers
        and reports the count dropped.
    missing : {"drop", "raise"}, default="drop"
        Missing test-asset returns: ``"drop"`` removes the periods where any
        test asset is missing (the GRS test needs a balanced sample; the
        count and the periods are reported as ``n_periods_missing_returns``
        and ``dropped_periods``); ``"raise"`` refuses them.

    Returns
    -------
    AnomalyComparison
        ``results[label]`` is an :class:`AnomalyTestResult`; ``summary()``
        is the side-by-side table (statistics x factor sets).

    Raises
    ------
    ValueError
        Misaligned periods (listed), constant or collinear factors, missing
        factor values, too few periods for the time-series regressions.

    Notes
    -----
    Timing: test assets and factors must be labelled by the period the
    return is earned. A model's ``factors_`` and the package's portfolio
    returns are labelled by the as-of period ``t``; relabel them with
    ``sklearn_neurif.panel.as_of_to_return_period`` before combining
    them with factor files.
    """
    if missing not in ("drop", "raise"):
        raise ValueError(f"missing must be 'drop' or 'raise'; got {missing!r}.")
    R = _as_frame(test_assets)
    sets = _resolve_sets(factors, factor_sets)
    n_unmatched = 0
    for frame in sets.values():
        R_kept, _, dropped = align_periods(R, frame, join=join)
        n_unmatched += dropped
        R = R_kept
    values = R.to_numpy(dtype=np.float64, na_value=np.nan)
    nan_rows = missing_return_rows(R.columns, values, missing)
    dropped_periods = R.index[nan_rows]
    R = R.loc[~nan_rows]
    for frame in sets.values():
        _check_factors(frame.loc[R.index])
    results = {
        label: _one_set(label, R, frame.loc[R.index], nw_lags)
        for label, frame in sets.items()
    }
    return AnomalyComparison(
        results=results,
        periods=R.index,
        n_periods_unmatched=n_unmatched,
        n_periods_missing_returns=int(nan_rows.sum()),
        dropped_periods=dropped_periods,
    )


def _grs_or_reason(R, F) -> tuple[float, float, str | None]:
    """GRS F and p-value, or NaN and the reason the test is undefined."""
    try:
        grs = grs_test(R, F)
    except ValueError as exc:  # T <= M + K or a singular residual covariance
        return np.nan, np.nan, str(exc)
    return grs.stat, grs.pvalue, None


def _one_set(label, R, F, nw_lags) -> AnomalyTestResult:
    span = spanning_regression(R, F, nw_lags=nw_lags, missing="raise")
    grs_stat, grs_pvalue, grs_reason = _grs_or_reason(R, F)
    rbar = R.mean()
    implied = rbar - span.alpha
    cs = _cs_r2(rbar, implied)
    return AnomalyTestResult(
        name=label,
        factors=list(map(str, F.columns)),
        alpha=span.alpha,
        tstats=span.alpha_tstat,
        r2=span.r2,
        grs_stat=grs_stat,
        grs_pvalue=grs_pvalue,
        cs_r2=cs.r2,
        cs_r2_ols=cs.r2_ols,
        n_periods=len(R),
        nw_lags=int(span.nw_lags.iloc[0]),
        betas=span.betas,
        grs_unavailable=grs_reason,
    )
