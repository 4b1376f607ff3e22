"""Timing: characteristics known at t, returns realised over t+1."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._index import panel_index

__all__ = ["align_next_period_returns"]


def align_next_period_returns(characteristics, returns, *, name: str = "ret_next"):
    """Pair characteristics at ``t`` with each asset's return over ``t+1``.

    The package's convention (see the data-conventions page): row
    ``(i, t)`` of ``X`` holds what is known at the end of period ``t`` and
    row ``(i, t)`` of ``y`` the excess return over period ``t+1``. This helper
    builds that ``y`` from a panel of returns indexed by the period over which
    each return is earned. No estimator lags anything by itself.

    As-of timing: for a row ``(i, t)`` the result holds ``returns[(i, t+1)]``,
    where ``t+1`` is the next period on the calendar for a ``Period`` time
    level (monthly ``Period`` s step one month), and otherwise the next value
    on the grid of all periods present in either input. An asset with no
    return in the next period gets NaN (masked in every loss and metric, never
    filled); it never takes a later month's return.

    Parameters
    ----------
    characteristics : DataFrame
        Characteristics with an ``(entity, time)`` MultiIndex.
    returns : Series or single-column DataFrame
        Returns with an ``(entity, time)`` MultiIndex, ``(i, t)`` being the
        return over period ``t``.
    name : str, default="ret_next"
        Name of the returned Series.

    Returns
    -------
    X : DataFrame
        ``characteristics`` unchanged (the same rows, in the same order; a
        copy, so the input is never mutated).
    y : Series
        Next-period returns on ``X.index``; NaN where the asset has no return
        in the next period (including the last period).

    Raises
    ------
    TypeError
        If either input lacks an ``(entity, time)`` MultiIndex.
    ValueError
        If an index is malformed or the time levels have different types.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_neurif.panel import align_next_period_returns
    >>> t = pd.period_range("2020-01", periods=3, freq="M")
    >>> idx = pd.MultiIndex.from_product([["a"], t], names=["entity", "time"])
    >>> X = pd.DataFrame({"size": [1.0, 2.0, 3.0]}, index=idx)
    >>> r = pd.Series([0.01, 0.02, 0.03], index=idx)
    >>> X, y = align_next_period_returns(X, r)
    >>> y.tolist()
    [0.02, 0.03, nan]
    """
    for obj, what in ((characteristics, "characteristics"), (returns, "returns")):
        if not isinstance(getattr(obj, "index", None), pd.MultiIndex):
            raise TypeError(
                f"{what} must have an (entity, time) MultiIndex; got "
                f"{type(getattr(obj, 'index', obj)).__name__}."
            )
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise ValueError(
                f"returns must be a Series or a one-column DataFrame; got {returns.shape[1]} columns."
            )
        returns = returns.iloc[:, 0]
    x_index = panel_index(characteristics)
    r_index = panel_index(returns)
    x_time = x_index.get_level_values(-1)
    r_time = r_index.get_level_values(-1)
    if isinstance(x_time, pd.PeriodIndex) != isinstance(r_time, pd.PeriodIndex) or (
        x_time.dtype.kind != r_time.dtype.kind
        and not isinstance(x_time, pd.PeriodIndex)
    ):
        raise ValueError(
            f"The time levels differ in type: characteristics {x_time.dtype}, "
            f"returns {r_time.dtype}."
        )
    next_time = _next_period(x_time, r_time)
    keys = pd.MultiIndex.from_arrays([x_index.get_level_values(0), next_time])
    values = returns.to_numpy(dtype=np.float64, na_value=np.nan)
    position = r_index.get_indexer(keys)
    y = np.where(position >= 0, values[np.maximum(position, 0)], np.nan)
    # On the caller's index (YYYYMM labels stay integers), so y.index == X.index.
    return characteristics.copy(), pd.Series(y, index=characteristics.index, name=name)


def _next_period(x_time: pd.Index, r_time: pd.Index) -> pd.Index:
    if isinstance(x_time, pd.PeriodIndex):
        return x_time + 1
    grid = x_time.append(r_time).unique().sort_values()
    pos = grid.get_indexer(x_time) + 1
    # The last period of the grid has no successor: point at a key no row has.
    nxt = grid.take(np.minimum(pos, len(grid) - 1))
    return nxt.where(
        pos < len(grid), other=pd.NaT if x_time.dtype.kind == "M" else np.nan
    )
