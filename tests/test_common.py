"""scikit-learn's common estimator checks over every estimator of the package.

Compatibility is a CI property: each estimator and transformer is listed here,
with its defaults (only ``max_epochs`` lowered, and ``n_factors=1`` where
K <= L is intrinsic), and any check expected to fail is listed with its
reason: only subset and sample-order invariance of the cross-sectional
models.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_neurif import (
    ConditionalAutoencoderRegressor,
    IPCARegressor,
    IPCARegressorCV,
    NeurIFRegressor,
    NeurIFRegressorCV,
    SeedEnsembleRegressor,
    TransformerRegressor,
)
from sklearn_neurif.portfolio import PortfolioSorter
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

ESTIMATORS = [
    CrossSectionalRankScaler(),
    PortfolioSorter(),
    IPCARegressor(),
    IPCARegressor(add_constant=True),
    # The CV around its default IPCARegressor(): the checks' plain arrays are
    # one period, so it keeps the first pair of its path (with a warning).
    IPCARegressorCV(),
    # Defaults except fewer epochs, and n_factors=1 where K <= L is intrinsic
    # (the checks' data have as few as one feature). window=12 on the checks'
    # single-period arrays is masked, as for new assets.
    NeurIFRegressor(n_factors=1, max_epochs=2),
    ConditionalAutoencoderRegressor(n_factors=1, max_epochs=2),
    TransformerRegressor(max_epochs=2),
    TransformerRegressor(cross_sectional=True, max_epochs=2),
    # The meta-estimators around their default member (NeurIFRegressor), with
    # the same two settings; two seeds instead of five. The checks' plain
    # arrays are one period, so the CV keeps the large end (with a warning).
    NeurIFRegressorCV(NeurIFRegressor(n_factors=1, max_epochs=2)),
    SeedEnsembleRegressor(
        NeurIFRegressor(n_factors=1, max_epochs=2), n_estimators=2, random_state=0
    ),
    SeedEnsembleRegressor(
        ConditionalAutoencoderRegressor(n_factors=1, max_epochs=2),
        n_estimators=2,
        random_state=0,
    ),
]

# Checks expected to fail, per estimator class, with the reason.
_CROSS_SECTIONAL = (
    "output for a row depends on the other assets of its period (cross-sectional "
    "by design), so scoring a subset of rows gives different values"
)
_FLOAT32_ORDER = (
    "a plain array's rows are the assets of one month: reordering them reorders "
    "the float32 sums of the attention over the cross-section, which moves the "
    "last bits (2e-7 to 3e-6 relative, above the check's rtol of 1e-7)"
)
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "CrossSectionalRankScaler": {"check_methods_subset_invariance": _CROSS_SECTIONAL},
    # Quantile breakpoints come from the whole cross-section of the period.
    "PortfolioSorter": {"check_methods_subset_invariance": _CROSS_SECTIONAL},
    # The factor tokens attend to every asset of the month, so each prediction
    # depends on the whole cross-section.
    # Since issue 19 the deviation g starts off zero (the residual start), so
    # the attention's float32 sums over the month reach the predictions from
    # the first epoch (measured: 5.8e-7 relative after 2 epochs).
    "NeurIFRegressor": {
        "check_methods_subset_invariance": _CROSS_SECTIONAL,
        "check_methods_sample_order_invariance": _FLOAT32_ORDER,
    },
}


def _expected_failed(estimator):
    name = type(estimator).__name__
    if name == "TransformerRegressor" and estimator.cross_sectional:
        # Assets attend to inducing tokens that attend to the whole month.
        return {
            "check_methods_subset_invariance": _CROSS_SECTIONAL,
            "check_methods_sample_order_invariance": _FLOAT32_ORDER,
        }
    if name in ("SeedEnsembleRegressor", "NeurIFRegressorCV"):  # the member's
        return _expected_failed(estimator.estimator)
    return EXPECTED_FAILED_CHECKS.get(name, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
