"""The NeurIF torch module (see docs/neurif.md for the equations).

Shapes: a batch holds M months padded to n assets; ``z`` holds the U
distinct asset-months referenced by the batch (current months and their
lags), each encoded once; ``lags`` (M, n, W) gathers them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["NeurIFModule"]


def _mlp(n_in: int, n_hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, n_hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(n_hidden, n_out),
    )


class LastPositionAttention(nn.Module):
    """Causal self-attention over a window, evaluated at the last position only.

    Only the output at the current month is used downstream, so causal
    self-attention reduces exactly to one query (the current month)
    attending over the W months of the window. Keys and values are linear in
    ``x = h + p_lag``, so scores are ``(W_k' q) . x`` and the output is
    ``W_v (sum_w a_w x_w) + b_v``: only the d-dimensional encodings are
    gathered per lag (each asset-month is encoded once). Cost O(N W d).
    """

    def __init__(self, d: int, n_heads: int, window: int, dropout: float):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"hidden_size={d} must be divisible by n_heads={n_heads}.")
        self.n_heads = n_heads
        self.position = nn.Parameter(torch.randn(window, d) * 0.02)
        self.query = nn.Linear(d, d)
        self.key_value = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)

    #: Upper bound on the elements of a (rows, W, d) intermediate: 4M floats
    #: (16 MB) stay under glibc's mmap threshold, so their memory is reused
    #: instead of being page-faulted in afresh for every op (measured: a
    #: 74 MB temporary costs ~2.5x its arithmetic in page faults).
    chunk_elements = 1 << 22

    def forward(self, h, lags):
        # h: (U, d); lags: (M, n, W) with the last column valid for every cell.
        M, n, W = lags.shape
        d = h.shape[-1]
        flat = lags.reshape(M * n, W)
        step = max(1, self.chunk_elements // (W * d))
        pieces = [
            self._attend(h, flat[start : start + step])
            for start in range(0, M * n, step)
        ]
        h_cur = torch.cat([p[0] for p in pieces]).view(M, n, d)
        ctx = torch.cat([p[1] for p in pieces]).view(M, n, d)
        return h_cur, ctx

    def _attend(self, h, lags):
        B, W = lags.shape
        d = h.shape[-1]
        H, dh = self.n_heads, d // self.n_heads
        lag_mask = lags >= 0
        idx = lags.clamp(min=0)
        h_cur = h.index_select(0, idx[:, -1]) + self.position[-1]  # (B, d)
        q = self.query(h_cur).view(B, H, dh)
        w_k, w_v = self.key_value.weight.view(2, H, dh, d).unbind(0)
        b_v = self.key_value.bias[d:]
        # q . W_k (h + p) = (W_k' q) . (h + p): project the single query into
        # the input space and gather the d-dimensional inputs only (not K and
        # V). The key bias adds the same score to every lag and cancels in the
        # softmax; the value bias passes through since the weights sum to 1.
        q_in = torch.einsum("bhe,hed->bhd", q, w_k)  # (B, H, d)
        # index_select (not advanced indexing): its backward is index_add_.
        # Inputs are x_w = h_w + p_w; the position parts are done as small
        # dense products instead of adding p to every gathered row.
        x = h.index_select(0, idx.reshape(-1)).view(B, W, d)
        scores = torch.einsum("bwd,bhd->bwh", x, q_in)
        scores = scores + torch.einsum("wd,bhd->bwh", self.position, q_in)
        scores = scores / math.sqrt(dh)
        scores = scores.masked_fill(~lag_mask[..., None], float("-inf"))
        attn = self.dropout(torch.softmax(scores, dim=1))
        pooled = torch.einsum("bwh,bwd->bhd", attn, x)  # (B, H, d)
        pooled = pooled + torch.einsum("bwh,wd->bhd", attn, self.position)
        ctx = torch.einsum("bhd,hed->bhe", pooled, w_v).reshape(B, d) + b_v
        return h_cur, self.out(ctx)


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
        z_cur = z[lags[..., -1]]  # (M, n, L)
        keep = present[..., None].to(z.dtype)
        linear = self.gamma(z_cur) * keep
        deviation = self.deviation(v) * keep
        beta = linear + deviation
        premia = self.premia_head(factor_state).squeeze(-1) + self.premia_const
        alpha = None
        if self.gamma_alpha is not None:
            alpha = self.gamma_alpha(z_cur).squeeze(-1) * keep[..., 0]
        out = {
            "beta": beta,
            "linear": linear,
            "deviation": deviation,
            "premia": premia,
            "alpha": alpha,
            "present": present,
        }
        if ret is not None:
            out["factors"] = self.realised_factors(beta, ret, ret_mask, alpha)
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
