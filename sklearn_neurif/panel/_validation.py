"""Validation of long ``(entity, time)`` panels.

Every estimator and tool of the package calls these functions before doing
any work, so a user gets the same clear message everywhere. Nothing here
mutates its input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = [
    "is_panel",
    "panel_index",
    "check_panel_frame",
    "check_panel_target",
]

#: Name given to the single period of a plain array (one cross-section).
SINGLE_PERIOD = 0


def is_panel(X) -> bool:
    """Return True if ``X`` carries a two-level ``(entity, time)`` MultiIndex.

    Parameters
    ----------
    X : object
        Anything; DataFrames and Series are inspected.

    Returns
    -------
    bool
        Whether ``X`` is a pandas object whose index is a MultiIndex.
    """
    return isinstance(X, pd.DataFrame | pd.Series) and isinstance(
        X.index, pd.MultiIndex
    )


def panel_index(X) -> pd.MultiIndex:
    """Return the ``(entity, time)`` index of a panel, validated.

    A pandas object must carry a two-level MultiIndex, entity first and time
    last (the layout of ``ipca.InstrumentedPCA``), with no missing keys and
    no duplicated ``(entity, time)`` pair. Anything else that is not a pandas
    object (a NumPy array, a list) is one cross-section: a single period, and
    gets the index ``(row number, 0)``. A DataFrame without a MultiIndex is
    also treated as one cross-section.

    Parameters
    ----------
    X : DataFrame, Series or array-like
        Characteristics (or any per-row data) of a long panel.

    Returns
    -------
    pandas.MultiIndex
        Two levels named ``entity`` and ``time`` (names of a user's index are
        kept when set).

    Raises
    ------
    ValueError
        If the MultiIndex does not have exactly two levels, has missing keys
        or duplicated ``(entity, time)`` pairs.
    """
    if is_panel(X):
        index = X.index
        if index.nlevels != 2:
            raise ValueError(
                "A panel needs a two-level MultiIndex (entity, time); got "
                f"{index.nlevels} levels {list(index.names)}."
            )
        for level in range(2):
            values = index.get_level_values(level)
            if values.hasnans:
                which = ("entity", "time")[level]
                raise ValueError(
                    f"The panel index has {int(values.isna().sum())} missing "
                    f"{which} key(s); every row needs an entity and a time."
                )
        if index.has_duplicates:
            dup = index[index.duplicated()]
            raise ValueError(
                f"The panel index has {len(dup)} duplicated (entity, time) "
                f"pair(s), e.g. {_plain_key(dup[0])}; each entity may appear once "
                "per period."
            )
        return index
    n_rows = _num_rows(X)
    return pd.MultiIndex.from_arrays(
        [np.arange(n_rows), np.full(n_rows, SINGLE_PERIOD)],
        names=["entity", "time"],
    )


def _plain_key(key) -> tuple:
    """Index key with Python scalars, so messages read ('a', 1), not np.int64(1)."""
    return tuple(k.item() if isinstance(k, np.generic) else k for k in key)


def _num_rows(X) -> int:
    if hasattr(X, "shape") and len(X.shape) > 0:
        return int(X.shape[0])
    if hasattr(X, "__len__"):
        return len(X)
    # Array-likes that only implement __array__ (sklearn's _NotAnArray).
    return int(np.asarray(X).shape[0])


def check_panel_frame(X, *, allow_nan: bool = False) -> None:
    """Name the problems of a characteristics DataFrame, if any.

    Plain arrays are left to scikit-learn's ``validate_data``; this function
    adds messages that name the offending columns of a DataFrame.

    Parameters
    ----------
    X : DataFrame or array-like
        Characteristics.
    allow_nan : bool, default=False
        Whether missing characteristics are allowed.

    Raises
    ------
    TypeError
        If a column is not numeric (object, string, category, datetime).
    ValueError
        If a column holds infinite values, or missing values while
        ``allow_nan`` is False.
    """
    if not isinstance(X, pd.DataFrame):
        return
    non_numeric = [
        str(c)
        for c, dtype in X.dtypes.items()
        if not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        )
        or pd.api.types.is_complex_dtype(dtype)
    ]
    if non_numeric:
        raise TypeError(
            f"Characteristics must be numeric; non-numeric column(s): {non_numeric}. "
            "Encode categories (e.g. industry dummies) before fitting."
        )
    inf_count, nan_count = _count_inf_nan(X)
    if inf_count.any():
        cols = [str(c) for c, n in zip(X.columns, inf_count, strict=True) if n]
        raise ValueError(
            f"Characteristics contain infinite values in column(s) {cols}."
        )
    if not allow_nan and nan_count.any():
        cols = {str(c): int(n) for c, n in zip(X.columns, nan_count, strict=True) if n}
        raise ValueError(
            f"Characteristics contain NaN (missing values per column: {cols}). "
            "Impute them first, e.g. with "
            "sklearn_neurif.preprocessing.CrossSectionalRankScaler, which sets a "
            "missing characteristic to the cross-sectional median."
        )


def _count_inf_nan(X: pd.DataFrame, max_cells: int = 20_000_000):
    """Infinite and missing cells per column, a block of columns at a time.

    Converting a CRSP-sized frame (3M rows x 94) to float64 at once would be a
    2.2 GB temporary; blocks of ``max_cells`` keep it bounded.
    """
    step = max(1, max_cells // max(len(X), 1))
    inf_count = np.zeros(X.shape[1], dtype=np.int64)
    nan_count = np.zeros(X.shape[1], dtype=np.int64)
    for start in range(0, X.shape[1], step):
        block = X.iloc[:, start : start + step].to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        inf_count[start : start + step] = np.isinf(block).sum(axis=0)
        nan_count[start : start + step] = np.isnan(block).sum(axis=0)
    return inf_count, nan_count


def check_panel_target(
    y, index: pd.MultiIndex, *, allow_nan: bool = True
) -> np.ndarray:
    """Validate next-period returns against the panel's index.

    Parameters
    ----------
    y : Series or array-like of shape (n_rows,)
        Excess return over period t+1 for each ``(entity, time)`` row. A
        Series must have exactly the index of ``X`` (same rows, same order).
    index : pandas.MultiIndex
        The validated index of ``X``, from :func:`panel_index`.
    allow_nan : bool, default=True
        Missing returns are masked out of losses and metrics (never filled).

    Returns
    -------
    ndarray of shape (n_rows,), float64
        A new array; ``y`` itself is not modified.

    Raises
    ------
    ValueError
        If ``y`` is misaligned with ``X``, has the wrong length, holds
        infinite values, or (with ``allow_nan=False``) missing values, or if
        every return is missing.
    TypeError
        If ``y`` is not numeric.
    """
    if isinstance(y, pd.Series | pd.DataFrame) and isinstance(y.index, pd.MultiIndex):
        if not y.index.equals(index):
            missing = index.difference(y.index)
            extra = y.index.difference(index)
            raise ValueError(
                "y is not aligned with X: the (entity, time) index differs "
                f"({len(missing)} row(s) of X missing from y, {len(extra)} row(s) of y "
                "not in X, or a different order). Use y.reindex(X.index) to align it."
            )
    if isinstance(y, pd.Series | pd.DataFrame):
        if isinstance(y, pd.DataFrame) and y.shape[1] == 1:
            y = y.iloc[:, 0]
        if isinstance(y, pd.Series) and not (
            pd.api.types.is_numeric_dtype(y.dtype)
            or pd.api.types.is_bool_dtype(y.dtype)
        ):
            raise TypeError(f"y must be numeric; got dtype {y.dtype}.")
        y = y.to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        y_arr = column_or_1d(y, warn=True, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"y must be a 1-d array of numeric returns: {exc}") from exc
    check_consistent_length(np.empty(len(index)), y_arr)
    if np.isinf(y_arr).any():
        raise ValueError(f"y contains {int(np.isinf(y_arr).sum())} infinite value(s).")
    n_nan = int(np.isnan(y_arr).sum())
    if n_nan and not allow_nan:
        raise ValueError(f"y contains {n_nan} missing value(s).")
    if n_nan == len(y_arr):
        raise ValueError("Every return in y is missing; there is nothing to fit.")
    return np.array(y_arr, dtype=np.float64, copy=True)
