"""SeedEnsembleRegressor: members with drawn seeds, mean prediction, per-member factors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from sklearn_neurif import (
    ConditionalAutoencoderRegressor,
    IPCARegressor,
    NeurIFRegressor,
    SeedEnsembleRegressor,
    TransformerRegressor,
)
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

CA = ConditionalAutoencoderRegressor(n_factors=2, max_epochs=3)


@pytest.fixture(scope="module")
def panel():
    data = make_conditional_factor_panel(30, 30, 5, 2, random_state=0)
    return data.X, data.y


@pytest.fixture(scope="module")
def ensemble(panel):
    X, y = panel
    return SeedEnsembleRegressor(CA, n_estimators=2, random_state=0).fit(X, y)


def test_members_use_the_drawn_seeds_and_predict_is_their_mean(panel, ensemble):
    X, y = panel
    seeds = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=2)
    np.testing.assert_array_equal(ensemble.seeds_, seeds)
    singles = [clone(CA).set_params(random_state=int(s)).fit(X, y) for s in seeds]
    assert not np.allclose(singles[0].predict(X), singles[1].predict(X))
    mean_pred = np.mean([s.predict(X) for s in singles], axis=0)
    np.testing.assert_allclose(ensemble.predict(X), mean_pred, rtol=1e-6, atol=1e-12)
    mean_total = np.mean([s.predict_total(X, y) for s in singles], axis=0)
    np.testing.assert_allclose(ensemble.predict_total(X, y), mean_total, rtol=1e-6)
    # Factors are kept per member (identified only up to rotation).
    assert ensemble.factors_.shape == (30, 4)
    np.testing.assert_allclose(ensemble.factors_[2], singles[1].factors_, rtol=1e-6)
    np.testing.assert_allclose(
        ensemble.get_factors(X, y)[1], singles[0].get_factors(X, y), rtol=1e-6
    )
    assert ensemble.score(X, y) == pytest.approx(
        1 - np.nansum((y - mean_pred) ** 2) / np.nansum(y**2)
    )


def test_transform_puts_the_members_side_by_side(panel, ensemble):
    X, _ = panel
    out = ensemble.transform(X)
    assert list(out.columns[:3]) == [
        "member_1__loading_1",
        "member_1__loading_2",
        "member_1__factor_1",
    ]
    assert out.shape == (len(X), 8) and out.index.equals(X.index)
    second = ensemble.estimators_[1].transform(X)
    np.testing.assert_array_equal(
        out.filter(like="member_2__").to_numpy(), second.to_numpy()
    )
    # predict = mean over members of sum_k loading_k * factor_k.
    parts = [
        (out[f"member_{m}__loading_{k}"] * out[f"member_{m}__factor_{k}"])
        for m in (1, 2)
        for k in (1, 2)
    ]
    np.testing.assert_allclose(
        sum(parts) / 2, ensemble.predict(X), rtol=1e-6, atol=1e-12
    )
    with pytest.warns(UserWarning, match="feature names"):
        array_out = ensemble.transform(X.to_numpy()[:30])
    assert isinstance(array_out, np.ndarray) and array_out.shape == (30, 8)


@pytest.mark.parametrize(
    "model",
    [
        NeurIFRegressor(n_factors=2, window=2, max_epochs=2),
        TransformerRegressor(window=2, hidden_size=8, max_epochs=2),
        make_pipeline(CrossSectionalRankScaler(), clone(CA).set_params(max_epochs=2)),
    ],
    ids=["NeurIF", "transformer", "pipeline"],
)
def test_any_return_model_with_a_seed(panel, model):
    X, y = panel
    ens = SeedEnsembleRegressor(model, n_estimators=2, random_state=1).fit(X, y)
    preds = [m.predict(X) for m in ens.estimators_]
    assert not np.allclose(preds[0], preds[1])
    np.testing.assert_allclose(ens.predict(X), np.mean(preds, axis=0))
    params = ens.estimators_[1].get_params()
    seed_param = next(p for p in params if p.endswith("random_state"))
    assert params[seed_param] == ens.seeds_[1]
    # The transformer has no factors: no transform, factors_ or get_factors.
    # A Pipeline ending in a factor model keeps them (its final step's).
    has_factors = not isinstance(model, TransformerRegressor)
    assert hasattr(ens, "factors_") == has_factors
    assert hasattr(ens, "get_factors") == has_factors
    assert hasattr(ens, "predict_total") == has_factors


def test_parallel_members_equal_sequential_ones(panel):
    X, y = panel
    model = TransformerRegressor(window=2, hidden_size=8, max_epochs=2)
    seq = SeedEnsembleRegressor(model, n_estimators=2, random_state=0).fit(X, y)
    par = SeedEnsembleRegressor(model, n_estimators=2, random_state=0, n_jobs=2)
    np.testing.assert_allclose(par.fit(X, y).predict(X), seq.predict(X), rtol=1e-6)


def test_a_model_without_seed_is_refused(panel):
    X, y = panel
    with pytest.raises(ValueError, match="IPCARegressor has no random_state"):
        SeedEnsembleRegressor(IPCARegressor(n_factors=2)).fit(X, y)


def test_bad_input_raises_before_any_member_trains(panel):
    X, y = panel
    X_nan = X.copy()
    X_nan.iloc[3, 1] = np.nan
    ens = SeedEnsembleRegressor(CA, n_estimators=2)
    with pytest.raises(ValueError, match="c2"):
        ens.fit(X_nan, y)
    assert not hasattr(ens, "estimators_")
    with pytest.raises(ValueError, match="n_estimators"):
        SeedEnsembleRegressor(CA, n_estimators=0).fit(X, y)


def test_an_interrupted_member_leaves_the_ensemble_unchanged(panel, ensemble):
    from skorch.callbacks import Callback

    class Interrupt(Callback):
        def on_epoch_end(self, net, **kwargs):
            raise KeyboardInterrupt

    X, y = panel
    ens = clone(ensemble).set_params(
        estimator=clone(CA).set_params(callbacks=[Interrupt()])
    )
    with pytest.raises(KeyboardInterrupt):
        ens.fit(X, y)
    assert not hasattr(ens, "estimators_")
