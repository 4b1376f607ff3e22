"""NeurIF speed paths: the hand-written attention backward and the month batches."""

from __future__ import annotations

import math

import pytest
import torch

from sklearn_neurif.neurif._module import LastPositionAttention, _WindowAttention


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
