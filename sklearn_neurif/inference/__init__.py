"""Alpha (spanning) regressions and anomaly tests against factor sets.

Time-series regressions of test-asset returns on observable or learned
factors with Newey-West t-statistics, the Gibbons-Ross-Shanken test, and
side-by-side comparisons of factor sets on the same periods.
"""

from ._anomaly import anomaly_test, cross_sectional_r2, grs_test
from ._results import (
    AnomalyComparison,
    AnomalyTestResult,
    CrossSectionalR2Result,
    GRSResult,
    SpanningResult,
)
from ._spanning import (
    FACTOR_SETS,
    align_factor_frames,
    align_periods,
    newey_west_lags,
    newey_west_mean,
    resolve_factor_set,
    spanning_regression,
)

__all__ = [
    "FACTOR_SETS",
    "AnomalyComparison",
    "AnomalyTestResult",
    "CrossSectionalR2Result",
    "GRSResult",
    "SpanningResult",
    "align_factor_frames",
    "align_periods",
    "anomaly_test",
    "cross_sectional_r2",
    "grs_test",
    "newey_west_lags",
    "newey_west_mean",
    "resolve_factor_set",
    "spanning_regression",
]
