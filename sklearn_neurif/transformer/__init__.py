"""Transformer return predictors: per-asset temporal attention, no factor structure."""

from ._estimator import TransformerRegressor
from ._module import TransformerModule

__all__ = ["TransformerModule", "TransformerRegressor"]
