"""Dtypes of characteristics and per-row arrays: numbers only, never text.

Numbers stored as strings are refused everywhere, never parsed; booleans
are refused where a return or a weight is expected; object columns that
hold real numbers only (e.g. after a concat) are read as numbers.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.utils.validation import column_or_1d

__all__ = ["check_numeric_dtypes", "check_panel_frame"]


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
        If a column is not numeric (object, string, category, datetime), or
        an array holds text (numbers stored as strings are refused
        everywhere, never parsed).
    ValueError
        If there is no column, a column name is repeated, a column holds
        infinite values, or missing values while ``allow_nan`` is False.
    """
    if not isinstance(X, pd.DataFrame):
        _check_numeric_array(X)
        return
    if X.shape[1] == 0:
        raise ValueError("X has no characteristic column.")
    if X.columns.has_duplicates:
        dup = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
        raise ValueError(
            f"Characteristic column name(s) {dup} appear more than once; each "
            "column needs its own name."
        )
    non_numeric = [
        str(c)
        for c, dtype in X.dtypes.items()
        if not (
            pd.api.types.is_numeric_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
            or _holds_numbers(X[c])
        )
        or pd.api.types.is_complex_dtype(dtype)
        # is_bool_dtype is True for a category of booleans: categories are
        # labels, never characteristics.
        or isinstance(dtype, pd.CategoricalDtype)
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


def _holds_numbers(column) -> bool:
    """Whether an object column holds real numbers only (e.g. after a concat).

    Such a column is read as numbers, as a NumPy array of number objects is;
    text (numbers stored as strings included) and booleans are not. An empty
    object column passes: there is nothing to refuse.
    """
    if column.dtype != object:
        return False
    kind = pd.api.types.infer_dtype(column, skipna=True)
    return kind in ("floating", "integer", "mixed-integer-float", "empty")


def _check_numeric_array(X) -> None:
    """Refuse arrays of text: numbers stored as strings are not silently parsed."""
    arr = X if isinstance(X, np.ndarray) else None
    if arr is None and isinstance(X, list):
        arr = np.asarray(X, dtype=object)
    if arr is None:
        return
    if arr.dtype.kind in "SU" or (
        arr.dtype.kind == "O" and any(isinstance(v, str | bytes) for v in arr.flat)
    ):
        raise TypeError(
            "Characteristics must be numeric; X holds text (dtype "
            f"{arr.dtype}). Numbers stored as strings are refused: convert them "
            "first (e.g. X.astype(float) or pd.to_numeric)."
        )


def check_numeric_dtypes(X) -> None:
    """Refuse text characteristics without reading the values of numeric ones.

    The dtype part of :func:`check_panel_frame`, for estimators that check
    finiteness themselves (IPCA checks it on its moments). Numbers stored as
    strings are refused everywhere, never parsed.

    Parameters
    ----------
    X : DataFrame or array-like
        Characteristics.

    Raises
    ------
    TypeError
        If a column (or the array) is not numeric.
    """
    if not isinstance(X, pd.DataFrame):
        check_panel_frame(X, allow_nan=True)
        return
    check_panel_frame(X.iloc[:0], allow_nan=True)  # dtypes, names
    # Values are read only where the dtype cannot tell (object columns).
    objects = X.columns[[dtype == np.dtype(object) for dtype in X.dtypes]]
    if any(not _holds_numbers(X[c]) for c in objects):
        check_panel_frame(X[objects], allow_nan=True)  # names them


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


def _numeric_1d(values, what: str) -> np.ndarray:
    """Float64 copy of a 1-d numeric array-like; strings and booleans refused."""
    if isinstance(values, pd.Series):
        dtype = values.dtype
        if pd.api.types.is_bool_dtype(dtype) or not (
            pd.api.types.is_numeric_dtype(dtype) or _holds_numbers(values)
        ):
            raise TypeError(_non_numeric_message(what, dtype))
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    if arr.dtype.kind in "bOSUc" and not (
        arr.dtype.kind == "O" and all(_is_real(v) for v in arr.ravel())
    ):
        raise TypeError(_non_numeric_message(what, arr.dtype))
    try:
        return column_or_1d(arr, warn=True, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"{what} must be a 1-d array of numeric returns: {exc}"
        ) from exc


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool | np.bool_)


def _non_numeric_message(what: str, dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return f"{what} must be numeric returns; got booleans (dtype {dtype})."
    return (
        f"{what} must be numeric returns; got dtype {dtype}. Numbers stored as text "
        "are refused: convert them first (e.g. pd.to_numeric)."
    )
