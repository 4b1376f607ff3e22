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

from sklearn_neurif.neurif._module import LastPositionAttention, _WindowAttention
from sklearn_neurif.nn._batching import (
    MonthDataset,
    PanelBatcher,
    PrefetchingLoader,
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
