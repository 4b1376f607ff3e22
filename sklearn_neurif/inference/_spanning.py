"""Time-series (spanning / alpha) regressions with Newey-West standard errors.

A portfolio's excess return is regressed on a set of observable factors:
``r_t = alpha + b' f_t + e_t``. The intercept is the part of the average
return the factors do not explain. Inputs are already aligned period-indexed
frames; the periods must line up (see :func:`align_periods`).
"""

from __future__ import annotations

import math
import numbers
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import stats

from ..panel import (
    as_of_to_return_period,
    check_numeric_dtypes,
    check_return_units,
    row_periods_index,
    to_decimal_returns,
    to_monthly_periods,
)
from ._results import NeweyWestMeanResult, SpanningResult

__all__ = [
    "FACTOR_SETS",
    "align_factor_frames",
    "align_periods",
    "newey_west_lags",
    "newey_west_mean",
    "resolve_factor_set",
    "spanning_regression",
]

#: Observable factor sets by name, as column names of the Fama-French and
#: Hou-Xue-Zhang q5 files (decimal excess returns).
FACTOR_SETS: dict[str, tuple[str, ...]] = {
    "CAPM": ("Mkt-RF",),
    "FF3": ("Mkt-RF", "SMB", "HML"),
    "Carhart4": ("Mkt-RF", "SMB", "HML", "Mom"),
    "FF5": ("Mkt-RF", "SMB", "HML", "RMW", "CMA"),
    "FF5+Mom": ("Mkt-RF", "SMB", "HML", "RMW", "CMA", "Mom"),
    "q5": ("R_MKT", "R_ME", "R_IA", "R_ROE", "R_EG"),
}


def newey_west_lags(n_obs: int) -> int:
    r"""Newey-West (1994) plug-in lag rule, :math:`\lfloor 4 (T/100)^{2/9} \rfloor`.

    Parameters
    ----------
    n_obs : int
        Number of periods ``T``.

    Returns
    -------
    int
        Number of lags of the Bartlett kernel (5 for T = 600, 4 for T = 120).
    """
    return int(math.floor(4.0 * (n_obs / 100.0) ** (2.0 / 9.0)))


def _hac_fit(y: np.ndarray, X: np.ndarray, lags: int):
    # Bartlett kernel, no small-sample correction, normal p-values.
    # Imported here: statsmodels takes ~0.3 s to import, and importing
    # sklearn_neurif.inference should not pay for it.
    from statsmodels.regression.linear_model import OLS

    return OLS(y, X).fit(
        cov_type="HAC", cov_kwds={"maxlags": int(lags), "use_correction": False}
    )


def newey_west_mean(values, lags: int | None = None) -> NeweyWestMeanResult:
    """Mean of a time series and its Newey-West t-statistic.

    Parameters
    ----------
    values : array-like of shape (n_periods,)
        One observation per period; NaN entries are dropped.
    lags : int, optional
        Bartlett-kernel lags, below the number of observations; default
        :func:`newey_west_lags` of the number of observations.

    Returns
    -------
    NeweyWestMeanResult
        ``mean``, ``std_error``, ``stat`` (the t-statistic; NaN with fewer
        than two observations or zero variance), two-sided normal
        ``pvalue``, ``nw_lags`` (the lags used) and ``n_periods``.

    Raises
    ------
    ValueError
        If ``lags`` is not None or an integer >= 0, or is at least the
        number of (two or more) observations.

    Examples
    --------
    >>> from sklearn_neurif.inference import newey_west_mean
    >>> res = newey_west_mean([0.01, 0.03, -0.01, 0.02, 0.01], lags=1)
    >>> round(res.mean, 3), res.nw_lags, res.n_periods
    (0.012, 1, 5)
    """
    if lags is not None and (
        not isinstance(lags, numbers.Integral)
        or isinstance(lags, bool | np.bool_)
        or lags < 0
    ):
        raise ValueError(
            f"Newey-West lags must be None or an integer >= 0; got {lags!r}."
        )
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = len(x)
    if lags is None:
        lags = newey_west_lags(n)
    elif n >= 2 and lags >= n:
        # The Bartlett kernel has no autocovariance at lag >= T to weight.
        raise ValueError(
            f"Newey-West lags={lags} must be below the number of observations "
            f"(periods) with data ({n}); use fewer lags or None for the plug-in "
            "rule."
        )
    if n < 2 or np.ptp(x) == 0:
        mean = float(x.mean()) if n else np.nan
        return NeweyWestMeanResult(mean, np.nan, np.nan, np.nan, int(lags), n)
    fit = _hac_fit(x, np.ones((n, 1)), lags)
    stat = float(fit.tvalues[0])
    return NeweyWestMeanResult(
        mean=float(fit.params[0]),
        std_error=float(fit.bse[0]),
        stat=stat,
        pvalue=float(2 * stats.norm.sf(abs(stat))),
        nw_lags=int(lags),
        n_periods=n,
    )


def resolve_factor_set(factors: pd.DataFrame, factor_set) -> pd.DataFrame:
    """Select a factor set from a frame of factor returns.

    Parameters
    ----------
    factors : DataFrame
        Factor returns indexed by period, e.g. the Fama-French factors with
        momentum and the q5 factors joined.
    factor_set : str or sequence of str
        A name of :data:`FACTOR_SETS` (``"CAPM"``, ``"FF3"``, ``"Carhart4"``,
        ``"FF5"``, ``"FF5+Mom"``, ``"q5"``) or a list of column names.

    Returns
    -------
    DataFrame
        The selected columns, in the set's order.

    Raises
    ------
    ValueError
        If the name is unknown or a column is missing (missing and available
        columns are listed).
    """
    if isinstance(factor_set, str):
        if factor_set not in FACTOR_SETS:
            raise ValueError(
                f"Unknown factor set {factor_set!r}; known sets: {list(FACTOR_SETS)}, "
                "or pass a list of column names."
            )
        columns = list(FACTOR_SETS[factor_set])
    else:
        columns = list(factor_set)
    missing = [c for c in columns if c not in factors.columns]
    if missing:
        raise ValueError(
            f"Factor column(s) {missing} are not in the factor frame; available "
            f"columns: {list(map(str, factors.columns))}."
        )
    return factors[columns]


def _describe(periods, limit: int = 6) -> str:
    items = [str(p) for p in periods[:limit]]
    more = f", ... ({len(periods)} in all)" if len(periods) > limit else ""
    return "[" + ", ".join(items) + more + "]"


def align_periods(returns, factors, *, join: str = "strict"):
    """Check that factor returns cover the test assets' periods; select them.

    The test assets' periods define the sample. Factor files usually span
    more months than the test assets; those extra months are not used.

    Parameters
    ----------
    returns : Series or DataFrame
        Test-asset (portfolio) returns indexed by period.
    factors : DataFrame
        Factor returns indexed by period.
    join : {"strict", "inner"}, default="strict"
        ``"strict"``: every period of ``returns`` must be in ``factors``,
        otherwise a ValueError lists the missing periods. ``"inner"``: keep
        the periods present in both (the count of dropped test-asset periods
        is returned).

    Returns
    -------
    returns, factors : aligned copies on the same index, in time order
    n_dropped : int
        Number of test-asset periods dropped (always 0 with ``"strict"``).

    Raises
    ------
    ValueError
        On duplicated periods, a mismatch of index types, labels that are not
        ordered in time (strings, floats), or (strict) periods of ``returns``
        without factor data.
    """
    if join not in ("strict", "inner"):
        raise ValueError(f"join must be 'strict' or 'inner'; got {join!r}.")
    r_index, f_index = returns.index, factors.index
    for idx, what in ((r_index, "test-asset returns"), (f_index, "factors")):
        row_periods_index(idx, f"the {what}")  # labels ordered in time
        if idx.has_duplicates:
            raise ValueError(
                f"The {what} have duplicated periods: {_describe(idx[idx.duplicated()])}."
            )
    if isinstance(r_index, pd.PeriodIndex) != isinstance(f_index, pd.PeriodIndex):
        raise ValueError(
            f"Period labels differ in type: test assets {r_index.dtype}, factors "
            f"{f_index.dtype}. Convert both with sklearn_neurif.panel.to_monthly_periods."
        )
    missing = r_index.difference(f_index)
    if len(missing) and join == "strict":
        raise ValueError(
            f"Factors are missing for {len(missing)} of the {len(r_index)} test-asset "
            f"periods: {_describe(missing)}; the factors cover {f_index.min()} to "
            f"{f_index.max()}, the test assets {r_index.min()} to {r_index.max()}. "
            "Check the timing (package outputs are labelled by the as-of period t; "
            "factor files by the month earned, see as_of_to_return_period) or pass "
            "join='inner' to use the common periods."
        )
    # In time order: Newey-West lags count neighbouring rows, so a shuffled
    # sample would give other t-statistics.
    keep = r_index[r_index.isin(f_index)].sort_values()
    if len(keep) == 0:
        raise ValueError(
            f"The test assets and the factors have no period in common (test assets "
            f"{_describe(r_index)}, factors {_describe(f_index)}); check the timing "
            "and the period labels."
        )
    return returns.loc[keep].copy(), factors.loc[keep].copy(), len(missing)


def align_factor_frames(
    model_factors,
    observed,
    *,
    units: str,
    model_labels: str = "as_of",
    join: str = "strict",
):
    """Put a model's factors and an observable factor file on the same months.

    Parameters
    ----------
    model_factors : DataFrame or Series
        Learned factors (``factors_``, ``get_factors(X, y)``) or portfolio
        returns of the package, indexed by monthly period.
    observed : DataFrame
        Observable factors as read from a file: index of ``YYYYMM``
        integers, ``MM/YYYY`` strings, dates or monthly periods.
    units : {"percent", "decimal"}
        Units of ``observed``; required, never guessed. ``model_factors``
        are decimals.
    model_labels : {"as_of", "earned"}, default="as_of"
        How ``model_factors`` are labelled: ``"as_of"`` (the package
        convention: the row of period ``t`` holds the return over ``t+1``)
        relabels them one month forward to the month earned; ``"earned"``
        leaves them as they are.
    join : {"strict", "inner"}, default="strict"
        As in :func:`align_periods`, with ``model_factors`` as the sample.

    Returns
    -------
    model, observed : DataFrame
        Copies on the same monthly ``PeriodIndex``, labelled by the month
        the returns are earned, in decimals.

    Raises
    ------
    ValueError
        Unreadable month labels, bad ``units``/``model_labels``, or
        (strict) months of the model without observed factors (listed).
    """
    if model_labels not in ("as_of", "earned"):
        raise ValueError(
            f"model_labels must be 'as_of' or 'earned'; got {model_labels!r}."
        )
    model = _as_frame(model_factors)
    if model_labels == "as_of":
        model = as_of_to_return_period(model)
    else:
        model = model.copy()
        model.index = to_monthly_periods(model.index)
    obs = to_decimal_returns(observed, units)
    obs.index = to_monthly_periods(observed.index)
    model, obs, _ = align_periods(model, obs, join=join)
    return model, obs


def _check_factors(factors: pd.DataFrame) -> np.ndarray:
    values = factors.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) | np.isinf(values)
    if bad.any():
        cols = {
            str(c): int(n)
            for c, n in zip(factors.columns, bad.sum(0), strict=True)
            if n
        }
        raise ValueError(
            f"Factors contain missing or infinite values over the sample "
            f"(count per column: {cols}); factor returns must be complete."
        )
    constant = [
        str(c) for c, v in zip(factors.columns, values.T, strict=True) if np.ptp(v) == 0
    ]
    if constant:
        raise ValueError(
            f"Factor column(s) {constant} are constant over the sample; a constant "
            "factor is collinear with the intercept."
        )
    X = np.column_stack([np.ones(len(values)), values])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError(
            f"The factors {list(map(str, factors.columns))} and the intercept are "
            "linearly dependent over the sample."
        )
    return values


def _as_frame(returns) -> pd.DataFrame:
    if isinstance(returns, pd.Series):
        return returns.to_frame(name=returns.name if returns.name is not None else "r")
    if isinstance(returns, pd.DataFrame):
        return returns
    raise TypeError(
        f"returns must be a pandas Series or DataFrame indexed by period; got "
        f"{type(returns).__name__}."
    )


def _prepare(returns, factors, factor_set, join, missing):
    returns = _as_frame(returns)
    if not isinstance(factors, pd.DataFrame):
        raise TypeError(f"factors must be a DataFrame; got {type(factors).__name__}.")
    if factor_set is not None:
        factors = resolve_factor_set(factors, factor_set)
    if missing not in ("per_asset", "drop", "raise"):
        raise ValueError(
            f"missing must be 'per_asset', 'drop' or 'raise'; got {missing!r}."
        )
    r, f, n_dropped = align_periods(returns, factors, join=join)
    check_numeric_dtypes(r)  # text is refused, never parsed
    values = r.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise ValueError("Test-asset returns contain infinite values.")
    check_return_units(values, "Test-asset returns")
    check_numeric_dtypes(f)
    check_return_units(f.to_numpy(dtype=np.float64, na_value=np.nan), "Factors")
    nan_rows = missing_return_rows(r.columns, values, missing)
    if missing == "drop":
        r, f = r.loc[~nan_rows], f.loc[~nan_rows]
    return r, f, n_dropped, int(nan_rows.sum()) if missing == "drop" else 0


def _check_parameters(nw_lags, periods_per_year) -> None:
    """Refuse bad ``nw_lags`` and ``periods_per_year`` before any regression."""
    if nw_lags is not None and (
        not isinstance(nw_lags, Integral) or isinstance(nw_lags, bool) or nw_lags < 0
    ):
        raise ValueError(
            f"nw_lags must be a non-negative integer or None; got {nw_lags!r}."
        )
    if (
        not isinstance(periods_per_year, Integral)
        or isinstance(periods_per_year, bool | np.bool_)
        or periods_per_year < 1
    ):
        raise ValueError(
            "periods_per_year (of the annualised alpha) must be a positive integer; "
            f"got {periods_per_year!r}."
        )


def spanning_regression(
    returns,
    factors: pd.DataFrame,
    factor_set=None,
    *,
    nw_lags: int | None = None,
    periods_per_year: int = 12,
    join: str = "strict",
    missing: str = "per_asset",
) -> SpanningResult:
    r"""Regress portfolio returns on observable factors, Newey-West t-stats.

    For each test asset ``m``:

    .. math:: r_{m,t} = \alpha_m + b_m' f_t + e_{m,t}, \quad t = 1..T,

    by OLS. Standard errors are Newey-West (Bartlett kernel) with
    ``nw_lags`` lags, default :math:`\lfloor 4 (T/100)^{2/9} \rfloor`, no
    small-sample correction (statsmodels ``cov_type="HAC"``); p-values are
    two-sided normal. ``R^2`` is the usual centred R-squared of the
    time-series regression. The annualised alpha is ``periods_per_year *
    alpha``.

    Parameters
    ----------
    returns : Series or DataFrame of shape (n_periods, n_assets)
        Excess returns (decimals) indexed by period.
    factors : DataFrame
        Factor excess returns (decimals) indexed by period; may cover more
        periods than ``returns``.
    factor_set : str or list of str, optional
        Name in :data:`FACTOR_SETS` or column names selected from ``factors``;
        None uses every column of ``factors``.
    nw_lags : int, optional
        Newey-West lags; default by the rule above on each asset's ``T``.
    periods_per_year : int, default=12
        For the annualised alpha.
    join : {"strict", "inner"}, default="strict"
        See :func:`align_periods`.
    missing : {"per_asset", "drop", "raise"}, default="per_asset"
        Missing test-asset returns: ``"per_asset"`` regresses each asset on
        the periods where it has a return (``n_obs`` reports the count per
        asset); ``"drop"`` keeps only periods where every asset has a return;
        ``"raise"`` refuses them.

    Returns
    -------
    SpanningResult
        Alphas, betas, t-statistics, R-squared; ``summary()`` gives the table.

    Raises
    ------
    ValueError
        Misaligned periods (the missing periods are listed), constant or
        collinear factors, missing factor values, an asset with fewer
        observations than regressors plus two or with no return at all, no
        period in common, ``nw_lags`` negative or ``periods_per_year`` below
        1.

    Notes
    -----
    Timing: both frames are labelled by the period the return is earned in.
    Package outputs (portfolio sorts, ``factors_``) are labelled by the
    as-of period ``t`` of the characteristics; relabel them with
    ``sklearn_neurif.panel.as_of_to_return_period`` before joining them
    with factor files.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_neurif.inference import spanning_regression
    >>> t = pd.period_range("2000-01", periods=120, freq="M")
    >>> rng = np.random.default_rng(0)
    >>> f = pd.DataFrame({"Mkt-RF": rng.normal(0.005, 0.04, 120)}, index=t)
    >>> r = pd.Series(0.002 + 1.2 * f["Mkt-RF"] + rng.normal(0, 0.01, 120), index=t, name="p")
    >>> res = spanning_regression(r, f, "CAPM")
    >>> round(float(res.betas.loc["p", "Mkt-RF"]), 1)
    1.2
    """
    _check_parameters(nw_lags, periods_per_year)
    r, f, n_dropped, n_nan_periods = _prepare(
        returns, factors, factor_set, join, missing
    )
    f_values = _check_factors(f)
    k = f_values.shape[1]
    X = np.column_stack([np.ones(len(f_values)), f_values])
    rows = []
    for name in r.columns:
        y = r[name].to_numpy(dtype=np.float64, na_value=np.nan)
        ok = ~np.isnan(y)
        n = int(ok.sum())
        if n < k + 3:
            raise ValueError(
                f"Test asset {name!r} has {n} periods with returns; at least "
                f"{k + 3} are needed for {k} factor(s)."
            )
        if np.linalg.matrix_rank(X[ok]) < k + 1:
            raise ValueError(
                f"The factors are collinear over the periods of asset {name!r}."
            )
        lags = newey_west_lags(n) if nw_lags is None else int(nw_lags)
        fit = _hac_fit(y[ok], X[ok], lags)
        rows.append((fit.params, fit.tvalues, fit.rsquared, n, lags, fit.resid))
    names = ["alpha", *map(str, f.columns)]
    params = pd.DataFrame([p for p, *_ in rows], index=r.columns, columns=names)
    tvalues = pd.DataFrame([t for _, t, *_ in rows], index=r.columns, columns=names)
    return SpanningResult(
        params=params,
        tstats=tvalues,
        pvalues=pd.DataFrame(
            2 * stats.norm.sf(np.abs(tvalues)), index=r.columns, columns=names
        ),
        r2=pd.Series([x[2] for x in rows], index=r.columns, name="R2"),
        n_periods=pd.Series([x[3] for x in rows], index=r.columns, name="n_periods"),
        nw_lags=pd.Series([x[4] for x in rows], index=r.columns, name="nw_lags"),
        periods=r.index,
        periods_per_year=periods_per_year,
        n_periods_unmatched=n_dropped,
        n_periods_missing_returns=n_nan_periods,
    )


def missing_return_rows(columns, values, missing: str) -> np.ndarray:
    """Periods (rows) with a missing test-asset return; raise if ``missing="raise"``.

    Parameters
    ----------
    columns : Index
        Test-asset names, for the message.
    values : ndarray of shape (T, M)
        Test-asset returns.
    missing : str
        ``"raise"`` refuses any missing value (naming the counts per asset).

    Returns
    -------
    ndarray of bool, shape (T,)

    Raises
    ------
    ValueError
        If a test asset has no return in any period, or ``missing="drop"``
        would leave no period.
    """
    empty = [str(c) for c, e in zip(columns, np.isnan(values).all(0), strict=True) if e]
    if empty:
        raise ValueError(
            f"Test asset(s) {empty} have no return in any of the {len(values)} "
            "period(s) shared with the factors: nothing to test. Drop them."
        )
    nan_rows = np.isnan(values).any(axis=1)
    if nan_rows.all() and missing == "drop":
        raise ValueError(
            "missing='drop' leaves no period: every period has a missing test-asset "
            "return. Use missing='per_asset' (spanning_regression) to fit each asset "
            "on its own periods, or drop the sparse assets."
        )
    if nan_rows.any() and missing == "raise":
        cols = {
            str(c): int(n)
            for c, n in zip(columns, np.isnan(values).sum(0), strict=True)
            if n
        }
        raise ValueError(
            f"Test-asset returns contain missing values (count per column: {cols})."
        )
    return nan_rows
