"""Tests of WalkForwardSplit and walk_forward_predict: schedule, no look-ahead,
one prediction per row, hyperparameters chosen inside each refit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_predict, cross_validate
from sklearn.pipeline import make_pipeline

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.metrics import r2_total, r2_total_scorer
from sklearn_neurif.model_selection import (
    PanelTimeSeriesSplit,
    WalkForwardSplit,
    walk_forward_predict,
)
from sklearn_neurif.preprocessing import CrossSectionalRankScaler


@pytest.fixture(scope="module")
def panel():
    """Unbalanced, shuffled panel on monthly periods (2001-01 .. 2003-12)."""
    data = make_conditional_factor_panel(
        50, 36, 5, 2, missing_fraction=0.1, random_state=0
    )
    months = pd.period_range("2001-01", periods=36, freq="M")
    X = data.X.copy()
    X.index = X.index.set_levels(months, level="time")
    X = X.iloc[np.random.default_rng(0).permutation(len(X))]
    y = data.y.copy()
    y.index = y.index.set_levels(months, level="time")
    y = y.reindex(X.index)
    y[np.random.default_rng(1).random(len(y)) < 0.05] = np.nan  # missing returns
    return X, y


def _months(X, rows=None):
    times = X.index.get_level_values("time")
    return sorted(set(times if rows is None else times[rows]))


def _in(X, first, last):
    times = X.index.get_level_values("time")
    return np.asarray(
        (times >= pd.Period(first, "M")) & (times <= pd.Period(last, "M"))
    )


def test_schedule_expanding_rolling_gap_validation(panel):
    X, _ = panel
    m = pd.period_range("2001-01", periods=36, freq="M")
    cv = WalkForwardSplit("2002-07", refit_every=12, validation_periods=6)
    table = cv.split_periods(X)
    # 18 test months from 2002-07: blocks of 12 and 6 (the last one shorter).
    assert table["test_start"].tolist() == [m[18], m[30]]
    assert table["test_end"].tolist() == [m[29], m[35]]
    assert table["train_start"].tolist() == [m[0], m[0]]
    assert table["train_end"].tolist() == [m[17], m[29]]
    assert table["validation_start"].tolist() == [m[12], m[24]]
    assert table["n_test_periods"].tolist() == [12, 6]
    assert cv.get_n_splits(X) == 2
    got = [(_months(X, tr), _months(X, te)) for tr, te in cv.split(X)]
    assert got == [(list(m[:18]), list(m[18:30])), (list(m[:30]), list(m[30:]))]
    rolling = WalkForwardSplit(m[20], refit_every=5, window=10, gap=2)
    got = [(_months(X, tr), _months(X, te)) for tr, te in rolling.split(X)]
    assert got == [
        (list(m[8:18]), list(m[20:25])),
        (list(m[13:23]), list(m[25:30])),
        (list(m[18:28]), list(m[30:35])),
        (list(m[23:33]), list(m[35:36])),
    ]
    # The splits are not a partition: cross_validate accepts them,
    # cross_val_predict (which needs every row in one test fold) does not.
    _, y = panel
    scores = cross_validate(IPCARegressor(2), X, y, cv=cv, scoring=r2_total_scorer)
    assert len(scores["test_score"]) == 2
    with pytest.raises(ValueError, match="partition"):
        cross_val_predict(IPCARegressor(2), X, y, cv=cv)


def test_schedule_errors(panel):
    X, _ = panel
    with pytest.raises(ValueError, match="after the last period"):
        WalkForwardSplit("2004-01").split_periods(X)
    with pytest.raises(ValueError, match="Too few periods"):
        WalkForwardSplit("2001-04", validation_periods=3).split_periods(X)
    with pytest.raises(ValueError, match="window must be"):
        WalkForwardSplit("2002-01", window="rolling").split_periods(X)
    with pytest.raises(ValueError, match="refit_every must be"):
        WalkForwardSplit("2002-01", refit_every=0).split_periods(X)
    with pytest.raises(ValueError, match="needs X"):
        WalkForwardSplit("2002-01").get_n_splits()
    with pytest.raises(ValueError, match="cannot be read as a period of the panel"):
        WalkForwardSplit(5).split_periods(X)
    with pytest.raises(ValueError, match="Too few periods before the test block"):
        WalkForwardSplit("1999-01").split_periods(X)


def test_rolling_window_with_gap_matches_refits_by_hand(panel):
    X, y = panel
    res = walk_forward_predict(
        IPCARegressor(2, iter_tol=1e-10),
        X,
        y,
        test_start="2003-01",
        refit_every=4,
        window=12,
        gap=2,
    )
    blocks = [
        (("2001-11", "2002-10"), ("2003-01", "2003-04")),
        (("2002-03", "2003-02"), ("2003-05", "2003-08")),
        (("2002-07", "2003-06"), ("2003-09", "2003-12")),
    ]
    pred, fitted = _manual(lambda: IPCARegressor(2, iter_tol=1e-10), X, y, blocks)
    np.testing.assert_allclose(res.predictions, pred, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res.fitted, fitted, rtol=1e-8, atol=1e-12)
    assert res.refits["n_train_periods"].tolist() == [12, 12, 12]


def _manual(estimator_factory, X, y, blocks):
    """Oracle: fit on each training window by hand, predict the test block."""
    pred = pd.Series(np.nan, index=X.index)
    fitted = pd.Series(np.nan, index=X.index)
    for (a, b), (c, d) in blocks:
        train, test = _in(X, a, b), _in(X, c, d)
        est = estimator_factory().fit(X[train], y[train])
        pred[test] = est.predict(X[test])
        final = est[-1] if hasattr(est, "steps") else est
        Xt = est[:-1].transform(X[test]) if hasattr(est, "steps") else X[test]
        fitted[test] = final.predict_total(Xt, y[test])
    return pred, fitted


BLOCKS = [
    (("2001-01", "2002-06"), ("2002-07", "2002-12")),
    (("2001-01", "2002-12"), ("2003-01", "2003-06")),
    (("2001-01", "2003-06"), ("2003-07", "2003-12")),
]


@pytest.mark.parametrize("with_scaler", [False, True], ids=["ipca", "pipeline"])
def test_predictions_match_refits_by_hand(panel, with_scaler):
    X, y = panel

    def factory():
        ipca = IPCARegressor(2, iter_tol=1e-10)
        return make_pipeline(CrossSectionalRankScaler(), ipca) if with_scaler else ipca

    res = walk_forward_predict(factory(), X, y, test_start="2002-07", refit_every=6)
    pred, fitted = _manual(factory, X, y, BLOCKS)
    # One prediction per input row, on X's index and in its (shuffled) order.
    assert res.predictions.index.equals(X.index)
    test = _in(X, "2002-07", "2003-12")
    np.testing.assert_array_equal(res.test_mask, test)
    assert res.predictions[~test].isna().all() and res.predictions[test].notna().all()
    np.testing.assert_allclose(res.predictions, pred, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res.fitted, fitted, rtol=1e-8, atol=1e-12)
    # Realised factors: one row per test month, from that month's refit.
    assert list(res.factors.index) == list(
        pd.period_range("2002-07", "2003-12", freq="M")
    )
    summary = res.summary().iloc[0]
    assert summary["n_refits"] == 3 and summary["n_test_periods"] == 18
    assert summary["n_test_rows"] == int(test.sum())
    assert summary["R2_total"] == pytest.approx(r2_total(y[test], fitted[test]))
    assert res.refits["n_train_periods"].tolist() == [18, 24, 30]
    second = _in(X, "2003-01", "2003-06")
    assert res.refits["R2_total"].iloc[1] == pytest.approx(
        r2_total(y[second], fitted[second])
    )
    assert (res.refits["fit_time"] > 0).all()


def test_no_look_ahead(panel):
    """Perturbing every month after a refit's training end leaves it unchanged."""
    X, y = panel
    kwargs = dict(test_start="2002-07", refit_every=6, return_estimators=True)
    base = walk_forward_predict(IPCARegressor(2, iter_tol=1e-10), X, y, **kwargs)
    rng = np.random.default_rng(5)
    # Refit 1 trains through 2002-12 and predicts 2003-01 .. 2003-06.
    after_train = ~_in(X, "2001-01", "2002-12")
    after_block = ~_in(X, "2001-01", "2003-06")
    X2, y2 = X.copy(), y.copy()
    y2[after_train] = rng.normal(0, 1, after_train.sum())  # test labels and later
    X2[after_block] = rng.uniform(-0.5, 0.5, (after_block.sum(), X.shape[1]))
    moved = walk_forward_predict(IPCARegressor(2, iter_tol=1e-10), X2, y2, **kwargs)
    block = _in(X, "2003-01", "2003-06")
    np.testing.assert_array_equal(moved.predictions[block], base.predictions[block])
    np.testing.assert_array_equal(base.estimators[1].gamma_, moved.estimators[1].gamma_)
    # Earlier refits are untouched too; the later one saw the changes.
    early = _in(X, "2002-07", "2002-12")
    np.testing.assert_array_equal(moved.predictions[early], base.predictions[early])
    late = _in(X, "2003-07", "2003-12")
    assert not np.allclose(moved.predictions[late], base.predictions[late])
    # The check can fail: the last training label (2002-12, return over 2003-01)
    # does enter refit 1.
    y3 = y.copy()
    last = _in(X, "2002-12", "2002-12") & y.notna().to_numpy()
    y3[last] = y3[last] + 0.5
    shifted = walk_forward_predict(IPCARegressor(2, iter_tol=1e-10), X, y3, **kwargs)
    assert not np.allclose(shifted.predictions[block], base.predictions[block])


def test_grid_search_chooses_inside_each_refit(panel):
    X, y = panel
    search = GridSearchCV(
        IPCARegressor(iter_tol=1e-10), {"n_factors": [1, 2, 3]}, scoring=r2_total_scorer
    )
    res = walk_forward_predict(
        search,
        X,
        y,
        test_start="2002-07",
        refit_every=6,
        validation_periods=6,
        n_jobs=2,
    )
    table = res.refits
    assert table["validation_start"].astype(str).tolist() == [
        "2002-01",
        "2002-07",
        "2003-01",
    ]
    for (a, b), _ in BLOCKS:
        end = pd.Period(b, "M")
        fit_part, val = _in(X, a, str(end - 6)), _in(X, str(end - 5), b)
        scores = {
            k: r2_total_scorer(
                IPCARegressor(k, iter_tol=1e-10).fit(X[fit_part], y[fit_part]),
                X[val],
                y[val],
            )
            for k in (1, 2, 3)
        }
        row = table[table["train_end"] == end].iloc[0]
        assert row["best_params"] == {"n_factors": max(scores, key=scores.get)}
        assert row["best_score"] == pytest.approx(max(scores.values()), rel=1e-6)
    # The best candidate refitted on the whole window predicts its block.
    first = table.iloc[0]
    k = first["best_params"]["n_factors"]
    train, test = _in(X, "2001-01", "2002-06"), _in(X, "2002-07", "2002-12")
    expected = IPCARegressor(k, iter_tol=1e-10).fit(X[train], y[train]).predict(X[test])
    np.testing.assert_allclose(res.predictions[test], expected, rtol=1e-6, atol=1e-12)
    assert res.factors.shape[1] == max(p["n_factors"] for p in table["best_params"])
    # Same result with the package's splitter inside the search, sequentially.
    search.set_params(cv=PanelTimeSeriesSplit(n_splits=2, test_size=3))
    seq = walk_forward_predict(search, X, y, test_start="2002-07", refit_every=6)
    assert seq.predictions.notna().sum() == res.predictions.notna().sum()


def test_bad_input_before_training(panel):
    X, y = panel
    kw = dict(test_start="2002-07")
    with pytest.raises(ValueError, match="K-fold over rows"):
        walk_forward_predict(
            GridSearchCV(IPCARegressor(), {"n_factors": [1]}), X, y, **kw
        )
    with pytest.raises(ValueError, match="refit=True"):
        search = GridSearchCV(IPCARegressor(), {"n_factors": [1]}, refit=False)
        walk_forward_predict(search, X, y, validation_periods=3, **kw)
    with pytest.raises(ValueError, match="warm_start=True cannot apply"):
        search = GridSearchCV(IPCARegressor(), {"n_factors": [1]})
        walk_forward_predict(search, X, y, validation_periods=3, warm_start=True, **kw)
    with pytest.raises(ValueError, match="no use for IPCARegressor"):
        walk_forward_predict(IPCARegressor(), X, y, validation_periods=3, **kw)
    with pytest.raises(ValueError, match="warm_start parameter"):
        walk_forward_predict(IPCARegressor(), X, y, warm_start=True, **kw)
    with pytest.raises(TypeError, match="fit and predict"):
        walk_forward_predict(CrossSectionalRankScaler(), X, y, **kw)
    with pytest.raises(ValueError, match="not aligned"):
        walk_forward_predict(IPCARegressor(), X, y.iloc[1:], **kw)
    with pytest.raises(ValueError, match="after the last period"):
        walk_forward_predict(IPCARegressor(), X, y, test_start="2010-01")


def test_panel_net_validation_window_and_warm_start():
    """One cheap NeurIF run: the validation window and warm starts per refit."""
    from sklearn_neurif import NeurIFRegressor

    data = make_conditional_factor_panel(30, 24, 4, 2, random_state=0)
    net = NeurIFRegressor(
        n_factors=2, window=3, hidden_size=8, max_epochs=1, random_state=0
    )
    kwargs = dict(
        test_start=16,
        refit_every=4,
        validation_periods=3,
        warm_start=True,
        return_estimators=True,
    )
    res = walk_forward_predict(net, data.X, data.y, **kwargs)
    # Temporal attention is causal: characteristics and returns from period 22
    # on change no prediction of periods 16..21 (refit 1 predicts 20..23).
    times = data.X.index.get_level_values("time")
    X2, y2 = data.X.copy(), data.y.copy()
    X2[times >= 22] = -X2[times >= 22]
    y2[times >= 22] = 1.0
    moved = walk_forward_predict(net, X2, y2, **kwargs)
    early = (times >= 16) & (times <= 21)
    np.testing.assert_array_equal(moved.predictions[early], res.predictions[early])
    assert not np.allclose(moved.predictions[times >= 22], res.predictions[times >= 22])
    assert res.predictions.notna().sum() == 30 * 8
    assert np.isfinite(res.fitted[res.test_mask]).all()
    for (_, row), est in zip(res.refits.iterrows(), res.estimators, strict=True):
        # Early stopping watched exactly the schedule's validation window.
        assert list(est.validation_periods_) == list(
            range(row["validation_start"], row["validation_end"] + 1)
        )
    # Warm start: the second refit continued the first one's training.
    assert res.estimators[0].n_iter_ == 1 and res.estimators[1].n_iter_ == 2
    assert res.estimators[0].warm_start and res.estimators[1].warm_start


def test_refits_run_on_a_dask_cluster(make_local_cluster):
    """Refits are joblib jobs: under the dask backend they run on the workers."""
    import joblib

    distributed = pytest.importorskip("distributed")
    data = make_conditional_factor_panel(30, 24, 4, 2, random_state=0)
    kwargs = dict(test_start=12, refit_every=4)
    serial = walk_forward_predict(IPCARegressor(2), data.X, data.y, **kwargs)
    cluster = make_local_cluster()
    with cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks:
            with joblib.parallel_backend("dask"):
                res = walk_forward_predict(IPCARegressor(2), data.X, data.y, **kwargs)
        used = {task["worker"] for task in tasks.data}
        assert used and used <= set(client.scheduler_info()["workers"])
    np.testing.assert_allclose(res.predictions, serial.predictions, rtol=1e-10)
    assert res.refits["best_params"].isna().all()


def test_on_refit_reports_each_refit_in_order(panel):
    X, y = panel
    seen = []
    res = walk_forward_predict(
        IPCARegressor(2), X, y, test_start="2002-07", refit_every=6,
        on_refit=seen.append, n_jobs=2,
    )  # fmt: skip
    assert [r.refit for r in seen] == [1, 2, 3] and seen[0].n_refits == 3
    for refit, row in zip(seen, res.refits.itertuples(), strict=True):
        assert refit.periods.test_start == row.test_start
        assert refit.fit_time == row.fit_time
        # The block's predictions and fitted values, on their rows.
        pd.testing.assert_series_equal(
            refit.predictions, res.predictions.loc[refit.predictions.index]
        )
        np.testing.assert_allclose(
            refit.fitted.to_numpy(), res.fitted.loc[refit.fitted.index].to_numpy()
        )
        assert refit.estimator.n_factors == 2 and hasattr(refit.estimator, "gamma_")
    assert res.estimators is None  # the hook sees estimators the result drops
    assert "WalkForwardRefit(1/3, train 2001-01 to 2002-06" in repr(seen[0])


class _WarningRidge:
    """A Ridge that warns once per fit with its training size (twice the same)."""

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def get_params(self, deep=True):
        return {"alpha": self.alpha}

    def set_params(self, **params):
        self.alpha = params.get("alpha", self.alpha)
        return self

    def fit(self, X, y):
        import warnings

        from sklearn.linear_model import Ridge

        for _ in range(2):
            warnings.warn(f"fitted on {len(X)} rows", RuntimeWarning, stacklevel=2)
        self.model_ = Ridge(alpha=self.alpha).fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_refit_warnings_reach_the_caller_once_each(panel, n_jobs):
    """A refit's warnings are issued again in the calling process (also from
    workers, whose stderr is out of the caller's reach), each distinct one
    once per refit, and kept on the refit's record."""
    import warnings

    X, y = panel
    periods = X.index.get_level_values("time").unique().sort_values()
    seen = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        walk_forward_predict(
            _WarningRidge(), X, y, test_start=periods[20], refit_every=6,
            n_jobs=n_jobs, on_refit=seen.append,
        )  # fmt: skip
    mine = [str(w.message) for w in caught if w.category is RuntimeWarning]
    per_refit = [r.warnings for r in seen]
    assert len(per_refit) >= 2 and all(len(w) == 1 for w in per_refit)
    assert mine == [message for w in per_refit for _, message in w]
    assert len(set(mine)) == len(mine)  # expanding windows: sizes differ
    assert all(w.filename == __file__ for w in caught if w.category is RuntimeWarning)
