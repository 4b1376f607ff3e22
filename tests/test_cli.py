"""``neurif`` argument checks: every bad argument exits 2 with one line on
stderr before any model is fitted (issue 12, class 8); ``--version``."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_neurif import __version__
from sklearn_neurif.datasets import _french
from sklearn_neurif.preprocessing import CrossSectionalRankScaler
from sklearn_neurif.study import main


class Reached(Exception):
    """Raised by the stand-ins: the command got past its checks."""


def _reached(*args, **kwargs):
    raise Reached


@pytest.fixture
def no_study(monkeypatch):
    """``run_study`` must not be called: the checks come first."""
    monkeypatch.setattr("sklearn_neurif.study._study.run_study", _reached)


@pytest.fixture
def no_fit(monkeypatch):
    """The study may load data, but scaling (the first step after the split,
    before any fit) must not be reached."""
    monkeypatch.setattr(CrossSectionalRankScaler, "fit_transform", _reached)


def _error(args, capsys, tmp_path):
    code = main(["run", "--quiet", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("neurif: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()
    return err


BAD = {
    "train-end alone": (["--train-end", "2016-12"], "--train-end needs --valid-end"),
    "valid-end alone": (["--valid-end", "2018-12"], "--valid-end needs --train-end"),
    "month 13": (
        ["--train-end", "2016-13", "--valid-end", "2018-12"],
        "--train-end '2016-13' is not a month written YYYY-MM",
    ),
    "month as text": (
        ["--train-end", "2016-12", "--valid-end", "Dec 2018"],
        "--valid-end 'Dec 2018' is not a month",
    ),
    "ends reversed": (
        ["--train-end", "2018-12", "--valid-end", "2016-12"],
        "--valid-end 2016-12 must come after --train-end 2018-12",
    ),
    "threads": (["--threads", "-1"], "--threads: threads must be in [1, "),
    "threads above the CPUs": (["--threads", "100000"], "the CPUs of this machine"),
    "seed": (["--seed", "-1"], "--seed must be in [0, 2**32 - 1]; got -1"),
    "seed too large": (["--seed", str(2**32)], "--seed must be in"),
    "device": (["--device", "gpu"], "--device 'gpu'"),
    "unknown data": (["--data", "nasdaq"], "Unknown data 'nasdaq'"),
    "missing file": (["--data", "absent.csv"], "Cannot read absent.csv: no such file"),
    "data is a folder": (["--data", "."], "Cannot read .: not a file"),
    "factors": (["--factors", "nowhere"], "--factors: no such file or folder"),
    "anomalies": (["--anomalies", "nowhere.csv"], "--anomalies: no such file"),
    "data-home": (["--data-home", "nowhere"], "--data-home: no such folder"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_argument_refused_before_the_study(case, no_study, capsys, tmp_path):
    args, expected = BAD[case]
    assert expected in _error(args, capsys, tmp_path)


def test_missing_cuda_refused_before_the_study(no_study, capsys, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert "--device 'cuda'" in _error(["--device", "cuda"], capsys, tmp_path)


def test_unwritable_out_refused_before_the_study(no_study, capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for out, expected in [
        (blocker, "exists and is not a folder"),
        (blocker / "run", "is a file, not a folder"),
    ]:
        code = main(["run", "--quiet", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and f"--out {out}" in err and expected in err, err


def test_good_arguments_reach_the_study(no_study, tmp_path):
    args = ["run", "--quiet", "--data", "simulated", "--out", str(tmp_path / "o")]
    split = ["--train-end", "2006-12", "--valid-end", "2008-12", "--threads", "0"]
    with pytest.raises(Reached):
        main([*args, *split, "--seed", "3", "--device", "cpu"])


@pytest.mark.parametrize(
    "ends, expected",
    [
        (
            ("1990-01", "1995-01"),
            "The train sample (ends 1990-01, 1995-01) has no month",
        ),
        (
            ("2009-12", "2020-12"),
            "The test sample (ends 2009-12, 2020-12) has no month",
        ),
    ],
)
def test_months_outside_the_data_refused_before_any_fit(
    ends, expected, no_fit, capsys, tmp_path
):
    # The simulated panel runs 2001-01 to 2010-12.
    args = ["--data", "simulated", "--train-end", ends[0], "--valid-end", ends[1]]
    assert expected in _error(args, capsys, tmp_path)


@pytest.mark.parametrize(
    "ends, expected",
    [
        (("2006-12", None), "train_end='2006-12' and valid_end=None: give both"),
        ((None, "2008-12"), "train_end=None and valid_end='2008-12': give both"),
        (("2008-12", "2006-12"), "valid_end 2006-12 must come after train_end"),
    ],
)
def test_run_study_refuses_one_split_end(ends, expected, no_fit):
    # From Python as from the CLI: one end alone used to fall back to 60/20/20.
    from sklearn_neurif.study import run_study

    with pytest.raises(ValueError, match=expected):
        run_study("simulated", train_end=ends[0], valid_end=ends[1])


def test_interrupted_run_exits_130_without_report(monkeypatch, capsys, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C during a fit

    monkeypatch.setattr("sklearn_neurif.study._study.run_study", interrupted)
    out = tmp_path / "out"
    code = main(["run", "--quiet", "--data", "simulated", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 130
    assert err == "neurif: interrupted; no report written.\n"
    assert not out.exists()


def _panel_file(path, ret):
    months = pd.period_range("2020-01", periods=12, freq="M").astype(str)
    frame = pd.DataFrame(
        [(e, m) for m in months for e in range(30)], columns=["permno", "date"]
    )
    frame["ret"] = ret(len(frame))
    frame["mom"] = np.random.default_rng(0).normal(size=len(frame))
    frame.to_csv(path, index=False)
    return path


def test_text_in_return_column_names_the_column(no_fit, capsys, tmp_path):
    def ret(n):
        values = np.random.default_rng(1).normal(0, 0.05, n).astype(object)
        values[40] = "C"  # CRSP's code for a missing return
        return values

    path = _panel_file(tmp_path / "p.csv", ret)
    args = ["--data", str(path), "--entity-col", "permno", "--time-col", "date"]
    err = _error(args, capsys, tmp_path)
    assert "column 'ret' must hold numbers" in err and "'C' on data row 41" in err


def _daily_dates(path):
    frame = pd.read_csv(path)
    frame["date"] = pd.to_datetime(frame["date"]) + pd.to_timedelta(
        frame["permno"], "D"
    )
    frame.to_csv(path, index=False)


def _repeated_rows(path):
    frame = pd.read_csv(path)
    pd.concat([frame, frame.iloc[:3]]).to_csv(path, index=False)


@pytest.mark.parametrize(
    "edit, extra, expected",
    [
        (
            _repeated_rows,
            [],
            "3 row(s) repeat an (entity, month) pair, e.g. permno=0, "
            "date='2020-01' on data row 361",
        ),
        (_daily_dates, [], "daily data must be compounded to months first"),
        (
            None,
            ["--return-col", "permno"],
            "columns must differ; got ['permno', 'date', 'permno']",
        ),
    ],
)
def test_panel_file_rows_and_columns(edit, extra, expected, no_fit, capsys, tmp_path):
    path = _panel_file(
        tmp_path / "p.csv", lambda n: np.random.default_rng(1).normal(0, 0.05, n)
    )
    if edit is not None:
        edit(path)
    args = ["--data", str(path), "--entity-col", "permno", "--time-col", "date"]
    assert expected in _error([*args, *extra], capsys, tmp_path)


def test_wrong_data_home_for_us_panel_is_an_error(no_fit, capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _error(["--data-home", str(empty)], capsys, tmp_path)
    assert f"--data-home {empty}: no usable F-F_Research_Data_Factors file" in err


def _fresh_python(code):
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )


def test_version_without_torch():
    # --help is checked in tests/test_imports.py.
    proc = _fresh_python(
        "import sys\n"
        "from sklearn_neurif.study._cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print('torch' in sys.modules)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"neurif {__version__}", "False"]


# --- issue 20: units, raw or excess returns, column selection ---------------

FRENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "kenfrench"
needs_french = pytest.mark.skipif(
    not FRENCH.is_dir(), reason=f"Ken French files not found at {FRENCH}"
)


@pytest.fixture
def columns_reaching_fit(monkeypatch):
    """Record the characteristics that reach the first fit, then stop there."""
    seen = []

    def record(self, X, y=None):
        seen.append(list(X.columns))
        raise Reached

    monkeypatch.setattr(CrossSectionalRankScaler, "fit_transform", record)
    return seen


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """An empty default data home, and a network that fails."""
    home = tmp_path / "home"
    monkeypatch.setenv("SKLEARN_NEURIF_DATA", str(home))
    calls = []

    def offline(url, target):
        calls.append(url)
        raise OSError("no network")

    monkeypatch.setattr(_french, "_download", offline)
    return calls


def _wide_file(path, scale=1.0, **extra):
    """A panel file with characteristics mom, value (and ``extra`` columns)."""
    months = pd.period_range("2016-01", periods=60, freq="M").astype(str)
    frame = pd.DataFrame(
        [(e, m) for m in months for e in range(30)], columns=["permno", "date"]
    )
    rng = np.random.default_rng(0)
    frame["ret"] = rng.normal(0.01, 0.08, len(frame)) * scale
    frame["mom"] = rng.normal(size=len(frame))
    frame["value"] = rng.normal(size=len(frame))
    for name, values in extra.items():
        frame[name] = values
    frame.to_csv(path, index=False)
    return path


def _file_args(path):
    return ["--data", str(path), "--entity-col", "permno", "--time-col", "date"]


def test_percent_returns_stop_before_training(no_fit, capsys, tmp_path):
    path = _wide_file(tmp_path / "p.csv", scale=100.0)
    err = _error(_file_args(path), capsys, tmp_path)
    assert "column 'ret' look like percent (median absolute return" in err
    assert "--returns-unit percent" in err


def test_percent_returns_run_with_the_unit_option(columns_reaching_fit, tmp_path):
    path = _wide_file(tmp_path / "p.csv", scale=100.0)
    args = ["run", "--quiet", "--out", str(tmp_path / "o"), *_file_args(path)]
    with pytest.raises(Reached):
        main([*args, "--returns-unit", "percent"])
    # Told they are decimals, the same file runs as given.
    with pytest.raises(Reached):
        main([*args, "--returns-unit", "decimal"])


def test_percent_option_divides_by_100(tmp_path):
    from sklearn_neurif.study import load_study_data

    kw = {"entity_col": "permno", "time_col": "date"}
    decimal = load_study_data(_wide_file(tmp_path / "d.csv"), **kw)
    percent = load_study_data(
        _wide_file(tmp_path / "p.csv", scale=100.0), returns_unit="percent", **kw
    )
    np.testing.assert_allclose(percent.y, decimal.y)


def test_returns_unit_refused_for_built_in_data(no_study, capsys, tmp_path):
    err = _error(["--returns-unit", "percent"], capsys, tmp_path)
    assert "--returns-unit applies to a panel file" in err


@pytest.mark.parametrize(
    "option, expected",
    [
        (["--characteristics", "junk,mom"], ["junk", "mom"]),
        (["--drop", "junk"], ["mom", "value"]),
        (["--characteristics", "value, mom"], ["value", "mom"]),
    ],
)
def test_column_selection_for_files(option, expected, columns_reaching_fit, tmp_path):
    path = _wide_file(tmp_path / "p.csv", junk=1.0 + np.arange(60 * 30) % 7)
    args = ["run", "--quiet", "--out", str(tmp_path / "o"), *_file_args(path)]
    with pytest.raises(Reached):
        main([*args, *option])
    assert columns_reaching_fit == [expected]


@pytest.mark.parametrize(
    "option, expected",
    [
        (["--drop", "size"], "--drop: no characteristic column(s) ['size']"),
        (["--characteristics", "mom", "--drop", "value"], "not both"),
        (["--drop", ","], "--drop ',' names no column"),
    ],
)
def test_bad_column_selection(option, expected, no_fit, capsys, tmp_path):
    path = _wide_file(tmp_path / "p.csv")
    assert expected in _error([*_file_args(path), *option], capsys, tmp_path)


@pytest.mark.parametrize(
    "column, expected",
    [
        (np.nan, "['dead'] have no value at all; leave them out with --drop dead"),
        (1.0, "['dead'] take a single value in every row: the study adds its own"),
    ],
)
def test_empty_or_constant_characteristic(column, expected, no_fit, capsys, tmp_path):
    # Issue 17 finding 7: these used to fail later with misleading messages.
    path = _wide_file(tmp_path / "p.csv", dead=column)
    assert expected in _error(_file_args(path), capsys, tmp_path)


def _run_until_study(args, tmp_path):
    with pytest.raises(Reached):
        main(["run", "--out", str(tmp_path / "o"), *args])


def test_console_says_raw_returns_loudly_when_no_rf(
    no_study, offline_home, capsys, tmp_path
):
    _run_until_study([], tmp_path)
    out, err = capsys.readouterr()
    assert "WARNING" in err and "RAW returns, NOT excess returns" in err
    assert "F-F_Research_Data_Factors" in err and "--data-home" in err
    assert len(offline_home) == 1  # the download was tried (fetch_* convention)
    # --no-download: never tried, same warning, even with --quiet.
    _run_until_study(["--no-download", "--quiet"], tmp_path)
    out, err = capsys.readouterr()
    assert "RAW returns" in err and len(offline_home) == 1


@needs_french
def test_console_names_excess_returns_and_the_rf_file(no_study, capsys, tmp_path):
    _run_until_study(["--data", "french", "--data-home", str(FRENCH)], tmp_path)
    out = capsys.readouterr().out
    rf_file = FRENCH / "F-F_Research_Data_Factors.CSV"
    assert (
        f"Returns: EXCESS returns (minus the one-month T-bill RF of {rf_file})" in out
    )


@needs_french
def test_rf_downloaded_into_the_cache_by_default(
    no_study, tmp_path, monkeypatch, capsys
):
    home = tmp_path / "home"
    monkeypatch.setenv("SKLEARN_NEURIF_DATA", str(home))

    def fake_download(url, target):
        name = url.rsplit("/", 1)[1].replace("_CSV.zip", ".CSV")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FRENCH / name, target.with_name(name))
        return target.with_name(name)

    monkeypatch.setattr(_french, "_download", fake_download)
    _run_until_study([], tmp_path)
    assert (home / "F-F_Research_Data_Factors.CSV").is_file()
    assert "Returns: EXCESS returns" in capsys.readouterr().out


@needs_french
def test_console_for_files_raw_or_excess_with_factors(
    columns_reaching_fit, capsys, tmp_path
):
    path = _wide_file(tmp_path / "p.csv")
    _run_until_study(_file_args(path), tmp_path)
    out = capsys.readouterr().out
    assert (
        "Returns: RAW, no risk-free rate subtracted (the file's returns as given" in out
    )
    factors = FRENCH / "F-F_Research_Data_5_Factors_2x3.CSV"
    _run_until_study([*_file_args(path), "--factors", str(factors)], tmp_path)
    out = capsys.readouterr().out
    assert (
        f"Returns: EXCESS returns (minus the one-month T-bill RF of --factors {factors})"
        in out
    )


@needs_french
def test_factors_subtract_rf_from_a_file(tmp_path):
    from sklearn_neurif.datasets import fetch_french_factors
    from sklearn_neurif.study import load_study_data

    path = _wide_file(tmp_path / "p.csv")
    factors = FRENCH / "F-F_Research_Data_5_Factors_2x3.CSV"
    kw = {"entity_col": "permno", "time_col": "date"}
    raw = load_study_data(path, **kw)
    excess = load_study_data(path, factors=factors, **kw)
    rf = fetch_french_factors("F-F_Research_Data_5_Factors_2x3", data_home=FRENCH)["RF"]
    # y at (i, t) is the return over t+1: minus the RF earned over t+1.
    key = (3, pd.Period("2018-05", "M"))
    assert excess.y.loc[key] == pytest.approx(raw.y.loc[key] - rf.loc["2018-06"])
    assert excess.returns_kind == "excess" and raw.returns_kind == "raw"


def test_help_shows_column_defaults_and_the_rf_rule():
    from sklearn_neurif.study._cli import build_parser

    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]
    text = " ".join(run.format_help().split())
    for expected in (
        "entity column of a file (default: entity)",
        "month column of a file (default: time)",
        "(default: ret)",
        "--returns-unit {decimal,percent}",
        "--no-download",
        "french (the 50 Ken French",
        "its RF is subtracted from the returns",
    ):
        assert expected in text, expected


@needs_french
def test_missing_french_file_hint_names_the_cli_option(capsys, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(FRENCH / "F-F_Research_Data_Factors.CSV", home)
    args = ["--data", "french", "--data-home", str(home), "--no-download"]
    err = _error(args, capsys, tmp_path)
    assert "'25_Portfolios_5x5' is not in" in err
    assert "data_home= (--data-home on the command line)" in err
    # A relative SKLEARN_NEURIF_DATA is read from the current directory: the
    # message says which, so that it never names a folder that looks right.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKLEARN_NEURIF_DATA", "home")
    err = _error(["--data", "french", "--no-download"], capsys, tmp_path)
    assert f"{tmp_path / 'home'} (home read from the current directory" in err


def test_estimator_option_reaches_run_study(monkeypatch, tmp_path):
    seen = {}

    def record(data, **kwargs):
        seen.update(kwargs, data=data)
        raise Reached

    monkeypatch.setattr("sklearn_neurif.study._study.run_study", record)
    args = ["run", "--quiet", "--data", "simulated", "--out", str(tmp_path / "o")]
    with pytest.raises(Reached):
        main([*args, "--estimator", "ridge=sklearn.linear_model:Ridge"])
    ((name, estimator),) = seen["estimators"]
    assert name == "ridge" and type(estimator).__name__ == "Ridge"
    assert str(seen["data"]) == "simulated"  # the source loaded by the command
