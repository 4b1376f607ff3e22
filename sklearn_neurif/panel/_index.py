"""The ``(entity, time)`` index of a long panel: structure and time labels.

A panel is a pandas object whose MultiIndex has the entity first and the
time last (the layout of ``ipca.InstrumentedPCA``). This module reads and
validates that index: level count and order, missing or duplicated keys,
time labels ordered in time (``YYYYMM`` integers read as months), and the
level names an estimator remembers at fit. Nothing here mutates its input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "SINGLE_PERIOD",
    "check_index_names",
    "is_panel",
    "panel_index",
    "row_periods_index",
]

#: Name given to the single period of a plain array (one cross-section).
SINGLE_PERIOD = 0

# Level names that say "this is the time level" or "this is the entity level".
_TIME_NAMES = frozenset({"time", "date", "month", "period", "yyyymm", "datadate"})
_ENTITY_NAMES = frozenset(
    {"entity", "permno", "permco", "gvkey", "asset", "ticker", "firm", "stock", "id"}
)


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
    if isinstance(X, pd.DataFrame):
        _check_no_key_columns(X)
    n_rows = _num_rows(X)
    return pd.MultiIndex.from_arrays(
        [np.arange(n_rows), np.full(n_rows, SINGLE_PERIOD)],
        names=["entity", "time"],
    )


def _check_no_key_columns(X: pd.DataFrame) -> None:
    """Refuse a frame whose entity or time is a column (or its only index).

    Without a MultiIndex a frame is one cross-section, every column a
    characteristic: a ``permno`` or ``date`` column left by ``reset_index``
    (or read from a file) would be fitted as a characteristic and every
    month read as one.
    """
    named = [X.index.name] if X.index.name is not None else []
    keys = [
        str(c)
        for c in [*named, *X.columns]
        if str(c).lower() in _TIME_NAMES | _ENTITY_NAMES
    ]
    if not keys:
        return
    where = "index and column(s)" if named and str(named[0]) in keys else "column(s)"
    raise ValueError(
        f"X has no (entity, time) MultiIndex, and its {where} {keys} name an entity "
        "or a period. Without a MultiIndex the package reads a frame as one "
        "cross-section with every column a characteristic, so the ids and dates "
        "would be fitted as characteristics. Set the index first, e.g. "
        "X.set_index(['permno', 'date']) (entity first, time last)."
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
        _check_yyyymm_typos(np.asarray(level), subject)
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


def _check_yyyymm_typos(values: np.ndarray, subject: str) -> None:
    """Refuse six-digit labels that are YYYYMM months but for a minority.

    One impossible month (202013) would make every label a plain integer,
    ordered numerically: December 2020 (202012) then followed by "202013"
    and January 2021 no longer next to it, so the splits and windows would
    run across gaps without a word.
    """
    if len(values) < 2 or not np.all((values >= 100001) & (values <= 999999)):
        return
    bad = values[(values % 100 < 1) | (values % 100 > 12)]
    if len(bad) and len(bad) < len(values) / 2:
        raise ValueError(
            f"{subject} six-digit integers that read as YYYYMM months except "
            f"{len(bad)} with no such month (e.g. {[int(v) for v in bad[:3]]}); read "
            "as plain integers they would not be in calendar order. Correct those "
            "labels (or convert all with sklearn_neurif.panel.to_monthly_periods)."
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
