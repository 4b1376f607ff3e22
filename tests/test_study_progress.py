"""The study's progress bar is weighted by each refit's measured cost."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from sklearn_neurif.study import load_study_data, study_settings
from sklearn_neurif.study._models import (
    MODEL_SPECS,
    builtin_model,
    model_params,
    user_model,
)
from sklearn_neurif.study._prepare import prepare_panel
from sklearn_neurif.study._walk import TimedBar, walk_forward_model

_spec = importlib.util.spec_from_file_location(
    "progress_costs",
    Path(__file__).resolve().parents[1] / "benchmarks" / "progress_costs.py",
)
_progress_costs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_progress_costs)
as_the_run_did = _progress_costs.as_the_run_did

# Refit windows (training rows, months) of the two full runs the constants
# were fitted to, and each model's measured refit seconds there (the sum of
# ``refits[*].fit_time`` in their metrics.json; 2 shared cores, load 2 to 4):
# benchmarks/progress_costs.py, docs/study.md "Progress".
US_WINDOWS = list(
    zip(
        [267590, 336731, 405151, 473331, 542128, 611089],
        [48, 60, 72, 84, 96, 108],
        strict=True,
    )
)
FRENCH_WINDOWS = [(50 * m, m) for m in range(138, 727, 12)]
MEASURED = {
    "US": {"IPCA": 5.8, "NeurIF": 85.3, "CA2": 125.5},
    "french": {"IPCA": 28.5, "NeurIF": 171.8, "CA2": 548.8},
}


def _default_model(name):
    """A model of the default study, fitting as often per refit as the measured
    runs did (G + 1 times: they predate any refit of every K)."""
    settings = study_settings()
    params = model_params(name, settings.params[name], 0, "cpu")
    spec, grid = MODEL_SPECS[name], settings.grids[name]
    return builtin_model(spec, grid, params, 1, 0, **as_the_run_did({}))


@pytest.mark.parametrize(
    "panel, windows", [("US", US_WINDOWS), ("french", FRENCH_WINDOWS)]
)
def test_expected_refit_costs_match_the_measured_runs(panel, windows):
    """With the study's default grids and epochs, each model's expected seconds
    are within 10% of its measured refit time, so the bar's share at each
    model's end is the measured share of time (within 2 points)."""
    expected = {
        name: sum(_default_model(name).cost(*w) for w in windows)
        for name in MEASURED[panel]
    }
    measured = MEASURED[panel]
    for name in measured:
        assert expected[name] == pytest.approx(measured[name], rel=0.1), name
    bar = np.cumsum(list(expected.values())) / sum(expected.values())
    real = np.cumsum(list(measured.values())) / sum(measured.values())
    np.testing.assert_allclose(bar, real, atol=0.02)
    # The former constants put the bar at 31% when NeurIF ended on the US
    # panel, with 58% of the refit time still to come; now 42% (measured 42%).


def test_a_refit_costs_as_many_fits_as_its_search_makes(small_panel, monkeypatch):
    """The bar counts every fit of a refit's search (GridSearchCV over G values
    of K: G fits on the window less its validation months, then the refit),
    as counted on IPCA's fit calls, whatever the search does."""
    from sklearn_neurif import IPCARegressor

    calls = []
    original = IPCARegressor.fit

    def counting_fit(self, *args, **kwargs):
        calls.append(self.n_factors)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(IPCARegressor, "fit", counting_fit)
    model = builtin_model(MODEL_SPECS["IPCA"], (1, 2, 3), {}, 1, 0)
    walk_forward_model(model, small_panel, TimedBar(quiet=True))
    fits = len(calls) / len(small_panel.refit_windows)
    assert fits >= 4  # 3 K and the refit at least
    per_row, per_month = MODEL_SPECS["IPCA"].cost
    rows, months = 10**6, 100
    assert model.cost(rows, months) - model.cost(0, 0) == pytest.approx(
        fits * (per_row * rows + per_month * months)
    )


@pytest.fixture(scope="module")
def small_panel():
    src = load_study_data("simulated")
    settings = study_settings(quick=True, max_entities=100)
    return prepare_panel(src, settings, seed=0)


def test_bar_fraction_at_each_model_end_is_its_share_of_expected_cost(small_panel):
    quick = study_settings(quick=True)
    ipca = builtin_model(MODEL_SPECS["IPCA"], quick.grids["IPCA"], {}, 1, 0)
    ca2_params = model_params("CA2", {"max_epochs": 1, "patience": 1}, 0, "cpu")
    ca2 = builtin_model(MODEL_SPECS["CA2"], (2,), ca2_params, 1, 0)
    models = [ipca, ca2, user_model("ridge", Ridge())]
    costs = [sum(m.cost(*w) for w in small_panel.refit_windows) for m in models]
    bar = TimedBar(quiet=True)
    bar.plan(sum(costs))
    fractions = []
    for model in models:
        walk_forward_model(model, small_panel, bar)
        fractions.append(bar.fraction)
    np.testing.assert_allclose(fractions, np.cumsum(costs) / sum(costs))
    times = bar.close()
    n = len(small_panel.refit_windows)
    assert {f"ridge refit {i}/{n}" for i in range(1, n + 1)} <= set(times)


def test_kps_cost_grows_with_k_as_measured():
    """The KPS tests' weight follows the measured runs (long Ken French panel,
    726 months, 8 columns, 300 draws: 87 s at K = 2 and 670 s at K = 6) and
    the bar is re-planned once the last refit's K is known."""
    from types import SimpleNamespace

    from sklearn_neurif.study._study import _kps_cost

    panel = SimpleNamespace(n_train_months=[138, 726], features=np.zeros((1, 8)))
    assert _kps_cost(panel, 300, 2) == pytest.approx(87, rel=0.25)
    assert _kps_cost(panel, 300, 6) == pytest.approx(670, rel=0.25)
    bar = TimedBar(quiet=True)
    bar.plan(100.0 + _kps_cost(panel, 300, 6))
    bar.step("refits", 100.0, lambda: None)
    revised = bar.replan(_kps_cost(panel, 300, 6), _kps_cost(panel, 300, 2))
    assert bar.fraction == pytest.approx(100.0 / (100.0 + revised))
    bar.step("tests", revised, lambda: None)
    assert bar.fraction == pytest.approx(1.0)
