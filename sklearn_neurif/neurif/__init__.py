"""NeurIF: Neural Instrumented Factorization wrapped with skorch."""

from ._cv import NeurIFRegressorCV
from ._estimator import NeurIFRegressor
from ._module import NeurIFModule

__all__ = ["NeurIFModule", "NeurIFRegressor", "NeurIFRegressorCV"]
