"""Torch modules of the transformer return predictors (see docs/transformer.md).

Shapes follow the panel batches of :class:`~sklearn_neurif.nn.PanelBatcher`:
a batch holds M months padded to n assets; ``z`` holds the U distinct
asset-months the batch refers to (current months and their lags), each
embedded once; ``lags`` (M, n, W) gathers them into windows.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn._base import check_heads

__all__ = ["InducedSetAttention", "TemporalEncoder", "TransformerModule"]


class TemporalEncoder(nn.Module):
    """Causal transformer encoder over each asset's window of embedded months.

    A standard ``torch.nn.TransformerEncoder`` (post-norm, GELU feed-forward
    of width ``2 d``) runs over all W positions of every window; the output
    at the last position (the current month) is returned. Windows are
    gathered from the U embedded asset-months in chunks of at most
    ``chunk_elements`` gathered values, so the (cells, W, d) intermediates
    stay small and the panel is never copied W times at once.

    Attention mask: position q attends to positions k <= q whose month is
    present, and always to itself, so no query row is fully masked (which
    gives NaN in torch's softmax) and a missing month influences no present
    month in any layer.

    Parameters
    ----------
    d : int
        Model width.
    n_heads : int
        Attention heads (``d`` must be divisible by it).
    n_layers : int
        Encoder layers.
    window : int
        W positions (learned position embeddings).
    dropout : float
        Dropout of the encoder layers.
    """

    #: Upper bound on the elements of one gathered (cells, W, d) chunk (4M
    #: floats, 16 MB): larger temporaries are page-faulted in afresh by
    #: every op (see LastPositionAttention.chunk_elements in NeurIF).
    chunk_elements = 1 << 22

    def __init__(self, d: int, n_heads: int, n_layers: int, window: int, dropout):
        super().__init__()
        check_heads(d, n_heads)
        self.n_heads = n_heads
        self.position = nn.Parameter(torch.randn(window, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d,
            n_heads,
            dim_feedforward=2 * d,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, n_layers, enable_nested_tensor=False
        )

    def forward(self, h, lags):
        """Encoded current month of each window.

        Parameters
        ----------
        h : Tensor of shape (U, d)
            Embedded asset-months.
        lags : Tensor of shape (B, W) int64
            Rows of ``h`` (-1 for a missing month); the last column is valid.

        Returns
        -------
        Tensor of shape (B, d)
        """
        B, W = lags.shape
        step = max(1, self.chunk_elements // (W * h.shape[-1]))
        # Complete windows first: their chunks need only the shared causal
        # (W, W) mask; the others one mask per window and head.
        complete = (lags >= 0).all(dim=1)
        order = torch.argsort((~complete).to(torch.int8), stable=True)
        lags = lags[order]
        n_complete = int(complete.sum())
        pieces = [
            self._encode(
                h, lags[start : start + step], min(start + step, B) <= n_complete
            )
            for start in range(0, B, step)
        ]
        if not pieces:
            return h.new_zeros((0, h.shape[-1]))
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(B, device=order.device)
        return torch.cat(pieces).index_select(0, inverse)

    def _encode(self, h, lags, complete):
        B, W = lags.shape
        x = h.index_select(0, lags.clamp(min=0).reshape(-1)).view(B, W, -1)
        x = x + self.position
        causal = torch.ones(W, W, dtype=torch.bool, device=lags.device).tril()
        if complete:
            return self.encoder(x, mask=~causal, is_causal=True)[:, -1]
        eye = torch.eye(W, dtype=torch.bool, device=lags.device)
        allowed = (causal & (lags >= 0)[:, None, :]) | eye  # (B, q, k)
        # torch wants one (W, W) mask per sequence and head; True = blocked.
        blocked = (~allowed).repeat_interleave(self.n_heads, dim=0)
        return self.encoder(x, mask=blocked)[:, -1]


class InducedSetAttention(nn.Module):
    r"""Attention across a month's assets through m learned inducing tokens.

    The induced set attention block of Set Transformer (Lee et al. 2019):
    the tokens attend to the month's (padding-masked) assets, the assets
    attend back to the tokens,

    .. math::

        H_t = \mathrm{MAB}(I, U_t), \qquad
        U'_t = \mathrm{MAB}(U_t, H_t), \qquad
        \mathrm{MAB}(A, B) = \mathrm{LN}(G + \mathrm{FF}(G)),\;
        G = \mathrm{LN}(A + \mathrm{Attn}(A, B, B)).

    Cost O(N m d) per month: no (N, N) interaction is ever formed.

    Parameters
    ----------
    d : int
        Width.
    n_heads : int
        Attention heads.
    n_inducing : int
        m tokens.
    dropout : float
        Dropout rate.
    """

    def __init__(self, d: int, n_heads: int, n_inducing: int, dropout: float):
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(n_inducing, d) * 0.02)
        self.gather = _Mab(d, n_heads, dropout)
        self.scatter = _Mab(d, n_heads, dropout)

    def forward(self, u, present):
        """``u`` (M, n, d) asset states, ``present`` (M, n) bool -> (M, n, d)."""
        tokens = self.inducing.expand(u.shape[0], -1, -1)
        summary = self.gather(tokens, u, key_padding_mask=~present)
        return self.scatter(u, summary)


class _Mab(nn.Module):
    """Multihead attention block: attention, residual, norm, feed-forward."""

    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, n_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d)
        self.feed_forward = nn.Sequential(
            nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d)
        )
        self.norm2 = nn.LayerNorm(d)

    def forward(self, query, keys, key_padding_mask=None):
        ctx, _ = self.attn(
            query, keys, keys, key_padding_mask=key_padding_mask, need_weights=False
        )
        g = self.norm1(query + ctx)
        return self.norm2(g + self.feed_forward(g))


class TransformerModule(nn.Module):
    """Per-asset temporal transformer mapping a window of characteristics to r_hat.

    Parameters
    ----------
    n_characteristics : int
        L.
    window : int
        W months per asset, the current one included.
    hidden_size : int
        d.
    n_heads : int
        Attention heads.
    n_layers : int
        Temporal encoder layers.
    dropout : float
        Dropout rate.
    cross_sectional : bool
        Add induced set attention across the month's assets.
    n_inducing : int
        m inducing tokens of the cross-sectional attention.
    """

    def __init__(
        self,
        n_characteristics: int,
        window: int,
        *,
        hidden_size: int = 32,
        n_heads: int = 2,
        n_layers: int = 1,
        dropout: float = 0.0,
        cross_sectional: bool = False,
        n_inducing: int = 8,
    ):
        super().__init__()
        d = hidden_size
        self.embed = nn.Linear(n_characteristics, d)
        self.temporal = TemporalEncoder(d, n_heads, n_layers, window, dropout)
        self.cross = (
            InducedSetAttention(d, n_heads, n_inducing, dropout)
            if cross_sectional
            else None
        )
        self.head = nn.Linear(d, 1)
        # Start at the zero forecast (the benchmark of predictive R^2): random
        # initial forecasts are an order of magnitude larger than returns.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, z, lags, ret=None, ret_mask=None):
        """Predicted next returns of the batch's cells.

        Returns
        -------
        dict
            ``r_hat`` (M, n) (0 on padding cells), ``present`` (M, n) bool,
            and with returns ``ret`` and ``ret_mask``.
        """
        M, n, W = lags.shape
        present = lags[..., -1] >= 0
        h = self.embed(z)  # each distinct asset-month once
        # Padding cells are skipped: only the present cells' windows are encoded.
        u_present = self.temporal(h, lags[present])
        u = h.new_zeros((M, n, h.shape[-1]))
        u[present] = u_present
        if self.cross is not None:
            u = self.cross(u, present)
        r_hat = self.head(u).squeeze(-1) * present.to(u.dtype)
        out = {"r_hat": r_hat, "present": present}
        if ret is not None:
            out["ret"] = ret
            out["ret_mask"] = ret_mask
        return out
