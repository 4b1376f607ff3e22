"""Characteristic attribution of NeurIF loadings (how beta depends on z)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..base import factor_names

__all__ = ["gradient_attribution", "regression_attribution"]


def gradient_attribution(net, batcher, months) -> np.ndarray:
    r"""Average own-gradient :math:`E[\partial\beta_{i,t,k}/\partial z_{i,t,l}]`, L x K.

    Months are processed one at a time with the factor tokens F_t held fixed
    (detached), so the derivative of the month's summed k-th loadings with
    respect to an asset's current characteristics is that asset's own
    derivative: its characteristics reach the other assets' loadings only
    through F_t, and its later months are not in the batch.
    """
    module = net.module_
    module.eval()
    L = batcher.Z.shape[1]
    K = module.n_factors
    total = np.zeros((L, K))
    count = 0
    for month in months:
        batch = {k: v.to(net.device) for k, v in batcher.batch([int(month)]).items()}
        z = batch.pop("z").requires_grad_(True)
        out = module(z, batch["lags"], detach_spatial=True)
        current = batch["lags"][0, :, -1]
        current = current[current >= 0]
        for k in range(K):
            (grad,) = torch.autograd.grad(
                out["beta"][..., k].sum(), z, retain_graph=k < K - 1
            )
            total[:, k] += grad[current].sum(0).double().cpu().numpy()
        count += len(current)
    return total / count


def regression_attribution(loadings, Z) -> np.ndarray:
    """Pooled OLS slopes of each loading on the characteristics (with a constant), L x K."""
    design = np.column_stack([np.ones(len(Z)), np.asarray(Z, dtype=np.float64)])
    coef, *_ = np.linalg.lstsq(design, loadings, rcond=None)
    return coef[1:]


def as_frame(values, feature_names, n_factors) -> pd.DataFrame:
    return pd.DataFrame(
        values,
        index=pd.Index(feature_names, name="characteristic"),
        columns=factor_names(n_factors),
    )
