"""A start for the deviation g off IPCA's saddle: IPCA on the residuals.

At IPCA's solution, a factor whose loading has no linear part is out of
reach, and a deviation g whose output layer starts at zero sits on a saddle
of the loss: along the missing direction the gradient averages to zero over
months (the factor IPCA fits there is uncorrelated with the missing one) and
only the curvature is negative (docs/neurif_tuning.md). This start takes one
step IPCA's way instead: the managed portfolios of IPCA's residuals on g's
own hidden features, and their leading singular vector as the last factor's
row of g's output layer, at the scale (zero included) that fits the
validation months best.

g's hidden features are random at the start, and whether their span holds
enough of the missing loading is a matter of the draw. With several draws
of g's hidden layer, each gets its residual start and the one that fits the
validation months best is kept (forward passes only: the input of g is
computed once, the draws cost a d x d layer each).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ResidualStart", "start_deviation_on_residuals"]

#: Candidate sizes of the added loading, as a share of the sd of the last
#: factor's loading (0 keeps IPCA's start).
SCALES = (0.0, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class ResidualStart:
    """What :func:`start_deviation_on_residuals` chose.

    Attributes
    ----------
    scale : float
        Size of the added loading, a share of the sd of the last factor's
        loading (0: IPCA's start kept).
    draw : int
        Hidden layer kept: 0 the module's own, ``j`` the j-th fresh draw.
    sse : float
        Sum of squared residuals on the scoring months at the start kept.
    """

    scale: float
    draw: int
    sse: float


@torch.no_grad()
def start_deviation_on_residuals(
    module, batcher, train, valid, batch_months=8, n_draws=1
):
    """Set g's hidden layer and the last row of its output layer.

    Parameters
    ----------
    module : NeurIFModule
        At its start (g's output layer at zero).
    batcher : PanelBatcher
    train, valid : ndarray of int
        Training and validation month positions (the direction is estimated
        on ``train``, its scale and the draw chosen on ``valid``; without
        validation months, on ``train``).
    batch_months : int
        Months per forward pass.
    n_draws : int
        Hidden layers tried: the module's own, then ``n_draws - 1`` fresh
        draws of torch's default initialisation (torch's RNG). The module
        keeps the best; with no scale > 0 better than IPCA's start on the
        validation months, the module is left unchanged.

    Returns
    -------
    ResidualStart
    """
    was_training = module.training
    module.eval()
    try:
        fit_months = _month_arrays(module, batcher, train, batch_months)
        score_months = (
            _month_arrays(module, batcher, valid, batch_months)
            if len(valid)
            else fit_months
        )
    finally:
        module.train(was_training)
    if not fit_months or not score_months:
        # No month with more assets than factors: nothing to fit.
        return ResidualStart(scale=0.0, draw=0, sse=np.nan)
    ridge = float(module.ridge)
    hidden = module.deviation[:2]  # Linear, GELU (dropout is off at the start)
    best = (np.inf, None, 0.0, None, None)
    for draw in range(n_draws):
        if draw:
            hidden = copy.deepcopy(hidden)
            hidden[0].reset_parameters()
        fit = [(_features(hidden, v), b, r) for v, b, r in fit_months]
        score = [(_features(hidden, v), b, r) for v, b, r in score_months]
        sse, scale, row = _best_row(fit, score, ridge)
        if sse < best[0]:  # ties (scale 0 for every draw) keep the module's own
            best = (sse, hidden, scale, row, draw)
    sse, hidden, scale, row, draw = best
    if draw:
        module.deviation[0].load_state_dict(hidden[0].state_dict())
    layer = module.deviation[-1]
    layer.weight[-1] = torch.as_tensor(row, dtype=layer.weight.dtype)
    return ResidualStart(scale=scale, draw=draw, sse=float(sse))


def _best_row(fit_months, score_months, ridge):
    """IPCA's step on the residuals with features h: (valid SSE, scale, row).

    The direction is the leading right singular vector of the managed
    portfolios of the residuals x_t = H_t'e_t / N_t (training months); its
    size, in ``SCALES`` x the sd of the last factor's loading, is the one
    with the lowest SSE on the scoring months.
    """
    portfolios = [h.T @ _residual(b, r, ridge) / len(r) for h, b, r in fit_months]
    _, _, vt = np.linalg.svd(np.asarray(portfolios), full_matrices=False)
    w = vt[0]
    beta_sd = np.sqrt(
        np.mean(np.concatenate([b[:, -1] for _, b, _ in fit_months]) ** 2)
    )
    u_sd = np.sqrt(np.mean(np.concatenate([h @ w for h, _, _ in fit_months]) ** 2))
    best = (np.inf, 0.0, 0.0)
    for scale in SCALES:
        c = scale * beta_sd / max(u_sd, 1e-12)
        sse = 0.0
        for h, b, r in score_months:
            b = b.copy()
            b[:, -1] += c * (h @ w)
            e = _residual(b, r, ridge)
            sse += e @ e
        if sse < best[0]:
            best = (sse, scale, c)
    sse, scale, c = best
    return sse, scale, c * w


def _features(hidden, v):
    """g's hidden features of one month's inputs, float64."""
    return hidden(v).double().cpu().numpy()


def _residual(b, r, ridge):
    """r - b f with f the month's ridge regression of r on b (as the module)."""
    K = b.shape[1]
    f = np.linalg.solve(b.T @ b + ridge * np.eye(K), b.T @ r)
    return r - b @ f


def _month_arrays(module, batcher, months, batch_months):
    """Per month with returns: g's inputs (a tensor), loadings and returns."""
    captured = {}
    hook = module.deviation.register_forward_pre_hook(
        lambda _m, args: captured.__setitem__("v", args[0])
    )
    arrays = []
    device = module.factor_tokens.device  # batches may be made on a GPU
    try:
        for start in range(0, len(months), batch_months):
            batch = batcher.batch(months[start : start + batch_months])
            batch = {k: v.to(device) for k, v in batch.items()}
            out = module(batch["z"], batch["lags"])
            v = captured["v"]
            beta = out["beta"].double().cpu().numpy()
            ret = batch["ret"].double().cpu().numpy()
            mask = batch["ret_mask"].cpu().numpy()
            for m in range(len(mask)):
                keep = mask[m]
                if keep.sum() > beta.shape[-1]:
                    rows = torch.as_tensor(np.flatnonzero(keep), device=v.device)
                    arrays.append(
                        (v[m].index_select(0, rows), beta[m][keep], ret[m][keep])
                    )
    finally:
        hook.remove()
    return arrays
