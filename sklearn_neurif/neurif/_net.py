"""skorch ``NeuralNet`` for NeurIF: month batches and the penalised loss."""

from __future__ import annotations

import torch

from ..nn._base import PanelNet, masked_sse, return_scale

__all__ = ["NeurIFNet", "neurif_loss"]

#: Components recorded per batch in the skorch history (prefixed train_/valid_).
LOSS_COMPONENTS = ("fit", "pred", "orth", "dev")


def orthogonality(beta, present):
    """Mean over months of the sum of squared off-diagonal loading correlations."""
    w = present.to(beta.dtype)[..., None]
    n = w.sum(dim=1).clamp(min=1.0)  # (M, 1)
    mean = (beta * w).sum(dim=1) / n
    centred = (beta - mean[:, None, :]) * w
    cov = centred.transpose(1, 2) @ centred / n[..., None]
    sd = torch.sqrt(torch.diagonal(cov, dim1=1, dim2=2).clamp(min=1e-12))
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    off = corr - torch.diag_embed(torch.diagonal(corr, dim1=1, dim2=2))
    return (off**2).sum(dim=(1, 2)).mean()


def neurif_loss(out, prediction_weight, orthogonality_penalty, deviation_penalty):
    """Penalised NeurIF loss of one batch and its components.

    The two fit terms are sums of squared errors divided by the batch's sum
    of squared returns (1 - uncentred R^2), so the penalty weights do not
    depend on the units of returns. The deviation penalty is the share of the
    loadings' second moment due to g(v), which does not change when the
    loadings and the factors are rescaled against each other.
    """
    ret, mask, beta = out["ret"], out["ret_mask"], out["beta"]
    denom = return_scale(ret, mask)
    alpha = out["alpha"] if out["alpha"] is not None else 0.0
    total_fit = alpha + torch.einsum("mnk,mk->mn", beta, out["factors"])
    pred_fit = alpha + torch.einsum("mnk,mk->mn", beta, out["premia"])
    fit = masked_sse(ret, total_fit, mask) / denom
    pred = masked_sse(ret, pred_fit, mask) / denom
    present = out["present"]
    orth = orthogonality(beta, present) if beta.shape[-1] > 1 else beta.new_zeros(())
    w = present.to(beta.dtype)[..., None]
    dev = (out["deviation"] ** 2 * w).sum() / (beta**2 * w).sum().clamp(min=1e-12)
    loss = (
        fit
        + prediction_weight * pred
        + orthogonality_penalty * orth
        + deviation_penalty * dev
    )
    return loss, {"fit": fit, "pred": pred, "orth": orth, "dev": dev}


class NeurIFNet(PanelNet):
    """Month-batch ``NeuralNet`` with the NeurIF loss.

    Parameters
    ----------
    prediction_weight, orthogonality_penalty, deviation_penalty : float
        Loss weights (see :func:`neurif_loss`).
    mixed_precision : bool
        Run the module under bfloat16 autocast (the temporal attention, the
        factor regression and the outputs stay float32).
    **kwargs
        Passed to :class:`skorch.NeuralNet`.
    """

    loss_components = LOSS_COMPONENTS

    def __init__(
        self,
        *args,
        prediction_weight=1.0,
        orthogonality_penalty=0.1,
        deviation_penalty=1.0,
        mixed_precision=False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.mixed_precision = mixed_precision
        self.prediction_weight = prediction_weight
        self.orthogonality_penalty = orthogonality_penalty
        self.deviation_penalty = deviation_penalty

    def compute_loss(self, out):
        return neurif_loss(
            out,
            self.prediction_weight,
            self.orthogonality_penalty,
            self.deviation_penalty,
        )
