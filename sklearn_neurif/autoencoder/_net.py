"""skorch ``NeuralNet`` for the conditional autoencoder: the l1-penalised loss."""

from __future__ import annotations

import torch

from ..nn._base import PanelNet, masked_sse, return_scale

__all__ = ["AutoencoderNet", "autoencoder_fit"]


def autoencoder_fit(out):
    r"""1 - total R^2 of a batch: :math:`\sum (r - \beta'f)^2 / \sum r^2` over observed returns."""
    ret, mask = out["ret"], out["ret_mask"]
    fitted = torch.einsum("mnk,mk->mn", out["beta"], out["factors"])
    return masked_sse(ret, fitted, mask) / return_scale(ret, mask)


class AutoencoderNet(PanelNet):
    """Month-batch ``NeuralNet`` with the conditional autoencoder loss.

    The training loss is ``fit + l1_penalty * sum |W|`` (GKX's lasso on the
    weights of both networks). The validation loss, which early stopping
    monitors, is the fit term alone: the penalty shapes the weights, the
    stopping rule judges the pricing error.

    Parameters
    ----------
    l1_penalty : float
        Weight of the l1 norm of the linear layers' weights.
    **kwargs
        Passed to :class:`skorch.NeuralNet`.
    """

    loss_components = ("fit", "l1")

    def __init__(self, *args, l1_penalty=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.l1_penalty = l1_penalty

    def compute_loss(self, out):
        fit = autoencoder_fit(out)
        l1 = self.l1_penalty * self.module_.l1_norm()
        # skorch switches the module to eval mode for validation batches.
        loss = fit + l1 if self.module_.training else fit
        return loss, {"fit": fit, "l1": l1}
