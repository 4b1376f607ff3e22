"""ConditionalAutoencoderRegressor: module maths, GKX outputs, sklearn API."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_neurif import IPCARegressor
from sklearn_neurif.autoencoder import (
    ConditionalAutoencoderModule,
    ConditionalAutoencoderRegressor,
)
from sklearn_neurif.autoencoder._module import managed_portfolios
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.metrics import r2_predictive, r2_total

FAST = dict(n_factors=2, max_epochs=3, random_state=0)


@pytest.fixture(scope="module")
def panel():
    data = make_conditional_factor_panel(
        40, 30, 5, 2, missing_fraction=0.1, factor_means=0.02, random_state=0
    )
    return data.X, data.y


@pytest.fixture(scope="module")
def fitted(panel):
    X, y = panel
    return ConditionalAutoencoderRegressor(**FAST).fit(X, y)


def _managed_numpy(Z, r, ridge):
    return np.linalg.solve(Z.T @ Z + ridge * np.eye(Z.shape[1]), Z.T @ r)


# ----------------------------------------------------------------- module maths
def test_managed_portfolios_equal_closed_form():
    rng = np.random.default_rng(0)
    M, n, L = 3, 25, 4
    z = rng.uniform(-0.5, 0.5, (M, n, L))
    r = rng.normal(0, 0.1, (M, n))
    mask = rng.uniform(size=(M, n)) > 0.3
    x = managed_portfolios(
        torch.tensor(z, dtype=torch.float32),
        torch.tensor(r, dtype=torch.float32),
        torch.tensor(mask),
        1e-3,
    ).numpy()
    for m in range(M):
        expected = _managed_numpy(z[m][mask[m]], r[m][mask[m]], 1e-3)
        np.testing.assert_allclose(x[m], expected, rtol=1e-4, atol=1e-6)


def test_padding_is_left_out_of_batch_norm_and_loadings():
    torch.manual_seed(0)
    module = ConditionalAutoencoderModule(4, 2, hidden_sizes=(8, 4)).train()
    z = torch.randn(7, 4)
    # Month 0 has rows 0-4, month 1 rows 5-6 and three padding cells.
    lags = torch.tensor([[0, 1, 2, 3, 4], [5, 6, -1, -1, -1]])[..., None]
    beta = module(z, lags)["beta"]
    direct = module.beta_net(z)  # batch statistics over the 7 real rows only
    torch.testing.assert_close(beta[0], direct[:5])
    torch.testing.assert_close(beta[1, :2], direct[5:])
    assert (beta[1, 2:] == 0).all()


def test_gkx_architectures(panel):
    X, y = panel
    widths = {}
    for h in range(4):
        est = ConditionalAutoencoderRegressor(n_hidden_layers=h, **FAST).fit(X, y)
        linear = [
            m for m in est.net_.module_.beta_net if isinstance(m, torch.nn.Linear)
        ]
        widths[h] = [m.out_features for m in linear]
    assert widths == {0: [2], 1: [32, 2], 2: [32, 16, 2], 3: [32, 16, 8, 2]}
    est = ConditionalAutoencoderRegressor(hidden_sizes=(6,), **FAST).fit(X, y)
    assert est.net_.module_.beta_net[0].out_features == 6
    norms = [
        m for m in est.net_.module_.beta_net if isinstance(m, torch.nn.BatchNorm1d)
    ]
    assert len(norms) == 1


# ----------------------------------------------------------------- outputs
def test_predict_is_beta_times_training_factor_mean(panel):
    X, y = panel
    fitted = ConditionalAutoencoderRegressor(**FAST, realised_factors="network")
    fitted.fit(X, y)  # factors_ are then the network's, whose mean is lambda
    lam = fitted.factors_.mean().to_numpy()  # NaN periods skipped
    np.testing.assert_allclose(fitted.factor_premia_, lam)
    out = fitted.transform(X)
    beta = out[["loading_1", "loading_2"]].to_numpy()
    np.testing.assert_allclose(
        out[["factor_1", "factor_2"]].to_numpy()[0], lam, rtol=1e-6
    )
    np.testing.assert_allclose(fitted.predict(X), beta @ lam, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("add_constant", [False, True])
def test_get_factors_is_the_factor_network_on_managed_portfolios(panel, add_constant):
    X, y = panel
    fitted = ConditionalAutoencoderRegressor(
        **FAST, add_constant=add_constant, realised_factors="network"
    )
    fitted.fit(X, y)
    W = fitted.net_.module_.factor_net.weight.detach().numpy().astype(np.float64)
    assert W.shape == (2, 5 + add_constant)
    factors = fitted.get_factors(X, y)
    t = X.index.get_level_values("time")
    for period in (3, 17):
        keep = (t == period) & y.notna().to_numpy()
        Z = X[keep].to_numpy()
        if add_constant:
            Z = np.column_stack([Z, np.ones(len(Z))])
        x = _managed_numpy(Z, y[keep].to_numpy(), fitted.ridge)
        np.testing.assert_allclose(factors.loc[period], W @ x, rtol=1e-4, atol=1e-6)
    # factors_ are the same on the training panel; predict_total is beta'f.
    pd.testing.assert_frame_equal(fitted.factors_, factors)
    beta = fitted.transform(X).iloc[:, :2].to_numpy()
    f = factors.loc[t].to_numpy()
    np.testing.assert_allclose(fitted.predict_total(X, y), (beta * f).sum(1), rtol=1e-6)


def test_regression_factors_are_the_ols_of_returns_on_the_loadings(panel):
    """realised_factors="regression" (the default): IPCA's rule, per period the
    OLS of the returns on the loadings; same training, same (GKX) premia."""
    X, y = panel
    network = ConditionalAutoencoderRegressor(**FAST, realised_factors="network")
    network.fit(X, y)
    fitted = ConditionalAutoencoderRegressor(**FAST).fit(X, y)  # the default
    assert fitted.realised_factors == "regression"
    beta = fitted.transform(X).iloc[:, :2].to_numpy()
    np.testing.assert_array_equal(beta, network.transform(X).iloc[:, :2].to_numpy())
    factors = fitted.get_factors(X, y)
    t = X.index.get_level_values("time")
    for period in (3, 17):
        keep = (t == period) & y.notna().to_numpy()
        ols = np.linalg.lstsq(beta[keep], y[keep].to_numpy(), rcond=None)[0]
        np.testing.assert_allclose(factors.loc[period], ols, rtol=1e-5, atol=1e-8)
    assert not np.allclose(factors, network.get_factors(X, y))
    pd.testing.assert_frame_equal(fitted.factors_, factors)
    # The premia stay GKX's (the network factors' mean): predictions do not
    # depend on the rule.
    pd.testing.assert_series_equal(fitted.factor_premia_, network.factor_premia_)
    np.testing.assert_array_equal(fitted.predict(X), network.predict(X))
    # The rule is the fitted model's: set_params without a refit changes nothing.
    fitted.set_params(realised_factors="network")
    pd.testing.assert_frame_equal(fitted.get_factors(X, y), factors)
    fitted.set_params(realised_factors="regression")
    f = factors.loc[t].to_numpy()
    np.testing.assert_allclose(fitted.predict_total(X, y), (beta * f).sum(1), rtol=1e-6)


def test_period_without_returns_has_nan_factors(panel):
    X, y = panel
    y = y.copy()
    y[y.index.get_level_values("time") == 29] = np.nan
    est = ConditionalAutoencoderRegressor(**FAST).fit(X, y)
    assert list(est.excluded_periods_) == [29]
    assert (
        est.factors_.loc[29].isna().all() and est.factors_.loc[:28].notna().all().all()
    )
    assert np.isfinite(est.factor_premia_).all()
    assert (est.predict_total(X, y)[X.index.get_level_values("time") == 29] == 0).all()


def test_predictions_are_per_row_at_predict_time(panel, fitted):
    # Batch norm uses running statistics in eval mode: a row's prediction does
    # not depend on the other rows passed with it.
    X, _ = panel
    np.testing.assert_allclose(
        fitted.predict(X.iloc[:7]), fitted.predict(X)[:7], rtol=1e-5, atol=1e-9
    )


# ------------------------------------------------------------- simulations
def _oos(loadings, n_entities, models, seed=0):
    data = make_conditional_factor_panel(
        n_entities, 120, 10, 3, loadings=loadings, factor_means=0.02, random_state=seed
    )
    X, y = data.X, data.y
    t = X.index.get_level_values("time")
    train, test = t < 90, t >= 90
    res = {}
    for name, model in models.items():
        model.fit(X[train], y[train])
        res[name] = (
            r2_total(y[test], model.predict_total(X[test], y[test])),
            r2_predictive(y[test], model.predict(X[test])),
        )
    print(loadings, res)
    return res


def test_ca0_matches_ipca_on_a_linear_model():
    # Measured (seed 0): total R^2 IPCA 0.3804, CA0 0.3802 (40 epochs);
    # predictive 0.1338 for both.
    res = _oos(
        "linear",
        300,
        {
            "ipca": IPCARegressor(n_factors=3),
            "ca0": ConditionalAutoencoderRegressor(
                n_factors=3, n_hidden_layers=0, max_epochs=40, lr=1e-2, random_state=0
            ),
        },
    )
    assert abs(res["ca0"][0] - res["ipca"][0]) < 0.01, res
    assert abs(res["ca0"][1] - res["ipca"][1]) < 0.01, res


def test_add_constant_gives_the_market_factor_like_ipca():
    # A common market shock (mean 1%, vol 5%) on top of the linear design:
    # rank-scaled characteristics are centred, so only the constant lets a
    # factor carry it. Measured (seed 0): total R^2 without the constant
    # IPCA 0.3374, CA0 0.3371; with it 0.4369 and 0.4364.
    data = make_conditional_factor_panel(
        300, 120, 10, 3, factor_means=0.02, random_state=0
    )
    X, t = data.X, data.X.index.get_level_values("time")
    market = np.random.default_rng(1).normal(0.01, 0.05, 120)
    y = data.y + market[t]
    train, test = t < 90, t >= 90
    res = {}
    for constant in (False, True):
        for name, model in {
            "ipca": IPCARegressor(n_factors=3, add_constant=constant),
            "ca0": ConditionalAutoencoderRegressor(
                n_factors=3,
                n_hidden_layers=0,
                add_constant=constant,
                max_epochs=40,
                lr=1e-2,
                random_state=0,
            ),
        }.items():
            model.fit(X[train], y[train])
            res[name, constant] = r2_total(
                y[test], model.predict_total(X[test], y[test])
            )
    print(res)
    assert abs(res["ca0", True] - res["ipca", True]) < 0.01, res
    assert res["ca0", True] > res["ca0", False] + 0.05, res


def test_ca2_beats_ca0_and_ipca_on_nonlinear_loadings():
    # Measured (seed 0): total R^2 IPCA 0.103, CA0 0.101, CA2 0.318;
    # predictive 0.029, 0.031, 0.136.
    params = dict(n_factors=3, max_epochs=40, lr=3e-3, random_state=0)
    res = _oos(
        "nonlinear",
        200,
        {
            "ipca": IPCARegressor(n_factors=3),
            "ca0": ConditionalAutoencoderRegressor(n_hidden_layers=0, **params),
            "ca2": ConditionalAutoencoderRegressor(n_hidden_layers=2, **params),
        },
    )
    for base in ("ipca", "ca0"):
        assert res["ca2"][0] > res[base][0] + 0.1, res
        assert res["ca2"][1] > res[base][1] + 0.05, res


# ------------------------------------------------------------------ training
def test_validation_on_last_periods_and_best_weights(panel):
    X, y = panel
    est = ConditionalAutoencoderRegressor(**{**FAST, "max_epochs": 6}).fit(X, y)
    assert list(est.validation_periods_) == list(range(24, 30))
    assert {"train_fit", "train_l1", "valid_fit", "valid_l1"} <= set(est.history_)
    # The validation loss is the fit term alone.
    np.testing.assert_allclose(est.history_["valid_loss"], est.history_["valid_fit"])
    assert est.best_epoch_ == int(est.history_["valid_loss"].idxmin())


def test_l1_penalty_shrinks_the_weights(panel):
    X, y = panel
    norms = []
    params = dict(max_epochs=10, lr=1e-2, validation_fraction=0)
    for l1 in (0.0, 1e-2):
        est = ConditionalAutoencoderRegressor(**{**FAST, **params, "l1_penalty": l1})
        norms.append(est.fit(X, y).net_.module_.l1_norm().item())
    # Measured: 99.6 without the penalty, 24.5 with it.
    assert norms[1] < 0.5 * norms[0], norms


def test_warm_start_continues(panel):
    X, y = panel
    est = ConditionalAutoencoderRegressor(**{**FAST, "warm_start": True}).fit(X, y)
    first = est.predict(X)
    est.fit(X, y)
    assert est.n_iter_ == 6 and not np.allclose(est.predict(X), first)


def test_deterministic_under_random_state(panel, fitted):
    X, y = panel
    again = ConditionalAutoencoderRegressor(**FAST).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))
    other = ConditionalAutoencoderRegressor(**{**FAST, "random_state": 1}).fit(X, y)
    assert not np.allclose(other.predict(X), fitted.predict(X))


def test_pickle_round_trip(panel, fitted):
    X, y = panel
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    pd.testing.assert_frame_equal(loaded.get_factors(X, y), fitted.get_factors(X, y))


def test_inputs_not_mutated(panel):
    X, y = panel
    X0, y0 = X.copy(), y.copy()
    est = ConditionalAutoencoderRegressor(**FAST).fit(X, y)
    est.predict(X)
    est.get_factors(X, y)
    pd.testing.assert_frame_equal(X, X0)
    pd.testing.assert_series_equal(y, y0)


def test_pipeline_and_grid_search(panel):
    from sklearn_neurif.metrics import r2_total_scorer
    from sklearn_neurif.model_selection import PanelTimeSeriesSplit
    from sklearn_neurif.preprocessing import CrossSectionalRankScaler

    X, y = panel
    pipe = make_pipeline(
        CrossSectionalRankScaler(), ConditionalAutoencoderRegressor(**FAST)
    )
    assert pipe.fit(X, y).predict(X).shape == (len(X),)
    grid = GridSearchCV(
        pipe,
        {
            "conditionalautoencoderregressor__n_hidden_layers": [0, 1],
            "conditionalautoencoderregressor__n_factors": [1, 2],
        },
        cv=PanelTimeSeriesSplit(n_splits=2, test_size=5),
        scoring=r2_total_scorer,
    ).fit(X, y)
    assert len(grid.cv_results_["mean_test_score"]) == 4
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


def test_set_output_and_feature_names(panel, fitted):
    X, y = panel
    assert fitted.transform(X).index.equals(X.index)  # panel in, panel out
    # A plain array is one cross-section; set_output names the columns.
    est = clone(fitted).set_output(transform="pandas").fit(X.to_numpy(), y.to_numpy())
    out = est.transform(X.to_numpy())
    assert list(out.columns) == ["loading_1", "loading_2", "factor_1", "factor_2"]
    assert est.factors_.shape == (1, 2)


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_factors=6), r"n_factors=6 exceeds .* 5 feature\(s\)"),
        (dict(n_factors=7, add_constant=True), "n_factors=7 exceeds"),
        (dict(n_hidden_layers=4), "n_hidden_layers"),
        (dict(hidden_sizes=(8, 0)), "hidden_sizes must be positive"),
        (dict(l1_penalty=-1.0), "l1_penalty"),
        (dict(lr=0.0), "lr"),
        (dict(validation_fraction=1.0), "validation_fraction"),
    ],
)
def test_bad_parameters(panel, params, match):
    X, y = panel
    est = ConditionalAutoencoderRegressor(**{**FAST, **params})
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "net_")


def test_bad_inputs_raise_before_training(panel):
    X, y = panel
    est = ConditionalAutoencoderRegressor(**FAST)
    X_nan = X.copy()
    X_nan.iloc[3, 1] = np.nan
    with pytest.raises(ValueError, match="c2"):
        clone(est).fit(X_nan, y)
    with pytest.raises(TypeError, match="c1"):
        clone(est).fit(X.assign(c1=X["c1"].astype(str)), y)
    with pytest.raises(ValueError, match="not aligned"):
        clone(est).fit(X, y.iloc[1:])
    with pytest.raises(ValueError, match="duplicated"):
        clone(est).fit(pd.concat([X, X.iloc[:1]]), pd.concat([y, y.iloc[:1]]))
    few = y.copy()
    t, i = few.index.get_level_values("time"), few.index.get_level_values(0)
    few[t == 4] = np.nan
    few[(t == 4) & (i == 0)] = 0.01
    with pytest.raises(ValueError, match="exceeds the 1 asset"):
        clone(est).fit(X, few)
    with pytest.raises(ValueError, match="missing"):
        clone(est).fit(X, y * np.nan)


def test_predict_checks_columns(panel, fitted):
    X, _ = panel
    with pytest.raises(ValueError):
        fitted.predict(X.iloc[:, :4])


def test_sklearn_tags():
    tags = ConditionalAutoencoderRegressor().__sklearn_tags__()
    assert tags.regressor_tags.poor_score and not tags.non_deterministic
    assert tags.estimator_type == "regressor" and tags.transformer_tags is not None


def test_premia_are_factor_premia_only(fitted):
    # No deprecated alias (nothing has been released): premia_ is gone.
    assert list(fitted.factor_premia_.index) == ["factor_1", "factor_2"]
    assert not hasattr(fitted, "premia_")
