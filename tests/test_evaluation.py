"""evaluate_factor_model: the one evaluation of a fitted model on a test panel.

The figures must be exactly those the metric functions and PortfolioSorter
give when called by hand (the way the study, the benchmarks and the US-stocks
example computed them before they called ``evaluate_factor_model``).
"""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from sklearn_neurif import IPCARegressor, evaluate_factor_model
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.evaluation import FactorModelEvaluation
from sklearn_neurif.inference import monthly_r2, newey_west_mean
from sklearn_neurif.metrics import (
    mae,
    r2_predictive,
    r2_total,
    rank_ic,
    rmse,
)
from sklearn_neurif.portfolio import PortfolioSorter
from sklearn_neurif.preprocessing import CrossSectionalRankScaler


@pytest.fixture(scope="module")
def panel():
    data = make_conditional_factor_panel(
        150, 48, 6, 2, factor_means=0.02, random_state=3
    )
    X, y = data.X, data.y.copy()
    y.iloc[::17] = np.nan  # missing returns are masked, never filled
    t = X.index.get_level_values("time")
    train = np.asarray(t < 36)
    sizes = pd.Series(
        np.exp(np.random.default_rng(0).normal(size=len(X))), index=X.index
    )
    model = IPCARegressor(n_factors=2).fit(X[train], y[train])
    return X[~train], y[~train], sizes[~train], model


def _sort(frame, y, signal, weights=None):
    return PortfolioSorter(10, signal=signal, weights=weights).fit(frame, y).result_


def test_figures_equal_the_metric_functions(panel):
    X, y, sizes, model = panel
    ev = evaluate_factor_model(model, X, y, weights=sizes)
    pred = model.predict(X)
    ic = rank_ic(y, pred, X.index.get_level_values(-1))
    assert ev.r2_total == r2_total(y, model.predict_total(X, y))
    assert ev.r2_predictive == r2_predictive(y, pred)
    assert ev.rmse == rmse(y, pred)
    assert ev.mae == mae(y, pred)
    assert (ev.ic_mean, ev.ic_tstat) == (ic.mean, ic.tstat)
    pd.testing.assert_series_equal(ev.rank_ic.series, ic.series)
    assert ev.ic_nw_tstat == newey_west_mean(ic.series.to_numpy()).stat
    frame = pd.DataFrame({"pred": pred, "w": sizes}, index=X.index)
    assert list(ev.sorts) == ["equal", "value"]  # PortfolioSorter's weightings
    for w, col in (("equal", None), ("value", "w")):
        ref = _sort(frame, y, "pred", col)
        got = ev.sorts[w]["predicted"]
        pd.testing.assert_frame_equal(got.returns, ref.returns)
        pd.testing.assert_frame_equal(got.summary(), ref.summary())
        assert ev.long_short.loc[w, "sharpe"] == ref.sharpe["LS"]
        assert ev.long_short.loc[w, "tstat"] == ref.tstats["LS"]
        pd.testing.assert_series_equal(
            ev.long_short_returns[w], ref.returns["LS"], check_names=False
        )
    assert ev.n_rows == int(y.notna().sum())
    assert ev.n_periods == 12
    assert ev.notes == ()


def test_study_sorts_on_loadings_unchanged(panel):
    """The study sorted on a unit weight column for equal weights and on the loadings."""
    X, y, sizes, model = panel
    ev = evaluate_factor_model(model, X, y, weights=sizes, sort_loadings=True)
    Z = np.asarray(model.transform(X), dtype=float)[:, :2]
    frame = pd.DataFrame(
        {"predicted": model.predict(X), "loading_1": Z[:, 0], "loading_2": Z[:, 1]},
        index=X.index,
    )
    for w in ("equal", "value"):
        data = frame.assign(__size=sizes if w == "value" else 1.0)
        assert list(ev.sorts[w].results) == list(frame.columns)
        for signal in frame.columns:
            ref = _sort(data, y, signal, "__size")
            pd.testing.assert_frame_equal(ev.sorts[w][signal].summary(), ref.summary())


def test_pipeline_equals_the_example_computation(panel):
    X, y, _, _ = panel
    t = X.index.get_level_values("time")
    pipe = make_pipeline(CrossSectionalRankScaler(), IPCARegressor(n_factors=2))
    fit = np.asarray(t < 42)
    pipe.fit(X[fit], y[fit])
    Xte, yte = X[~fit], y[~fit]
    ev = evaluate_factor_model(pipe, Xte, yte, name="IPCA")
    Xt = pipe[:-1].transform(Xte)
    expected = pipe.predict(Xte)
    assert ev.r2_total == r2_total(yte, pipe[-1].predict_total(Xt, yte))
    assert ev.r2_predictive == r2_predictive(yte, expected)
    assert ev.rmse == rmse(yte, expected)
    assert ev.ic_mean == rank_ic(yte, expected).mean
    table = ev.summary()  # one row per model, statistics as columns
    assert list(table.index) == ["IPCA"] and table.index.name == "model"
    assert table.loc["IPCA", "predictive R2"] == ev.r2_predictive
    assert (
        table.loc["IPCA", "LS sharpe (equal)"] == ev.long_short.loc["equal", "sharpe"]
    )
    assert table.loc["IPCA", "n_rows"] == ev.n_rows


def test_monthly_series_pool_to_the_headline(panel):
    X, y, _, model = panel
    ev = evaluate_factor_model(model, X, y)
    m = ev.monthly
    assert 1 - m.sse_total.sum() / m.sum_sq.sum() == pytest.approx(ev.r2_total, 1e-12)
    assert 1 - m.sse_predictive.sum() / m.sum_sq.sum() == pytest.approx(
        ev.r2_predictive, 1e-12
    )
    assert np.sqrt(m.sse_predictive.sum() / m.n_rows.sum()) == pytest.approx(ev.rmse)
    month = m.index[3]
    rows = np.asarray(X.index.get_level_values("time") == month)
    assert m.loc[month, "r2_total"] == pytest.approx(
        r2_total(y[rows], model.predict_total(X[rows], y[rows])), 1e-12
    )
    assert m.loc[month, "mse"] == pytest.approx(
        rmse(y[rows], model.predict(X[rows])) ** 2
    )
    pd.testing.assert_series_equal(m["rank_ic"], ev.rank_ic.series, check_names=False)
    by_month = monthly_r2(y, model.predict(X))
    np.testing.assert_array_equal(m["r2_predictive"].to_numpy(), by_month.to_numpy())
    assert m.n_rows.sum() == ev.n_rows


def test_model_without_factors_has_nan_total_r2(panel):
    X, y, _, _ = panel
    keep = y.notna().to_numpy()
    ridge = Ridge().fit(X[keep], y[keep])
    ev = evaluate_factor_model(ridge, X, y)
    assert np.isnan(ev.r2_total) and np.isnan(ev.monthly.r2_total).all()
    assert "no predict_total" in ev.notes[0]
    assert ev.r2_predictive == r2_predictive(y, ridge.predict(X))
    with pytest.raises(TypeError, match="sort_loadings"):
        evaluate_factor_model(ridge, X, y, sort_loadings=True)


def test_transformer_regressor_has_no_total_r2(panel):
    """The package's model without factors: NaN total R2, a note, the rest as usual."""
    from sklearn_neurif import TransformerRegressor

    X, y, _, _ = panel
    model = TransformerRegressor(
        window=2, hidden_size=8, n_heads=1, max_epochs=1, random_state=0
    ).fit(X, y)
    ev = evaluate_factor_model(model, X, y)
    assert np.isnan(ev.r2_total) and "TransformerRegressor has no" in ev.notes[0]
    assert ev.r2_predictive == r2_predictive(y, model.predict(X))
    assert np.isfinite(ev.long_short.loc["equal", "sharpe"])


def test_summary_repr_and_bad_input(panel):
    X, y, sizes, model = panel
    ev = evaluate_factor_model(model, X, y, weights=sizes)
    assert isinstance(ev, FactorModelEvaluation)
    table = ev.summary()
    assert table.loc["IPCARegressor", "total R2"] == ev.r2_total
    assert (
        table.loc["IPCARegressor", "LS sharpe (value)"]
        == ev.long_short.loc["value", "sharpe"]
    )
    assert "IPCARegressor: total R2=" in repr(ev) and "LS Sharpe value" in repr(ev)
    with pytest.raises(TypeError, match="MultiIndex"):
        evaluate_factor_model(model, X.to_numpy(), y)
    with pytest.raises((TypeError, ValueError), match="weights"):
        evaluate_factor_model(model, X, y, weights=sizes.to_numpy())
    with pytest.raises(ValueError, match="n_portfolios"):
        evaluate_factor_model(model, X, y, n_portfolios=1)


def test_returns_and_weights_paired_by_index(panel):
    """Shuffled y and weights give the same figures: they are matched to X's rows."""
    X, y, sizes, model = panel
    ev = evaluate_factor_model(model, X, y, weights=sizes)
    order = np.random.default_rng(1).permutation(len(y))
    shuffled = evaluate_factor_model(model, X, y.iloc[order], weights=sizes.iloc[order])
    assert (shuffled.r2_total, shuffled.r2_predictive, shuffled.rmse) == (
        ev.r2_total,
        ev.r2_predictive,
        ev.rmse,
    )
    assert shuffled.ic_mean == ev.ic_mean
    pd.testing.assert_frame_equal(shuffled.long_short, ev.long_short)
    pd.testing.assert_frame_equal(shuffled.monthly, ev.monthly)


def test_top_level_import_stays_torch_free():
    code = (
        "import sys; import sklearn_neurif as s; s.evaluate_factor_model; "
        "import sklearn_neurif.evaluation as m; m.FactorModelEvaluation; "
        "print('torch' in sys.modules, 'skorch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]
