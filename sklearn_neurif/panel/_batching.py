"""Month batches of a long panel for the torch panel models (NeurIF, CA, transformer).

skorch iterates over a dataset whose items are month positions; the collate
function turns a list of months into one batch holding, for those months,
the characteristics of every asset-month the batch refers to (each encoded
once, the current month and its lags), the lag table that gathers them, and
the returns with their mask. Nothing is copied ``window`` times.
"""

from __future__ import annotations

import numpy as np
import torch

from ._layout import PanelLayout

__all__ = ["PanelBatcher", "MonthDataset", "collate_months"]


class PanelBatcher:
    """Month-major view of one panel, built once per fit/predict call.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, n_characteristics)
        Characteristics in the panel's row order (copied to float32).
    layout : PanelLayout
        Row map of the panel.
    window : int
        Number of months seen by the temporal attention, current included.
    returns : ndarray of shape (n_rows,), optional
        Next-period returns; NaN is masked. None at predict time.
    """

    def __init__(self, Z, layout: PanelLayout, window: int, returns=None):
        # float32: float64 breaks the float32 module. A float32 array is kept
        # as is, even a read-only pandas 3 view: it is never written to nor
        # wrapped by torch, batches take fancy-indexed (fresh, writable)
        # copies. At CRSP scale that saves a 1.1 GB copy; gathering rows from
        # a column-major pandas block is slower (105 vs 28 ms a batch at
        # N=6000, T=480, L=94: ~5% of an epoch), so a conversion that has to
        # copy anyway produces row-major data.
        Z = np.asarray(Z)
        if Z.dtype != np.float32:
            Z = np.ascontiguousarray(Z, dtype=np.float32)
        self.Z = Z
        self.layout = layout
        self.window = int(window)
        self.dense_rows = layout.dense_rows
        # One lag table for the whole panel (int32 row positions, -1 missing):
        # computed once, a batch only slices it.
        self.lags = layout.lagged_rows(self.window).astype(np.int32)
        if returns is None:
            self.returns = np.zeros(layout.n_rows, dtype=np.float32)
            self.valid = np.zeros(layout.n_rows, dtype=bool)
        else:
            returns = np.asarray(returns, dtype=np.float64)
            self.valid = ~np.isnan(returns)
            self.returns = np.where(self.valid, returns, 0.0).astype(np.float32)

    def periods_with_returns(self) -> np.ndarray:
        """Positions of the months with at least one observed return."""
        has = np.zeros(self.layout.n_periods, dtype=bool)
        has[self.layout.time_pos[self.valid]] = True
        return np.flatnonzero(has)

    def batch(self, months) -> dict:
        """Tensors of one batch of months.

        Returns
        -------
        dict
            ``z`` (U, L) float32 characteristics of the U distinct
            asset-months referenced; ``lags`` (M, n, W) int64 positions into
            ``z`` (-1 missing or padding; the last column is the current
            month); ``ret`` (M, n) float32 returns (0 where missing) and
            ``ret_mask`` (M, n) bool.
        """
        months = np.asarray(months, dtype=np.int64)
        n = int(self.layout.counts[months].max())
        rows = self.dense_rows[months, :n]  # (M, n), -1 padding
        present = rows >= 0
        cur = rows[present]
        lag_rows = self.lags[cur]  # (n_cur, W)
        referenced = lag_rows >= 0
        # Distinct rows by marking (linear in the panel, no sort): at CRSP
        # scale np.unique was ~10% of a training step.
        seen = np.zeros(self.layout.n_rows, dtype=bool)
        seen[lag_rows[referenced]] = True
        unique = np.flatnonzero(seen)
        position = np.empty(self.layout.n_rows, dtype=np.int64)
        position[unique] = np.arange(len(unique))
        lag_u = np.full(lag_rows.shape, -1, dtype=np.int64)
        lag_u[referenced] = position[lag_rows[referenced]]
        lags = np.full((len(months), n, self.window), -1, dtype=np.int64)
        lags[present] = lag_u
        ret = np.zeros(rows.shape, dtype=np.float32)
        ret[present] = self.returns[cur]
        mask = np.zeros(rows.shape, dtype=bool)
        mask[present] = self.valid[cur]
        return {
            "z": torch.from_numpy(np.ascontiguousarray(self.Z[unique])),
            "lags": torch.from_numpy(lags),
            "ret": torch.from_numpy(ret),
            "ret_mask": torch.from_numpy(mask),
        }

    def rows_of(self, months) -> np.ndarray:
        """Row positions of the dense ``(M, n)`` cells of :meth:`batch`."""
        months = np.asarray(months, dtype=np.int64)
        n = int(self.layout.counts[months].max())
        return self.dense_rows[months, :n]


class MonthDataset(torch.utils.data.Dataset):
    """Dataset whose items are month positions of a :class:`PanelBatcher`."""

    def __init__(self, batcher: PanelBatcher, months):
        self.batcher = batcher
        self.months = np.asarray(months, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.months)

    def __getitem__(self, i):
        return self.batcher, int(self.months[i])


def collate_months(items):
    """DataLoader ``collate_fn``: a list of ``(batcher, month)`` -> ``(X, y)``.

    ``y`` is a dummy: the returns travel in ``X`` because the module needs
    them to compute the realised factors.
    """
    batcher = items[0][0]
    months = [m for _, m in items]
    return batcher.batch(months), torch.zeros(len(months))
