"""Cross-validation over the periods of a long ``(entity, time)`` panel."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils._param_validation import validate_params

from .._param_validation import Interval  # refuses booleans
from .._params import set_init_params
from ..panel import PanelLayout, is_panel, panel_index, row_periods_index

__all__ = ["PanelTimeSeriesSplit", "temporal_train_test_split"]


def _period_codes(X, groups) -> tuple[np.ndarray, pd.Index]:
    """Period position of each row and the sorted unique periods.

    The periods come from the time level of ``X``'s MultiIndex or, for data
    without one, from ``groups`` (the period of each row).
    """
    if is_panel(X):
        layout = PanelLayout(panel_index(X))
        if groups is not None:
            # Against the caller's labels (panel_index reads YYYYMM as months).
            if len(groups) != layout.n_rows or not pd.Index(groups).equals(
                X.index.get_level_values(-1)
            ):
                raise ValueError(
                    "groups must be None or the time level of X's (entity, time) "
                    "MultiIndex: the splitter reads each row's period from the index. "
                    "Do not pass entity ids as groups."
                )
        return layout.time_pos, layout.periods
    if groups is None:
        raise ValueError(
            "Cannot tell the period of each row: X has no (entity, time) "
            "MultiIndex and groups is None. Pass a panel DataFrame or the period "
            "of each row as groups."
        )
    n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
    if len(groups) != n_rows:
        raise ValueError(f"groups has {len(groups)} entries; X has {n_rows} rows.")
    # The time-level checks apply to groups: strings are never sorted as text.
    layout = PanelLayout(row_periods_index(groups, "groups"))
    return layout.time_pos, layout.periods


def _rows_of(codes: np.ndarray, first: int, stop: int) -> np.ndarray:
    """Row positions (ascending) whose period position is in [first, stop)."""
    return np.flatnonzero((codes >= first) & (codes < stop))


class _PeriodSplitter(BaseCrossValidator):
    """Splits of a panel's sorted periods into train, validation and test blocks.

    Subclasses implement ``_period_windows(periods)``, yielding
    ``(train_first, train_stop, val_first, test_first, test_stop)`` period
    positions (``val_first == train_stop`` without a validation window);
    ``split`` and ``split_periods`` are written once here.
    """

    #: Index name of the ``split_periods`` table.
    _split_label = "split"
    #: Whether ``split_periods`` reports the validation window.
    _has_validation = False

    def split(self, X, y=None, groups=None):
        """Generate row positions of each training and test set.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_rows, n_features)
            A panel with an ``(entity, time)`` MultiIndex, or any data with
            ``groups``.
        y : object
            Ignored.
        groups : array-like of shape (n_rows,), default=None
            Period of each row, for data without a MultiIndex. With a panel
            it must be None or equal to the time level.

        Yields
        ------
        train : ndarray of int
            Row positions of the training periods (validation included).
        test : ndarray of int
            Row positions of the test periods.

        Raises
        ------
        ValueError
            If the periods cannot be read, or there are too few periods for
            the splitter's parameters.
        """
        codes, periods = _period_codes(X, groups)
        for first, stop, _, test_first, test_stop in self._period_windows(periods):
            yield _rows_of(codes, first, stop), _rows_of(codes, test_first, test_stop)

    def split_periods(self, X, y=None, groups=None):
        """The periods of each split, for reports and checks.

        Parameters
        ----------
        X, y, groups
            As for :meth:`split`.

        Returns
        -------
        pandas.DataFrame
            One row per split: ``train_start``, ``train_end``, then (for a
            splitter with a validation window) ``validation_start`` and
            ``validation_end`` (None without one), ``test_start``,
            ``test_end`` (period labels, inclusive) and the numbers of
            periods ``n_train_periods`` (validation included), then
            ``n_validation_periods`` (with a validation window) and
            ``n_test_periods``.
        """
        _, periods = _period_codes(X, groups)
        rows = [
            _window_row(periods, *window, self._has_validation)
            for window in self._period_windows(periods)
        ]
        return pd.DataFrame(rows).rename_axis(self._split_label)


def _window_row(periods, first, stop, val_first, test_first, test_stop, validation):
    """One row of ``split_periods``: period labels and counts of a window."""
    has_val = val_first < stop
    row = {"train_start": periods[first], "train_end": periods[stop - 1]}
    if validation:
        row["validation_start"] = periods[val_first] if has_val else None
        row["validation_end"] = periods[stop - 1] if has_val else None
    row["test_start"] = periods[test_first]
    row["test_end"] = periods[test_stop - 1]
    row["n_train_periods"] = stop - first
    if validation:
        row["n_validation_periods"] = stop - val_first
    row["n_test_periods"] = test_stop - test_first
    return row


class PanelTimeSeriesSplit(_PeriodSplitter):
    """Time-series cross-validation over the periods of a long panel.

    The rules of :class:`sklearn.model_selection.TimeSeriesSplit`, applied to
    the sorted unique periods of the panel instead of to rows: the last
    ``n_splits * test_size`` periods are cut into ``n_splits`` consecutive
    test blocks of ``test_size`` periods; each block is trained on the
    periods before it, minus ``gap`` periods of embargo, at most the last
    ``max_train_size`` of them. The splitter yields the row positions of the
    long panel, so all assets of a period are always on the same side.

    Parameters
    ----------
    n_splits : int, default=5
        Number of splits (at least 2).
    test_size : int, default=None
        Number of periods in each test block. Defaults to
        ``n_periods // (n_splits + 1)``.
    gap : int, default=0
        Number of periods left out between the end of each training window
        and the start of its test block (embargo).
    max_train_size : int, default=None
        Largest number of training periods. ``None`` gives an expanding
        window (all earlier periods); an integer a rolling window of that
        many periods once enough history exists (earlier folds train on
        what there is).

    See Also
    --------
    sklearn.model_selection.TimeSeriesSplit : The same rules over rows.
    temporal_train_test_split : One split at a period boundary.

    Notes
    -----
    Periods are the panel's own unique time values (from the time level of
    the MultiIndex, or ``groups`` for arrays), sorted. ``gap`` and the sizes
    count those periods: a calendar month absent from the panel is not a
    period.

    **As-of timing.** Row ``(i, t)`` pairs characteristics known at the end
    of ``t`` with the return over ``t+1`` (the package convention). With
    ``gap=0`` the last training period is ``t0 - 1`` for a test block
    starting at ``t0``: its label, the return over ``t0``, is known at the
    end of ``t0``, exactly when the first test prediction is made, so there
    is no look-ahead. Use ``gap = h - 1`` when the target is an ``h``-period
    return (labels of overlapping horizons would otherwise leak), and a
    larger ``gap`` to embargo serially correlated characteristics.

    Rows come back in ascending order of position, whatever the row order
    of the panel.

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> from sklearn_neurif.model_selection import PanelTimeSeriesSplit
    >>> X = make_conditional_factor_panel(2, 6, 1, 1, random_state=0).X  # periods 0..5
    >>> time = X.index.get_level_values("time")
    >>> cv = PanelTimeSeriesSplit(n_splits=2, test_size=2, gap=1)
    >>> for train, test in cv.split(X):
    ...     print(sorted(set(time[train])), sorted(set(time[test])))
    [0] [2, 3]
    [0, 1, 2] [4, 5]
    >>> table = cv.split_periods(X)
    >>> table["train_end"].tolist(), table["test_start"].tolist()
    ([0, 2], [2, 4])
    """

    # Request ``groups`` by default under metadata routing (as group splitters do).
    __metadata_request__split = {"groups": True}

    def __init__(self, n_splits=5, *, test_size=None, gap=0, max_train_size=None):
        set_init_params(self, locals())

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splits.

        Parameters
        ----------
        X, y, groups : object
            Ignored, exist for API compatibility.

        Returns
        -------
        int
        """
        return self.n_splits

    def _period_windows(self, periods):
        """Period positions ``(train_first, train_stop, stop, test_first, test_stop)``.

        No validation window: ``val_first`` is ``train_stop``.
        """
        n_periods = len(periods)
        n_splits, test_size, gap, max_train = self._check_params(n_periods)
        test_starts = range(n_periods - n_splits * test_size, n_periods, test_size)
        for test_first in test_starts:
            stop = test_first - gap
            first = max(0, stop - max_train) if max_train is not None else 0
            yield first, stop, stop, test_first, test_first + test_size

    def _check_params(self, n_periods: int):
        n_splits = _check_int(self.n_splits, "n_splits", minimum=2)
        gap = _check_int(self.gap, "gap", minimum=0)
        max_train = self.max_train_size
        if max_train is not None:
            max_train = _check_int(max_train, "max_train_size", minimum=1)
        if self.test_size is None:
            test_size = n_periods // (n_splits + 1)
            if test_size < 1:
                raise ValueError(
                    f"Too few periods: n_splits={n_splits} needs at least "
                    f"{n_splits + 1} periods; the data have {n_periods}."
                )
        else:
            test_size = _check_int(self.test_size, "test_size", minimum=1)
        n_train = n_periods - gap - n_splits * test_size
        if n_train < 1:
            raise ValueError(
                f"Too few periods: n_splits={n_splits} x test_size={test_size} test "
                f"periods + gap={gap} leave {n_train} training period(s) for the first "
                f"split; the data have {n_periods} periods and need at least "
                f"{n_splits * test_size + gap + 1}."
            )
        return n_splits, test_size, gap, max_train


def _check_int(value, name: str, *, minimum: int) -> int:
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < minimum
    ):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


@validate_params(
    {
        "test_size": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(numbers.Real, 0, 1, closed="neither"),
        ],
        "gap": [Interval(numbers.Integral, 0, None, closed="left")],
        "groups": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def temporal_train_test_split(*arrays, test_size=0.25, gap=0, groups=None):
    """Split panels into an earlier training and a later test sample of periods.

    The last ``test_size`` periods form the test sample; the training sample
    is every period before it except the ``gap`` periods just before the
    test sample. Every array is cut at the same rows, so all assets of a
    period stay on the same side.

    Parameters
    ----------
    *arrays : sequence of DataFrames, Series or arrays of the same length
        The data to split, e.g. ``X, y``. The periods are read from the first
        array with an ``(entity, time)`` MultiIndex, else from ``groups``.
    test_size : int or float, default=0.25
        An int is a number of periods; a float in (0, 1) a share of the
        periods, rounded up.
    gap : int, default=0
        Periods left out between the training and the test sample.
    groups : array-like of shape (n_rows,), default=None
        Period of each row, for data without a MultiIndex.

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]`` like
        :func:`sklearn.model_selection.train_test_split`; pandas objects keep
        their index, in the original row order.

    Raises
    ------
    ValueError
        If the arrays differ in length, the periods cannot be read, or too
        few periods are left for training.

    Notes
    -----
    **As-of timing.** As for :class:`PanelTimeSeriesSplit`: with ``gap=0``
    the label of the last training period (the return over the first test
    period) is known at the end of that test period, when the first test
    prediction is made. Use ``gap = h - 1`` for ``h``-period targets.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_neurif.model_selection import temporal_train_test_split
    >>> idx = pd.MultiIndex.from_product([["a", "b"], range(5)],
    ...                                  names=["entity", "time"])
    >>> X = pd.DataFrame({"z": np.arange(10.0)}, index=idx)
    >>> y = pd.Series(np.arange(10.0), index=idx)
    >>> X_tr, X_te, y_tr, y_te = temporal_train_test_split(X, y, test_size=2, gap=1)
    >>> train_periods = sorted(set(X_tr.index.get_level_values("time")))
    >>> test_periods = sorted(set(y_te.index.get_level_values("time")))
    >>> train_periods, test_periods
    ([0, 1], [3, 4])
    """
    if not arrays:
        raise ValueError("At least one array is required.")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(
            f"The arrays have different numbers of rows: {sorted(lengths)}."
        )
    source = next((a for a in arrays if is_panel(a)), arrays[0])
    codes, periods = _period_codes(source, groups)
    n_periods = len(periods)
    n_test = test_size if isinstance(test_size, numbers.Integral) else None
    if n_test is None:
        n_test = int(np.ceil(test_size * n_periods))
    n_train = n_periods - n_test - gap
    if n_train < 1:
        raise ValueError(
            f"Too few periods: test_size={n_test} test period(s) + gap={gap} leave "
            f"{n_train} training period(s); the data have {n_periods} periods."
        )
    train = _rows_of(codes, 0, n_train)
    test = _rows_of(codes, n_periods - n_test, n_periods)
    out = []
    for a in arrays:
        rows = (train, test)
        if is_panel(a) and a is not source and not a.index.equals(source.index):
            # Another row order (a reordered y): split by its own time level,
            # never by position (which put test-period returns in training).
            rows = _own_rows(a, periods, n_train, n_periods - n_test)
        out.extend([_take(a, r) for r in rows])
    return out


def _own_rows(a, periods: pd.Index, train_stop: int, test_start: int):
    """Train and test rows of a panel array from its own time level."""
    pos = periods.get_indexer(panel_index(a).get_level_values(-1))
    if (pos < 0).any():
        raise ValueError(
            f"An array has {int((pos < 0).sum())} row(s) in periods that the first "
            "panel lacks; give the arrays the same (entity, time) rows, e.g. "
            "y.reindex(X.index)."
        )
    return np.flatnonzero(pos < train_stop), np.flatnonzero(pos >= test_start)


def _take(a, rows: np.ndarray):
    if isinstance(a, pd.DataFrame | pd.Series):
        return a.iloc[rows]
    return np.asarray(a)[rows]
