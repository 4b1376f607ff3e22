"""skorch ``NeuralNet`` of the transformer return predictors."""

from __future__ import annotations

from ..nn._base import PanelNet, masked_sse, return_scale

__all__ = ["TransformerNet", "prediction_loss"]


def prediction_loss(out):
    """Masked sum of squared forecast errors over the batch's sum of squared returns.

    That is 1 - uncentred predictive R^2 of the batch, whatever the units of
    the returns.
    """
    ret, mask = out["ret"], out["ret_mask"]
    fit = masked_sse(ret, out["r_hat"], mask) / return_scale(ret, mask)
    return fit, {"fit": fit}


class TransformerNet(PanelNet):
    """Month-batch ``NeuralNet`` with the predictive loss :func:`prediction_loss`."""

    loss_components = ("fit",)

    def compute_loss(self, out):
        return prediction_loss(out)
