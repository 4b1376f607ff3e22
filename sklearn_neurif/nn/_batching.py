"""Month batches of a long panel for the torch panel models (NeurIF, CA, transformer).

skorch iterates over a dataset whose items are month positions; the collate
function turns a list of months into one batch holding, for those months,
the characteristics of every asset-month the batch refers to (each encoded
once, the current month and its lags), the lag table that gathers them, and
the returns with their mask. Nothing is copied ``window`` times.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading

import numpy as np
import torch

from ..panel import PanelLayout

__all__ = [
    "PanelBatcher",
    "MonthDataset",
    "MonthBlockSampler",
    "MonthBlockLoader",
    "collate_months",
    "PrefetchingLoader",
]

#: Rows per block when gathering from column-major characteristics.
_GATHER_BLOCK = 8192
#: Recycled batch arrays kept at most (the batch in use, the one skorch's
#: loop still holds, the one being prepared).
_POOL_SIZE = 3


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
        self._init_scratch()

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
            asset-months referenced, in row order; ``lags`` (M, n, W) int64
            positions into ``z`` (-1 missing or padding; the last column is
            the current month); ``ret`` (M, n) float32 returns (0 where
            missing) and ``ret_mask`` (M, n) bool.
        """
        months = np.asarray(months, dtype=np.int64)
        n = int(self.layout.counts[months].max())
        rows = self.dense_rows[months, :n]  # (M, n), -1 padding
        present = rows >= 0
        cur = rows[present]
        lag_rows = self.lags[cur]  # (n_cur, W)
        referenced = lag_rows >= 0
        unique, lag_u = self._distinct(lag_rows[referenced])
        lags = np.full((len(months), n, self.window), -1, dtype=np.int64)
        cells = np.full(lag_rows.shape, -1, dtype=np.int64)
        cells[referenced] = lag_u
        lags[present] = cells
        ret = np.zeros(rows.shape, dtype=np.float32)
        ret[present] = self.returns[cur]
        mask = np.zeros(rows.shape, dtype=bool)
        mask[present] = self.valid[cur]
        if self._Z_device is not None:
            return self._on_device(unique, lags, ret, mask)
        return {
            "z": torch.from_numpy(self._gather(unique)),
            "lags": torch.from_numpy(lags),
            "ret": torch.from_numpy(ret),
            "ret_mask": torch.from_numpy(mask),
        }

    def to(self, device):
        """Keep the characteristics on ``device`` and make batches there.

        The panel's characteristics are copied to the device once; a batch
        then sends only its row positions, lag table, returns and mask (from
        pinned memory on CUDA, asynchronously) and gathers its rows on the
        device: no per-step copy of characteristics from the host. A CPU
        device restores the NumPy path.

        Parameters
        ----------
        device : str or torch.device

        Returns
        -------
        self
        """
        device = torch.device(device)
        if device.type == "cpu":
            self._Z_device = None
            return self
        self._Z_device = torch.tensor(np.ascontiguousarray(self.Z), device=device)
        return self

    def _on_device(self, unique, lags, ret, mask):
        """The batch dict made on the characteristics' device."""
        device = self._Z_device.device
        pin = device.type == "cuda"

        def send(array):
            tensor = torch.from_numpy(array)
            if pin:
                tensor = tensor.pin_memory()
            return tensor.to(device, non_blocking=pin)

        rows = send(unique)
        return {
            "z": self._Z_device.index_select(0, rows),
            "lags": send(lags),
            "ret": send(ret),
            "ret_mask": send(mask),
        }

    def _distinct(self, referenced_rows):
        """Sorted distinct rows and each reference's position among them.

        By marking in two panel-sized scratch arrays kept across batches
        (at CRSP scale np.unique was ~10% of a training step, and fresh
        panel-sized arrays cost page faults in every batch); only the marked
        entries are reset, so a batch costs O(its rows) plus one scan of a
        boolean array.
        """
        with self._scratch_lock:
            if self._seen is None:
                self._seen = np.zeros(self.layout.n_rows, dtype=bool)
                self._position = np.empty(self.layout.n_rows, dtype=np.int64)
            seen, position = self._seen, self._position
            seen[referenced_rows] = True
            unique = np.flatnonzero(seen)
            seen[unique] = False
            position[unique] = np.arange(len(unique))
            return unique, position[referenced_rows]

    def _gather(self, rows) -> np.ndarray:
        """``Z[rows]`` as a fresh or recycled (see :meth:`recycling`) array."""
        out = self._recycled_buffer(len(rows))
        if out is None:
            return np.ascontiguousarray(self.Z[rows])
        if self.Z.flags.c_contiguous:
            # mode="clip" (rows are valid): the default "raise" buffers `out`.
            np.take(self.Z, rows, axis=0, out=out, mode="clip")
        else:
            # Column-major (a pandas block): np.take is slow on it, fancy
            # indexing in cache-sized blocks is not.
            for start in range(0, len(rows), _GATHER_BLOCK):
                stop = start + _GATHER_BLOCK
                out[start:stop] = self.Z[rows[start:stop]]
        return out

    @contextlib.contextmanager
    def recycling(self):
        """Within this block, batches' ``z`` arrays are recycled.

        A (U, L) array of a batch is reused for a later batch once nothing
        refers to it any more (no tensor made from it is alive), which saves
        allocating, and page-faulting, some 200 MB a batch at CRSP scale.
        The arrays are dropped when the block ends.
        """
        with self._scratch_lock:
            self._pool = []
        try:
            yield self
        finally:
            with self._scratch_lock:
                self._pool = None

    def _recycled_buffer(self, n_rows):
        with self._scratch_lock:
            if self._pool is None:
                return None
            for i in range(len(self._pool)):
                # Free when only the pool refers to it (+1 for the call's
                # argument): a batch's tensor holds a view, the view holds it.
                if sys.getrefcount(self._pool[i]) <= 2:
                    if len(self._pool[i]) >= n_rows:
                        return self._pool[i][:n_rows]
                    del self._pool[i]  # too small: replaced below
                    break
            buf = np.empty((int(n_rows * 1.05) + 1, self.Z.shape[1]), np.float32)
            if len(self._pool) < _POOL_SIZE:
                self._pool.append(buf)
            return buf[:n_rows]

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_scratch_lock", "_seen", "_position", "_pool", "_Z_device"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_scratch()

    def _init_scratch(self):
        self._scratch_lock = threading.Lock()
        self._seen = self._position = self._pool = None
        self._Z_device = getattr(self, "_Z_device", None)

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


class PrefetchingLoader(torch.utils.data.DataLoader):
    """DataLoader that assembles the next batch while the current one trains.

    A drop-in ``iterator_train`` for skorch over a :class:`MonthDataset`:
    same arguments, same batches in the same order. The first batch of each
    pass is made in the calling thread (so the sampler draws its shuffle
    from torch's global generator exactly as a plain DataLoader does); later
    ones are made by one background thread, at most one batch ahead
    (gathering a batch is numpy copying, which releases the GIL). Batch
    arrays are recycled during the pass (:meth:`PanelBatcher.recycling`).
    When the consumer stops early (``break``, an exception, a
    KeyboardInterrupt) the thread is stopped and joined as the iterator is
    closed. Only ``num_workers=0`` is supported.
    """

    def __iter__(self):
        if self.num_workers:
            raise ValueError("PrefetchingLoader supports num_workers=0 only.")
        batcher = getattr(self.dataset, "batcher", None)
        recycling = batcher.recycling() if batcher else contextlib.nullcontext()
        with recycling:
            yield from _prefetched(super().__iter__())


class MonthBlockSampler(torch.utils.data.Sampler):
    """Batches of consecutive months, the batches in a shuffled order.

    A batch of ``batch_size`` shuffled months refers to about
    ``batch_size x window`` distinct months (each month carries its window),
    so every asset-month is encoded about ``window`` times an epoch; a block
    of ``batch_size`` consecutive months refers to ``batch_size + window - 1``
    months. Here the items (months, in time order) are cut into blocks of
    ``batch_size`` consecutive ones and each pass yields the blocks in a
    random order. With ``shuffle``, each pass also draws where the blocks
    start: the items are rotated by a random offset in ``[0, batch_size)``
    (the one block that wraps around joins the last months to the first), so
    which months share a step changes from pass to pass. Without
    ``shuffle``: consecutive blocks in order, as a plain ``DataLoader``.

    The shuffle is drawn from ``generator`` (torch's global generator when
    None), one seed per pass as ``torch.utils.data.RandomSampler`` does.

    Parameters
    ----------
    n_items : int
        Number of months (dataset items, in time order).
    batch_size : int
        Months per block.
    shuffle : bool
        Random offset and order of the blocks each pass.
    generator : torch.Generator, optional
    """

    def __init__(self, n_items, batch_size, shuffle=True, generator=None):
        self.n_items = int(n_items)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.generator = generator

    def __len__(self) -> int:
        return -(-self.n_items // self.batch_size)

    def __iter__(self):
        n, size = self.n_items, self.batch_size
        items = torch.arange(n)
        if not self.shuffle or n <= 1:
            yield from (items[s : s + size].tolist() for s in range(0, n, size))
            return
        seed = self.generator
        if seed is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            seed = torch.Generator().manual_seed(seed)
        offset = int(torch.randint(min(size, n), (), generator=seed))
        items = torch.roll(items, -offset)
        blocks = [items[s : s + size].tolist() for s in range(0, n, size)]
        for b in torch.randperm(len(blocks), generator=seed).tolist():
            yield blocks[b]


class MonthBlockLoader(torch.utils.data.DataLoader):
    """DataLoader over a :class:`MonthDataset` batching consecutive months.

    Takes skorch's ``batch_size`` and ``shuffle`` and turns them into a
    :class:`MonthBlockSampler`: each batch is a block of ``batch_size``
    consecutive months, the blocks shuffled every pass. Other arguments go
    to ``DataLoader``.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, generator=None, **kwargs):
        sampler = MonthBlockSampler(len(dataset), batch_size, shuffle, generator)
        super().__init__(dataset, batch_sampler=sampler, generator=generator, **kwargs)


class PrefetchingMonthBlockLoader(PrefetchingLoader, MonthBlockLoader):
    """:class:`MonthBlockLoader` that assembles the next batch in a thread."""


_END = object()


def _prefetched(iterator):
    """Items of ``iterator``, the next one produced in a background thread."""
    try:
        first = next(iterator)
    except StopIteration:
        return
    slot = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in iterator:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # re-raised in the consumer
            put((_END, exc))

    worker = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
    worker.start()
    try:
        yield first
        del first
        while True:
            item, exc = slot.get()
            if exc is not None:
                raise exc
            if item is _END:
                return
            yield item
            del item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a pending put, then wait
            try:
                slot.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
