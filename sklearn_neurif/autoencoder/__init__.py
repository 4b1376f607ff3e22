"""Conditional autoencoder asset pricing model (Gu, Kelly and Xiu 2021)."""

from ._estimator import ConditionalAutoencoderRegressor
from ._module import ConditionalAutoencoderModule

__all__ = ["ConditionalAutoencoderModule", "ConditionalAutoencoderRegressor"]
