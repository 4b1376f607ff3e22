"""Observable (pre-specified) factors of IPCA, matched to a panel's periods."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["align_observable_factors"]


def align_observable_factors(factors, periods, needed, names=None):
    """Observable factors on ``periods`` by label; refuse gaps where needed.

    Parameters
    ----------
    factors : DataFrame or Series
        Factor returns indexed by the as-of period ``t`` (the return over
        ``t+1``), one column per factor.
    periods : array-like
        The panel's period labels (its time level).
    needed : ndarray of bool
        Periods that must have every factor (those with returns).
    names : list of str, default=None
        Columns to take (a fitted model's factors), in that order.

    Returns
    -------
    DataFrame of shape (len(periods), n_factors)
        Indexed by ``periods``; NaN where a period is not needed and absent.

    Raises
    ------
    TypeError
        If ``factors`` is not a pandas object or has non-numeric columns.
    ValueError
        For duplicated periods, missing columns, infinite values, or a
        needed period absent from ``factors`` or NaN in it (the message
        names the first six such periods, their count and both ranges).
    """
    if isinstance(factors, pd.Series):
        factors = factors.to_frame(name=factors.name if factors.name else "observed")
    if not isinstance(factors, pd.DataFrame):
        raise TypeError(
            "factors must be a pandas DataFrame (or Series) indexed by the as-of "
            f"period of X's time level, got {type(factors).__name__}; rows are "
            "matched by period label, never by position."
        )
    if isinstance(factors.index, pd.MultiIndex):
        raise ValueError(
            "factors must be indexed by period (one level), not by a MultiIndex: "
            "one row per month, shared by every asset."
        )
    if factors.index.has_duplicates:
        dup = factors.index[factors.index.duplicated()].unique()
        raise ValueError(f"factors has duplicated periods: {list(dup[:6])}.")
    factors = factors.rename(columns=str)
    if names is not None:
        absent = [n for n in names if n not in factors.columns]
        if absent:
            raise ValueError(
                f"factors lacks the observable factor(s) {absent} the model was "
                f"fitted with (it has {list(factors.columns)})."
            )
        factors = factors[names]
    bad = [c for c, d in factors.dtypes.items() if not pd.api.types.is_numeric_dtype(d)]
    if bad or factors.shape[1] == 0:
        raise TypeError(
            f"factors must have numeric columns; non-numeric: {bad}"
            if bad
            else "factors has no columns."
        )
    values = factors.to_numpy(dtype=np.float64)
    if np.isinf(values).any():
        raise ValueError("factors holds infinite values.")
    periods = pd.Index(periods)
    try:
        aligned = factors.reindex(periods)
    except (TypeError, ValueError) as exc:  # incomparable index types
        raise ValueError(
            f"factors' index ({factors.index.dtype}) cannot be matched to the "
            f"panel's periods ({periods.dtype})."
        ) from exc
    gaps = np.asarray(needed) & aligned.isna().any(axis=1).to_numpy()
    if gaps.any():
        months = periods[gaps]
        shown = ", ".join(map(str, months[:6])) + (", ..." if len(months) > 6 else "")
        have = factors.dropna().index
        span = f"{have.min()}..{have.max()}" if len(have) else "none"
        want = periods[np.asarray(needed)]
        raise ValueError(
            f"Observable factors are missing (absent or NaN) for {len(months)} "
            f"period(s) with returns: {shown}. factors covers {span}; the panel's "
            f"periods with returns are {want.min()}..{want.max()}. factors must be "
            "labelled by the as-of period t (the return over t+1), like X's "
            "time level."
        )
    return aligned
