"""Portfolio sorts, turnover, factor-model sorts and long-short scorers."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_neurif.inference import newey_west_lags
from sklearn_neurif.portfolio import (
    PortfolioSorter,
    long_short_mean_scorer,
    long_short_sharpe_scorer,
    make_long_short_scorer,
    sort_on_factor_model,
)


def _panel(n_assets=20, n_periods=6, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [
            [f"a{i:02d}" for i in range(n_assets)],
            pd.period_range("2000-01", periods=n_periods, freq="M"),
        ],
        names=["entity", "time"],
    )
    X = pd.DataFrame(
        {
            "signal": rng.permutation(len(idx)).astype(float),
            "size": rng.uniform(1, 100, len(idx)),
            "nyse": rng.random(len(idx)) < 0.5,
        },
        index=idx,
    )
    y = pd.Series(rng.normal(0.01, 0.05, len(idx)), index=idx, name="ret")
    return X, y


def _expected_groups(X, q):
    # Distinct signals, N divisible by q: group = rank within period // (N / q).
    rank = X.groupby(level="time")["signal"].rank(method="first").astype(int) - 1
    size = X.groupby(level="time")["signal"].transform("size")
    return rank * q // size + 1


def test_equal_weighted_deciles_match_pandas_groupby():
    X, y = _panel(n_assets=20)
    res = PortfolioSorter(10, signal="signal").fit(X, y).result_
    groups = _expected_groups(X, 10)
    expected = y.groupby([X.index.get_level_values("time"), groups]).mean().unstack()
    np.testing.assert_allclose(
        res.returns.iloc[:, :10].to_numpy(), expected.to_numpy(), atol=1e-15
    )
    np.testing.assert_allclose(
        res.returns["LS"], expected[10] - expected[1], atol=1e-15
    )
    assert (res.n_assets.to_numpy() == 2).all()
    assert res.skipped_periods.empty


def test_value_weights_match_groupby_and_sum_to_one():
    X, y = _panel(n_assets=30, seed=1)
    sorter = PortfolioSorter(5, signal="signal", weights="size").fit(X, y)
    groups = _expected_groups(X, 5)
    keys = [X.index.get_level_values("time"), groups]
    wr = (X["size"] * y).groupby(keys).sum() / X["size"].groupby(keys).sum()
    np.testing.assert_allclose(
        sorter.returns_.iloc[:, :5].to_numpy(), wr.unstack().to_numpy(), atol=1e-14
    )
    # Weights sum to one: a constant return comes back exactly.
    const = (
        PortfolioSorter(5, signal="signal", weights="size")
        .fit(X, y * 0 + 0.0123)
        .result_
    )
    np.testing.assert_allclose(const.returns.iloc[:, :5].to_numpy(), 0.0123, rtol=1e-14)
    assert sorter.result_.weighting == "value"


def test_transform_labels_agree_with_groupby():
    X, y = _panel(n_assets=20)
    sorter = PortfolioSorter(10, signal="signal").fit(X, y)
    labels = sorter.transform(X)["portfolio"]
    np.testing.assert_array_equal(labels.to_numpy(), _expected_groups(X, 10).to_numpy())


def test_turnover_by_hand():
    t = pd.period_range("2000-01", periods=2, freq="M")
    idx = pd.MultiIndex.from_product([list("abcd"), t], names=["entity", "time"])
    # Period 0: P1 = {a, b}, P2 = {c, d}.  Period 1: P1 = {a, c}, P2 = {b, d}.
    signal = {
        ("a", 0): 1,
        ("b", 0): 2,
        ("c", 0): 3,
        ("d", 0): 4,
        ("a", 1): 1,
        ("c", 1): 2,
        ("b", 1): 3,
        ("d", 1): 4,
    }
    ret = {("a", 0): 0.1, ("b", 0): -0.1, ("c", 0): 0.0, ("d", 0): 0.0}
    X = pd.DataFrame(
        {"s": [float(signal[(e, k)]) for e in "abcd" for k in (0, 1)]}, index=idx
    )
    y = pd.Series([ret.get((e, k), 0.02) for e in "abcd" for k in (0, 1)], index=idx)
    res = PortfolioSorter(2).fit(X, y).result_
    assert np.isnan(res.turnover.iloc[0]).all()
    # P1 drifted weights a 0.55, b 0.45 -> new a 0.5, c 0.5: 0.5 * (0.05 + 0.45 + 0.5).
    # P2 drifted c 0.5, d 0.5 -> new b 0.5, d 0.5: 0.5 * (0.5 + 0 + 0.5).
    np.testing.assert_allclose(res.turnover.iloc[1].to_numpy(), [0.5, 0.5, 1.0])
    np.testing.assert_allclose(res.mean_turnover.to_numpy(), [0.5, 0.5, 1.0])


def test_newey_west_tstat_and_sharpe():
    X, y = _panel(n_assets=20, n_periods=40, seed=3)
    res = PortfolioSorter(10, signal="signal").fit(X, y).result_
    ls = res.returns["LS"].to_numpy()
    lags = newey_west_lags(len(ls))
    fit = sm.OLS(ls, np.ones(len(ls))).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    assert res.tstats["LS"] == pytest.approx(fit.tvalues[0], rel=1e-12)
    # Independent Bartlett-kernel long-run variance of the mean.
    e = ls - ls.mean()
    lrv = e @ e / len(e) + 2 * sum(
        (1 - j / (lags + 1)) * (e[j:] @ e[:-j]) / len(e) for j in range(1, lags + 1)
    )
    assert res.tstats["LS"] == pytest.approx(
        ls.mean() / np.sqrt(lrv / len(ls)), rel=1e-10
    )
    assert res.sharpe["LS"] == pytest.approx(
        ls.mean() / ls.std(ddof=1) * np.sqrt(12), rel=1e-12
    )
    table = res.summary()
    assert list(table.index) == [f"P{j}" for j in range(1, 11)] + ["LS"]
    assert {"mean", "tstat", "sharpe", "turnover", "n_periods"} <= set(table.columns)


def test_skipped_periods_counted_and_missing_data_reported():
    X, y = _panel(n_assets=20, n_periods=3)
    # Period 2 keeps only 5 assets with a signal: too few for 10 portfolios.
    last = X.index.get_level_values("time") == X.index.get_level_values("time").max()
    X.loc[last & (X["signal"] > X.loc[last, "signal"].nsmallest(5).max()), "signal"] = (
        np.nan
    )
    y.iloc[0] = np.nan
    res = PortfolioSorter(10, signal="signal").fit(X, y).result_
    assert res.n_skipped_periods == 1
    assert list(res.skipped_periods.astype(str)) == ["2000-03"]
    assert len(res.returns) == 2
    assert res.n_missing_signal == 15
    assert res.n_missing_returns == 1
    assert res.n_assets.to_numpy().sum() == 39
    labels = PortfolioSorter(10, signal="signal").fit(X, y).transform(X)["portfolio"]
    assert labels[last].isna().all()


def test_breakpoints_from_flagged_assets_and_sign():
    X, y = _panel(n_assets=40, n_periods=2, seed=5)
    res = PortfolioSorter(4, signal="signal", breakpoints="nyse").fit(X, y).result_
    for k, (_period, frame) in enumerate(X.groupby(level="time")):
        bps = np.quantile(frame.loc[frame["nyse"], "signal"], [0.25, 0.5, 0.75])
        grp = np.searchsorted(bps, frame["signal"], side="left")
        expected = y.loc[frame.index].groupby(grp).mean().to_numpy()
        np.testing.assert_allclose(res.returns.iloc[k, :4], expected, atol=1e-15)
    rev = PortfolioSorter(
        4, signal="signal", breakpoints="nyse", long_short="bottom-top"
    ).fit(X, y)
    np.testing.assert_allclose(rev.returns_["LS"], -res.returns["LS"])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_portfolios": 1}, "n_portfolios"),
        ({"long_short": "up"}, "long_short"),
        ({"min_assets": 3}, "min_assets"),
        ({"signal": "nope"}, "nope"),
    ],
)
def test_bad_parameters(params, match):
    X, y = _panel()
    params = {"signal": "signal", **params}
    with pytest.raises(ValueError, match=match):
        PortfolioSorter(**params).fit(X, y)


def test_bad_input():
    X, y = _panel()
    with pytest.raises(ValueError, match="never by position"):
        PortfolioSorter(signal="signal").fit(X, y.reset_index(drop=True))
    # Paired by index: a reordered y gives the same portfolios.
    pd.testing.assert_frame_equal(
        PortfolioSorter(signal="signal").fit(X, y.iloc[::-1]).returns_,
        PortfolioSorter(signal="signal").fit(X, y).returns_,
    )
    with pytest.raises(ValueError, match="not aligned"):
        PortfolioSorter(signal="signal").fit(X, y.iloc[1:])
    with pytest.raises(ValueError, match="No period"):
        PortfolioSorter(50, signal="signal").fit(X, y)
    before = X.copy()
    PortfolioSorter(signal="signal").fit(X, y)
    pd.testing.assert_frame_equal(X, before)


class _LinearFactorStandIn(RegressorMixin, BaseEstimator):
    """Stand-in for a factor model: loadings = first K columns, premia 1."""

    def __init__(self, n_factors=2, scale=1.0):
        self.n_factors = n_factors
        self.scale = scale

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def transform(self, X):
        B = np.asarray(X, dtype=float)[:, : self.n_factors] * self.scale
        cols = [f"loading_{j + 1}" for j in range(self.n_factors)]
        cols += [f"factor_{j + 1}" for j in range(self.n_factors)]
        return pd.DataFrame(
            np.hstack([B, np.ones_like(B)]), index=X.index, columns=cols
        )

    def predict(self, X):
        return np.asarray(X, dtype=float)[:, : self.n_factors].sum(axis=1) * self.scale


def _signal_panel(n_assets=30, n_periods=24, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [range(n_assets), pd.period_range("2001-01", periods=n_periods, freq="M")],
        names=["entity", "time"],
    )
    X = pd.DataFrame(
        rng.normal(size=(len(idx), 3)), index=idx, columns=["z1", "z2", "z3"]
    )
    y = pd.Series(
        0.01 * X["z1"] + 0.005 * X["z2"] + rng.normal(0, 0.02, len(idx)), index=idx
    )
    return X, y


def test_sort_on_factor_model_one_call():
    X, y = _signal_panel()
    est = _LinearFactorStandIn(2).fit(X, y)
    res = sort_on_factor_model(est, X, y, n_portfolios=5)
    assert list(res.results) == ["predicted", "loading_1", "loading_2"]
    direct = PortfolioSorter(5).fit(X[["z1"]], y).result_
    pd.testing.assert_frame_equal(res["loading_1"].returns, direct.returns)
    table = res.table
    assert list(table.columns[:2]) == ["signal", "portfolio"]
    assert len(table) == 3 * 6
    assert (res.summary()["mean"] > 0).all()
    assert res.long_short_returns.shape == (24, 3)  # a table held: a property


def test_sort_on_factor_model_takes_the_sorter_parameters():
    X, y = _signal_panel()
    est = _LinearFactorStandIn(2).fit(X, y)
    # Defaults are PortfolioSorter's: ten portfolios.
    res = sort_on_factor_model(est, X, y)
    assert res["loading_1"].returns.shape[1] == 11
    flipped = sort_on_factor_model(est, X, y, n_portfolios=5, long_short="bottom-top")
    direct = PortfolioSorter(5, long_short="bottom-top").fit(X[["z1"]], y).result_
    pd.testing.assert_frame_equal(flipped["loading_1"].returns, direct.returns)
    for bad in ({"n_portfolio": 5}, {"signal": "z1"}):
        with pytest.raises(TypeError, match=next(iter(bad))):
            sort_on_factor_model(est, X, y, **bad)
    with pytest.raises(ValueError, match="n_portfolios"):
        sort_on_factor_model(est, X, y, n_portfolios=1)


def test_scorers_match_sorter_and_accept_pipeline():
    X, y = _signal_panel()
    pipe = make_pipeline(
        FunctionTransformer(lambda Z: Z * 2.0), _LinearFactorStandIn(2)
    ).fit(X, y)
    ref = (
        PortfolioSorter(10)
        .fit(pd.DataFrame({"p": pipe.predict(X)}, index=X.index), y)
        .result_
    )
    assert long_short_sharpe_scorer(pipe, X, y) == pytest.approx(ref.sharpe["LS"])
    assert long_short_mean_scorer(pipe, X, y) == pytest.approx(ref.mean["LS"])
    assert make_long_short_scorer("tstat", n_portfolios=10)(
        pipe, X, y
    ) == pytest.approx(ref.tstats["LS"])
    with pytest.raises(ValueError, match="statistic"):
        make_long_short_scorer("alpha")


def test_scorer_in_grid_search_stand_in():
    # Contiguous period folds built from the MultiIndex (stand-in for
    # PanelTimeSeriesSplit when it is absent).
    X, y = _signal_panel(n_periods=24)
    t = X.index.get_level_values("time")
    periods = t.unique().sort_values()
    cv = [
        (
            np.flatnonzero(t < periods[k]),
            np.flatnonzero((t >= periods[k]) & (t <= periods[k + 5])),
        )
        for k in (12, 18)
    ]
    grid = GridSearchCV(
        _LinearFactorStandIn(),
        {"scale": [-1.0, 1.0]},
        cv=cv,
        scoring=long_short_sharpe_scorer,
    ).fit(X, y)
    assert grid.best_params_ == {"scale": 1.0}
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


def _ipca():
    try:
        from sklearn_neurif import IPCARegressor
    except ImportError:  # not yet re-exported at the top level
        from sklearn_neurif.ipca._estimator import IPCARegressor
    return IPCARegressor


def test_scorers_in_grid_search_with_panel_split_on_ipca_pipeline():
    from sklearn_neurif.datasets import make_conditional_factor_panel
    from sklearn_neurif.model_selection import PanelTimeSeriesSplit
    from sklearn_neurif.preprocessing import CrossSectionalRankScaler

    data = make_conditional_factor_panel(
        n_entities=60, n_periods=48, n_characteristics=5, n_factors=2, random_state=0
    )
    X, y = data.X, data.y
    cv = PanelTimeSeriesSplit(n_splits=2, test_size=12)
    pipe = make_pipeline(CrossSectionalRankScaler(), _ipca()(iter_tol=1e-5))
    grid = GridSearchCV(
        pipe,
        {"ipcaregressor__n_factors": [1, 2]},
        cv=cv,
        scoring={"sharpe": long_short_sharpe_scorer, "mean": long_short_mean_scorer},
        refit="sharpe",
    ).fit(X, y)
    # Recompute one fold by hand: fit on the training periods, sort the test periods.
    train, test = next(cv.split(X))
    fitted = pipe.set_params(ipcaregressor__n_factors=2).fit(
        X.iloc[train], y.iloc[train]
    )
    signal = pd.DataFrame({"p": fitted.predict(X.iloc[test])}, index=X.index[test])
    ref = PortfolioSorter(10).fit(signal, y.iloc[test]).result_
    assert grid.cv_results_["split0_test_sharpe"][1] == pytest.approx(ref.sharpe["LS"])
    assert grid.cv_results_["split0_test_mean"][1] == pytest.approx(ref.mean["LS"])
    assert len(ref.returns) == 12
    assert np.isfinite(grid.cv_results_["mean_test_sharpe"]).all()


def test_as_of_labels_and_missing_weights_counted():
    X, y = _panel(n_assets=20, n_periods=4)
    X.iloc[[0, 5]] = X.iloc[[0, 5]].assign(size=[np.nan, -1.0])
    res = PortfolioSorter(4, signal="signal", weights="size").fit(X, y).result_
    # Rows are labelled by the as-of period t of the signal.
    assert res.returns.index.equals(
        X.index.get_level_values("time").unique().sort_values()
    )
    assert res.n_missing_weight == 2
    assert res.n_assets.to_numpy().sum() == 80 - 2
    np.testing.assert_allclose(res.returns["LS"], res.returns["P4"] - res.returns["P1"])


def test_sort_on_fitted_ipca_loadings():
    from sklearn_neurif.datasets import make_conditional_factor_panel

    data = make_conditional_factor_panel(
        n_entities=50, n_periods=30, n_characteristics=4, n_factors=2, random_state=1
    )
    est = _ipca()(n_factors=2).fit(data.X, data.y)
    sorts = sort_on_factor_model(est, data.X, data.y, n_portfolios=5)
    Z = est.transform(data.X)
    for j in (1, 2):
        ref = PortfolioSorter(5, signal=f"loading_{j}").fit(Z, data.y).result_
        pd.testing.assert_frame_equal(sorts[f"loading_{j}"].returns, ref.returns)
    pred = PortfolioSorter(5).fit(
        pd.DataFrame({"p": est.predict(data.X)}, index=data.X.index), data.y
    )
    pd.testing.assert_frame_equal(sorts["predicted"].returns, pred.returns_)
