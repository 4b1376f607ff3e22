"""NeurIF: Neural Instrumented Factorization wrapped with skorch."""

from ._estimator import NeurIFRegressor
from ._module import NeurIFModule

__all__ = ["NeurIFModule", "NeurIFRegressor"]
