"""Cross-validation over the periods of long ``(entity, time)`` panels.

:class:`PanelTimeSeriesSplit` is scikit-learn's ``TimeSeriesSplit`` over
unique periods (expanding or rolling window, gap/embargo), yielding row
positions of the long panel; :func:`temporal_train_test_split` makes one
split at a period boundary.
"""

from ._split import PanelTimeSeriesSplit, temporal_train_test_split

__all__ = ["PanelTimeSeriesSplit", "temporal_train_test_split"]
