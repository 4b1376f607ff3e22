"""Panel data layer: validation, long <-> dense layout, timing.

Every estimator, metric and tool of the package reads panels through this
module, so the data conventions (docs page "Data conventions", docs/conventions.md)
hold everywhere.
"""

from ._dtypes import check_numeric_dtypes, check_panel_frame
from ._index import is_panel, panel_index, row_periods_index
from ._layout import PanelLayout
from ._periods import as_of_to_return_period, to_decimal_returns, to_monthly_periods
from ._target import (
    aligned_forecast,
    aligned_pair,
    check_panel_target,
    check_sample_weight,
)
from ._timing import align_next_period_returns
from ._units import PanelDataWarning, check_characteristic_scale, check_return_units

__all__ = [
    "PanelDataWarning",
    "PanelLayout",
    "aligned_forecast",
    "aligned_pair",
    "check_characteristic_scale",
    "check_numeric_dtypes",
    "check_return_units",
    "check_sample_weight",
    "align_next_period_returns",
    "as_of_to_return_period",
    "check_panel_frame",
    "check_panel_target",
    "is_panel",
    "panel_index",
    "row_periods_index",
    "to_decimal_returns",
    "to_monthly_periods",
]
