"""NeurIFRegressorCV: the deviation-penalty path around a NeurIFRegressor."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_design_family_panel
from sklearn_neurif.metrics import r2_total
from sklearn_neurif.model_selection import PanelTimeSeriesSplit
from sklearn_neurif.neurif import NeurIFRegressor, NeurIFRegressorCV

SIZES = dict(n_entities=150, n_periods=60, n_characteristics=6)
FAST = dict(n_factors=2, window=3, max_epochs=30, lr=3e-3, random_state=0)


def split(design, seed=0, sizes=SIZES):
    data = make_design_family_panel(design, **sizes, random_state=seed)
    train = np.asarray(
        data.X.index.get_level_values("time") < 0.75 * sizes["n_periods"]
    )
    return data.X[train], data.y[train], data.X[~train], data.y[~train]


def neurif(**params):
    return NeurIFRegressor(**{**FAST, **params})


def test_large_end_nests_ipca():
    """At the IPCA-like end the chosen model predicts as IPCA does."""
    Xtr, ytr, Xte, yte = split("linear")
    base = neurif(prediction_weight=0.0, orthogonality_penalty=0.0)
    est = NeurIFRegressorCV(base, deviation_penalties=[1e4]).fit(Xtr, ytr)
    ipca = IPCARegressor(n_factors=2).fit(Xtr, ytr)
    assert est.deviation_penalty_ == 1e4
    nn_fit, ip_fit = est.predict_total(Xte, yte), ipca.predict_total(Xte, yte)
    assert abs(r2_total(yte, nn_fit) - r2_total(yte, ip_fit)) < 0.005
    assert np.corrcoef(nn_fit, ip_fit)[0, 1] > 0.98


def test_path_is_warm_started_and_results_follow_scikit_learn():
    Xtr, ytr, _, _ = split("abs")
    est = NeurIFRegressorCV(
        neurif(max_epochs=8), deviation_penalties=[0.0, 1e4, 1.0], warm_path=True
    ).fit(Xtr, ytr)
    res = est.cv_results_
    np.testing.assert_array_equal(res["param_deviation_penalty"], [1e4, 1.0, 0.0])
    assert res["params"] == [{"deviation_penalty": p} for p in (1e4, 1.0, 0.0)]
    assert set(res) == {
        "params",
        "param_deviation_penalty",
        "split0_test_score",
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
        "mean_fit_time",
        "std_fit_time",
        "n_epochs",
    }
    np.testing.assert_array_equal(res["split0_test_score"], res["mean_test_score"])
    assert res["rank_test_score"][est.best_index_] == 1
    assert est.best_params_ == {"deviation_penalty": est.deviation_penalty_}
    assert est.best_score_ == res["mean_test_score"].max()
    assert est.deviation_penalty_ == res["param_deviation_penalty"][est.best_index_]
    assert est.n_splits_ == 1
    assert pd.DataFrame(res).shape == (3, 9)
    # The chosen step of the warm path: its history holds every earlier
    # step's epochs, numbered on.
    best = est.best_estimator_
    assert best.deviation_penalty == est.deviation_penalty_
    assert np.all(np.diff(best.history_["epoch"]) == 1)
    assert est.n_iter_ == best.n_iter_ == len(best.history_)
    assert best.n_iter_ == res["n_epochs"][: est.best_index_ + 1].sum()


def test_fitted_interface_is_the_chosen_models():
    Xtr, ytr, Xte, yte = split("abs", sizes=dict(SIZES, n_entities=60))
    est = NeurIFRegressorCV(neurif(max_epochs=2), deviation_penalties=[1e4, 0.0])
    est.fit(Xtr, ytr)
    best = est.best_estimator_
    np.testing.assert_allclose(est.predict(Xte), best.predict(Xte))
    np.testing.assert_allclose(
        est.predict_total(Xte, yte), best.predict_total(Xte, yte)
    )
    pd.testing.assert_frame_equal(est.transform(Xte), best.transform(Xte))
    pd.testing.assert_frame_equal(est.get_factors(Xte, yte), best.get_factors(Xte, yte))
    pd.testing.assert_frame_equal(est.factors_, best.factors_)
    pd.testing.assert_frame_equal(est.gamma_, best.gamma_)
    assert list(est.get_feature_names_out()) == list(best.get_feature_names_out())
    assert est.score(Xte, yte) == pytest.approx(best.score(Xte, yte))
    assert list(est.feature_names_in_) == list(Xtr.columns)
    # The estimator parameter is cloned, never fitted itself.
    assert not hasattr(est.estimator, "net_")


def test_y_is_paired_by_index():
    """A shuffled y gives the same path as the aligned one (issue 17 finding 1)."""
    Xtr, ytr, _, _ = split("abs", sizes=dict(SIZES, n_entities=60))
    shuffled = ytr.sample(frac=1, random_state=1)
    for cv in (None, PanelTimeSeriesSplit(n_splits=2, test_size=5)):
        params = dict(deviation_penalties=[1e4, 0.0], cv=cv)
        a = NeurIFRegressorCV(neurif(max_epochs=2), **params).fit(Xtr, ytr)
        b = NeurIFRegressorCV(neurif(max_epochs=2), **params).fit(Xtr, shuffled)
        np.testing.assert_allclose(
            a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"]
        )
        assert a.deviation_penalty_ == b.deviation_penalty_
        np.testing.assert_allclose(a.predict(Xtr), b.predict(Xtr))


def _spy_fits(monkeypatch):
    starts = []
    original = NeurIFRegressor.fit

    def spy(self, X, y):
        starts.append((self.deviation_penalty, self.warm_start, hasattr(self, "net_")))
        return original(self, X, y)

    monkeypatch.setattr(NeurIFRegressor, "fit", spy)
    return starts


def test_warm_start_continues_from_the_previous_penalty(monkeypatch):
    """Every step after the first starts from the previous step's weights."""
    Xtr, ytr, _, _ = split("abs")
    starts = _spy_fits(monkeypatch)
    params = dict(deviation_penalties=[1e4, 0.0], warm_path=True)
    est = NeurIFRegressorCV(neurif(max_epochs=3), **params).fit(Xtr, ytr)
    # cv=None: one path on all the months, no refit (the step is kept).
    assert starts == [(1e4, True, False), (0.0, True, True)]
    assert est.best_estimator_.deviation_penalty == est.deviation_penalty_
    # With splits: a path per split, then a refit path from a fresh start.
    starts.clear()
    cv = PanelTimeSeriesSplit(n_splits=2, test_size=5)
    est = NeurIFRegressorCV(neurif(max_epochs=3), cv=cv, **params)
    est.fit(Xtr, ytr)
    assert starts[:4] == [(1e4, True, False), (0.0, True, True)] * 2
    assert starts[4] == (1e4, True, False)
    assert all(fitted for _, _, fitted in starts[5:])


def test_default_path_starts_every_step_at_ipca(monkeypatch):
    """warm_path=False: each penalty is a fresh fit from IPCA's solution."""
    Xtr, ytr, _, _ = split("abs")
    starts = _spy_fits(monkeypatch)
    est = NeurIFRegressorCV(neurif(max_epochs=3), deviation_penalties=[1e4, 1.0, 0.0])
    est.fit(Xtr, ytr)
    assert starts == [(1e4, False, False), (1.0, False, False), (0.0, False, False)]


def test_cv_splitter_gives_one_score_per_split():
    Xtr, ytr, _, _ = split("interaction")
    cv = PanelTimeSeriesSplit(n_splits=2, test_size=6)
    est = NeurIFRegressorCV(
        neurif(max_epochs=3), deviation_penalties=[10.0, 0.0], cv=cv
    )
    res = est.fit(Xtr, ytr).cv_results_
    assert est.n_splits_ == 2
    np.testing.assert_allclose(
        res["mean_test_score"],
        np.mean([res["split0_test_score"], res["split1_test_score"]], axis=0),
    )
    # An int is that many PanelTimeSeriesSplit splits; an iterable of
    # month-disjoint row positions works as well.
    rows = list(cv.split(Xtr))
    est = NeurIFRegressorCV(
        neurif(max_epochs=3), deviation_penalties=[10.0, 0.0], cv=rows
    )
    np.testing.assert_allclose(
        est.fit(Xtr, ytr).cv_results_["mean_test_score"], res["mean_test_score"]
    )


def test_params_and_clone():
    base = NeurIFRegressor(n_factors=3, lr=0.01)
    est = NeurIFRegressorCV(base, deviation_penalties=[1.0, 0.0])
    params = est.get_params()
    assert params["estimator__n_factors"] == 3 and params["estimator__lr"] == 0.01
    assert set(est.get_params(deep=False)) == {
        "estimator",
        "deviation_penalties",
        "cv",
        "scoring",
        "warm_path",
        "random_state",
    }
    cloned = clone(est)
    assert cloned.estimator is not base
    assert cloned.get_params()["estimator__n_factors"] == 3
    assert NeurIFRegressorCV().estimator is None  # default: NeurIFRegressor()


def test_single_period_keeps_the_large_end_with_a_warning():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(0, 0.05, 40)
    est = NeurIFRegressorCV(NeurIFRegressor(n_factors=1, max_epochs=2))
    with pytest.warns(UserWarning, match="single period.*largest penalty"):
        est.fit(X, y)
    assert est.deviation_penalty_ == 1e4
    assert np.isnan(est.cv_results_["mean_test_score"]).all()
    assert est.predict(X).shape == (40,)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(deviation_penalties=[-1.0]), ValueError, "deviation_penalties"),
        (dict(deviation_penalties=[]), ValueError, "deviation_penalties"),
        (dict(scoring="rmse"), ValueError, "scoring"),
        (
            dict(estimator=NeurIFRegressor(validation_fraction=0.0)),
            ValueError,
            "validation_fraction",
        ),
        (dict(estimator=IPCARegressor()), TypeError, "must be a NeurIFRegressor"),
    ],
)
def test_bad_input_before_training(kwargs, error, match, monkeypatch):
    starts = _spy_fits(monkeypatch)
    Xtr, ytr, _, _ = split("linear", sizes=dict(SIZES, n_entities=30))
    with pytest.raises(error, match=match):
        NeurIFRegressorCV(**kwargs).fit(Xtr, ytr)
    assert starts == []


def test_unknown_parameter():
    with pytest.raises(TypeError, match="deviation_penalty"):
        NeurIFRegressorCV(deviation_penalty=1.0)
