"""NeurIF speed paths: the hand-written attention backward and the month batches."""

from __future__ import annotations

import contextlib
import gc
import math
import pickle
import threading

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.neurif import NeurIFRegressor
from sklearn_neurif.neurif._module import (
    LastPositionAttention,
    NeurIFModule,
    _WindowAttention,
)
from sklearn_neurif.nn._batching import (
    MonthBlockLoader,
    MonthBlockSampler,
    MonthDataset,
    PanelBatcher,
    PrefetchingLoader,
    PrefetchingMonthBlockLoader,
    collate_months,
)
from sklearn_neurif.panel import PanelLayout


def _reference_attention(att, h, lags):
    """Plain autograd version of LastPositionAttention (no chunks, no custom backward)."""
    M, n, W = lags.shape
    d = h.shape[-1]
    H, dh = att.n_heads, d // att.n_heads
    x = h[lags.clamp(min=0)] + att.position  # (M, n, W, d)
    h_cur = x[..., -1, :]
    q = att.query(h_cur).view(M, n, H, dh)
    k, v = att.key_value(x).split(d, dim=-1)
    k = k.view(M, n, W, H, dh)
    v = v.view(M, n, W, H, dh)
    scores = torch.einsum("mnhe,mnwhe->mnhw", q, k) / math.sqrt(dh)
    scores = scores.masked_fill((lags < 0)[:, :, None, :], float("-inf"))
    a = torch.softmax(scores, dim=-1)
    ctx = torch.einsum("mnhw,mnwhe->mnhe", a, v).reshape(M, n, d)
    return h_cur, att.out(ctx)


def _random_lags(U, M, n, W, generator):
    lags = torch.randint(0, U, (M, n, W), generator=generator)
    lags[torch.rand(M, n, W, generator=generator) < 0.3] = -1
    lags[..., -1] = torch.randint(0, U, (M, n), generator=generator)
    return lags


@pytest.mark.parametrize("chunk_elements", [1 << 22, 7 * 5 * 8])
def test_attention_gradients_match_autograd_reference(chunk_elements):
    """Outputs and every gradient equal plain autograd, in one chunk or many."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    d, H, W, U, M, n = 8, 2, 5, 60, 3, 17
    att = LastPositionAttention(d, H, W, dropout=0.0).double()
    att.chunk_elements = chunk_elements
    h = torch.randn(U, d, dtype=torch.float64)
    lags = _random_lags(U, M, n, W, gen)
    w_cur = torch.randn(M, n, d, dtype=torch.float64)
    w_ctx = torch.randn(M, n, d, dtype=torch.float64)
    results = []
    for fn in (att.forward, lambda h_, l_: _reference_attention(att, h_, l_)):
        att.zero_grad()
        hh = h.clone().requires_grad_(True)
        h_cur, ctx = fn(hh, lags)
        ((h_cur * w_cur).sum() + (ctx * w_ctx).sum() + (ctx**2).sum()).backward()
        grads = [p.grad.clone() for p in att.parameters()]
        results.append([h_cur.detach(), ctx.detach(), hh.grad, *grads])
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_window_attention_gradcheck_with_dropout_noise():
    """Finite differences of the autograd Function, dropout multipliers included."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    d, H, W, U, B = 4, 2, 3, 9, 7
    h = torch.randn(U, d, dtype=torch.float64, requires_grad=True)
    position = torch.randn(W, d, dtype=torch.float64, requires_grad=True)
    q_weight = torch.randn(d, d, dtype=torch.float64, requires_grad=True)
    q_bias = torch.randn(d, dtype=torch.float64, requires_grad=True)
    kv_weight = torch.randn(2 * d, d, dtype=torch.float64, requires_grad=True)
    lags = _random_lags(U, 1, B, W, gen)[0]
    noise = (torch.rand(B, W, H, generator=gen) > 0.3).double() / 0.7

    def fn(h, position, q_weight, q_bias, kv_weight):
        return _WindowAttention.apply(
            h,
            position,
            q_weight,
            q_bias,
            kv_weight,
            lags.clamp(min=0),
            lags >= 0,
            noise,
            H,
            3,  # chunks of 3 cells: several chunks and a ragged last one
        )

    assert torch.autograd.gradcheck(fn, (h, position, q_weight, q_bias, kv_weight))


def test_attention_dropout_draws_the_masks_of_nn_dropout():
    """Same seed, same masks as nn.Dropout applied to each chunk's (rows, W, H) weights."""
    d, H, W, M, n, p = 8, 2, 4, 2, 9, 0.4
    torch.manual_seed(0)
    att = LastPositionAttention(d, H, W, dropout=p)
    step = 5  # chunks of 5 cells, the last one ragged
    torch.manual_seed(3)
    noise = att._noise(torch.empty(0), M * n, W, H, step)
    torch.manual_seed(3)
    drop = torch.nn.Dropout(p)
    expected = torch.cat(
        [drop(torch.ones(min(step, M * n - s), W, H)) for s in range(0, M * n, step)]
    )
    torch.testing.assert_close(noise, expected, rtol=0, atol=0)
    att.eval()
    assert att._noise(torch.empty(0), M * n, W, H, step) is None


# ---------------------------------------------------------------- month batches
def _unbalanced_panel(seed=0, n_entities=30, n_periods=20, L=4):
    """Random unbalanced panel: late entries, exits, gaps; rows shuffled."""
    rng = np.random.default_rng(seed)
    keep = rng.uniform(size=(n_entities, n_periods)) > 0.25
    keep[:, 0] |= rng.uniform(size=n_entities) > 0.5  # some present from the start
    entity, period = np.nonzero(keep)
    order = rng.permutation(len(entity))  # rows in no particular order
    entity, period = entity[order], period[order] * 3 + 100  # non-contiguous labels
    index = pd.MultiIndex.from_arrays(
        [[f"e{e:02d}" for e in entity], period], names=["entity", "time"]
    )
    Z = rng.standard_normal((len(index), L)).astype(np.float32)
    r = rng.standard_normal(len(index))
    r[rng.uniform(size=len(index)) < 0.2] = np.nan
    return index, Z, r


def _reference_batch(index, Z, r, window, months):
    """Characteristics of each (month, slot, lag) cell by dictionary look-ups."""
    periods = np.sort(index.get_level_values(1).unique())
    row_of = {key: i for i, key in enumerate(index)}
    cells, rets, masks = [], [], []
    for m in months:
        period = periods[m]
        assets = sorted(e for e, t in index if t == period)
        cell = np.full((len(assets), window, Z.shape[1]), np.nan)
        for slot, e in enumerate(assets):
            for lag in range(window):
                if m - lag >= 0 and (e, periods[m - lag]) in row_of:
                    cell[slot, window - 1 - lag] = Z[row_of[(e, periods[m - lag])]]
        cells.append(cell)
        ret = np.array([r[row_of[(e, period)]] for e in assets])
        rets.append(np.nan_to_num(ret).astype(np.float32))
        masks.append(~np.isnan(ret))
    return cells, rets, masks


@pytest.mark.parametrize("order", ["C", "F"])
def test_batch_matches_reference_on_unbalanced_panel(order):
    index, Z, r = _unbalanced_panel()
    window = 4
    batcher = PanelBatcher(np.asarray(Z, order=order), PanelLayout(index), window, r)
    months = [7, 0, 19, 3, 4]
    cells, rets, masks = _reference_batch(index, Z, r, window, months)
    for recycled in (False, True):
        ctx = batcher.recycling() if recycled else contextlib.nullcontext()
        with ctx:
            out = batcher.batch(months)
        z, lags = out["z"].numpy(), out["lags"].numpy()
        # Distinct referenced rows in row order, each once.
        assert len(np.unique(z, axis=0)) == len(z)
        got = np.where(lags[..., None] >= 0, z[lags], np.nan)
        for m, cell in enumerate(cells):
            n = len(cell)
            np.testing.assert_array_equal(got[m, :n], cell)
            assert (lags[m, n:] == -1).all()  # padding
            np.testing.assert_array_equal(out["ret"][m, :n].numpy(), rets[m])
            np.testing.assert_array_equal(out["ret_mask"][m, :n].numpy(), masks[m])
            assert not out["ret_mask"][m, n:].any()
        assert not batcher._seen.any()  # scratch reset for the next batch


def test_recycled_arrays_are_reused_only_when_released():
    index, Z, r = _unbalanced_panel(seed=1)
    batcher = PanelBatcher(Z, PanelLayout(index), 3, r)
    with batcher.recycling():
        held = batcher.batch([5, 6])
        kept = held["z"].clone()
        other = batcher.batch([5, 6])
        assert other["z"].data_ptr() != held["z"].data_ptr()
        batcher.batch([1, 12, 13])  # would overwrite `held` if it were reused
        torch.testing.assert_close(held["z"], kept, rtol=0, atol=0)
        ptr = other["z"].data_ptr()
        del other
        assert batcher.batch([2, 3])["z"].data_ptr() == ptr
    assert batcher._pool is None
    # Picklable (the scratch state is dropped and rebuilt).
    clone = pickle.loads(pickle.dumps(batcher))
    np.testing.assert_array_equal(
        clone.batch([5, 6])["lags"].numpy(), batcher.batch([5, 6])["lags"].numpy()
    )


def _loader_batches(loader_class, batcher, seed, **kwargs):
    torch.manual_seed(seed)
    loader = loader_class(
        MonthDataset(batcher, np.arange(20)),
        batch_size=3,
        shuffle=True,
        collate_fn=collate_months,
        **kwargs,
    )
    batches = [{k: v.clone() for k, v in X.items()} for X, _ in loader]
    return batches, torch.rand(1)  # next draw of the global generator


def test_prefetching_loader_gives_the_same_batches_in_the_same_order():
    index, Z, r = _unbalanced_panel(seed=2)
    batcher = PanelBatcher(Z, PanelLayout(index), 3, r)
    expected, draw = _loader_batches(torch.utils.data.DataLoader, batcher, 7)
    got, draw_prefetch = _loader_batches(PrefetchingLoader, batcher, 7)
    assert len(got) == len(expected) == 7
    for a, b in zip(got, expected, strict=True):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    # The global generator is left where a plain DataLoader leaves it.
    assert float(draw_prefetch) == float(draw)
    assert not _prefetch_threads()


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "batch-prefetch"]


def test_prefetching_loader_stops_its_thread_when_interrupted():
    index, Z, r = _unbalanced_panel(seed=3)
    batcher = PanelBatcher(Z, PanelLayout(index), 3, r)
    loader = PrefetchingLoader(
        MonthDataset(batcher, np.arange(20)), batch_size=2, collate_fn=collate_months
    )
    with pytest.raises(KeyboardInterrupt):
        for i, _ in enumerate(loader):
            if i == 2:
                raise KeyboardInterrupt
    gc.collect()
    assert not _prefetch_threads()
    assert batcher._pool is None
    # An error while making a batch reaches the consumer.
    bad = PrefetchingLoader(
        MonthDataset(batcher, np.array([0, 1, 2, 99])),
        batch_size=1,
        collate_fn=collate_months,
    )
    with pytest.raises(IndexError):
        list(bad)
    assert not _prefetch_threads()


# ------------------------------------------------- blocks of consecutive months
def _passes(sampler, n_passes, seed):
    torch.manual_seed(seed)
    return [list(sampler) for _ in range(n_passes)]


@pytest.mark.parametrize("n, size", [(20, 3), (24, 8), (5, 8), (1, 4)])
def test_month_blocks_cover_every_month_once_in_consecutive_runs(n, size):
    sampler = MonthBlockSampler(n, size, shuffle=True)
    passes = _passes(sampler, 6, seed=0)
    for blocks in passes:
        assert len(blocks) == len(sampler) == -(-n // size)
        assert sorted(m for b in blocks for m in b) == list(range(n))
        assert all(1 <= len(b) <= size for b in blocks)
        # Consecutive months, except the one block that wraps around.
        wrapped = [b for b in blocks if np.any(np.diff(b) != 1)]
        assert len(wrapped) <= 1
        for b in wrapped:
            assert np.all(np.diff(b) % n == 1) and b[-1] < b[0]
    if n > size:
        # Offsets and block orders change from pass to pass.
        assert len({tuple(map(tuple, p)) for p in passes}) > 1
        # Where the blocks start (the offset) changes too.
        assert len({tuple(sorted(b[0] for b in p)) for p in passes}) > 1
    # Seeded by torch's global generator, as DataLoader's shuffle.
    assert _passes(sampler, 3, seed=5) == _passes(sampler, 3, seed=5)


def test_month_blocks_without_shuffle_are_plain_chunks():
    sampler = MonthBlockSampler(7, 3, shuffle=False)
    assert list(sampler) == [[0, 1, 2], [3, 4, 5], [6]]


def test_month_block_loader_batches_and_prefetching_agree():
    index, Z, r = _unbalanced_panel(seed=4)
    batcher = PanelBatcher(Z, PanelLayout(index), 3, r)
    expected, draw = _loader_batches(MonthBlockLoader, batcher, 11)
    got, draw_prefetch = _loader_batches(PrefetchingMonthBlockLoader, batcher, 11)
    assert len(got) == len(expected) == 7
    for a, b in zip(got, expected, strict=True):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert float(draw_prefetch) == float(draw)
    # A block of 3 consecutive months refers to at most 3 + 3 - 1 months of
    # rows (wrapped block: 2 runs), 3 shuffled ones to up to 9.
    n_assets = len(np.unique(index.get_level_values(0)))
    assert max(len(b["z"]) for b in got) <= 2 * 5 * n_assets


def test_neurif_trains_on_blocks_of_consecutive_months(monkeypatch):
    data = make_conditional_factor_panel(30, 40, 4, 2, random_state=0)
    seen = []
    batch = PanelBatcher.batch

    def spy(self, months):
        seen.append(list(months))
        return batch(self, months)

    monkeypatch.setattr(PanelBatcher, "batch", spy)
    est = NeurIFRegressor(
        n_factors=2,
        window=3,
        hidden_size=8,
        max_epochs=2,
        batch_months=4,
        validation_fraction=0.0,
        random_state=0,
    ).fit(data.X, data.y)
    assert est.net_.iterator_train is MonthBlockLoader
    train = seen[: 2 * 10]  # 2 epochs of 10 blocks (the factors' passes follow)
    assert all(len(b) == 4 for b in train)
    assert sum(np.all(np.diff(b) == 1) for b in train) >= 2 * 10 - 2


def _module_outputs(module, batcher, months):
    with torch.no_grad():
        return module(**batcher.batch(months))


def test_a_block_forward_equals_the_forward_of_each_month_alone():
    """Encoding the union of a block's windows once changes no output."""
    index, Z, r = _unbalanced_panel(seed=5)
    torch.manual_seed(0)
    module = NeurIFModule(Z.shape[1], 2, window=4, hidden_size=8).eval()
    batcher = PanelBatcher(Z, PanelLayout(index), 4, r)
    block = [6, 7, 8, 9, 10]
    together = _module_outputs(module, batcher, block)
    for m, month in enumerate(block):
        alone = _module_outputs(module, batcher, [month])
        n = int(alone["present"].sum())
        for key in ("beta", "deviation", "premia", "factors"):
            a = together[key][m]
            b = alone[key][0]
            if a.dim() > 1:
                a, b = a[:n], b[:n]
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_predictions_see_only_their_window():
    """Perturbing months after t or before its window leaves month t unchanged."""
    data = make_conditional_factor_panel(30, 30, 4, 2, random_state=1)
    window = 4
    est = NeurIFRegressor(
        n_factors=2, window=window, hidden_size=8, max_epochs=2, random_state=0
    ).fit(data.X, data.y)
    time = data.X.index.get_level_values("time")
    t = 15
    at_t = np.asarray(time == t)
    base = est.predict(data.X)[at_t]
    rng = np.random.default_rng(0)
    outside = np.asarray((time > t) | (time <= t - window))
    X_out = data.X.copy()
    X_out[outside] = rng.uniform(-0.5, 0.5, size=X_out[outside].shape)
    np.testing.assert_allclose(est.predict(X_out)[at_t], base, rtol=1e-5, atol=1e-7)
    X_in = data.X.copy()
    inside = np.asarray(time == t - window + 1)  # the oldest month of the window
    X_in[inside] = rng.uniform(-0.5, 0.5, size=X_in[inside].shape)
    assert not np.allclose(est.predict(X_in)[at_t], base, rtol=1e-5, atol=1e-7)
