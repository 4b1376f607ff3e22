"""Shared torch plumbing of the neural panel models.

:class:`PanelNetRegressor` is the base of :class:`~sklearn_neurif.NeurIFRegressor`,
:class:`~sklearn_neurif.ConditionalAutoencoderRegressor` and
:class:`~sklearn_neurif.TransformerRegressor`: a skorch ``NeuralNet`` over month
batches (:class:`PanelBatcher`; :class:`MonthBlockLoader` for blocks of
consecutive months, :class:`PrefetchingLoader`), the validation
split, early stopping, checkpoints, seeding and device checks. Importing this
subpackage imports torch and skorch; the rest of the package does not.
"""

from ._base import PanelNet, PanelNetRegressor
from ._batching import (
    MonthBlockLoader,
    MonthBlockSampler,
    PanelBatcher,
    PrefetchingLoader,
)
from ._device import check_device

__all__ = [
    "MonthBlockLoader",
    "MonthBlockSampler",
    "PanelBatcher",
    "PanelNet",
    "PanelNetRegressor",
    "PrefetchingLoader",
    "check_device",
]
