"""sklearn-neurif: conditional latent factor models for empirical asset pricing.

The package provides scikit-learn compatible estimators of conditional factor
models on long ``(entity, time)`` panels: :class:`IPCARegressor` (Instrumented
PCA, Kelly, Pruitt and Su 2019) and :class:`NeurIFRegressor` (Neural
Instrumented Factorization), plus the data layer, preprocessing, time-series
cross-validation, metrics and economic tests they share.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
