"""NeurIF leaves IPCA's start where a factor has no linear part (issue 19).

The fast test guards the stall seen in issue 19 (the training loss rising
while the model sat at IPCA's start); the slow ones hold the issue's targets
on the designs without a linear footprint, with fixed seeds that were not
used to choose the defaults (docs/neurif_tuning.md, "Issue 19").
"""

import numpy as np
import pytest

from sklearn_neurif import IPCARegressor, NeurIFRegressor
from sklearn_neurif.datasets import make_design_family_panel
from sklearn_neurif.metrics import r2_predictive, r2_total

#: How far the last epoch's training fit term (1 - total R^2 over the
#: training batches) may end above its minimum over the epochs: the
#: epoch-to-epoch spread of that average over shuffled batches was up to
#: 0.4 points on these panels; the stall of issue 19 rose 0.8 points.
TOLERANCE = 0.006


def test_training_loss_does_not_end_above_its_minimum():
    data = make_design_family_panel(
        "pure_interaction",
        n_entities=150,
        n_periods=50,
        n_characteristics=6,
        random_state=0,
    )
    est = NeurIFRegressor(n_factors=3, max_epochs=25, random_state=0)
    est.fit(data.X, data.y)
    train_fit = est.history_["train_fit"].to_numpy()
    assert train_fit[-1] <= train_fit.min() + TOLERANCE
    # and training made progress on its own months
    assert train_fit[-3:].mean() < train_fit[0]


def _scores(design, seed, sizes, n_train):
    data = make_design_family_panel(design, **sizes, random_state=seed)
    train = np.asarray(data.X.index.get_level_values("time") < n_train)
    X, y = data.X, data.y
    Xte, yte = X[~train], y[~train]
    ipca = IPCARegressor(n_factors=3).fit(X[train], y[train])
    est = NeurIFRegressor(n_factors=3, random_state=seed).fit(X[train], y[train])
    oracle = r2_total(yte, data.oracle_fit[~train])
    total = r2_total(yte, est.predict_total(Xte, yte))
    ipca_total = r2_total(yte, ipca.predict_total(Xte, yte))
    closed = (total - ipca_total) / (oracle - ipca_total)
    pred_gain = r2_predictive(yte, est.predict(Xte)) - r2_predictive(
        yte, ipca.predict(Xte)
    )
    return closed, pred_gain


# Held-out seed 10, 300 assets, 120 months (90 for training): the runs of
# the table in docs/benchmarks.md ("Issue 19"), where the numbers below were
# measured (one torch thread).
HELD_OUT = dict(seed=10, sizes=dict(n_entities=300, n_periods=120), n_train=90)


@pytest.mark.slow
def test_defaults_close_the_gap_on_the_mixed_design():
    """Measured: 0.87 of the gap (seeds 11, 12: 0.92, 0.77)."""
    closed, _ = _scores("mixed", **HELD_OUT)
    assert closed >= 0.6


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 19 target not met: predictive R2 0.26 points below IPCA's "
    "on the mixed design at seed 10 (the residual start: 0.23; the oracle is "
    "1.09 points above IPCA there), docs/neurif_tuning.md",
)
def test_mixed_design_predicts_at_least_as_ipca():
    _, pred_gain = _scores("mixed", **HELD_OUT)
    assert pred_gain >= 0.0


@pytest.mark.slow
@pytest.mark.parametrize("design", ["pure_interaction", "pure_abs"])
def test_defaults_close_the_gap_without_a_linear_part(design):
    """Measured at seed 10: 1.22 and 1.16 of the gap, predictive R2 +0.20
    and +0.13 points above IPCA's (seeds 11, 12: 1.04, 1.35 and 1.32, 1.40;
    the residual start stayed at IPCA's start at seeds 10 and 11)."""
    closed, pred_gain = _scores(design, **HELD_OUT)
    assert closed >= 0.6 and pred_gain >= 0.0
