"""Instrumented PCA (Kelly, Pruitt and Su 2019): exact alternating least squares.

Torch-free: importing :mod:`sklearn_neurif.ipca` loads numpy, scipy and
scikit-learn only.
"""

from ._cv import IPCARegressorCV
from ._estimator import IPCARegressor

__all__ = ["IPCARegressor", "IPCARegressorCV"]
