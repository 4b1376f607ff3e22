"""NeurIF's IPCA start on linearly dependent characteristics (issue 17 item 4)."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from sklearn_neurif import IPCARegressor, NeurIFRegressor
from sklearn_neurif.datasets import make_design_family_panel
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

FAST = dict(n_factors=2, window=2, hidden_size=8, max_epochs=2, random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_design_family_panel(
        "abs", n_entities=40, n_periods=20, n_characteristics=4, random_state=0
    )


def test_pipeline_with_a_const_column_trains(data):
    """The rank scaler keeps ``const``, so the IPCA start is full rank."""
    assert "const" in data.X.columns
    pipe = make_pipeline(CrossSectionalRankScaler(), NeurIFRegressor(**FAST))
    pipe.fit(data.X, data.y)
    assert np.isfinite(pipe.predict(data.X)).all()


def test_dependent_column_is_dropped_from_the_start_only(data):
    X = data.X.assign(zero=0.0, twice=2 * data.X["c1"])
    with pytest.raises(ValueError, match="linearly dependent"):
        IPCARegressor(n_factors=2).fit(X, data.y)  # IPCA itself refuses
    with pytest.warns(UserWarning, match="IPCA start.*linearly dependent.*without"):
        est = NeurIFRegressor(**FAST).fit(X, data.y)
    assert np.isfinite(est.predict(X)).all()
    assert est.gamma_.shape == (X.shape[1], 2)


def test_start_at_ipca_gamma_with_the_dependent_rows_at_zero(data, monkeypatch):
    from sklearn_neurif.neurif import _estimator

    X = data.X.assign(zero=0.0)
    starts = {}
    original = _estimator._init_at_ipca

    def spy(module, batcher, months, names):
        original(module, batcher, months, names)
        starts["gamma"] = module.gamma.weight.detach().numpy().T.copy()

    monkeypatch.setattr(_estimator, "_init_at_ipca", spy)
    with pytest.warns(UserWarning, match=r"without \['zero'\]"):
        # No validation months: IPCA's start sees every month, as below.
        NeurIFRegressor(**FAST, validation_fraction=0.0).fit(X, data.y)
    ipca = IPCARegressor(n_factors=2).fit(data.X, data.y)
    np.testing.assert_array_equal(starts["gamma"][-1], 0.0)
    # The other rows are IPCA's Gamma on the independent columns (its
    # float32 moments: a few 1e-4 off), up to the sign of each factor.
    signs = np.sign(np.sum(starts["gamma"][:-1] * ipca.gamma_.to_numpy(), axis=0))
    np.testing.assert_allclose(
        starts["gamma"][:-1] * signs, ipca.gamma_.to_numpy(), atol=2e-3
    )


def test_fewer_independent_columns_than_factors_takes_the_svd_start(data):
    X = data.X[["c1"]].assign(twice=2 * data.X["c1"])
    with pytest.warns(UserWarning, match="fewer independent columns.*SVD"):
        est = NeurIFRegressor(**FAST).fit(X, data.y)
    assert np.isfinite(est.predict(X)).all()
