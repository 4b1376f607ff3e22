"""sklearn-neurif: conditional latent factor models for empirical asset pricing.

The package provides scikit-learn compatible estimators of conditional factor
models on long ``(entity, time)`` panels: :class:`IPCARegressor` (Instrumented
PCA, Kelly, Pruitt and Su 2019) and :class:`NeurIFRegressor` (Neural
Instrumented Factorization), the baselines
:class:`ConditionalAutoencoderRegressor` (Gu, Kelly and Xiu 2021) and
:class:`TransformerRegressor` (a return predictor without factors), plus the data layer (:mod:`sklearn_neurif.panel`),
preprocessing, time-series cross-validation over periods, metrics, portfolio
sorts and asset-pricing tests they share.
"""

__version__ = "0.1.0.dev0"

from ._ipca import IPCARegressor
from .autoencoder import ConditionalAutoencoderRegressor
from .neurif import NeurIFRegressor
from .transformer import TransformerRegressor

__all__ = [
    "ConditionalAutoencoderRegressor",
    "IPCARegressor",
    "NeurIFRegressor",
    "TransformerRegressor",
    "__version__",
]
