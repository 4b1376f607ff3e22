"""Quantile portfolio sorts on a signal, and sorts on a factor model's outputs.

Each period ``t`` the assets with a signal known at ``t`` are split into
``q`` quantile portfolios; a portfolio formed at ``t`` earns the assets'
returns ``y(i, t)`` over ``t+1``. Portfolio returns are labelled by the
as-of period ``t`` (the package's convention).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import (
    _check_feature_names,
    _check_feature_names_in,
    _check_n_features,
    check_is_fitted,
    validate_data,
)

from .._params import set_init_params
from .._warnings import warn_at_caller
from ..base import factor_names
from ..inference._spanning import newey_west_mean
from ..panel import (
    PanelDataWarning,
    PanelLayout,
    check_numeric_dtypes,
    check_panel_frame,
    check_panel_target,
    is_panel,
    panel_index,
)

__all__ = [
    "PortfolioSorter",
    "PortfolioSortResult",
    "FactorSortResult",
    "sort_on_factor_model",
]

LS = "LS"


def _portfolio_names(q: int) -> list[str]:
    return [f"P{j}" for j in range(1, q + 1)]


def _stat_column(column, doc):
    """Property reading ``column`` of ``_column_stats()`` as floats."""
    return property(lambda self: self._column_stats()[column].astype(float), doc=doc)


@dataclass(frozen=True, repr=False)
class PortfolioSortResult:
    """Returns and statistics of quantile portfolios and the long-short spread.

    Attributes
    ----------
    returns : DataFrame (n_formed_periods, q + 1)
        Columns ``P1`` (lowest signal) .. ``Pq`` (highest) and ``LS``
        (``sign * (Pq - P1)``); index: as-of period ``t`` of the sort, the
        returns being earned over ``t+1``. Skipped periods are absent.
    turnover : DataFrame, same layout
        One-way turnover of each portfolio at formation (NaN in the first
        period and after a skipped period); ``LS`` is the sum of the two legs.
    n_assets : DataFrame (n_formed_periods, q)
        Assets held by each portfolio (those with a return).
    skipped_periods : Index
        Periods with too few assets to form ``q`` portfolios.
    n_missing_signal, n_missing_returns, n_missing_weight : int
        Rows without a signal (not sorted), sorted rows without a return
        (left out of the portfolio return, weights renormalised), rows
        without a valid positive weight (not sorted, value weighting only).
    n_empty : int
        Portfolio-periods left empty by tied signals (their return is NaN).
    nw_lags : int or None
        Newey-West lags requested (None: rule of thumb per column).
    periods_per_year : int
        For the annualised Sharpe ratio.
    """

    returns: pd.DataFrame
    turnover: pd.DataFrame
    n_assets: pd.DataFrame
    skipped_periods: pd.Index
    n_missing_signal: int = 0
    n_missing_returns: int = 0
    n_missing_weight: int = 0
    n_empty: int = 0
    nw_lags: int | None = None
    periods_per_year: int = 12
    weighting: str = "equal"
    _stats: dict = field(default_factory=dict)

    @property
    def n_skipped_periods(self) -> int:
        return len(self.skipped_periods)

    def _column_stats(self) -> pd.DataFrame:
        if "table" not in self._stats:
            rows = {}
            for col in self.returns.columns:
                x = self.returns[col].to_numpy(dtype=float)
                nw = newey_west_mean(x, self.nw_lags)
                mean, tstat, lags = nw.mean, nw.stat, nw.nw_lags
                valid = x[~np.isnan(x)]
                sd = valid.std(ddof=1) if len(valid) > 1 else np.nan
                sharpe = (
                    mean / sd * math.sqrt(self.periods_per_year) if sd > 0 else np.nan
                )
                rows[col] = {
                    "mean": mean,
                    "tstat": tstat,
                    "std": sd,
                    "sharpe": sharpe,
                    "turnover": float(np.nanmean(self.turnover[col]))
                    if self.turnover[col].notna().any()
                    else np.nan,
                    "n_periods": len(valid),
                    "nw_lags": lags,
                }
            self._stats["table"] = pd.DataFrame(rows).T
        return self._stats["table"]

    # Read-only columns of the per-portfolio statistics (computed once).
    mean = _stat_column("mean", "Mean per-period return of each portfolio.")
    tstats = _stat_column("tstat", "Newey-West t-statistic of each mean.")
    sharpe = _stat_column(
        "sharpe", "Annualised Sharpe ratio ``mean / std * sqrt(periods_per_year)``."
    )
    mean_turnover = _stat_column("turnover", "Average one-way turnover per period.")

    def net_of_costs(self, costs_bp) -> pd.Series:
        """Long-short mean, Newey-West t and Sharpe net of one-way trading costs.

        ``net_t = LS_t - cost * turnover_t`` for each cost in basis points,
        where the long-short turnover is the sum of its two legs' one-way
        turnover; the first month (no turnover: the legs are built from
        cash) pays for two full legs.

        Parameters
        ----------
        costs_bp : sequence of float
            One-way costs in basis points.

        Returns
        -------
        Series
            ``mean_net_<c>bp``, ``tstat_net_<c>bp``, ``sharpe_net_<c>bp``
            (annualised) for each cost ``c``.
        """
        gross = self.returns[LS]
        turnover = self.turnover[LS].fillna(2.0)
        out = {}
        for bp in costs_bp:
            net = (gross - bp / 1e4 * turnover).dropna()
            nw = newey_west_mean(net.to_numpy(), self.nw_lags)
            mean = nw.mean
            sd = float(net.std(ddof=1))
            out[f"mean_net_{bp:g}bp"] = mean
            out[f"tstat_net_{bp:g}bp"] = nw.stat
            out[f"sharpe_net_{bp:g}bp"] = (
                mean / sd * math.sqrt(self.periods_per_year) if sd > 0 else np.nan
            )
        return pd.Series(out, dtype=float)

    def summary(self) -> pd.DataFrame:
        """Mean, NW t-stat, std, annualised Sharpe, turnover, periods per portfolio."""
        table = self._column_stats().copy()
        table["avg_n_assets"] = list(self.n_assets.mean()) + [np.nan]
        return table.astype({"n_periods": int, "nw_lags": int})

    def __repr__(self) -> str:
        return (
            f"PortfolioSortResult(q={self.returns.shape[1] - 1}, {self.weighting}-weighted, "
            f"periods={len(self.returns)}, skipped={self.n_skipped_periods})"
        )


def _assign(signal: np.ndarray, q: int, universe: np.ndarray | None) -> np.ndarray:
    """Portfolio 0..q-1 of each asset: breakpoints are quantiles of the universe."""
    base = signal if universe is None else signal[universe]
    breakpoints = np.quantile(base, np.arange(1, q) / q)
    # An asset at a breakpoint goes to the lower portfolio.
    return np.searchsorted(breakpoints, signal, side="left")


def _turnover(prev, now) -> float:
    """One-way turnover: half the sum of |new weight - drifted old weight|."""
    if prev is None:
        return np.nan
    prev_ent, prev_w, prev_r = prev
    drifted = prev_w * (1.0 + prev_r)
    if drifted.sum() <= 0:
        # The old portfolio lost everything (its return is -100% or below):
        # no drifted weights to trade from; _warn_wiped_out says so.
        return np.nan
    drifted = drifted / drifted.sum()
    ent = np.concatenate([now[0], prev_ent])
    w = np.concatenate([now[1], -drifted])
    _, inverse = np.unique(ent, return_inverse=True)
    return 0.5 * float(np.abs(np.bincount(inverse, weights=w)).sum())


def _sort_panel(layout, signal, returns, weights, universe, q, min_assets, sign):
    n_missing_signal = int(np.isnan(signal).sum())
    valid = ~np.isnan(signal)
    n_missing_weight = 0
    if weights is not None:
        bad_w = valid & ~(np.isfinite(weights) & (weights > 0))
        n_missing_weight = int(bad_w.sum())
        valid &= ~bad_w
    n_missing_returns = int((valid & np.isnan(returns)).sum())
    names = _portfolio_names(q)
    formed, skipped, rets, turns, counts = [], [], [], [], []
    prev_holdings = [None] * q
    n_empty = 0
    last_pos = None
    for pos, rows in enumerate(layout.period_rows()):
        rows = np.sort(rows[valid[rows]])
        uni = None if universe is None else universe[rows]
        n_base = len(rows) if uni is None else int(uni.sum())
        if n_base < min_assets:
            skipped.append(layout.periods[pos])
            prev_holdings = [None] * q
            continue
        if last_pos is not None and last_pos != pos - 1:
            prev_holdings = [None] * q
        last_pos = pos
        group = _assign(signal[rows], q, uni)
        members = [rows[(group == g) & ~np.isnan(returns[rows])] for g in range(q)]
        r_row, t_row, c_row = _hold_portfolios(
            members, returns, weights, layout.entity_pos, prev_holdings
        )
        n_empty += int((c_row == 0).sum())
        formed.append(layout.periods[pos])
        rets.append([*r_row, sign * (r_row[-1] - r_row[0])])
        turns.append([*t_row, t_row[-1] + t_row[0]])
        counts.append(c_row)
    if not formed:
        raise _no_period_error(
            q,
            min_assets,
            len(skipped),
            layout.n_rows,
            n_missing_signal,
            n_missing_weight,
        )
    index = pd.Index(formed, name=layout.index.names[-1])
    cols = [*names, LS]
    return PortfolioSortResult(
        returns=pd.DataFrame(rets, index=index, columns=cols),
        turnover=pd.DataFrame(turns, index=index, columns=cols),
        n_assets=pd.DataFrame(counts, index=index, columns=names),
        skipped_periods=pd.Index(skipped, name=layout.index.names[-1]),
        n_missing_signal=n_missing_signal,
        n_missing_returns=n_missing_returns,
        n_missing_weight=n_missing_weight,
        n_empty=n_empty,
    )


def _hold_portfolios(members, returns, weights, entity_pos, prev_holdings):
    """One period's portfolio returns, turnover and counts; holdings updated.

    ``members`` holds each portfolio's rows with a return. ``prev_holdings``
    (one entry a portfolio, None where nothing was held) is updated in place
    so that the next period's turnover is measured against this one.
    """
    q = len(members)
    r_row, t_row, c_row = np.full(q, np.nan), np.full(q, np.nan), np.zeros(q, int)
    for g, rows in enumerate(members):
        c_row[g] = len(rows)
        if not len(rows):
            prev_holdings[g] = None
            continue
        w = np.ones(len(rows)) if weights is None else weights[rows]
        w = w / w.sum()
        r_row[g] = float(w @ returns[rows])
        holding = (entity_pos[rows], w, returns[rows])
        t_row[g] = _turnover(prev_holdings[g], holding)
        prev_holdings[g] = holding
    return r_row, t_row, c_row


def _no_period_error(
    q, min_assets, n_skipped, n_rows, n_missing_signal, n_missing_weight
):
    # Say which input emptied the periods: a missing signal, or weights that
    # are missing, zero or negative (those rows are left out).
    why = (
        f"; {n_missing_signal} row(s) have no signal and {n_missing_weight} "
        "a weight that is missing, zero or negative"
        if n_missing_signal or n_missing_weight
        else ""
    )
    return ValueError(
        f"No period has at least {min_assets} assets with a signal to form {q} "
        f"portfolios ({n_skipped} period(s) skipped, {n_rows} "
        f"sample(s) in all{why})."
    )


def _row_values(values, index, what) -> np.ndarray | None:
    """Per-row float values of a column-like, matched to the panel by index."""
    if values is None:
        return None
    if what == "breakpoints":
        values = _flag_values(values, what)
    return check_panel_target(
        values, index, allow_nan=True, check_units=False, name=what
    )


def _flag_values(flag, what):
    """A breakpoint flag as 0/1 floats; anything but booleans or 0/1 is refused."""
    values = flag.to_numpy() if isinstance(flag, pd.Series) else np.asarray(flag)
    if pd.isna(values).any():
        raise ValueError(f"The breakpoint flag {what!r} has NaN.")
    if isinstance(flag, pd.Series) and pd.api.types.is_bool_dtype(flag.dtype):
        values = values.astype(bool)  # nullable "boolean" comes out as objects
    if values.dtype.kind != "b":
        numeric = values.dtype.kind in "iuf"
        if not numeric or not np.isin(values, (0, 1)).all():
            example = values[~np.isin(values, (0, 1))][0] if numeric else values[0]
            raise ValueError(
                f"The breakpoint flag {what!r} must be boolean (or 0/1); got "
                f"dtype {values.dtype} with values such as {example!r}."
            )
    out = values.astype(np.float64)
    if isinstance(flag, pd.Series):
        return pd.Series(out, index=flag.index)
    return out


def _check_params(n_portfolios, long_short, min_assets, nw_lags, periods_per_year):
    if not _is_int(n_portfolios) or n_portfolios < 2:
        raise ValueError(f"n_portfolios must be an integer >= 2; got {n_portfolios!r}.")
    if long_short not in ("top-bottom", "bottom-top"):
        raise ValueError(
            f"long_short must be 'top-bottom' or 'bottom-top'; got {long_short!r}."
        )
    if min_assets is not None and (
        not _is_int(min_assets) or min_assets < n_portfolios
    ):
        raise ValueError(
            f"min_assets must be an integer >= n_portfolios ({n_portfolios}); got {min_assets!r}."
        )
    if nw_lags is not None and (not _is_int(nw_lags) or nw_lags < 0):
        raise ValueError(
            f"nw_lags must be a non-negative integer or None; got {nw_lags!r}."
        )
    if not _is_int(periods_per_year) or periods_per_year < 1:
        raise ValueError(
            f"periods_per_year must be a positive integer; got {periods_per_year!r}."
        )


def _is_int(value) -> bool:
    """An integer that is not a boolean (``True`` is not a count)."""
    return isinstance(value, numbers.Integral) and not isinstance(
        value, bool | np.bool_
    )


def _warn_wiped_out(returns: pd.DataFrame) -> None:
    """Warn about portfolio returns of -100% or below and the NaN turnover they cause."""
    wiped = returns.to_numpy() <= -1.0
    if wiped.any():
        periods, cols = np.nonzero(wiped)
        warn_at_caller(
            f"{int(wiped.sum())} portfolio return(s) are -100% or below (e.g. "
            f"{returns.columns[cols[0]]} in {returns.index[periods[0]]}): every asset "
            "of the portfolio lost everything (delistings at a total loss?). Such a "
            "portfolio has no drifted weights to trade from, so its turnover in the "
            "next period is NaN. Check the returns (decimals, delisting returns).",
            PanelDataWarning,
        )


def _run_sort(index, signal, y, weights, universe, params) -> PortfolioSortResult:
    q, long_short, min_assets, nw_lags, periods_per_year = params
    _check_params(q, long_short, min_assets, nw_lags, periods_per_year)
    if np.isinf(signal).any():
        raise ValueError(
            f"The signal contains {int(np.isinf(signal).sum())} infinite value(s)."
        )
    returns = check_panel_target(y, index)
    if universe is not None:
        universe = universe.astype(bool)
    layout = PanelLayout(index)
    sign = 1.0 if long_short == "top-bottom" else -1.0
    result = _sort_panel(
        layout, signal, returns, weights, universe, q, min_assets or q, sign
    )
    _warn_wiped_out(result.returns.iloc[:, :q])
    return PortfolioSortResult(
        **{
            **result.__dict__,
            "nw_lags": nw_lags,
            "periods_per_year": periods_per_year,
            "weighting": "equal" if weights is None else "value",
            "_stats": {},
        }
    )


class PortfolioSorter(TransformerMixin, BaseEstimator):
    r"""Quantile portfolio sorts on a signal, period by period.

    Each period ``t``, assets with a signal (and, for value weights, a
    positive weight) are split into ``n_portfolios`` groups at the
    ``j / q`` quantiles (``numpy.quantile``, linear interpolation) of the
    signal; an asset exactly at a breakpoint goes to the lower group. With
    ``breakpoints`` set, the quantiles come from the flagged assets only
    (NYSE breakpoints) and every asset is assigned by them. Portfolio
    returns are equal- or value-weighted averages of the assets' returns
    ``y(i, t)`` over ``t+1``; ``LS`` is ``P_q - P_1`` (or the reverse).

    Parameters
    ----------
    n_portfolios : int, default=10
        Number of quantile portfolios ``q``.
    signal : str, optional
        Column of ``X`` to sort on; default: ``X``'s only column (or ``X``
        itself if a Series). A panel with several columns must name it; a
        plain array (one cross-section, no column names) is sorted on its
        first column.
    weights : str, optional
        Column of ``X`` with the value weights (market capitalisation at
        ``t``); default equal weights.
    breakpoints : str, optional
        Boolean column of ``X`` flagging the assets whose signal sets the
        breakpoints (e.g. NYSE stocks).
    long_short : {"top-bottom", "bottom-top"}, default="top-bottom"
        Sign of the long-short spread.
    min_assets : int, optional
        Minimum assets (in the breakpoint universe) to sort a period;
        default ``n_portfolios``. Periods with fewer are skipped and counted
        in ``result_.skipped_periods``.
    nw_lags : int, optional
        Newey-West lags for the t-statistics; default
        :math:`\lfloor 4 (T/100)^{2/9} \rfloor`.
    periods_per_year : int, default=12
        Annualisation of the Sharpe ratio.

    Attributes
    ----------
    result_ : PortfolioSortResult
        Portfolio returns, turnover, statistics and counts.
    returns_ : DataFrame
        ``result_.returns``.

    Notes
    -----
    Timing (as-of): the signal, weights and flags of row ``(i, t)`` are known
    at the end of ``t``; ``y(i, t)`` is the return over ``t+1``; portfolio
    rows are labelled ``t``. Relabel with
    ``sklearn_neurif.panel.as_of_to_return_period`` before regressing on
    factor files labelled by the month earned.

    Missing data: rows with a NaN signal are not sorted; sorted rows with a
    NaN return are left out of their portfolio's return (weights renormalised
    over the rest); with value weights, rows whose weight is missing or not
    positive are not sorted. All three are counted on ``result_``.

    Turnover of a portfolio at ``t`` is
    :math:`\tfrac12\sum_i |w_{i,t} - \tilde w_{i,t-1}|`, with
    :math:`\tilde w_{i,t-1} \propto w_{i,t-1}(1 + y_{i,t-1})` the previous
    weights drifted by the returns (excess returns stand in for total
    returns); 1 means the portfolio was fully replaced. The long-short
    turnover is the sum over its two legs (at most 2).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_neurif.portfolio import PortfolioSorter
    >>> idx = pd.MultiIndex.from_product([range(20), range(3)], names=["entity", "time"])
    >>> X = pd.DataFrame({"mom": np.repeat(np.arange(20.0), 3)}, index=idx)
    >>> y = pd.Series(0.001 * X["mom"], index=X.index)
    >>> res = PortfolioSorter(n_portfolios=5).fit(X, y).result_
    >>> res.returns.shape
    (3, 6)
    """

    def __init__(
        self,
        n_portfolios=10,
        *,
        signal=None,
        weights=None,
        breakpoints=None,
        long_short="top-bottom",
        min_assets=None,
        nw_lags=None,
        periods_per_year=12,
    ):
        set_init_params(self, locals())

    def _sort_params(self) -> tuple:
        """The parameters ``_run_sort`` takes, in its order."""
        return (
            self.n_portfolios,
            self.long_short,
            self.min_assets,
            self.nw_lags,
            self.periods_per_year,
        )

    def _columns(self, X, reset=False):
        if is_panel(X):
            _check_feature_names(self, X, reset=reset)
            if isinstance(X, pd.DataFrame):
                _check_n_features(self, X, reset=reset)
            elif reset:
                self.n_features_in_ = 1
        else:
            # A plain array (or a frame without a MultiIndex) is one
            # cross-section, the package's convention; its first column is
            # the signal unless one is named.
            X = self._cross_section(X, reset)
        index = panel_index(X)
        if isinstance(X, pd.Series):
            if self.weights is not None or self.breakpoints is not None:
                raise ValueError(
                    "weights and breakpoints name columns; pass X as a DataFrame."
                )
            check_numeric_dtypes(X.to_frame())
            return index, X.to_numpy(dtype=np.float64, na_value=np.nan), None, None
        for name in (self.signal, self.weights, self.breakpoints):
            if name is not None and name not in X.columns:
                raise ValueError(
                    f"Column {name!r} is not in X; columns: {list(X.columns)}."
                )
        signal = self.signal
        if signal is None:
            if X.shape[1] != 1 and is_panel(X):
                raise ValueError(
                    f"X has {X.shape[1]} columns; name the signal column with signal=..."
                )
            signal = X.columns[0]
        numeric = [c for c in (signal, self.weights) if c is not None]
        check_numeric_dtypes(X[numeric])  # text is refused, never parsed
        values = X[signal].to_numpy(dtype=np.float64, na_value=np.nan)
        weights = (
            None
            if self.weights is None
            else X[self.weights].to_numpy(np.float64, na_value=np.nan)
        )
        universe = None
        if self.breakpoints is not None:
            flag = _flag_values(X[self.breakpoints], self.breakpoints)
            universe = flag.to_numpy().astype(bool)
        return index, values, weights, universe

    def _cross_section(self, X, reset):
        names = X.columns if isinstance(X, pd.DataFrame) else None
        panel_index(X)  # refuses ids and dates left as columns
        check_panel_frame(X, allow_nan=True)  # names text columns
        values = validate_data(
            self,
            X,
            reset=reset,
            dtype=np.float64,
            ensure_all_finite="allow-nan",
            ensure_min_samples=1,
        )
        return pd.DataFrame(values, columns=names)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # a missing signal is left unsorted
        tags.target_tags.required = True
        return tags

    def fit(self, X, y):
        """Sort each period and compute the portfolio returns.

        Parameters
        ----------
        X : DataFrame or Series with an (entity, time) MultiIndex
            Signal (and optional weight / breakpoint-flag columns) known at
            ``t``. A plain array (or a frame without a MultiIndex) is one
            cross-section, a single period.
        y : Series
            Excess return over ``t+1`` of each row, on ``X``'s index.

        Returns
        -------
        self
        """
        index, signal, weights, universe = self._columns(X, reset=True)
        self.result_ = _run_sort(
            index,
            signal,
            y,
            weights,
            universe,
            self._sort_params(),
        )
        self.returns_ = self.result_.returns
        return self

    def transform(self, X):
        """Portfolio number (1..q) of each row; NaN where not sorted.

        Rows are not sorted when their signal (or value weight) is missing or
        their period has fewer than ``min_assets`` assets.

        Parameters
        ----------
        X : DataFrame or Series with an (entity, time) MultiIndex

        Returns
        -------
        DataFrame with one column ``portfolio`` on ``X``'s index.
        """
        check_is_fitted(self, "result_")
        index, signal, weights, universe = self._columns(X)
        valid = ~np.isnan(signal)
        if weights is not None:
            valid &= np.isfinite(weights) & (weights > 0)
        out = np.full(len(index), np.nan)
        q, min_assets = self.n_portfolios, self.min_assets or self.n_portfolios
        for rows in PanelLayout(index).period_rows():
            rows = rows[valid[rows]]
            uni = None if universe is None else universe[rows]
            if (len(rows) if uni is None else int(uni.sum())) >= min_assets:
                out[rows] = _assign(signal[rows], q, uni) + 1
        if not is_panel(X):
            return out[:, None]  # array in, array out (as the factor models)
        return pd.DataFrame({"portfolio": out}, index=index)

    def get_feature_names_out(self, input_features=None):
        """Name of the ``transform`` column.

        Parameters
        ----------
        input_features : array-like of str, optional
            Checked against ``feature_names_in_``; unused otherwise.

        Returns
        -------
        ndarray of str
            ``["portfolio"]``.
        """
        check_is_fitted(self, "result_")
        _check_feature_names_in(self, input_features)
        return np.array(["portfolio"], dtype=object)


@dataclass(frozen=True, repr=False)
class FactorSortResult:
    """Sorts on each loading and on the predicted return of a factor model.

    Attributes
    ----------
    results : dict of str -> PortfolioSortResult
        Keys ``"predicted"`` and ``"loading_1"`` .. ``"loading_K"``.
    """

    results: dict

    def __getitem__(self, name) -> PortfolioSortResult:
        return self.results[name]

    @property
    def table(self) -> pd.DataFrame:
        """Tidy table: one row per (signal, portfolio) with the statistics."""
        frames = []
        for name, res in self.results.items():
            part = res.summary().rename_axis("portfolio").reset_index()
            part.insert(0, "signal", name)
            frames.append(part)
        return pd.concat(frames, ignore_index=True)

    def summary(self, portfolio: str = LS) -> pd.DataFrame:
        """Statistics of one portfolio (default the long-short) by signal."""
        rows = {k: r.summary().loc[portfolio] for k, r in self.results.items()}
        return pd.DataFrame(rows).T.astype({"n_periods": int, "nw_lags": int})

    @property
    def long_short_returns(self) -> pd.DataFrame:
        """Long-short returns by signal (columns), as-of period index."""
        return pd.DataFrame({k: r.returns[LS] for k, r in self.results.items()})

    def __repr__(self) -> str:
        return f"FactorSortResult(signals={list(self.results)})"


def _loading_columns(Z, n_factors):
    if isinstance(Z, pd.DataFrame):
        cols = [c for c in Z.columns if str(c).startswith("loading_")]
        if cols:
            return Z[cols].to_numpy(dtype=np.float64), cols
        Z = Z.to_numpy(dtype=np.float64)
    Z = np.asarray(Z, dtype=np.float64)
    k = n_factors if n_factors is not None else Z.shape[1] // 2
    return Z[:, :k], factor_names(k, "loading")


def _sorter_for(sort_params) -> PortfolioSorter:
    """A PortfolioSorter holding ``sort_params`` (its defaults for the rest).

    The sort parameters and their defaults are defined once, by
    :class:`PortfolioSorter`; the signal, weights and breakpoints are
    arrays here, not column names, so they cannot be passed through.
    """
    passed_through = {"signal", "weights", "breakpoints"} & set(sort_params)
    unknown = set(sort_params) - set(PortfolioSorter._get_param_names())
    if passed_through or unknown:
        raise TypeError(
            "sort_on_factor_model got unexpected keyword argument(s) "
            f"{sorted(passed_through | unknown)}; it takes n_portfolios, "
            "long_short, min_assets, nw_lags, periods_per_year, weights and "
            "breakpoints."
        )
    return PortfolioSorter(**sort_params)


def sort_on_factor_model(
    estimator,
    X,
    y,
    *,
    weights=None,
    breakpoints=None,
    **sort_params,
) -> FactorSortResult:
    """Sort on the predicted return and on each loading of a fitted factor model.

    The paper's test of what the loadings price: each period, sort assets on
    ``estimator.predict(X)`` and, separately, on each of the ``K`` loading
    columns of ``estimator.transform(X)`` (the first ``K`` columns, named
    ``loading_1..K``; factor models of the package follow this contract).
    A Pipeline ending with a factor model works as is (its ``predict`` and
    ``transform`` run the earlier steps).

    Parameters
    ----------
    estimator : fitted factor model or Pipeline ending with one
    X : DataFrame with an (entity, time) MultiIndex
        Characteristics at ``t``. A plain array (or a frame without a
        MultiIndex) is one cross-section, as in :class:`PortfolioSorter`.
    y : Series
        Excess returns over ``t+1`` on ``X``'s index (by position for a
        plain ``X``).
    weights : Series on X's index, optional
        Value weights (market cap at ``t``); default equal weights.
    breakpoints : boolean Series on X's index, optional
        Assets whose signal sets the breakpoints.
    **sort_params
        ``n_portfolios``, ``long_short``, ``min_assets``, ``nw_lags`` and
        ``periods_per_year``, with the meaning and defaults of
        :class:`PortfolioSorter` (``n_portfolios=10``).

    Returns
    -------
    FactorSortResult
        ``table`` (tidy: signal x portfolio x statistics), ``summary()``
        (long-short statistics by signal), ``results[name]``.

    Notes
    -----
    A loading's sign is fixed by the model's normalisation (IPCA: positive
    factor means), so ``LS`` on a loading is long the assets most exposed to
    a factor with a positive premium. Timing as in :class:`PortfolioSorter`.
    """
    # Parameters are checked before the model runs on X.
    params = _sorter_for(sort_params)._sort_params()
    _check_params(*params)
    # A plain X is one cross-section (the package's convention, as in
    # PortfolioSorter); y, weights and breakpoints then pair by position.
    index = panel_index(X)
    # Weights and flags are matched to X's rows (or refused) before the model
    # runs on X.
    w = _row_values(weights, index, "weights")
    uni = _row_values(breakpoints, index, "breakpoints")
    pred = np.asarray(estimator.predict(X), dtype=np.float64).reshape(-1)
    loadings, names = _loading_columns(
        estimator.transform(X), getattr(estimator, "n_factors", None)
    )
    signals = {"predicted": pred, **{n: loadings[:, j] for j, n in enumerate(names)}}
    results = {
        name: _run_sort(
            index, values, y, w, None if uni is None else uni.astype(bool), params
        )
        for name, values in signals.items()
    }
    return FactorSortResult(results=results)
