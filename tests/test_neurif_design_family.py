"""Issue 13's claims for the default NeurIF on the design family, fixed seeds.

Panels: ``make_design_family_panel`` with N=250 assets, 100 months, the
first 75 for training (docs/neurif_tuning.md). Each claim was measured
with the same seeds before it was written down; the margins leave room for
float and thread differences, not for a different model.
"""

import numpy as np
import pytest

from sklearn_neurif import ConditionalAutoencoderRegressor, IPCARegressor
from sklearn_neurif.datasets import make_design_family_panel
from sklearn_neurif.metrics import r2_predictive, r2_total
from sklearn_neurif.neurif import NeurIFRegressor

SIZES = dict(n_entities=250, n_periods=100)


def scores(design, seed, with_ca=False):
    data = make_design_family_panel(design, **SIZES, random_state=seed)
    train = np.asarray(data.X.index.get_level_values("time") < 75)
    X, y = data.X, data.y
    Xte, yte = X[~train], y[~train]
    out = {"oracle": r2_total(yte, data.oracle_fit[~train])}
    models = [
        ("ipca", IPCARegressor(n_factors=3)),
        ("neurif", NeurIFRegressor(n_factors=3, random_state=seed)),
    ]
    if with_ca:
        models.append(
            ("ca2", ConditionalAutoencoderRegressor(n_factors=3, random_state=seed))
        )
    for name, model in models:
        model.fit(X[train], y[train])
        out[name] = r2_total(yte, model.predict_total(Xte, yte))
        out[name + "_pred"] = r2_predictive(yte, model.predict(Xte))
    out["closed"] = (out["neurif"] - out["ipca"]) / (out["oracle"] - out["ipca"])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_linear_null_stays_at_ipca(seed):
    """Within 0.3 points (total) and 0.2 points (predictive) of IPCA.

    Measured: -0.07 / -0.01 points (seed 0), -0.01 / -0.01 (seed 1).
    """
    res = scores("linear", seed)
    assert abs(res["neurif"] - res["ipca"]) < 0.003, res
    assert abs(res["neurif_pred"] - res["ipca_pred"]) < 0.002, res


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_closes_half_the_gap_on_abs(seed):
    """Measured: 1.09 and 0.80 of the IPCA-to-oracle gap."""
    res = scores("abs", seed)
    assert res["closed"] > 0.5, res


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_beats_ipca_on_interaction_and_regime(seed):
    """Measured: interaction 0.51/0.52 of the gap, regime 0.51/0.18.

    Less than half on regime (path-dependent loadings): the claim held
    here is the weaker one, NeurIF above IPCA (docs/neurif_tuning.md).
    """
    inter = scores("interaction", seed)
    assert inter["closed"] > 0.35, inter
    regime = scores("regime", seed)
    assert regime["neurif"] > regime["ipca"], regime


@pytest.mark.slow
@pytest.mark.parametrize("design", ["abs", "interaction"])
def test_beats_the_default_ca2_in_total_r2(design):
    """Both at their defaults (CA's of issue 13 item 6), seed 0.

    Measured: NeurIF - CA2 = 2.37 (abs) and 0.96 (interaction) points of
    total R^2 (17.65% vs 15.29%, 16.25% vs 15.29%).
    """
    res = scores(design, 0, with_ca=True)
    assert res["neurif"] > res["ca2"] + 0.005, res
