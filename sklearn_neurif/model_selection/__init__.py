"""Cross-validation and walk-forward prediction over the periods of panels.

:class:`PanelTimeSeriesSplit` is scikit-learn's ``TimeSeriesSplit`` over
unique periods (expanding or rolling window, gap/embargo), yielding row
positions of the long panel; :func:`temporal_train_test_split` makes one
split at a period boundary; :func:`walk_forward_predict` predicts every test
period with a model refitted on earlier periods only (schedule
:class:`WalkForwardSplit`, result :class:`WalkForwardResult`, each finished
refit passed to an ``on_refit`` callback as a :class:`WalkForwardRefit`).
"""

from ._split import PanelTimeSeriesSplit, temporal_train_test_split
from ._walk_forward import walk_forward_predict
from ._walk_forward_result import WalkForwardRefit, WalkForwardResult
from ._walk_forward_split import WalkForwardSplit

__all__ = [
    "PanelTimeSeriesSplit",
    "WalkForwardRefit",
    "WalkForwardResult",
    "WalkForwardSplit",
    "temporal_train_test_split",
    "walk_forward_predict",
]
