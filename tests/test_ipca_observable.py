"""IPCA with observable factors: cross-check against ipca 0.6.7's PSF fit, the
outputs, the as-of timing and the errors on misaligned or missing months."""

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_conditional_factor_panel

TIGHT = 1e-10


def _data(seed=1, missing=0.2):
    """Three true factors; the third is handed to the model as observable."""
    d = make_conditional_factor_panel(
        150, 40, 6, 3, missing_fraction=missing, random_state=seed
    )
    observed = d.factors[["factor_3"]].rename(columns={"factor_3": "mkt"})
    return d.X, d.y, observed


def _peer(X, y, K, intercept, observed):
    ipca = pytest.importorskip("ipca")
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        peer = ipca.InstrumentedPCA(
            K + observed.shape[1], intercept=intercept, iter_tol=TIGHT
        ).fit(X, y, PSF=observed.to_numpy().T)
        if intercept:
            # ipca 0.6.7 appends the intercept's row of ones to Factors twice
            # when PSF and intercept are combined (fit, "Store estimates").
            peer.Factors = peer.Factors[:-1]
        fitted = peer.predict(X, mean_factor=False)
        predicted = peer.predict(X, mean_factor=True)
    return peer, fitted, predicted


@pytest.mark.parametrize("K,intercept", [(2, False), (2, True), (0, False), (0, True)])
def test_psf_fit_equals_peer(K, intercept):
    X, y, observed = _data()
    ours = IPCARegressor(K, intercept=intercept, iter_tol=TIGHT)
    ours.fit(X, y, factors=observed)
    peer, fitted, predicted = _peer(X, y, K, intercept, observed)
    gamma = [ours.gamma_.to_numpy(), ours.gamma_delta_.to_numpy()]
    if intercept:
        gamma.append(ours.gamma_alpha_.to_numpy()[:, None])
    np.testing.assert_allclose(np.hstack(gamma), peer.Gamma, atol=1e-8, rtol=0)
    np.testing.assert_allclose(
        ours.factors_.to_numpy(), peer.Factors[: K + 1].T, atol=1e-8, rtol=0
    )
    np.testing.assert_allclose(ours.predict_total(X, y), fitted, atol=1e-8, rtol=0)
    np.testing.assert_allclose(ours.predict(X), predicted, atol=1e-8, rtol=0)


def test_outputs_consistent_with_latent_case():
    X, y, observed = _data()
    est = IPCARegressor(2, intercept=True).fit(X, y, factors=observed)
    assert list(est.factors_.columns) == ["factor_1", "factor_2", "mkt"]
    assert list(est.gamma_delta_.columns) == ["mkt"]
    out = est.transform(X)
    assert list(out.columns) == [
        "loading_1", "loading_2", "loading_mkt", "factor_1", "factor_2", "factor_mkt",
    ]  # fmt: skip
    beta = out.iloc[:, :3].to_numpy()
    premia = est.factor_premia_.to_numpy()
    alpha = X.to_numpy() @ est.gamma_alpha_.to_numpy()
    np.testing.assert_allclose(est.predict(X), alpha + beta @ premia, atol=1e-14)
    # The observable premium is its training mean; realised values are given.
    assert premia[2] == pytest.approx(observed["mkt"].mean())
    np.testing.assert_allclose(est.get_factors(X, y)["mkt"], observed["mkt"])
    np.testing.assert_allclose(
        est.get_factors(X, y)[["factor_1", "factor_2"]], est.factors_.iloc[:, :2],
        atol=1e-5,
    )  # fmt: skip
    # The observable factor explains returns: total R2 well above the
    # latent-only model with the same K.
    latent = IPCARegressor(2, intercept=True).fit(X, y)
    r = y.to_numpy()
    sse = lambda p: np.sum((r - p) ** 2)  # noqa: E731
    assert sse(est.predict_total(X, y)) < sse(latent.predict_total(X, y))


def test_k0_is_a_linear_model_with_instrumented_betas():
    X, y, observed = _data(missing=0.0)
    est = IPCARegressor(0).fit(X, y, factors=observed)
    assert est.gamma_.shape == (6, 0) and est.n_iter_ == 1
    # Pooled OLS of r on z * g (no latent factor): Gamma_delta.
    g = observed["mkt"].reindex(X.index.get_level_values("time")).to_numpy()
    coef = np.linalg.lstsq(X.to_numpy() * g[:, None], y.to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(est.gamma_delta_["mkt"], coef, atol=1e-12)
    assert est.transform(X).shape[1] == 2


def test_unseen_periods_need_their_factors():
    X, y, observed = _data()
    time = X.index.get_level_values("time")
    train = np.asarray(time < 30)
    est = IPCARegressor(1).fit(X[train], y[train], factors=observed)
    test_X, test_y = X[~train], y[~train]
    with pytest.raises(ValueError, match=r"missing \(absent or NaN\) for 10 period"):
        est.predict_total(test_X, test_y)
    full = est.predict_total(test_X, test_y, factors=observed)
    assert np.isfinite(full).all()
    assert est.predict(test_X).shape == (len(test_X),)  # premia: no factors needed


def test_pipeline_routes_factors_as_fit_param():
    X, y, observed = _data()
    pipe = make_pipeline(FunctionTransformer(lambda Z: Z * 1.0), IPCARegressor(1))
    pipe.fit(X, y, ipcaregressor__factors=observed)
    ref = IPCARegressor(1).fit(X, y, factors=observed)
    np.testing.assert_allclose(pipe.predict(X), ref.predict(X))


def test_errors_before_any_work(monkeypatch):
    X, y, observed = _data()
    calls = []
    monkeypatch.setattr(
        IPCARegressor, "_alternating_least_squares", lambda *a: calls.append(1)
    )
    first = observed.index[3]
    gap = observed.drop(index=first)
    with pytest.raises(ValueError, match=rf"1 period\(s\) with returns: {first}"):
        IPCARegressor(1).fit(X, y, factors=gap)
    nan = observed.copy()
    nan.iloc[5, 0] = np.nan
    with pytest.raises(ValueError, match="absent or NaN"):
        IPCARegressor(1).fit(X, y, factors=nan)
    # Labelled by the month earned (t+1) instead of the as-of month t: the
    # last training month is missing, and the message says how to label.
    shifted = observed.set_axis(observed.index + 1)
    with pytest.raises(ValueError, match="labelled by the as-of period t"):
        IPCARegressor(1).fit(X, y, factors=shifted)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        IPCARegressor(1).fit(X, y, factors=observed.to_numpy())
    with pytest.raises(ValueError, match="n_factors=0 needs observable factors"):
        IPCARegressor(0).fit(X, y)
    with pytest.raises(ValueError, match="duplicated periods"):
        IPCARegressor(1).fit(X, y, factors=pd.concat([observed, observed.iloc[:1]]))
    with pytest.raises(ValueError, match="linearly dependent"):
        IPCARegressor(1, intercept=True).fit(X, y, factors=observed * 0 + 1.0)
    with pytest.raises(ValueError, match="need 7 characteristic directions"):
        six = pd.concat([observed.add_suffix(str(j)) for j in range(6)], axis=1)
        IPCARegressor(1).fit(X, y, factors=six)
    with pytest.raises(ValueError, match="clash"):
        IPCARegressor(1).fit(X, y, factors=observed.rename(columns={"mkt": "factor_1"}))
    assert calls == []
