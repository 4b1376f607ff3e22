"""Elastic-net regularised Gamma (alpha, l1_ratio) and IPCARegressorCV.

The penalised Gamma step minimises ipca's ElasticNet objective on the panel
without its intercept, written on the managed portfolios: it equals ipca
0.6.7 fitted with ``fit_intercept=False`` (passed through to its
``ElasticNet``) and differs from ipca's default, which fits an intercept in
every Gamma step."""

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_neurif import IPCARegressor, IPCARegressorCV
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.inference import ipca_alpha_test
from sklearn_neurif.ipca import _als


def _data(seed=3, n=60, t=20, L=5, K=2):
    d = make_conditional_factor_panel(n, t, L, K, random_state=seed)
    return d.X, d.y


def _peer(X, y, alpha, l1_ratio, **enet):
    ipca = pytest.importorskip("ipca")
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        peer = ipca.InstrumentedPCA(
            2, alpha=alpha, l1_ratio=l1_ratio, iter_tol=1e-9, max_iter=2000
        )
        return peer.fit(X, y, **enet).Gamma


@pytest.mark.parametrize("alpha,l1_ratio", [(3e-4, 1.0), (1e-4, 0.5)])
def test_equals_peer_without_its_intercept(alpha, l1_ratio):
    X, y = _data()
    ours = IPCARegressor(2, alpha=alpha, l1_ratio=l1_ratio, iter_tol=1e-9).fit(X, y)
    same = _peer(X, y, alpha, l1_ratio, fit_intercept=False, tol=1e-14, max_iter=10**5)
    np.testing.assert_allclose(ours.gamma_.to_numpy(), same, atol=1e-8, rtol=0)
    # ipca's default ElasticNet fits an intercept in each Gamma step: another
    # objective, another Gamma (documented in docs/ipca.md).
    default = _peer(X, y, alpha, l1_ratio)
    assert np.abs(default - same).max() > 1e-8


def test_penalised_gamma_step_satisfies_kkt():
    """Ridge and elastic-net steps solve their problems (no peer involved)."""
    X, y = _data(n=80, t=30)
    est = IPCARegressor(2).fit(X, y)
    from sklearn_neurif.panel import PanelLayout, panel_index
    from sklearn_neurif.panel._managed import managed_portfolios

    layout = PanelLayout(panel_index(X))
    W, x, n = managed_portfolios(X.to_numpy(), y.to_numpy(), layout)
    moments = _als.ALSMoments.build(W, n, None)
    F = est.factors_.to_numpy()
    D, rhs, k = _als._gamma_system(moments, x, F)
    g0 = est.gamma_.to_numpy()
    for alpha, l1 in ((1e-3, 0.0), (1e-3, 0.7)):
        g = _als._gamma_step(moments, x, F, alpha, l1, g0).reshape(-1)
        grad = (D @ g - rhs) / n.sum() + alpha * (1 - l1) * g
        active = g != 0
        np.testing.assert_allclose(
            grad[active], -alpha * l1 * np.sign(g[active]), atol=1e-9
        )
        assert np.all(np.abs(grad[~active]) <= alpha * l1 + 1e-9)
        if l1:
            assert (~active).any()  # the lasso part zeroes some loadings


def test_zero_alpha_is_the_plain_fit_and_penalty_shrinks():
    X, y = _data(n=100, t=30)
    plain = IPCARegressor(2).fit(X, y)
    zero = IPCARegressor(2, alpha=0.0, l1_ratio=0.5).fit(X, y)
    np.testing.assert_array_equal(plain.gamma_, zero.gamma_)
    lasso = IPCARegressor(2, alpha=2e-4).fit(X, y)
    assert np.abs(lasso.gamma_ - plain.gamma_).to_numpy().max() > 1e-3
    # The KPS rotation after each step (as in ipca) mixes the columns, so
    # the step's exact zeros (see the KKT test) do not survive in gamma_.
    assert (lasso.gamma_.to_numpy() == 0).sum() == 0


def test_penalty_that_removes_a_factor_is_a_clear_error():
    X, y = _data()
    with pytest.raises(ValueError, match="sets every loading of latent factor"):
        IPCARegressor(2, alpha=1.0).fit(X, y)


def test_cv_chooses_alpha_and_k_on_validation_months():
    d = make_conditional_factor_panel(200, 50, 8, 2, random_state=0)
    est = IPCARegressorCV(
        n_factors=[1, 2, 3], alphas=[1.0, 1e-4, 0.0], scoring="r2_predictive"
    ).fit(d.X, d.y)
    res = pd.DataFrame(est.cv_results_)
    assert list(res.columns) == [
        "params", "param_n_factors", "param_alpha", "split0_test_score",
        "mean_test_score", "std_test_score", "rank_test_score", "n_iter",
    ]  # fmt: skip
    assert len(res) == 9
    assert res.loc[res.param_alpha == 1.0, "mean_test_score"].isna().all()  # collapsed
    best = res.loc[res["rank_test_score"] == 1].iloc[0]
    assert (est.n_factors_, est.alpha_) == (best.param_n_factors, best.param_alpha)
    assert est.best_params_ == best.params
    assert est.best_index_ == res.index[res["rank_test_score"] == 1][0]
    # Validation months: the last 20% (10 of 50): the path trained on 40.
    train = np.asarray(d.X.index.get_level_values("time") < 40)
    ref = IPCARegressor(int(best.param_n_factors), alpha=float(best.param_alpha))
    ref.fit(d.X[train], d.y[train])
    from sklearn_neurif.metrics import r2_predictive

    score = r2_predictive(d.y[~train], ref.predict(d.X[~train]))
    assert score == pytest.approx(best.mean_test_score, rel=1e-4)
    # The refit on all months is the CV estimator's best_estimator_.
    full = IPCARegressor(est.n_factors_, alpha=est.alpha_).fit(d.X, d.y)
    np.testing.assert_allclose(est.predict(d.X), full.predict(d.X), atol=1e-10)
    np.testing.assert_allclose(est.gamma_, full.gamma_, atol=1e-10)
    np.testing.assert_allclose(est.transform(d.X), full.transform(d.X), atol=1e-10)
    np.testing.assert_allclose(
        est.get_factors(d.X, d.y), full.get_factors(d.X, d.y), atol=1e-10
    )


def test_cv_warm_path_equals_cold_fits():
    """Each step of the warm-started path is the fit from the SVD start."""
    X, y = _data(n=150, t=40, L=6)
    alphas = [2e-4, 1e-4, 1e-5]
    cv = IPCARegressorCV(IPCARegressor(2, l1_ratio=0.5, iter_tol=1e-10))
    for alpha, (est, _) in zip(alphas, cv._path(X, y, None, 2, alphas), strict=True):
        cold = IPCARegressor(2, alpha=alpha, l1_ratio=0.5, iter_tol=1e-10).fit(X, y)
        np.testing.assert_allclose(est.predict(X), cold.predict(X), atol=1e-8)
        np.testing.assert_allclose(est.gamma_, cold.gamma_, atol=1e-7)


def test_cv_explicit_splits_and_bootstrap_refusal():
    X, y = _data(n=100, t=30, L=5)
    time = X.index.get_level_values("time")
    splits = [
        (np.flatnonzero(time < 20), np.flatnonzero((time >= 20) & (time < 25))),
        (np.flatnonzero(time < 25), np.flatnonzero(time >= 25)),
    ]
    base = IPCARegressor(2, intercept=True)
    est = IPCARegressorCV(base, alphas=[1e-3, 0.0], cv=splits)
    est.fit(X, y)
    assert {"split0_test_score", "split1_test_score"} <= set(est.cv_results_)
    assert est.n_splits_ == 2
    if est.alpha_ > 0:
        with pytest.raises(ValueError, match="unpenalised fit"):
            ipca_alpha_test(est.best_estimator_, X, y, n_boot=5)
    with pytest.raises(ValueError, match="finite non-negative numbers"):
        IPCARegressorCV(alphas=[-1.0]).fit(X, y)


def test_bootstrap_takes_the_cv_choice_and_refuses_a_penalised_one():
    X, y = _data(n=100, t=30, L=5, K=1)
    base = IPCARegressor(intercept=True)
    cv = IPCARegressorCV(base, n_factors=[1], alphas=[0.0]).fit(X, y)
    res = ipca_alpha_test(cv, X, y, n_boot=10, random_state=0)
    ref = ipca_alpha_test(cv.best_estimator_, X, y, n_boot=10, random_state=0)
    np.testing.assert_array_equal(res.null_distribution, ref.null_distribution)
    penalised = IPCARegressorCV(base, n_factors=[1], alphas=[1e-4]).fit(X, y)
    with pytest.raises(ValueError, match="unpenalised fit"):
        ipca_alpha_test(penalised, X, y, n_boot=10)
