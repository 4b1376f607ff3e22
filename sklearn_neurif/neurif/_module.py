"""The NeurIF torch module (see docs/neurif.md for the equations).

Shapes: a batch holds M months padded to n assets; ``z`` holds the U
distinct asset-months referenced by the batch (current months and their
lags), each encoded once; ``lags`` (M, n, W) gathers them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..nn._base import check_heads

__all__ = ["NeurIFModule"]


def _mlp(n_in: int, n_hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, n_hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(n_hidden, n_out),
    )


def _query_input(h_cur, q_weight, q_bias, kv_weight, n_heads):
    """The current month's query of each head projected into the input space.

    ``q . W_k (h + p) = (W_k' q) . (h + p)``: scoring the gathered inputs
    against ``W_k' q`` (B, H, d) avoids computing keys for every lag.
    """
    B, d = h_cur.shape
    dh = d // n_heads
    q = nn.functional.linear(h_cur, q_weight, q_bias).view(B, n_heads, dh)
    w_k = kv_weight[:d].view(n_heads, dh, d)
    return torch.einsum("bhe,hed->bhd", q, w_k)


class _WindowAttention(torch.autograd.Function):
    """Last-position attention over gathered windows, with a hand-written backward.

    Inputs: encodings ``h`` (U, d), ``position`` (W, d), the query and key
    weights, window rows ``idx`` (B, W) into ``h`` (clamped), ``keep``
    (B, W) the lags that exist, and optional dropout multipliers ``noise``
    (B, W, H). For each cell b: ``x_w = h[idx_w] + p_w``, ``h_cur = x_W``,
    ``a = softmax_w(scale * q_in . x_w)`` over the kept lags, and the output
    ``pooled[b] = sum_w a_w x_w`` (H, d).

    Why by hand: the windows (B, W, d) are the largest tensors of the model.
    Here they are gathered chunk by chunk into one reused buffer and gathered
    again in the backward pass, never stored, and the gradient with respect
    to ``h`` is accumulated into a single (U, d) tensor; autograd through
    per-chunk ``index_select`` would allocate, zero and sum one (U, d)
    gradient per chunk (O(U) per chunk: quadratic in N per batch).
    """

    @staticmethod
    def forward(
        ctx, h, position, q_weight, q_bias, kv_weight, idx, keep, noise, n_heads, step
    ):
        B, W = idx.shape
        d = h.shape[1]
        scale = 1.0 / math.sqrt(d // n_heads)
        h_cur = h.index_select(0, idx[:, -1]) + position[-1]
        q_in = _query_input(h_cur, q_weight, q_bias, kv_weight, n_heads)
        pooled = h.new_empty(B, n_heads, d)
        weights = h.new_empty(B, n_heads, W)
        x_buf = h.new_empty(min(step, B) * W, d)
        for s in range(0, B, step):
            e = min(s + step, B)
            x = _gather_window(h, idx[s:e], position, x_buf)
            scores = torch.bmm(q_in[s:e], x.transpose(1, 2)).mul_(scale)
            scores.masked_fill_(~keep[s:e, None, :], float("-inf"))
            # Softmax over the lags with the lags leading, (W, rows, H): torch's
            # CPU softmax over a last dimension of W = 12 is 8x slower.
            a = torch.softmax(scores.permute(2, 0, 1).contiguous(), dim=0)
            weights[s:e] = a.permute(1, 2, 0)
            a = weights[s:e]
            if noise is not None:
                a = a * noise[s:e].transpose(1, 2)
            # Plain bmm then a copy: with out= torch loops over the batch.
            pooled[s:e] = torch.bmm(a, x)
        ctx.save_for_backward(
            h, position, q_weight, q_bias, kv_weight, idx, h_cur, q_in, weights, noise
        )
        ctx.n_heads, ctx.scale, ctx.step = n_heads, scale, step
        return h_cur, pooled

    @staticmethod
    def backward(ctx, g_cur, g_pooled):
        (h, position, q_weight, q_bias, kv_weight, idx, h_cur, q_in, weights, noise) = (
            ctx.saved_tensors
        )
        step, scale = ctx.step, ctx.scale
        B, W = idx.shape
        d = h.shape[1]
        g_pooled = g_pooled.contiguous()
        used = weights if noise is None else weights * noise.transpose(1, 2)
        # Pass 1 (gathers x): score gradients and the query's gradient.
        g_scores = torch.empty_like(weights)
        g_q_in = torch.empty_like(q_in)
        x_buf = h.new_empty(min(step, B) * W, d)
        for s in range(0, B, step):
            e = min(s + step, B)
            x = _gather_window(h, idx[s:e], position, x_buf)
            g_a = torch.bmm(g_pooled[s:e], x.transpose(1, 2))  # (n, H, W)
            if noise is not None:
                g_a.mul_(noise[s:e].transpose(1, 2))
            a = weights[s:e]
            # Softmax backward; masked lags have a = 0 and get no gradient.
            g_s = g_a.sub_((a * g_a).sum(-1, keepdim=True)).mul_(a).mul_(scale)
            g_scores[s:e] = g_s
            g_q_in[s:e] = torch.bmm(g_s, x)
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_() for t in (h_cur, q_weight, q_bias)]
            leaves.append(kv_weight.detach().requires_grad_())
            q_in_again = _query_input(*leaves, ctx.n_heads)
            g_cur_q, g_q_weight, g_q_bias, g_kv_weight = torch.autograd.grad(
                q_in_again, leaves, g_q_in
            )
        g_cur = g_cur + g_cur_q
        # Pass 2 (no gather): dL/dx_w = sum_h g_s[h, w] q_in[h] + a[h, w] g_p[h]
        # as one product, plus h_cur's gradient at the last position.
        g_h = torch.zeros_like(h)
        g_pos = torch.zeros_like(position)
        for s in range(0, B, step):
            e = min(s + step, B)
            left = torch.cat([g_scores[s:e], used[s:e]], dim=1).transpose(1, 2)
            right = torch.cat([q_in[s:e], g_pooled[s:e]], dim=1)
            g_x = torch.bmm(left, right)
            g_x[:, -1] += g_cur[s:e]
            g_pos += g_x.sum(0)
            g_h.index_add_(0, idx[s:e].reshape(-1), g_x.view(-1, d))
        return g_h, g_pos, g_q_weight, g_q_bias, g_kv_weight, *(None,) * 5


def _gather_window(h, idx, position, buf):
    """``h[idx] + position`` as (n, W, d), written into ``buf``."""
    n, W = idx.shape
    out = buf[: n * W]
    torch.index_select(h, 0, idx.reshape(-1), out=out)
    out = out.view(n, W, -1)
    out += position
    return out


class LastPositionAttention(nn.Module):
    """Causal self-attention over a window, evaluated at the last position only.

    Only the output at the current month is used downstream, so causal
    self-attention reduces exactly to one query (the current month)
    attending over the W months of the window. Keys and values are linear in
    ``x = h + p_lag``, so scores are ``(W_k' q) . x`` and the output is
    ``W_v (sum_w a_w x_w) + b_v``: only the d-dimensional encodings are
    gathered per lag (each asset-month is encoded once). The key bias adds
    the same score to every lag and cancels in the softmax; the value bias
    passes through since the weights sum to 1. Cost O(N W d); the pooling
    is :class:`_WindowAttention`.
    """

    def __init__(self, d: int, n_heads: int, window: int, dropout: float):
        super().__init__()
        check_heads(d, n_heads)
        self.n_heads = n_heads
        self.position = nn.Parameter(torch.randn(window, d) * 0.02)
        self.query = nn.Linear(d, d)
        self.key_value = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)

    #: Upper bound on the elements of a (rows, W, d) chunk of gathered
    #: windows, the unit of work of :class:`_WindowAttention` (its buffers
    #: are reused from chunk to chunk). 1M floats (4 MB) stay in a core's L2
    #: cache between the ops that read them: at N=6000 the attention's
    #: forward and backward took 25% less time than with 4M.
    chunk_elements = 1 << 20

    def forward(self, h, lags):
        # In the parameters' dtype (float32) also under mixed precision: the
        # hand-written backward accumulates into tensors of h's dtype.
        with torch.autocast(h.device.type, enabled=False):
            return self._attend(h.to(self.position.dtype), lags)

    def _attend(self, h, lags):
        # h: (U, d); lags: (M, n, W) with the last column valid for every cell.
        M, n, W = lags.shape
        d = h.shape[-1]
        H, dh = self.n_heads, d // self.n_heads
        B = M * n
        lags = lags.reshape(B, W)
        step = max(1, self.chunk_elements // (W * d))
        h_cur, pooled = _WindowAttention.apply(
            h,
            self.position,
            self.query.weight,
            self.query.bias,
            self.key_value.weight,
            lags.clamp(min=0),
            lags >= 0,
            self._noise(h, B, W, H, step),
            H,
            step,
        )
        w_v = self.key_value.weight[d:].view(H, dh, d)
        ctx = torch.einsum("bhd,hed->bhe", pooled, w_v).reshape(B, d)
        ctx = ctx + self.key_value.bias[d:]
        return h_cur.view(M, n, d), self.out(ctx).view(M, n, d)

    def _noise(self, like, B, W, H, step):
        """Dropout multipliers of the attention weights, (B, W, H), or None.

        Drawn chunk by chunk as ``nn.Dropout`` on each chunk's (rows, W, H)
        weights would draw them, so a seed gives the same masks.
        """
        p = self.dropout.p
        if not self.training or p == 0:
            return None
        chunks = [
            like.new_empty(min(step, B - s), W, H).bernoulli_(1 - p).div_(1 - p)
            for s in range(0, B, step)
        ]
        return torch.cat(chunks)


class NeurIFModule(nn.Module):
    """Encoder, temporal and spatial attention, instrumented loadings, factors.

    Parameters
    ----------
    n_characteristics : int
        L.
    n_factors : int
        K.
    window : int
        W months of history per asset, the current one included.
    hidden_size : int
        d.
    n_heads : int
        Attention heads (d must be divisible by it).
    dropout : float
        Dropout rate in the encoder, attention and feed-forward layers.
    ridge : float
        eps of the realised-factor regression (B'B + eps I)^{-1} B'r.
    intercept : bool
        Whether to add alpha = Gamma_alpha' z.
    temporal_attention : bool
        False drops the temporal attention (ablation): each asset sees its
        current month only.
    spatial_attention : bool
        False drops the spatial attention (ablation): the factor tokens and
        the premia no longer depend on the month's assets, and the assets'
        states do not attend to the tokens.
    """

    def __init__(
        self,
        n_characteristics: int,
        n_factors: int,
        window: int,
        *,
        hidden_size: int = 32,
        n_heads: int = 2,
        dropout: float = 0.0,
        ridge: float = 1e-4,
        intercept: bool = False,
        temporal_attention: bool = True,
        spatial_attention: bool = True,
    ):
        super().__init__()
        self.temporal_attention = temporal_attention
        self.spatial_attention = spatial_attention
        L, K, d = n_characteristics, n_factors, hidden_size
        self.n_factors = K
        self.ridge = ridge
        self.encoder = _mlp(L, d, d, dropout)
        self.temporal = LastPositionAttention(d, n_heads, window, dropout)
        self.norm1 = nn.LayerNorm(d)
        self.feed_forward = _mlp(d, 2 * d, d, dropout)
        self.norm2 = nn.LayerNorm(d)
        self.factor_tokens = nn.Parameter(torch.randn(K, d) * 0.02)
        self.factor_attn = nn.MultiheadAttention(
            d, n_heads, dropout=dropout, batch_first=True
        )
        self.asset_attn = nn.MultiheadAttention(
            d, n_heads, dropout=dropout, batch_first=True
        )
        self.gamma = nn.Linear(L, K, bias=False)
        self.deviation = _mlp(d, d, K, dropout)
        # Start at the instrumented (IPCA-like) loadings: g(v) = 0 and the
        # premia at 0, so early training fits Gamma before the deviation.
        nn.init.zeros_(self.deviation[-1].weight)
        nn.init.zeros_(self.deviation[-1].bias)
        self.premia_head = nn.Linear(d, 1)
        nn.init.zeros_(self.premia_head.weight)
        nn.init.zeros_(self.premia_head.bias)
        self.premia_const = nn.Parameter(torch.zeros(K))
        self.gamma_alpha = nn.Linear(L, 1, bias=False) if intercept else None
        if intercept:
            nn.init.zeros_(self.gamma_alpha.weight)

    def forward(self, z, lags, ret=None, ret_mask=None, detach_spatial=False):
        """Loadings, premia, alpha and (with returns) realised factors.

        Returns
        -------
        dict
            ``beta`` (M, n, K), ``linear`` (M, n, K) = Gamma'z,
            ``deviation`` (M, n, K) = g(v), ``premia`` (M, K), ``alpha``
            (M, n) or None, ``present`` (M, n) bool, and with returns
            ``factors`` (M, K) and ``ret``/``ret_mask``.
        """
        present = lags[..., -1] >= 0
        # Padding cells point at row 0 so softmax never sees an empty window.
        lags = lags.clone()
        lags[..., -1] = lags[..., -1].clamp(min=0)
        u = self._asset_states(z, lags)
        M = u.shape[0]
        tokens = self.factor_tokens.expand(M, -1, -1)
        if self.spatial_attention:
            f_ctx, _ = self.factor_attn(
                tokens, u, u, key_padding_mask=~present, need_weights=False
            )
            factor_state = tokens + f_ctx  # F_t, (M, K, d)
            if detach_spatial:  # for own-characteristic attributions
                factor_state = factor_state.detach()
            a_ctx, _ = self.asset_attn(
                u, factor_state, factor_state, need_weights=False
            )
            v = u + a_ctx
        else:
            factor_state, v = tokens, u
        # index_select, not z[lags[..., -1]]: advanced indexing is 5x slower.
        z_cur = z.index_select(0, lags[..., -1].reshape(-1)).view(*lags.shape[:2], -1)
        keep = present[..., None].to(z.dtype)
        linear = self.gamma(z_cur) * keep
        deviation = self.deviation(v) * keep
        beta = linear + deviation
        premia = self.premia_head(factor_state).squeeze(-1) + self.premia_const
        alpha = None
        if self.gamma_alpha is not None:
            alpha = self.gamma_alpha(z_cur).squeeze(-1) * keep[..., 0]
        # float32 outputs (under mixed precision the layers may give bfloat16).
        out = {
            "beta": beta.float(),
            "linear": linear.float(),
            "deviation": deviation.float(),
            "premia": premia.float(),
            "alpha": None if alpha is None else alpha.float(),
            "present": present,
        }
        if ret is not None:
            with torch.autocast(beta.device.type, enabled=False):
                out["factors"] = self.realised_factors(
                    out["beta"], ret, ret_mask, out["alpha"]
                )
            out["ret"] = ret
            out["ret_mask"] = ret_mask
        return out

    def _asset_states(self, z, lags):
        """u_{i,t}: the encoded current month with its temporal context."""
        h = self.encoder(z)
        if self.temporal_attention:
            h_cur, ctx = self.temporal(h, lags)
            u = self.norm1(h_cur + ctx)
        else:
            u = self.norm1(h.index_select(0, lags[..., -1].reshape(-1)))
            u = u.view(*lags.shape[:2], -1)
        return self.norm2(u + self.feed_forward(u))

    def realised_factors(self, beta, ret, ret_mask, alpha=None):
        """f = (B'B + eps I)^{-1} B'(r - alpha) per month, masked, differentiable."""
        w = ret_mask.to(beta.dtype)
        B = beta * w[..., None]
        r = ret * w
        if alpha is not None:
            r = r - alpha * w
        K = beta.shape[-1]
        eye = torch.eye(K, dtype=beta.dtype, device=beta.device)
        BtB = B.transpose(1, 2) @ B + self.ridge * eye
        Btr = (B.transpose(1, 2) @ r[..., None]).squeeze(-1)
        return torch.linalg.solve(BtB, Btr)
