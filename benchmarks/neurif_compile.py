"""NeurIF's temporal attention: the hand-written kernel against ``torch.compile``.

Issue 18 item 2 asks for ``torch.compile`` where it helps on CPU. The
temporal attention is the largest part of a NeurIF step on the US panel, so
this script times one forward and backward pass of it in two forms on the
same inputs (a block of 8 consecutive months of N assets, W=12, d=32, two
heads, each asset-month encoded once):

- ``hand kernel``: :class:`~sklearn_neurif.neurif._module.LastPositionAttention`
  as NeurIF uses it (windows gathered chunk by chunk, backward by hand);
- ``compiled``: the same attention written plainly (gather the windows,
  project keys and values, softmax over the lags) and compiled by
  ``torch.compile(dynamic=True)``, autograd deriving the backward.

It prints the compile time, the seconds of a forward and backward pass of
each (mean of 5 after a warm-up) and the largest difference of the outputs.

Usage::

    python benchmarks/neurif_compile.py                # N=5700 (US panel), 2 threads
    python benchmarks/neurif_compile.py --assets 6000 --threads 1
"""

from __future__ import annotations

import argparse
import math
import os
import time


def _plain_attention(attention, d, n_heads):
    """The attention of ``attention`` written with plain tensor operations."""
    import torch

    dh = d // n_heads
    scale = 1.0 / math.sqrt(dh)
    kv = attention.key_value

    def forward(h, lags):
        M, n, W = lags.shape
        idx = lags.reshape(-1, W)
        keep = idx >= 0
        x = h[idx.clamp(min=0)] + attention.position
        h_cur = x[:, -1]
        q = attention.query(h_cur).view(-1, n_heads, dh)
        k = torch.nn.functional.linear(x, kv.weight[:d], kv.bias[:d])
        v = torch.nn.functional.linear(x, kv.weight[d:], kv.bias[d:])
        scores = (q[:, None] * k.view(-1, W, n_heads, dh)).sum(-1) * scale
        weights = torch.softmax(scores.masked_fill(~keep[..., None], -math.inf), 1)
        ctx = (weights[..., None] * v.view(-1, W, n_heads, dh)).sum(1)
        return h_cur.view(M, n, d), attention.out(ctx.reshape(-1, d)).view(M, n, d)

    return forward


def _seconds(fn, h, lags, repeats=5):
    def step():
        h_cur, ctx = fn(h, lags)
        (h_cur.sum() + ctx.square().sum()).backward()

    step()  # warm-up (and, for the compiled form, the compilation)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=5700, help="N a month")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()

    import torch

    from sklearn_neurif.neurif._module import LastPositionAttention

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n, M, W, d, H = args.assets, 8, 12, 32, 2
    attention = LastPositionAttention(d, H, W, dropout=0.0)
    h = torch.randn(n * (M + W - 1), d, requires_grad=True)
    # Each cell's window: its asset's W latest months of the block's encodings;
    # 10% of the two oldest lags missing (assets with a short history).
    rows = torch.arange(n)[None, :, None] * (M + W - 1)
    lags = rows + torch.arange(M)[:, None, None] + torch.arange(W)[None, None, :]
    lags[..., :2][torch.rand(M, n, 2) < 0.1] = -1
    print(f"N={n}, {M} months, W={W}, d={d}, heads {H}, threads {args.threads}")
    print(f"load average before: {os.getloadavg()}")
    hand = _seconds(attention, h, lags)
    start = time.perf_counter()
    compiled = torch.compile(_plain_attention(attention, d, H), dynamic=True)
    compiled(h, lags)
    compile_s = time.perf_counter() - start
    fused = _seconds(compiled, h, lags)
    diff = (attention(h, lags)[1] - compiled(h, lags)[1]).abs().max().item()
    print(f"hand kernel: {hand:.3f} s forward + backward")
    print(
        f"compiled:    {fused:.3f} s forward + backward ({compile_s:.1f} s to compile)"
    )
    print(
        f"compiled / hand kernel: {fused / hand:.2f}; largest output difference {diff:.1e}"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
