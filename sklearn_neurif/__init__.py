"""sklearn-neurif: conditional latent factor models for empirical asset pricing.

The package provides scikit-learn compatible estimators of conditional factor
models on long ``(entity, time)`` panels: :class:`IPCARegressor` (Instrumented
PCA, Kelly, Pruitt and Su 2019) and :class:`NeurIFRegressor` (Neural
Instrumented Factorization), the baselines
:class:`ConditionalAutoencoderRegressor` (Gu, Kelly and Xiu 2021) and
:class:`TransformerRegressor` (a return predictor without factors), plus the
data layer (:mod:`sklearn_neurif.panel`), preprocessing, time-series
cross-validation over periods, metrics, portfolio sorts and asset-pricing
tests they share.

Subpackages and the neural estimators are imported on first use (PEP 562),
so ``import sklearn_neurif`` and the torch-free parts (IPCA, metrics,
inference, portfolio, panel, preprocessing, model selection) never import
torch or skorch.
"""

from ._lazy import lazy_attributes

__version__ = "0.1.0.dev0"

_LAZY = {
    "IPCARegressor": ".ipca",
    "IPCARegressorCV": ".ipca",
    "ConditionalAutoencoderRegressor": ".autoencoder",
    "NeurIFRegressor": ".neurif",
    "SeedEnsembleRegressor": ".ensemble",
    "NeurIFRegressorCV": ".neurif",
    "TransformerRegressor": ".transformer",
    "evaluate_factor_model": ".evaluation",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

__all__ = sorted([*_LAZY, "__version__"])
