"""Out-of-sample evaluation of a fitted return model on a test panel.

:func:`evaluate_factor_model` orchestrates the package's metrics
(:mod:`sklearn_neurif.metrics`), portfolio sorts
(:mod:`sklearn_neurif.portfolio`) and Newey-West statistics
(:mod:`sklearn_neurif.inference`) into one :class:`FactorModelEvaluation`.
It sits above all three, so none of them imports it.
"""

from ._evaluation import FactorModelEvaluation, evaluate_factor_model

__all__ = ["FactorModelEvaluation", "evaluate_factor_model"]
