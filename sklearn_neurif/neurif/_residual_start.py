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
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["start_deviation_on_residuals"]

#: Candidate sizes of the added loading, as a share of the sd of the last
#: factor's loading (0 keeps IPCA's start).
SCALES = (0.0, 0.1, 0.3, 1.0)


@torch.no_grad()
def start_deviation_on_residuals(module, batcher, train, valid, batch_months=8):
    """Set the last row of g's output layer; return the chosen scale.

    Parameters
    ----------
    module : NeurIFModule
        At its start (g's output layer at zero).
    batcher : PanelBatcher
    train, valid : ndarray of int
        Training and validation month positions (the direction is estimated
        on ``train``, its scale chosen on ``valid``; without validation
        months, on ``train``).
    batch_months : int
        Months per forward pass.
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
        return 0.0  # no month with more assets than factors: nothing to fit
    ridge = float(module.ridge)
    portfolios = [h.T @ _residual(b, r, ridge) / len(r) for h, b, r in fit_months]
    _, _, vt = np.linalg.svd(np.asarray(portfolios), full_matrices=False)
    w = vt[0]
    beta_sd = np.sqrt(
        np.mean(np.concatenate([b[:, -1] for _, b, _ in fit_months]) ** 2)
    )
    u_sd = np.sqrt(np.mean(np.concatenate([h @ w for h, _, _ in fit_months]) ** 2))
    best, best_scale = np.inf, 0.0
    for scale in SCALES:
        c = scale * beta_sd / max(u_sd, 1e-12)
        sse = 0.0
        for h, b, r in score_months:
            b = b.copy()
            b[:, -1] += c * (h @ w)
            e = _residual(b, r, ridge)
            sse += e @ e
        if sse < best:
            best, best_scale, best_c = sse, scale, c
    layer = module.deviation[-1]
    layer.weight[-1] = torch.as_tensor(best_c * w, dtype=layer.weight.dtype)
    return best_scale


def _residual(b, r, ridge):
    """r - b f with f the month's ridge regression of r on b (as the module)."""
    K = b.shape[1]
    f = np.linalg.solve(b.T @ b + ridge * np.eye(K), b.T @ r)
    return r - b @ f


def _month_arrays(module, batcher, months, batch_months):
    """Per month with returns: g's hidden features, loadings and returns."""
    captured = {}
    hook = module.deviation[-2].register_forward_hook(
        lambda _m, _i, out: captured.__setitem__("h", out)
    )
    arrays = []
    device = module.factor_tokens.device  # batches may be made on a GPU
    try:
        for start in range(0, len(months), batch_months):
            batch = batcher.batch(months[start : start + batch_months])
            batch = {k: v.to(device) for k, v in batch.items()}
            out = module(batch["z"], batch["lags"])
            h = captured["h"].double().cpu().numpy()
            beta = out["beta"].double().cpu().numpy()
            ret = batch["ret"].double().cpu().numpy()
            mask = batch["ret_mask"].cpu().numpy()
            for m in range(len(mask)):
                keep = mask[m]
                if keep.sum() > beta.shape[-1]:
                    arrays.append((h[m][keep], beta[m][keep], ret[m][keep]))
    finally:
        hook.remove()
    return arrays
