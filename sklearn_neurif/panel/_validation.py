"""Validation of long ``(entity, time)`` panels.

Every estimator and tool of the package calls these functions before doing
any work, so a user gets the same clear message everywhere. Nothing here
mutates its input.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval as _SklearnInterval
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .._warnings import warn_at_caller

__all__ = [
    "PanelDataWarning",
    "is_panel",
    "panel_index",
    "check_panel_frame",
    "check_panel_target",
    "check_numeric_dtypes",
    "check_characteristic_scale",
    "check_return_units",
    "check_sample_weight",
    "check_predictions",
    "check_index_names",
    "aligned_pair",
    "row_periods_index",
]

#: Name given to the single period of a plain array (one cross-section).
SINGLE_PERIOD = 0

#: Characteristics whose largest absolute value exceeds this get a warning:
#: the models are tuned for ranks in [-1, 1] (``CrossSectionalRankScaler``).
UNSCALED_MAX_ABS = 1e3

#: Characteristics beyond this are refused: no scale of a characteristic
#: means 1e15 (market capitalisation in dollars is about 1e12), and squares
#: of such values lose every digit of the others in float32 and float64 sums.
REFUSED_MAX_ABS = 1e15

#: Predictions beyond this many times the training returns' root mean square
#: are refused by every model's ``predict`` (:func:`check_predictions`).
PREDICTION_BOUND = 10.0

#: Returns whose median absolute value exceeds this look like percent
#: (a median monthly return of 50% in decimals is implausible).
PERCENT_MEDIAN_ABS = 0.5

# Level names that say "this is the time level" or "this is the entity level".
_TIME_NAMES = frozenset({"time", "date", "month", "period", "yyyymm", "datadate"})
_ENTITY_NAMES = frozenset(
    {"entity", "permno", "permco", "gvkey", "asset", "ticker", "firm", "stock", "id"}
)


class PanelDataWarning(UserWarning):
    """Data the package accepts but that is probably not what the user meant.

    Raised for characteristics far from the scale the models expect and for
    returns that look like percent.
    """


class Interval(_SklearnInterval):
    """scikit-learn's ``Interval`` constraint, refusing booleans.

    ``bool`` is a subclass of ``int`` in Python, so scikit-learn's
    ``Interval(Integral, 1, None)`` accepts ``True`` as ``1``; a flag passed
    where a count is expected (``n_factors=True``) is a user error. Every
    estimator of the package declares its numeric parameters with this class.
    """

    def is_satisfied_by(self, val):
        if isinstance(val, bool | np.bool_):
            return False
        return super().is_satisfied_by(val)


#: Constraint of every ``n_jobs`` parameter: a non-zero integer (joblib's
#: reading, -1 for all cores) or None. ``n_jobs=True`` is refused (a flag is
#: not a count), and so is 0, which joblib rejects only once work has started.
N_JOBS_CONSTRAINT = [
    Interval(Integral, 1, None, closed="left"),
    Interval(Integral, None, -1, closed="right"),
    None,
]


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
        kept when set). ``YYYYMM`` integer time labels come back as monthly
        Periods (see Notes).

    Raises
    ------
    ValueError
        If the MultiIndex does not have exactly two levels, has missing keys
        or duplicated ``(entity, time)`` pairs, looks like ``(time, entity)``
        (by its level names, or a Period/datetime first level), or has a time
        level that is not ordered in time (strings, floats, booleans).

    Notes
    -----
    The time level must be ordered in time: pandas Periods, datetimes, or
    integers. Integers that all read as ``YYYYMM`` (between 100001 and 999912
    with the last two digits 01-12) are months: they are converted to monthly
    Periods, so that December 2020 (202012) is followed by January 2021
    (202101), not by 202013. Other integers are periods in their numeric
    order (0, 1, 2, ... or years). Strings are refused rather than sorted as
    text ('2020-10' would come before '2020-2'): convert them with
    :func:`~sklearn_neurif.panel.to_monthly_periods` or ``pd.to_datetime``.
    """
    if is_panel(X):
        index = X.index
        if index.nlevels != 2:
            raise ValueError(
                "A panel needs a two-level MultiIndex (entity, time); got "
                f"{index.nlevels} levels {list(index.names)}."
            )
        _check_level_order(index)
        for level in range(2):
            values = index.get_level_values(level)
            if values.hasnans:
                which = ("entity", "time")[level]
                raise ValueError(
                    f"The panel index has {int(values.isna().sum())} missing "
                    f"{which} key(s); every row needs an entity and a time."
                )
        index = _checked_time_level(index)
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


def check_index_names(estimator, X, *, reset: bool, time_type: bool = False) -> None:
    """Remember a panel's level names at fit; refuse other names afterwards.

    The panel counterpart of scikit-learn's ``feature_names_in_`` check,
    called next to ``validate_data`` by every estimator: a panel fitted on
    ``(permno, date)`` and asked to predict on ``(date, permno)`` or on
    ``(gvkey, date)`` gets a clear error instead of entities read as
    periods. Unnamed levels (on either side) and plain arrays are not
    compared: there is nothing to compare.

    Parameters
    ----------
    estimator : estimator
        Gets (``reset=True``) or is checked against (``reset=False``) the
        private fitted attribute ``_index_names_in_``.
    X : DataFrame, Series or array-like
        The input of ``fit``, ``predict``, ``transform`` or ``score``.
    reset : bool
        True in ``fit``.
    time_type : bool, default=False
        Also require the time labels to have ``fit``'s type: for models that
        prepend training history at predict time (the panel nets), which
        periods of another type would silently go without. IPCA, purely
        cross-sectional, predicts any labelled periods.

    Raises
    ------
    ValueError
        If both ``fit``'s and ``X``'s levels are named and the names differ,
        or (``time_type=True``) the time level holds labels of another type
        than in ``fit`` (datetimes after a fit on Periods).
    """
    names = tuple(X.index.names) if is_panel(X) else None
    kind = _time_type(X.index.levels[-1]) if is_panel(X) else None
    if reset:
        estimator._index_names_in_ = names
        estimator._time_type_in_ = kind
        return
    fitted_type = getattr(estimator, "_time_type_in_", None)
    if time_type and None not in (fitted_type, kind) and fitted_type != kind:
        # A net would silently drop the training history it prepends.
        raise ValueError(
            f"X's time level holds {kind} labels, but "
            f"{type(estimator).__name__} was fitted on {fitted_type} labels; give "
            "the periods the type they had in fit (e.g. with "
            "sklearn_neurif.panel.to_monthly_periods)."
        )
    fitted = getattr(estimator, "_index_names_in_", None)
    if fitted is None or names is None or None in fitted + names or names == fitted:
        return
    if sorted(map(str, names)) == sorted(map(str, fitted)):
        hint = "the levels are swapped: use X.swaplevel().sort_index()"
    else:
        hint = f"rename them with X.rename_axis({list(fitted)!r})"
    raise ValueError(
        f"X's index levels are {list(names)}, but {type(estimator).__name__} was "
        f"fitted on {list(fitted)} (entity, time); {hint}."
    )


def _time_type(level: pd.Index) -> str:
    """Type of time labels, blind to storage details (datetime unit, int size)."""
    dtype = level.dtype
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        tz = getattr(dtype, "tz", None)
        return "datetime" + (f" ({tz})" if tz is not None else "")
    return str(dtype)


def _check_level_order(index: pd.MultiIndex) -> None:
    """Refuse an index that reads as ``(time, entity)``.

    The level names decide when they are informative; otherwise a first
    level of Periods or datetimes with a last level of neither is taken as
    swapped (entities are never dates).
    """
    names = [None if n is None else str(n).lower() for n in index.names]
    first, last = index.levels[0], index.levels[-1]
    swapped = (names[0] in _TIME_NAMES and names[-1] not in _TIME_NAMES) or (
        names[-1] in _ENTITY_NAMES and names[0] not in _ENTITY_NAMES
    )
    if not swapped and not (names[0] in _ENTITY_NAMES or names[-1] in _TIME_NAMES):
        swapped = _is_time_like(first) and not _is_time_like(last)
    if swapped:
        raise ValueError(
            f"The panel index looks like (time, entity): levels {list(index.names)} "
            f"with first-level values such as {list(first[:2])}. The package reads the "
            "first level as the entity and the last as the time (the layout of "
            "ipca.InstrumentedPCA); reorder it with X.swaplevel().sort_index() "
            "(and the same for y)."
        )


def _is_time_like(level: pd.Index) -> bool:
    return isinstance(level, pd.PeriodIndex | pd.DatetimeIndex)


def _checked_time_level(
    index: pd.MultiIndex, subject: str = "The time level of the panel index holds"
) -> pd.MultiIndex:
    """The index with a validated time level (YYYYMM integers as months).

    Works on the level's unique values, not on the rows, so it costs nothing
    at CRSP scale.
    """
    level = index.levels[-1]
    if level.dtype == object:
        # Python ints, Periods or Timestamps held as objects (e.g. after a
        # concat): read them by their inferred type; strings stay refused.
        inferred = pd.Index(level.tolist())
        if inferred.dtype.kind in "iu" or _is_time_like(inferred):
            index = index.set_levels(inferred, level=-1)
            level = inferred
    if _is_time_like(level):
        return index
    kind = level.dtype.kind
    if kind in "iu":
        if _looks_yyyymm(np.asarray(level)):
            months = pd.PeriodIndex.from_fields(
                year=np.asarray(level) // 100, month=np.asarray(level) % 100, freq="M"
            )
            return index.set_levels(months, level=-1)
        return index
    examples = [_plain_scalar(v) for v in level[:3]]
    hint = (
        " Strings are never sorted as text ('2020-10' would come before "
        "'2020-2'): convert them with sklearn_neurif.panel.to_monthly_periods or "
        "pd.to_datetime."
        if kind in "OSU"
        else ""
    )
    raise ValueError(
        f"{subject} {level.dtype} labels (e.g. "
        f"{examples}); it must be ordered in time: pandas Periods, datetimes or "
        f"integers (YYYYMM integers are read as months).{hint}"
    )


def row_periods_index(periods, what: str = "periods") -> pd.MultiIndex:
    """A panel index ``(row number, period)`` from per-row period labels.

    For tools that take the period of each row as a separate array (the
    ``periods`` of ``rank_ic``, the ``groups`` of the splitters): the labels
    get the checks of a time level (ordered in time, ``YYYYMM`` integers read
    as months, strings refused), as in :func:`panel_index`.

    Parameters
    ----------
    periods : array-like of shape (n_rows,)
        Period of each row.
    what : str, default="periods"
        Name used in messages.

    Returns
    -------
    pandas.MultiIndex
        Levels ``entity`` (row numbers) and ``time``.

    Raises
    ------
    ValueError
        If a period is missing or the labels are not ordered in time.
    """
    labels = pd.Index(periods)
    if labels.hasnans:
        raise ValueError(
            f"{what} has {int(labels.isna().sum())} missing period(s); every row "
            "needs a period."
        )
    index = pd.MultiIndex.from_arrays(
        [np.arange(len(labels)), labels], names=["entity", "time"]
    )
    return _checked_time_level(index, f"The period labels of {what} are")


def _looks_yyyymm(values: np.ndarray) -> bool:
    if not len(values):
        return False
    month = values % 100
    return bool(
        np.all((values >= 100001) & (values <= 999912) & (month >= 1) & (month <= 12))
    )


def _plain_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


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
    else:
        if panel:
            raise ValueError(_unindexed_message(name, f"a {type(y).__name__}"))
        values = _numeric_1d(y, name)
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


def check_return_units(values, what: str = "returns") -> None:
    """Warn when returns look like percent rather than decimals.

    Parameters
    ----------
    values : array-like
        Returns; NaN is ignored.
    what : str, default="returns"
        Name used in the message.

    Warns
    -----
    PanelDataWarning
        If the median absolute return exceeds ``PERCENT_MEDIAN_ABS`` (0.5):
        a typical monthly return of 50% means the data are in percent.
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size and float(np.median(np.abs(arr))) > PERCENT_MEDIAN_ABS:
        warn_at_caller(
            f"{what}: the returns look like percent, the median absolute return is "
            f"{float(np.median(np.abs(arr))):.3g} (above {PERCENT_MEDIAN_ABS}). The "
            "package works in decimals (0.01 is one percent); divide by 100, e.g. "
            "with sklearn_neurif.panel.to_decimal_returns(y, 'percent').",
            PanelDataWarning,
        )


def check_characteristic_scale(
    Z, feature_names=None, *, max_abs: float = REFUSED_MAX_ABS, reason: str = ""
) -> None:
    """Warn about characteristics far from the scale the models expect.

    The models are built for characteristics ranked into [-1, 1] each period
    (``CrossSectionalRankScaler``); raw values such as a market
    capitalisation in dollars make IPCA's moment matrices ill-conditioned
    and overflow the nets' float32 arithmetic.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, n_characteristics)
        Validated characteristics (NaN ignored).
    feature_names : sequence of str, optional
        Column names for the message (``x0, x1, ...`` by default).
    max_abs : float, default=REFUSED_MAX_ABS
        Columns whose largest absolute value exceeds this are refused. The
        panel nets pass ``UNSCALED_MAX_ABS``: they cannot train on such
        values (see docs/validation.md), where IPCA only warns.
    reason : str, default=""
        Why, appended to the message.

    Warns
    -----
    PanelDataWarning
        If a column's largest absolute value exceeds ``UNSCALED_MAX_ABS``
        (1e3).

    Raises
    ------
    ValueError
        If a column's largest absolute value exceeds ``max_abs`` (by
        default ``REFUSED_MAX_ABS``, 1e15: no characteristic scale means
        that, and fitting would fail or give NaN after training had started).
    """
    Z = np.asarray(Z)
    if Z.ndim != 2 or Z.size == 0:
        return
    # fmax/fmin skip NaN and allocate no copy of Z (CRSP scale: 3M x 94).
    largest = np.fmax(np.fmax.reduce(Z, axis=0), -np.fmin.reduce(Z, axis=0))
    if feature_names is None:
        feature_names = [f"x{j}" for j in range(Z.shape[1])]
    names = [str(n) for n in feature_names]
    # Infinite cells are left to the finiteness checks, which name them.
    largest = np.where(np.isinf(largest), np.nan, largest)
    refused = {n: float(v) for n, v in zip(names, largest, strict=True) if v > max_abs}
    if refused:
        why = reason or "no characteristic means that (a unit or data error?)"
        raise ValueError(
            f"Characteristic column(s) {_short(refused)} hold values beyond "
            f"{max_abs:.0e} in absolute value; {why}. Scale them first, e.g. with "
            "sklearn_neurif.preprocessing.CrossSectionalRankScaler."
        )
    far = {
        n: float(v) for n, v in zip(names, largest, strict=True) if v > UNSCALED_MAX_ABS
    }
    if far:
        warn_at_caller(
            f"Characteristic column(s) {_short(far)} are far from the scale the "
            f"models expect (largest absolute value above {UNSCALED_MAX_ABS:.0e}); "
            "rank them into [-1, 1] each period with "
            "sklearn_neurif.preprocessing.CrossSectionalRankScaler before fitting.",
            PanelDataWarning,
        )


def check_predictions(pred, return_rms: float = np.inf) -> np.ndarray:
    r"""Refuse predictions that no return model could mean.

    Every return model's ``predict`` ends here. Conditional means vary less
    than the returns themselves (:math:`\operatorname{Var} E[r|z] \le
    \operatorname{Var} r`), so a prediction that is not finite, or beyond
    ``PREDICTION_BOUND`` (10) times the root mean square of the training
    returns, means characteristics on another scale than in ``fit`` (or a
    degenerate fit), not an expected return.

    Parameters
    ----------
    pred : ndarray of shape (n_rows,)
        Predictions.
    return_rms : float, default=inf
        Root mean square of the training returns (``inf``: only non-finite
        predictions are refused, e.g. for a model pickled before it was kept).

    Returns
    -------
    ndarray
        ``pred``, unchanged.

    Raises
    ------
    ValueError
        Naming the count, the largest prediction and its row.
    """
    pred = np.asarray(pred)
    bad = ~(np.abs(pred) <= PREDICTION_BOUND * return_rms)
    if bad.any():
        worst = int(np.argmax(np.where(np.isnan(pred), np.inf, np.abs(pred))))
        what = (
            "are not finite"
            if np.isinf(return_rms)
            else f"are not finite or exceed {PREDICTION_BOUND:g} times the root "
            f"mean square of the training returns ({return_rms:.3g})"
        )
        raise ValueError(
            f"{int(bad.sum())} of {len(pred)} prediction(s) {what}; the largest "
            f"is {pred[worst]:.3g} (row {worst}). No expected return is that far "
            "from the returns: are the characteristics scaled as in fit (e.g. "
            "with CrossSectionalRankScaler)?"
        )
    return pred


def return_rms(r) -> float:
    """Root mean square of the observed (non-NaN) returns, for :func:`check_predictions`."""
    r = np.asarray(r, dtype=np.float64)
    r = r[~np.isnan(r)]
    return float(np.sqrt(np.mean(r**2))) if r.size else np.inf


def _short(columns: dict, limit: int = 8) -> str:
    items = [f"{k} (max |x| {v:.3g})" for k, v in list(columns.items())[:limit]]
    more = f" and {len(columns) - limit} more" if len(columns) > limit else ""
    return "[" + ", ".join(items) + "]" + more


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


def aligned_pair(
    y_true, y_pred, names=("y_true", "y_pred"), *, allow_nan_pred: bool = False
):
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
    allow_nan_pred : bool, default=False
        Let NaN predictions through (for metrics that mask them, such as
        ``rank_ic``); infinite predictions are always refused.

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
    n_nan = 0 if allow_nan_pred else int(np.isnan(pred).sum())
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
