"""How the study chooses K (the K rule) and its sensitivity line (issue 20 item 3)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV

from sklearn_neurif import IPCARegressor
from sklearn_neurif.metrics import r2_predictive_scorer, r2_total_scorer
from sklearn_neurif.model_selection import walk_forward_predict
from sklearn_neurif.preprocessing import CrossSectionalRankScaler
from sklearn_neurif.study import load_study_data, main, run_study, study_settings
from sklearn_neurif.study._conclusion import conclusion, k_sign_changes
from sklearn_neurif.study._models import build_estimator
from sklearn_neurif.study._sensitivity import KGridSearchCV

FIRST_TEST = pd.Period("2004-01", freq="M")
SCHEDULE = {"test_start": FIRST_TEST, "refit_every": 24, "validation_periods": 12}


def _quick(**changes):
    # The quick simulated study of IPCA alone, without the KPS bootstrap.
    return study_settings(quick=True, kps_n_boot=0, models=("IPCA",), **changes)


@pytest.fixture(scope="module")
def ipca_run():
    return run_study("simulated", settings=_quick(), quiet=True)


@pytest.fixture(scope="module")
def panel():
    src = load_study_data("simulated", seed=0)
    return CrossSectionalRankScaler().fit_transform(src.X).assign(const=1.0), src.y


def test_k_rule_is_a_validated_setting():
    assert study_settings().k_rule == "total_r2"
    assert study_settings().k_sensitivity is True
    for bad in ("total", "R2", None, 1):
        with pytest.raises(ValueError, match="k_rule must be one of 'total_r2'"):
            run_study("no-such-data", settings=study_settings(k_rule=bad))
    with pytest.raises(ValueError, match="got 'predictive'"):
        run_study("no-such-data", k_rule="predictive")  # before the data is read
    with pytest.raises(TypeError, match="k_sensitivity must be True or False"):
        run_study("no-such-data", settings=study_settings(k_sensitivity="yes"))
    with pytest.raises(TypeError, match="k_sensitivity must be True or False"):
        run_study("no-such-data", k_sensitivity=1)


@pytest.mark.parametrize(
    "k_rule, sensitivity, scorer, search",
    [
        ("total_r2", True, r2_total_scorer, KGridSearchCV),
        ("predictive_r2", True, r2_predictive_scorer, KGridSearchCV),
        ("total_r2", False, r2_total_scorer, GridSearchCV),
    ],
)
def test_selecting_models_search_with_the_rule(k_rule, sensitivity, scorer, search):
    for model, grid in (("IPCA", (1, 2, 3)), ("CA2", (1, 3, 5))):
        est = build_estimator(
            model, grid, {}, 1, 0, k_rule=k_rule, k_sensitivity=sensitivity
        )
        assert type(est) is search and est.scoring is scorer
    # One K: IPCA still searches (its validation window), nothing to compare.
    one = build_estimator("IPCA", (2,), {}, 1, 0, k_rule=k_rule)
    assert type(one) is GridSearchCV and one.scoring is scorer


def test_cli_k_rule_option(monkeypatch, tmp_path, capsys):
    seen = {}

    class Reached(Exception):
        pass

    def record(data, **kwargs):
        seen.update(kwargs)
        raise Reached

    monkeypatch.setattr("sklearn_neurif.study._study.run_study", record)
    args = ["run", "--quiet", "--data", "simulated", "--out", str(tmp_path / "o")]
    for option, rule, sensitivity in (
        ([], "total_r2", True),
        (["--k-rule", "predictive_r2"], "predictive_r2", True),
        (["--no-k-sensitivity"], "total_r2", False),
    ):
        with pytest.raises(Reached):
            main([*args, *option])
        assert (seen["k_rule"], seen["k_sensitivity"]) == (rule, sensitivity)
    with pytest.raises(SystemExit) as exc:
        main([*args, "--k-rule", "pred"])
    assert exc.value.code == 2
    assert "argument --k-rule: invalid choice: 'pred'" in capsys.readouterr().err


def test_sensitivity_one_row_per_k_and_chosen_row_is_the_headline(ipca_run):
    table = ipca_run.k_sensitivity
    assert list(table.index) == [("IPCA", 1), ("IPCA", 2), ("IPCA", 3)]
    refits = ipca_run.refits
    assert table["n_refits_chosen"].sum() == len(refits) == 4
    # Total R² chose the same K in every refit here: its row is the
    # headline, to the last bit (the same predictions, the same functions).
    (k,) = refits.K.unique()
    row, head = table.loc[("IPCA", k)], ipca_run.test["IPCA"]
    assert row["n_refits_chosen"] == 4
    for key in ("r2_total", "r2_predictive", "ic_mean", "ic_nw_t"):
        assert row[key] == head[key], key
    # Its cost: the extra fits, per refit and in the timings.
    assert (refits.k_refit_time > 0).all()
    total = ipca_run.timings["of which K sensitivity fits"]
    assert total == pytest.approx(refits.k_refit_time.sum())


def test_sensitivity_k_equals_a_fixed_k_walk_forward(ipca_run, panel):
    """A K not chosen: its row is IPCA(K) refitted on every whole window."""
    Xs, y = panel
    chosen = int(ipca_run.refits.K.iloc[0])
    k = 1 if chosen != 1 else 2
    whole = {**SCHEDULE, "validation_periods": None}  # fitted on whole windows
    fixed = walk_forward_predict(IPCARegressor(k), Xs, y, **whole)
    test = np.asarray(Xs.index.get_level_values("time") >= FIRST_TEST)
    r, p = y[test].to_numpy(), fixed.predictions[test].to_numpy()
    row = ipca_run.k_sensitivity.loc[("IPCA", k)]
    assert row["r2_predictive"] == pytest.approx(
        1 - np.sum((r - p) ** 2) / np.sum(r**2), abs=1e-12
    )
    f = fixed.fitted[test].to_numpy()
    assert row["r2_total"] == pytest.approx(
        1 - np.sum((r - f) ** 2) / np.sum(r**2), abs=1e-12
    )


def test_predictive_rule_is_the_former_search(panel):
    Xs, y = panel
    result = run_study("simulated", settings=_quick(k_rule="predictive_r2"), quiet=True)
    assert result.config["k_rule"] == "predictive_r2"
    search = GridSearchCV(
        IPCARegressor(), {"n_factors": [1, 2, 3]}, scoring=r2_predictive_scorer
    )
    wf = walk_forward_predict(search, Xs, y, **SCHEDULE)
    np.testing.assert_allclose(
        wf.predictions.to_numpy(), result.predictions["IPCA"].to_numpy(), atol=1e-12
    )
    ks = [int(next(iter(p.values()))) for p in wf.refits.best_params]
    assert result.refits.K.tolist() == ks


def test_sensitivity_off_and_user_searches_untouched(panel):
    user = GridSearchCV(
        IPCARegressor(), {"n_factors": [1, 2]}, scoring=r2_predictive_scorer
    )
    result = run_study(
        "simulated", settings=_quick(k_sensitivity=False), quiet=True,
        estimators={"mine": user},
    )  # fmt: skip
    assert result.k_sensitivity.empty
    assert result.timings["of which K sensitivity fits"] == 0
    # The user's search chose by its own scorer, as configured.
    Xs, y = panel
    wf = walk_forward_predict(user, Xs, y, **SCHEDULE)
    np.testing.assert_allclose(
        wf.predictions.to_numpy(), result.predictions["mine"].to_numpy(), atol=1e-12
    )


def _with_ic(result, by_k, chosen):
    """``result`` with IPCA's rank IC at each K and with the chosen K replaced."""
    table = result.k_sensitivity.copy()
    for k, value in by_k.items():
        table.loc[("IPCA", k), "ic_mean"] = value
    test = {**result.test, "IPCA": {**result.test["IPCA"], "ic_mean": chosen}}
    return replace(result, k_sensitivity=table, test=test)


def test_conclusion_says_when_a_sign_depends_on_k(ipca_run):
    flipped = _with_ic(ipca_run, {1: -0.052, 2: 0.021, 3: 0.009}, chosen=-0.032)
    ((model, key, chosen, by_k),) = k_sign_changes(flipped)
    assert (model, key, chosen) == ("IPCA", "ic_mean", -0.032)
    text = conclusion(flipped)
    assert (
        "IPCA's rank IC depends on K in its sign: -0.032 with K chosen per refit, "
        "positive at K = 2, 3 (0.009 to 0.021) and negative at K = 1 (-0.052)"
    ) in text
    # Same sign at every K and with the chosen K: no such sentence.
    agreed = _with_ic(ipca_run, {1: 0.052, 2: 0.021, 3: 0.009}, chosen=0.02)
    assert k_sign_changes(agreed) == []
    assert "depends on K" not in conclusion(agreed)
    assert "do not depend on K" in conclusion(agreed)
    # Only the chosen K's sign differs from every fixed K's: it depends on K.
    assert k_sign_changes(_with_ic(ipca_run, {1: 0.1, 2: 0.1, 3: 0.1}, chosen=-0.01))
