"""NeurIF vs IPCA on simulated conditional factor panels (issue 3 claims).

(a) linear loadings: NeurIF's out-of-sample total R^2 within 1 point of
IPCA's; (b) nonlinear loadings: NeurIF beats IPCA out of sample in total and
predictive R^2 by a clear margin; (c) linear design: canonical correlations
of learned vs true factors above 0.9. Factor means are 0.02 a month so that
there is a real predictive signal. Fixed seeds; the tolerances are the
claims, the measured margins are in benchmarks/neurif_vs_ipca.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.metrics import r2_predictive, r2_total
from sklearn_neurif.neurif import NeurIFRegressor


def canonical_correlations(A, B):
    """Canonical correlations of two T x K factor series (descending)."""
    qa, _ = np.linalg.qr(A - A.mean(0))
    qb, _ = np.linalg.qr(B - B.mean(0))
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def compare(loadings, n_entities, n_periods, n_chars, n_factors, neurif_params, seed=0):
    data = make_conditional_factor_panel(
        n_entities,
        n_periods,
        n_chars,
        n_factors,
        loadings=loadings,
        factor_means=0.02,
        random_state=seed,
    )
    X, y = data.X, data.y
    t = X.index.get_level_values("time")
    n_train = int(0.75 * n_periods)
    train, test = t < n_train, t >= n_train
    models = {
        "ipca": IPCARegressor(n_factors=n_factors),
        "neurif": NeurIFRegressor(n_factors=n_factors, random_state=0, **neurif_params),
    }
    res = {}
    for name, model in models.items():
        model.fit(X[train], y[train])
        res[name] = {
            "total_oos": r2_total(y[test], model.predict_total(X[test], y[test])),
            "pred_oos": r2_predictive(y[test], model.predict(X[test])),
            "cancorr": canonical_correlations(
                model.factors_.to_numpy(), data.factors.to_numpy()[:n_train]
            ),
        }
    return res


FAST = dict(window=3, max_epochs=60, lr=3e-3)


@pytest.fixture(scope="module")
def linear():
    return compare("linear", 300, 120, 10, 3, FAST)


@pytest.fixture(scope="module")
def nonlinear():
    return compare("nonlinear", 200, 120, 10, 3, FAST)


def test_linear_total_r2_within_one_point_of_ipca(linear):
    gap = linear["neurif"]["total_oos"] - linear["ipca"]["total_oos"]
    assert abs(gap) < 0.01, linear


def test_linear_factor_space_matches_truth(linear):
    assert linear["neurif"]["cancorr"].min() > 0.9, linear


def test_nonlinear_beats_ipca(nonlinear):
    nn_, ip = nonlinear["neurif"], nonlinear["ipca"]
    # Measured (seed 0): total 0.36 vs 0.10, predictive 0.14 vs 0.03.
    assert nn_["total_oos"] > ip["total_oos"] + 0.10, nonlinear
    assert nn_["pred_oos"] > ip["pred_oos"] + 0.03, nonlinear


def test_huge_deviation_penalty_nests_ipca():
    """lambda_dev -> infinity forces g = 0: the restricted IPCA model.

    On the nonlinear design, where the deviation is what beats IPCA, NeurIF
    with only the total-fit term and a huge deviation penalty falls back to
    IPCA's out-of-sample total R^2 (measured: 0.1047 vs 0.1027).
    """
    params = dict(
        FAST,
        deviation_penalty=1e4,
        prediction_weight=0.0,
        orthogonality_penalty=0.0,
    )
    res = compare("nonlinear", 200, 120, 10, 3, params)
    assert abs(res["neurif"]["total_oos"] - res["ipca"]["total_oos"]) < 0.01, res


@pytest.mark.slow
def test_larger_panels_with_longer_window():
    params = dict(window=12, max_epochs=100, lr=3e-3)
    # Measured (benchmarks/neurif_vs_ipca.py --large): total R^2 out of sample
    # 0.3633 vs 0.3634 (linear), 0.348 vs 0.118 and predictive 0.089 vs 0.030
    # (nonlinear). With K=5 the weakest factor (vol 0.005) is recovered by
    # neither model (smallest canonical correlation 0.80 NeurIF, 0.81 IPCA).
    lin = compare("linear", 1000, 240, 20, 5, params, seed=1)
    assert abs(lin["neurif"]["total_oos"] - lin["ipca"]["total_oos"]) < 0.01, lin
    assert lin["neurif"]["cancorr"].min() > lin["ipca"]["cancorr"].min() - 0.03, lin
    assert lin["neurif"]["cancorr"][:3].min() > 0.9, lin
    nl = compare("nonlinear", 1000, 240, 20, 5, params, seed=1)
    assert nl["neurif"]["total_oos"] > nl["ipca"]["total_oos"] + 0.05, nl
    assert nl["neurif"]["pred_oos"] > nl["ipca"]["pred_oos"] + 0.01, nl
