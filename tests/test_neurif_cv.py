"""NeurIFRegressorCV: the warm-started deviation-penalty path."""

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_design_family_panel
from sklearn_neurif.metrics import r2_total
from sklearn_neurif.model_selection import PanelTimeSeriesSplit
from sklearn_neurif.neurif import NeurIFRegressor, NeurIFRegressorCV

SIZES = dict(n_entities=150, n_periods=60, n_characteristics=6)
FAST = dict(n_factors=2, window=3, max_epochs=30, lr=3e-3, random_state=0)


def split(design, seed=0):
    data = make_design_family_panel(design, **SIZES, random_state=seed)
    train = np.asarray(data.X.index.get_level_values("time") < 45)
    return data.X[train], data.y[train], data.X[~train], data.y[~train]


def test_large_end_nests_ipca():
    """At the IPCA-like end the chosen model predicts as IPCA does."""
    Xtr, ytr, Xte, yte = split("linear")
    est = NeurIFRegressorCV(
        deviation_penalties=[1e4],
        prediction_weight=0.0,
        orthogonality_penalty=0.0,
        **FAST,
    ).fit(Xtr, ytr)
    ipca = IPCARegressor(n_factors=2).fit(Xtr, ytr)
    assert est.deviation_penalty_ == 1e4
    nn_fit, ip_fit = est.predict_total(Xte, yte), ipca.predict_total(Xte, yte)
    assert abs(r2_total(yte, nn_fit) - r2_total(yte, ip_fit)) < 0.005
    assert np.corrcoef(nn_fit, ip_fit)[0, 1] > 0.98


def test_path_is_warm_started_and_results_have_one_row_per_penalty():
    Xtr, ytr, _, _ = split("abs")
    penalties = [0.0, 1e4, 1.0]
    params = dict(FAST, max_epochs=8, warm_path=True)
    est = NeurIFRegressorCV(deviation_penalties=penalties, **params).fit(Xtr, ytr)
    res = est.cv_results_
    assert list(res["deviation_penalty"]) == [1e4, 1.0, 0.0]  # large end first
    assert res.shape == (3, 6)
    assert set(res["rank"]) <= {1, 2, 3} and res["rank"].min() == 1
    best = res.loc[res["rank"] == 1, "deviation_penalty"].iloc[0]
    assert est.deviation_penalty_ == best
    # The refit walks the path to the chosen penalty in one warm-started
    # model: its history holds every step's epochs, numbered on.
    refit = est.best_estimator_
    assert refit.deviation_penalty == est.deviation_penalty_
    assert np.all(np.diff(refit.history_["epoch"]) == 1)
    assert est.n_iter_ == refit.n_iter_ == len(refit.history_)
    # The CV estimator itself predicts as its refitted model does.
    np.testing.assert_allclose(est.predict(Xtr), refit.predict(Xtr))


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
    params = dict(FAST, max_epochs=3, warm_path=True)
    est = NeurIFRegressorCV(deviation_penalties=[1e4, 0.0], **params).fit(Xtr, ytr)
    # cv=None: one path on all the months, no refit (the step is kept).
    assert starts == [(1e4, True, False), (0.0, True, True)]
    assert est.best_estimator_.deviation_penalty == est.deviation_penalty_
    # With splits: a path per split, then a refit path from a fresh start.
    starts.clear()
    cv = PanelTimeSeriesSplit(n_splits=2, test_size=5)
    est = NeurIFRegressorCV(deviation_penalties=[1e4, 0.0], cv=cv, **params)
    est.fit(Xtr, ytr)
    assert starts[:4] == [(1e4, True, False), (0.0, True, True)] * 2
    assert starts[4] == (1e4, True, False)
    assert all(fitted for _, _, fitted in starts[5:])


def test_default_path_starts_every_step_at_ipca(monkeypatch):
    """warm_path=False: each penalty is a fresh fit from IPCA's solution."""
    Xtr, ytr, _, _ = split("abs")
    starts = _spy_fits(monkeypatch)
    params = dict(FAST, max_epochs=3)
    NeurIFRegressorCV(deviation_penalties=[1e4, 1.0, 0.0], **params).fit(Xtr, ytr)
    assert starts == [(1e4, False, False), (1.0, False, False), (0.0, False, False)]


def test_cv_splitter_gives_one_score_per_split():
    Xtr, ytr, _, _ = split("interaction")
    cv = PanelTimeSeriesSplit(n_splits=2, test_size=6)
    params = dict(FAST, max_epochs=3)
    est = NeurIFRegressorCV(deviation_penalties=[10.0, 0.0], cv=cv, **params)
    res = est.fit(Xtr, ytr).cv_results_
    assert res.shape == (2, 7)
    np.testing.assert_allclose(
        res["mean_score"], res[["split0_score", "split1_score"]].mean(axis=1)
    )


def test_params_and_clone():
    est = NeurIFRegressorCV(deviation_penalties=[1.0, 0.0], n_factors=3, lr=0.01)
    params = est.get_params()
    assert "deviation_penalty" not in params and "warm_start" not in params
    assert params["n_factors"] == 3 and params["lr"] == 0.01
    assert params["window"] == NeurIFRegressor().window
    assert clone(est).get_params() == params


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(deviation_penalties=[-1.0]), ValueError, "deviation_penalties"),
        (dict(deviation_penalties=[]), ValueError, "deviation_penalties"),
        (dict(scoring="rmse"), ValueError, "scoring"),
        (dict(validation_fraction=0.0), ValueError, "validation_fraction"),
    ],
)
def test_bad_input_before_training(kwargs, error, match):
    Xtr, ytr, _, _ = split("linear")
    with pytest.raises(error, match=match):
        NeurIFRegressorCV(**kwargs, n_factors=2, max_epochs=1).fit(Xtr, ytr)


def test_unknown_parameter():
    with pytest.raises(TypeError, match="deviation_penalty"):
        NeurIFRegressorCV(deviation_penalty=1.0)
