"""Per-row arrays paired with a panel by index, never by position.

Returns (``y``), row weights and forecasts are aligned with the rows of
``X`` (or of the realised returns) by their ``(entity, time)`` labels; an
array without labels pairs by position only with a plain array (one
cross-section). Nothing here mutates its input.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_consistent_length

from ._dtypes import _numeric_1d
from ._index import SINGLE_PERIOD, _plain_key, panel_index
from ._units import check_return_units

__all__ = [
    "aligned_forecast",
    "aligned_pair",
    "check_panel_target",
    "check_sample_weight",
]


def check_panel_target(
    y,
    index: pd.MultiIndex,
    *,
    allow_nan: bool = True,
    check_units: bool = True,
    name: str = "y",
) -> np.ndarray:
    """Validate next-period returns and align them with the panel's rows.

    Returns are paired with ``X`` by index, never by position: a ``y`` with
    an ``(entity, time)`` MultiIndex is reordered to ``X``'s rows, and a
    panel ``X`` refuses a ``y`` without one (a NumPy array, or a Series whose
    index was reset). A plain ``X`` (one cross-section) pairs by position,
    as scikit-learn does.

    Parameters
    ----------
    y : Series or array-like of shape (n_rows,)
        Excess return over period t+1 for each ``(entity, time)`` row. With
        a panel ``X``, a Series (or one-column DataFrame) with the same
        ``(entity, time)`` rows as ``X``, in any order.
    index : pandas.MultiIndex
        The validated index of ``X``, from :func:`panel_index`.
    allow_nan : bool, default=True
        Missing returns are masked out of losses and metrics (never filled).
    check_units : bool, default=True
        Warn (:class:`PanelDataWarning`) when the returns look like percent
        (median absolute value above ``PERCENT_MEDIAN_ABS`` = 0.5).
    name : str, default="y"
        What ``y`` is called in messages (the same alignment serves value
        weights and breakpoint flags).

    Returns
    -------
    ndarray of shape (n_rows,), float64
        A new array in ``X``'s row order; ``y`` itself is not modified.

    Raises
    ------
    ValueError
        If ``y`` has other ``(entity, time)`` rows than ``X`` (e.g. daily
        returns for a monthly ``X``), has no index while ``X`` is a panel,
        has the wrong length, holds infinite values, or (with
        ``allow_nan=False``) missing values, or if every return is missing.
    TypeError
        If ``y`` is not numeric (strings, booleans, objects).
    """
    if y is None:
        raise ValueError(
            f"This estimator requires {name} to be passed, but the target {name} is "
            "None."
        )
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(
                f"{name} must be one column; got a DataFrame with {y.shape[1]} columns."
            )
        y = y.iloc[:, 0]
    values = _values_on_rows(y, index, name)
    check_consistent_length(np.empty(len(index)), values)
    if np.isinf(values).any():
        raise ValueError(
            f"{name} contains {int(np.isinf(values).sum())} infinite value(s)."
        )
    n_nan = int(np.isnan(values).sum())
    if n_nan and not allow_nan:
        raise ValueError(f"{name} contains {n_nan} missing value(s).")
    if n_nan == len(values):
        raise ValueError(
            f"Every value of {name} is missing; there is nothing to fit."
            if name != "y"
            else "Every return in y is missing; there is nothing to fit."
        )
    if check_units:
        check_return_units(values, name)
    return np.array(values, dtype=np.float64, copy=True)


def _values_on_rows(y, index: pd.MultiIndex, name: str) -> np.ndarray:
    """``y``'s numeric values in the row order of ``index`` (by label for a panel)."""
    panel = not _is_single_cross_section(index)
    if isinstance(y, pd.Series):
        values = _numeric_1d(y, name)
        # Same rows in the same order (the usual case) costs one comparison;
        # otherwise y's index is validated and matched to X's rows.
        if isinstance(y.index, pd.MultiIndex) and not panel:
            raise ValueError(
                f"{name} has an (entity, time) MultiIndex but X does not (a plain "
                "array is one cross-section): pass X as the panel DataFrame on the "
                f"same index as {name}. In a Pipeline, an earlier step returned an "
                "array: keep the index with set_output(transform='pandas') or the "
                "package's CrossSectionalRankScaler."
            )
        if isinstance(y.index, pd.MultiIndex):
            if not y.index.equals(index):
                values = _reorder_to(values, _target_index(y, name), index, name)
        elif panel:
            raise ValueError(
                _unindexed_message(
                    name, f"a Series indexed by {type(y.index).__name__}"
                )
            )
        return values
    if panel:
        raise ValueError(_unindexed_message(name, f"a {type(y).__name__}"))
    return _numeric_1d(y, name)


def _target_index(y, name: str) -> pd.MultiIndex:
    """``panel_index(y)``, its message saying that ``y`` (not ``X``) is at fault."""
    try:
        return panel_index(y)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _is_single_cross_section(index: pd.MultiIndex) -> bool:
    """Whether ``index`` is the one :func:`panel_index` gives a plain array."""
    time = index.levels[-1]
    if len(time) != 1 or time[0] != SINGLE_PERIOD:
        return False
    return bool(np.array_equal(index.get_level_values(0), np.arange(len(index))))


def _unindexed_message(what: str, got: str) -> str:
    return (
        f"X is a panel with an (entity, time) MultiIndex but {what} is {got} without "
        f"one: {what} is paired with X by index, never by position. Pass {what} as a "
        "Series on X's (entity, time) index (pd.Series(values, index=X.index) if the "
        "values are already in X's row order)."
    )


def _reorder_to(values, y_index, index, what: str) -> np.ndarray:
    """``values`` (on ``y_index``) in the row order of ``index``, or an error."""
    if y_index.equals(index):
        return values
    if len(y_index) == len(index):
        pos = y_index.get_indexer(index)
        if (pos >= 0).all():
            return values[pos]
    missing = index.difference(y_index)
    extra = y_index.difference(index)
    msg = (
        f"{what} is not aligned with X: {len(missing)} (entity, time) row(s) of X "
        f"missing from {what}"
        + (f" (e.g. {_plain_key(missing[0])})" if len(missing) else "")
        + f" and {len(extra)} row(s) of {what} not in X"
        + (f" (e.g. {_plain_key(extra[0])})" if len(extra) else "")
        + "."
    )
    x_time, y_time = index.levels[-1], y_index.levels[-1]
    if x_time.dtype != y_time.dtype:
        msg += (
            f" The time levels differ in type: X {x_time.dtype}, {what} {y_time.dtype}."
        )
    if len(y_time) > len(x_time) and isinstance(y_time, pd.DatetimeIndex):
        msg += (
            f" {what} has {len(y_time)} dates for X's {len(x_time)} periods: it looks "
            "like daily returns; compound them to X's periods first."
        )
    raise ValueError(
        msg + f" Use {what}.reindex(X.index) to keep X's rows (missing returns are "
        "masked)."
    )


def check_sample_weight(sample_weight, n_rows: int) -> np.ndarray | None:
    """Validate row weights: finite, non-negative, not all zero.

    Parameters
    ----------
    sample_weight : array-like of shape (n_rows,) or None
    n_rows : int
        Expected length.

    Returns
    -------
    ndarray of shape (n_rows,) or None
        A float64 copy (None stays None).

    Raises
    ------
    ValueError
        If the length differs, or a weight is NaN, infinite or negative, or
        every weight is zero.
    TypeError
        If the weights are not numeric.
    """
    if sample_weight is None:
        return None
    w = _numeric_1d(
        sample_weight
        if isinstance(sample_weight, pd.Series)
        else np.asarray(sample_weight),
        "sample_weight",
    )
    if len(w) != n_rows:
        raise ValueError(
            f"sample_weight has {len(w)} entries; expected one per row ({n_rows})."
        )
    bad = ~np.isfinite(w)
    if bad.any():
        raise ValueError(
            f"sample_weight has {int(bad.sum())} NaN or infinite value(s)."
        )
    if (w < 0).any():
        raise ValueError(f"sample_weight has {int((w < 0).sum())} negative value(s).")
    if not w.any():
        raise ValueError("Every sample_weight is zero.")
    return np.array(w, dtype=np.float64, copy=True)


def aligned_pair(y_true, y_pred, names=("y_true", "y_pred")):
    """Two per-row arrays, aligned by index when both carry one.

    Metrics take realised and predicted returns; when both are pandas
    objects their rows are matched by label (``y_pred`` reordered to
    ``y_true``'s order), and other labels are an error. Otherwise they pair
    by position, with equal lengths required.

    Parameters
    ----------
    y_true, y_pred : Series or array-like of shape (n_rows,)
    names : tuple of str
        Names used in messages.

    Returns
    -------
    y_true, y_pred : ndarray of shape (n_rows,), float64

    Raises
    ------
    ValueError
        If the labels differ or the lengths differ, or ``y_pred`` holds NaN
        or infinite values, or ``y_true`` infinite values.
    TypeError
        If either is not numeric (strings, booleans).
    """
    a, b = (_squeeze(v, n) for v, n in zip((y_true, y_pred), names, strict=True))
    true = _numeric_1d(a, names[0])
    pred = _numeric_1d(b, names[1])
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if isinstance(a.index, pd.MultiIndex) and isinstance(b.index, pd.MultiIndex):
            pred = _reorder_to(pred, panel_index(b), panel_index(a), names[1])
        elif not a.index.equals(b.index):
            if len(a) == len(b) and set(a.index) == set(b.index) and a.index.is_unique:
                pred = pred[b.index.get_indexer(a.index)]
            else:
                raise ValueError(
                    f"{names[0]} and {names[1]} have different index labels; align "
                    f"them ({names[1]}.reindex({names[0]}.index)) before scoring."
                )
    if true.shape != pred.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} have different lengths: {true.shape[0]} and "
            f"{pred.shape[0]}."
        )
    if np.isinf(true).any():
        raise ValueError(
            f"{names[0]} contains {int(np.isinf(true).sum())} infinite value(s)."
        )
    n_nan = int(np.isnan(pred).sum())
    n_inf = int(np.isinf(pred).sum())
    if n_nan or n_inf:
        parts = [f"{n_nan} NaN value(s)"] * bool(n_nan) + [
            f"{n_inf} infinite value(s)"
        ] * bool(n_inf)
        raise ValueError(
            f"{names[1]} contains {' and '.join(parts)}; predictions that are not "
            "finite have no score (are the characteristics scaled?)."
        )
    return true, pred


def _squeeze(values, what):
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValueError(f"{what} must be one column; got {values.shape[1]}.")
        return values.iloc[:, 0]
    return values


def aligned_forecast(pred, y: pd.Series, name: str = "pred") -> np.ndarray:
    """A forecast as float64 values in the row order of the returns ``y``.

    The one path by which the forecast comparisons read a forecast. A
    Series is matched to ``y`` by its ``(entity, time)`` labels, never by
    position: its index gets the checks of :func:`panel_index` (a
    ``(time, entity)`` index is refused, by its level names or its values)
    and, when both are named, its level names must be ``y``'s. Rows of
    ``y`` without a forecast become NaN (left out, and counted, by the
    comparison). An array is read in ``y``'s row order, as scikit-learn
    reads arrays; a number is the same forecast for every row.

    Parameters
    ----------
    pred : Series, array-like of shape (n_rows,) or real number
        The forecast. Numeric only: booleans and text (numbers stored as
        strings included) are refused; an object Series or array holding
        real numbers only is read as numbers.
    y : Series
        Realised returns on a validated ``(entity, time)`` MultiIndex.
    name : str, default="pred"
        Name used in messages.

    Returns
    -------
    ndarray of shape (n_rows,), float64
        A new array; ``pred`` is not modified.

    Raises
    ------
    TypeError
        If ``pred`` is a DataFrame, a string, None, a
        boolean, or not numeric.
    ValueError
        If a Series' index is not an ``(entity, time)`` MultiIndex, looks
        like ``(time, entity)``, has other level names or another time type
        than ``y``, shares no row with ``y``; if an array has another length
        than ``y``; or if a value is infinite.
    """
    if isinstance(pred, pd.DataFrame):
        raise TypeError(
            f"{name} must be a Series, an array or a number, not a DataFrame."
        )
    if isinstance(pred, bool | np.bool_):
        raise TypeError(
            f"{name} must be a forecast of returns; got the boolean {pred}."
        )
    if isinstance(pred, Real):
        return np.full(len(y), float(pred))
    if pred is None or isinstance(pred, str | bytes):
        raise TypeError(
            f"{name} must be a Series, an array or a number of forecast returns; got "
            f"{pred!r}."
        )
    if isinstance(pred, pd.Series):
        values = _forecast_on_rows(pred, y, name)
    else:
        values = _numeric_1d(np.asarray(pred), name)
        if len(values) != len(y):
            raise ValueError(
                f"{name} has {len(values)} values; y has {len(y)} rows. An array is "
                "read in y's row order; pass a Series on y's (entity, time) index to "
                "align by label."
            )
    if np.isinf(values).any():
        raise ValueError(
            f"{name} contains {int(np.isinf(values).sum())} infinite value(s)."
        )
    return np.array(values, dtype=np.float64, copy=True)


def _forecast_on_rows(pred: pd.Series, y: pd.Series, name: str) -> np.ndarray:
    """A forecast Series' values on ``y``'s rows, matched by validated labels."""
    values = _numeric_1d(pred, name)
    if not isinstance(pred.index, pd.MultiIndex):
        raise ValueError(
            f"{name} is a Series indexed by {type(pred.index).__name__}, without the "
            "(entity, time) MultiIndex of y: a forecast Series is matched with y by "
            f"label, never by position. Put {name} on y's index (or pass its values "
            "as an array in y's row order)."
        )
    index = _target_index(pred, name)  # (time, entity) and bad labels refused
    names, y_names = tuple(index.names), tuple(y.index.names)
    if None not in names + y_names and names != y_names:
        swapped = sorted(map(str, names)) == sorted(map(str, y_names))
        hint = (
            f"the levels are swapped: use {name}.swaplevel().sort_index()"
            if swapped
            else f"rename them with {name}.rename_axis({list(y_names)!r})"
        )
        raise ValueError(
            f"{name}'s index levels are {list(names)} but y's are {list(y_names)}; "
            f"forecasts are matched with y by (entity, time) label: {hint}."
        )
    y_index = panel_index(y)
    if index.equals(y_index):
        return values
    if index.levels[-1].dtype != y_index.levels[-1].dtype:
        raise ValueError(
            f"{name}'s time level holds {index.levels[-1].dtype} labels but y's "
            f"{y_index.levels[-1].dtype}: no row can be matched; give both the same "
            "period type."
        )
    pos = index.get_indexer(y_index)
    found = int((pos >= 0).sum())
    if not found:
        raise ValueError(f"No row of {name} is in y's index: nothing to compare.")
    if (
        found < len(index)
        and (index.swaplevel().get_indexer(y_index) >= 0).sum() > found
    ):
        # Unnamed integer levels: only the labels can tell a swapped index.
        raise ValueError(
            f"{name}'s index looks like (time, entity): {len(index) - found} of its "
            f"{len(index)} rows are not in y's (entity, time) index, and more rows "
            f"match with its levels swapped. Use {name}.swaplevel().sort_index()."
        )
    return np.where(pos >= 0, values[pos], np.nan)
