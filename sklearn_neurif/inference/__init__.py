"""Alpha (spanning) regressions and anomaly tests against factor sets.

Time-series regressions of test-asset returns on observable or learned
factors with Newey-West t-statistics, the Gibbons-Ross-Shanken test,
side-by-side comparisons of factor sets on the same periods, and tests of
forecast differences between two models (Diebold-Mariano, Clark-West), and
the bootstrap tests of IPCA (Kelly, Pruitt and Su 2019).
"""

from ._anomaly import anomaly_test, cross_sectional_r2, grs_test
from ._ipca_bootstrap import (
    IPCABootstrapResult,
    ipca_alpha_test,
    ipca_factor_test,
    ipca_instrument_significance,
    ipca_instrument_test,
)
from ._model_comparison import (
    ForecastComparisonResult,
    clark_west,
    diebold_mariano,
    monthly_r2,
)
from ._multiple_testing import holm
from ._results import (
    AnomalyComparison,
    AnomalyTestResult,
    CrossSectionalR2Result,
    GRSResult,
    NeweyWestMeanResult,
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
    "ForecastComparisonResult",
    "GRSResult",
    "IPCABootstrapResult",
    "NeweyWestMeanResult",
    "SpanningResult",
    "align_factor_frames",
    "align_periods",
    "anomaly_test",
    "clark_west",
    "cross_sectional_r2",
    "diebold_mariano",
    "grs_test",
    "holm",
    "ipca_alpha_test",
    "ipca_factor_test",
    "ipca_instrument_significance",
    "ipca_instrument_test",
    "monthly_r2",
    "newey_west_lags",
    "newey_west_mean",
    "resolve_factor_set",
    "spanning_regression",
]
