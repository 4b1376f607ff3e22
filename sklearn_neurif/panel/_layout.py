"""Long panel <-> month-major padded arrays.

A long panel has one row per ``(entity, time)``. Models that work month by
month (cross-sectional regressions, attention across the assets of a month)
want the panel as a padded array ``(T, N_max, ...)`` plus a mask, and the map
back to the rows. :class:`PanelLayout` holds that map once; arrays are laid
out on demand, one at a time, never ``W`` copies of the panel.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ._index import panel_index

__all__ = ["PanelLayout"]


class PanelLayout:
    """Map between the rows of a long panel and month-major padded arrays.

    Periods are the sorted unique values of the time level; within a period,
    assets take slots ``0 .. N_t - 1`` in order of the sorted entity keys.
    Every row has exactly one ``(period, slot)`` cell, so
    ``layout.to_long(layout.to_dense(v))`` returns ``v`` exactly and no row is
    lost.

    Parameters
    ----------
    index : pandas.MultiIndex
        A validated ``(entity, time)`` index (see
        :func:`~sklearn_neurif.panel.panel_index`).

    Attributes
    ----------
    index : pandas.MultiIndex
        The panel's index, in the caller's row order.
    periods : pandas.Index
        Sorted unique periods, length ``n_periods``.
    entities : pandas.Index
        Sorted unique entities.
    time_pos : ndarray of shape (n_rows,)
        Period position of each row.
    entity_pos : ndarray of shape (n_rows,)
        Entity position of each row.
    slot : ndarray of shape (n_rows,)
        Position of each row among the assets of its period.
    counts : ndarray of shape (n_periods,)
        Number of assets in each period.
    n_max : int
        Largest cross-section, the padded width.

    Notes
    -----
    Lags (see :meth:`lagged_rows`) are counted in the panel's own periods: the
    period before ``t`` is the previous unique time value of the panel. An
    asset absent from a period has no row there; its lag is marked missing
    (``-1``), never taken from an earlier month.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_neurif.panel import PanelLayout
    >>> idx = pd.MultiIndex.from_tuples([("a", 1), ("b", 1), ("a", 2)],
    ...                                 names=["entity", "time"])
    >>> layout = PanelLayout(idx)
    >>> layout.to_dense(np.array([1.0, 2.0, 3.0]))
    array([[ 1.,  2.],
           [ 3., nan]])
    >>> layout.mask
    array([[ True,  True],
           [ True, False]])
    """

    def __init__(self, index: pd.MultiIndex):
        self.index = index
        entity_pos, self.entities = _sorted_codes(index, 0)
        time_pos, self.periods = _sorted_codes(index, index.nlevels - 1)
        self.entity_pos = entity_pos.astype(np.int64, copy=False)
        self.time_pos = time_pos.astype(np.int64, copy=False)
        n_periods = len(self.periods)
        self.counts = np.bincount(self.time_pos, minlength=n_periods)
        # Sort rows by (period, entity); a row's slot is its rank inside its period.
        self._row_order = _period_entity_order(entity_pos, time_pos)
        self.n_max = int(self.counts.max()) if n_periods else 0

    @functools.cached_property
    def slot(self) -> np.ndarray:
        """Position of each row among the assets of its period."""
        # Computed on first use: per-period sums (IPCARegressor.fit) need
        # only the row order.
        order = self._row_order
        starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        slot = np.empty(len(order), dtype=np.int64)
        slot[order] = np.arange(len(order)) - np.repeat(starts, self.counts)
        return slot

    @classmethod
    def from_data(cls, X) -> PanelLayout:
        """Build the layout of a panel (or a single cross-section) ``X``.

        Parameters
        ----------
        X : DataFrame, Series or array-like
            A long panel with an ``(entity, time)`` MultiIndex, or a plain
            array read as one period.

        Returns
        -------
        PanelLayout
        """
        return cls(panel_index(X))

    @property
    def n_rows(self) -> int:
        """Number of rows of the long panel."""
        return len(self.time_pos)

    @property
    def n_periods(self) -> int:
        """Number of unique periods."""
        return len(self.periods)

    @property
    def mask(self) -> np.ndarray:
        """Boolean array ``(n_periods, n_max)``: True where a slot holds a row."""
        return np.arange(self.n_max)[None, :] < self.counts[:, None]

    @property
    def dense_rows(self) -> np.ndarray:
        """Row position held by each dense cell, ``-1`` for padding."""
        rows = np.full((self.n_periods, self.n_max), -1, dtype=np.int64)
        rows[self.time_pos, self.slot] = np.arange(self.n_rows)
        return rows

    @property
    def time_values(self) -> pd.Index:
        """The period of each row, in row order."""
        return self.index.get_level_values(-1)

    def period_rows(self) -> list[np.ndarray]:
        """Row positions of each period, as a list of length ``n_periods``."""
        sorted_time = self.time_pos[self._row_order]
        bounds = np.searchsorted(sorted_time, np.arange(self.n_periods + 1))
        return [
            self._row_order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    def to_dense(self, values, fill_value=np.nan, dtype=None) -> np.ndarray:
        """Lay per-row values out as a padded ``(n_periods, n_max, ...)`` array.

        Parameters
        ----------
        values : array-like of shape (n_rows,) or (n_rows, ...)
            One entry per row, in the panel's row order.
        fill_value : scalar, default=nan
            Value of the padding cells.
        dtype : dtype, optional
            Dtype of the result; defaults to that of ``values`` (float64 when
            ``fill_value`` is NaN and ``values`` are integers).

        Returns
        -------
        ndarray of shape (n_periods, n_max, ...)
        """
        values = np.asarray(values)
        if values.shape[0] != self.n_rows:
            raise ValueError(
                f"values have {values.shape[0]} rows; the panel has {self.n_rows}."
            )
        if dtype is None:
            dtype = np.result_type(values.dtype, np.min_scalar_type(fill_value))
        out = np.full(
            (self.n_periods, self.n_max, *values.shape[1:]), fill_value, dtype=dtype
        )
        out[self.time_pos, self.slot] = values
        return out

    def to_long(self, dense) -> np.ndarray:
        """Read a padded ``(n_periods, n_max, ...)`` array back into rows.

        Parameters
        ----------
        dense : array-like of shape (n_periods, n_max, ...)
            Padded values, e.g. from :meth:`to_dense` or a model's output.

        Returns
        -------
        ndarray of shape (n_rows, ...)
            Values in the panel's row order.
        """
        dense = np.asarray(dense)
        if dense.shape[:2] != (self.n_periods, self.n_max):
            raise ValueError(
                f"dense array has leading shape {dense.shape[:2]}; expected "
                f"{(self.n_periods, self.n_max)}."
            )
        return dense[self.time_pos, self.slot]

    def per_period(self, values) -> np.ndarray:
        """Broadcast per-period values ``(n_periods, ...)`` to rows ``(n_rows, ...)``."""
        values = np.asarray(values)
        if values.shape[0] != self.n_periods:
            raise ValueError(
                f"values have {values.shape[0]} periods; the panel has {self.n_periods}."
            )
        return values[self.time_pos]

    def lagged_rows(self, window: int, rows=None) -> np.ndarray:
        """Row positions of the same entity over the last ``window`` periods.

        Column ``window - 1`` is the row itself, column ``window - 1 - k`` the
        row of the same entity ``k`` periods earlier, ``-1`` where that row
        does not exist (before the sample, or the asset was absent). Models
        gather per-row encodings with this table, so each asset-month is
        encoded once however long the window.

        Parameters
        ----------
        window : int
            Number of periods, the current one included.
        rows : array-like of int, optional
            Compute the table only for these rows (e.g. one batch of months).

        Returns
        -------
        ndarray of shape (n_selected_rows, window), int64
        """
        if window < 1:
            raise ValueError(f"window must be at least 1; got {window}.")
        rows = (
            np.arange(self.n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
        )
        keys = self.entity_pos * self.n_periods + self.time_pos
        key_order = np.argsort(keys, kind="stable")
        sorted_keys = keys[key_order]
        out = np.full((len(rows), window), -1, dtype=np.int64)
        for lag in range(window):
            t = self.time_pos[rows] - lag
            wanted = self.entity_pos[rows] * self.n_periods + t
            pos = np.searchsorted(sorted_keys, wanted)
            pos = np.minimum(pos, len(sorted_keys) - 1)
            found = (t >= 0) & (sorted_keys[pos] == wanted)
            out[found, window - 1 - lag] = key_order[pos[found]]
        return out

    def history_length(self) -> np.ndarray:
        """Number of consecutive earlier periods each row's entity is present.

        Returns
        -------
        ndarray of shape (n_rows,), int64
            0 for an entity's first period (or first after a gap).
        """
        keys = self.entity_pos * self.n_periods + self.time_pos
        order = np.argsort(keys, kind="stable")
        k = keys[order]
        entity = self.entity_pos[order]
        consecutive = np.zeros(len(k), dtype=bool)
        consecutive[1:] = (k[1:] == k[:-1] + 1) & (entity[1:] == entity[:-1])
        # Run lengths of consecutive presence, reset at each gap or new entity.
        idx = np.arange(len(k))
        reset = np.where(~consecutive, idx, 0)
        np.maximum.accumulate(reset, out=reset)
        run = idx - reset
        out = np.empty(len(k), dtype=np.int64)
        out[order] = run
        return out

    def __repr__(self) -> str:
        return (
            f"PanelLayout(n_rows={self.n_rows}, n_periods={self.n_periods}, "
            f"n_entities={len(self.entities)}, n_max={self.n_max})"
        )


def _sorted_codes(index: pd.MultiIndex, level: int):
    """Positions of each row's key among the sorted unique keys of ``level``.

    The result of ``pd.factorize(index.get_level_values(level), sort=True)``.
    A MultiIndex already holds integer codes into its levels; when the level
    is sorted and has no missing code, the codes are remapped onto the keys
    actually used (a bincount), which avoids hashing every row again.
    """
    levels = index.levels[level]
    codes = np.asarray(index.codes[level])
    if not levels.is_monotonic_increasing or (len(codes) and codes.min() < 0):
        return pd.factorize(index.get_level_values(level), sort=True)
    used = np.bincount(codes, minlength=len(levels)) > 0
    if not used.all():  # slicing a MultiIndex keeps unused level values
        codes = (np.cumsum(used) - 1)[codes]
        levels = levels[used]
    # As get_level_values: no name, and a DatetimeIndex without a freq.
    if isinstance(levels, pd.DatetimeIndex | pd.TimedeltaIndex):
        levels = type(levels)(levels, freq=None)
    return codes, levels.rename(None)


def _period_entity_order(entity_pos, time_pos):
    """Row order sorted by (period, entity): ``np.lexsort((entity, time))``.

    When the rows are already in entity order (the usual layout of a panel
    sorted by its index), one stable sort by period suffices; small integer
    codes are sorted by radix sort.
    """
    if len(entity_pos) > 1 and np.all(entity_pos[1:] >= entity_pos[:-1]):
        keys = time_pos
        if len(keys) and keys.max() < np.iinfo(np.int16).max:
            keys = keys.astype(np.int16, copy=False)
        return np.argsort(keys, kind="stable")
    return np.lexsort((entity_pos, time_pos))
