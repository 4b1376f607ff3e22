"""Ensembles of return models.

:class:`SeedEnsembleRegressor` fits clones of any return model (IPCA, NeurIF,
the conditional autoencoder, the transformer, a Pipeline) with different
seeds and averages their predictions. It imports neither torch nor skorch.
"""

from ._seed import SeedEnsembleRegressor

__all__ = ["SeedEnsembleRegressor"]
