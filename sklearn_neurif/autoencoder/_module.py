"""The conditional autoencoder torch module (Gu, Kelly and Xiu 2021).

Shapes: a batch holds M months padded to n assets; ``z`` (U, L) holds the
asset-months of the batch and ``lags`` (M, n, 1) points into it (-1 for
padding), so ``z[lags[..., 0]]`` are the (M, n, L) cross-sections.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ConditionalAutoencoderModule", "RowBatchNorm", "managed_portfolios"]


class RowBatchNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` over the present asset-months of a batch.

    The beta network only ever sees the rows of present assets (padding is
    dropped before it), so batch statistics are over real asset-months. A
    training batch of a single row (one month with one asset) has no
    variance: it is normalised with the running statistics instead of
    raising, and the running statistics are left as they are.
    """

    def forward(self, x):
        if self.training and x.shape[0] < 2:
            return F.batch_norm(
                x,
                self.running_mean,
                self.running_var,
                self.weight,
                self.bias,
                training=False,
                eps=self.eps,
            )
        return super().forward(x)


@torch.no_grad()
def managed_portfolios(z_cur, ret, ret_mask, ridge):
    r"""Characteristic-managed portfolios, one per characteristic and month.

    The regression form of the package's managed portfolios (docs page
    "Data conventions", "Managed portfolios"): the sums
    :math:`W_t = Z_t'Z_t` and :math:`Z_t'r_{t+1}` combined as

    .. math::

        x_{t+1} = (Z_t'Z_t + \epsilon I)^{-1} Z_t' r_{t+1}

    over the assets of month ``t`` with an observed return (the others are
    left out of both products). Solved in float64 with a pseudo-inverse, so
    a singular :math:`Z_t'Z_t` (``ridge=0`` with fewer assets than
    characteristics, or a month without returns) gives the minimum-norm
    solution. No gradient: the portfolios are data, not parameters.

    Parameters
    ----------
    z_cur : Tensor of shape (M, n, L)
    ret : Tensor of shape (M, n)
    ret_mask : Tensor of shape (M, n), bool
    ridge : float

    Returns
    -------
    Tensor of shape (M, L), dtype of ``z_cur``
    """
    w = ret_mask.to(torch.float64)
    Z = z_cur.to(torch.float64) * w[..., None]
    r = ret.to(torch.float64) * w
    L = Z.shape[-1]
    eye = torch.eye(L, dtype=torch.float64, device=Z.device)
    ZtZ = Z.transpose(1, 2) @ Z + ridge * eye
    Ztr = (Z.transpose(1, 2) @ r[..., None]).squeeze(-1)
    x = (torch.linalg.pinv(ZtZ, hermitian=True) @ Ztr[..., None]).squeeze(-1)
    return x.to(z_cur.dtype)


def beta_network(
    n_in, hidden_sizes, n_out, batch_norm, dropout, output_bias=True
) -> nn.Sequential:
    """Linear -> [BatchNorm] -> ReLU -> [Dropout] per hidden layer, linear output."""
    layers: list[nn.Module] = []
    for width in hidden_sizes:
        layers.append(nn.Linear(n_in, width))
        if batch_norm:
            layers.append(RowBatchNorm(width))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_in = width
    layers.append(nn.Linear(n_in, n_out, bias=output_bias))
    return nn.Sequential(*layers)


class ConditionalAutoencoderModule(nn.Module):
    r"""Beta network on characteristics, linear factor network on managed portfolios.

    .. math::

        \beta_{i,t} = g(z_{i,t}) \in \mathbb R^K, \qquad
        f_{t+1} = W x_{t+1}, \qquad
        \hat r_{i,t+1} = \beta_{i,t}' f_{t+1}

    Parameters
    ----------
    n_characteristics : int
        L (also the number of managed portfolios).
    n_factors : int
        K.
    hidden_sizes : tuple of int
        Widths of the beta network's hidden layers (empty: CA0, linear).
    batch_norm : bool
        Batch normalisation before each hidden activation.
    dropout : float
        Dropout after each hidden activation.
    ridge : float
        :math:`\epsilon` of the managed-portfolio solve.
    add_constant : bool
        A constant characteristic: a bias on the beta network's output layer
        and a column of ones in the managed-portfolio regression (L + 1
        portfolios, the extra one close to the equal-weighted market when
        the characteristics are cross-sectionally centred).
    """

    def __init__(
        self,
        n_characteristics: int,
        n_factors: int,
        hidden_sizes=(32, 16),
        batch_norm: bool = True,
        dropout: float = 0.0,
        ridge: float = 1e-4,
        add_constant: bool = False,
    ):
        super().__init__()
        self.ridge = float(ridge)
        self.add_constant = bool(add_constant)
        self.beta_net = beta_network(
            n_characteristics,
            tuple(hidden_sizes),
            n_factors,
            batch_norm,
            dropout,
            output_bias=self.add_constant,
        )
        # No intercept: each factor is a fixed combination of the managed
        # portfolios, hence itself a (tradable) portfolio of the assets.
        self.factor_net = nn.Linear(
            n_characteristics + self.add_constant, n_factors, bias=False
        )
        # Factor premia lambda (the training mean of the factors), set by the
        # estimator after training; a buffer so it travels with the weights.
        self.register_buffer("premia", torch.zeros(n_factors))

    def forward(self, z, lags, ret=None, ret_mask=None):
        """Loadings, premia and (with returns) managed portfolios and factors.

        Returns
        -------
        dict
            ``beta`` (M, n, K) (0 on padding), ``premia`` (M, K),
            ``present`` (M, n) bool; with returns also ``portfolios``
            (M, L + add_constant), ``factors`` (M, K), ``ret`` and ``ret_mask``.
        """
        cur = lags[..., -1]
        present = cur >= 0
        rows = z.index_select(0, cur[present])  # present asset-months only
        beta_rows = self.beta_net(rows)
        M, n = cur.shape
        beta = beta_rows.new_zeros((M, n, beta_rows.shape[-1]))
        beta[present] = beta_rows
        out = {
            "beta": beta,
            "premia": self.premia.expand(M, -1),
            "present": present,
        }
        if ret is not None:
            keep = present[..., None].to(z.dtype)
            z_cur = z[cur.clamp(min=0)] * keep
            if self.add_constant:
                z_cur = torch.cat([z_cur, keep], dim=-1)
            portfolios = managed_portfolios(z_cur, ret, ret_mask & present, self.ridge)
            out["portfolios"] = portfolios
            out["factors"] = self.factor_net(portfolios)
            out["ret"] = ret
            out["ret_mask"] = ret_mask
        return out

    def l1_norm(self):
        """Sum of absolute weights of every linear layer (biases excluded)."""
        return sum(
            m.weight.abs().sum() for m in self.modules() if isinstance(m, nn.Linear)
        )
