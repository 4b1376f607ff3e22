"""The 60-year panel of the 50 Ken French size portfolios.

Expected values are read off the raw files in ../shared/data/kenfrench
(percent in the files, decimals in the loader's output); the no-look-ahead
test rewrites every file row labelled after t and checks that nothing known
at t moves.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import (
    FRENCH_PANEL_CHARACTERISTICS,
    _french,
    fetch_french_portfolio_panel,
)
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

pytestmark = pytest.mark.realdata

FRENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "kenfrench"
FILES = (
    "25_Portfolios_5x5.CSV",
    "25_Portfolios_ME_OP_5x5.CSV",
    "F-F_Research_Data_Factors.CSV",
)
needs_data = pytest.mark.skipif(
    not FRENCH.is_dir(), reason=f"real data not found at {FRENCH}"
)


@pytest.fixture(scope="module")
def panel():
    return fetch_french_portfolio_panel(data_home=FRENCH, download_if_missing=False)


@needs_data
def test_shape_columns_and_span(panel):
    X, y = panel.X, panel.y
    assert list(X.columns) == [*FRENCH_PANEL_CHARACTERISTICS, "const"]
    assert X.index.names == ["entity", "time"]
    months = X.index.get_level_values("time").unique()
    assert (str(months[0]), str(months[-1]), len(months)) == ("1963-07", "2024-12", 738)
    assert X.index.get_level_values("entity").nunique() == 50
    assert len(X) == 50 * 738 and y.index.equals(X.index)
    assert {"ME1 BM2", "BIG HiOP", "SMALL LoOP"} <= set(X.index.get_level_values(0))
    # The return windows need 11 (momentum) or 12 (volatility) months.
    first_mom = X["mom_12_2"].dropna().index.get_level_values("time").min()
    assert str(first_mom) == "1964-06"
    assert X["vol_12"].isna().sum() == 50 * 11
    assert y.isna().sum() == 50  # the last month has no next return
    assert (X["const"] == 1.0).all()


@needs_data
def test_cells_read_off_the_files(panel):
    X, y = panel.X, panel.y
    # 25_Portfolios_5x5.CSV, row 199006, portfolio ME1 BM2 (second column):
    # VW return 1.7779 (line 769), average market cap 32.67 (line 4531), BE/ME
    # 0.5580 (line 5721), OP 0.2051 (line 7656), investment 0.1971 (line 8401).
    row = X.loc[("ME1 BM2", pd.Period("1990-06", "M"))]
    assert row["strev"] == pytest.approx(0.017779)
    assert row["log_size"] == pytest.approx(np.log(32.67))
    assert (row["be_me"], row["op"], row["inv"]) == (0.5580, 0.2051, 0.1971)
    # y: return over 1990-07 (-5.0732%, line 770) minus RF of 1990-07 (0.68%).
    assert y.loc[("ME1 BM2", pd.Period("1990-06", "M"))] == pytest.approx(
        -0.050732 - 0.0068
    )
    # 25_Portfolios_ME_OP_5x5.CSV, row 202411, BIG HiOP (last column): VW
    # return 4.1859 (line 738), 103 firms (2352), average cap 176079.45 (3094),
    # BE/ME 0.0835 (3840), OP 1.6593 (5331), investment 0.0623 (6076).
    key = ("BIG HiOP", pd.Period("2024-11", "M"))
    row = X.loc[key]
    assert row["strev"] == pytest.approx(0.041859)
    assert row["log_size"] == pytest.approx(np.log(176079.45))
    assert (row["be_me"], row["op"], row["inv"]) == (0.0835, 1.6593, 0.0623)
    assert panel.sizes.loc[key] == pytest.approx(176079.45 * 103)


@needs_data
def test_return_characteristics_by_hand(panel):
    X = panel.X
    r = panel.returns.xs("ME1 BM2", level="entity")
    t = pd.Period("1990-06", "M")
    window = r.loc[t - 11 : t - 1]  # 1989-07 .. 1990-05: skips month t
    assert len(window) == 11
    expected = np.prod(1 + window.to_numpy()) - 1
    assert X.loc[("ME1 BM2", t), "mom_12_2"] == pytest.approx(expected, rel=1e-12)
    last12 = r.loc[t - 11 : t].to_numpy()
    assert X.loc[("ME1 BM2", t), "vol_12"] == pytest.approx(np.std(last12, ddof=1))
    # The raw returns are the file's percent / 100 (row 199006, ME1 BM2).
    assert r.loc[t] == pytest.approx(0.017779)


@needs_data
def test_raw_target_and_no_constant():
    data = fetch_french_portfolio_panel(
        data_home=FRENCH, download_if_missing=False, excess=False, constant=False
    )
    assert "const" not in data.X and data.rf is None
    assert data.y.loc[("ME1 BM2", pd.Period("1990-06", "M"))] == pytest.approx(
        -0.050732
    )
    assert "RAW" in data.DESCR


def _perturb_after(src: Path, dst: Path, t: str) -> None:
    """Copy a Ken French CSV, changing every monthly value labelled after t."""
    cutoff = int(t.replace("-", ""))
    lines = []
    for line in src.read_text().splitlines():
        key = line.split(",", 1)[0].strip()
        if len(key) == 6 and key.isdigit() and int(key) > cutoff:
            fields = line.split(",")
            # Scale and shift: every block (returns, caps, counts, ratios) moves.
            values = [f"{float(v) * 1.7 + 3.0:.4f}" for v in fields[1:]]
            line = ",".join([fields[0], *values])
        lines.append(line)
    dst.write_text("\n".join(lines) + "\n")


def _fit_predict(data, t):
    X, y = data.X, data.y
    time = X.index.get_level_values("time")
    # Fitted on data up to t: rows whose return over t' + 1 is known at t. The
    # rank scaler passes the constant column through.
    train = np.asarray((time >= "1964-06") & (time < t))
    model = make_pipeline(CrossSectionalRankScaler(), IPCARegressor(2))
    model.fit(X[train], y[train])
    return model.predict(X[np.asarray(time == t)])


@needs_data
@pytest.mark.parametrize("t", ["1990-06", "1990-07"])
def test_nothing_known_at_t_uses_a_later_file_row(tmp_path, t):
    for name in FILES:
        _perturb_after(FRENCH / name, tmp_path / name, t)
    kw = {"download_if_missing": False}
    clean = fetch_french_portfolio_panel(data_home=FRENCH, **kw)
    later = fetch_french_portfolio_panel(data_home=tmp_path, **kw)
    time = clean.X.index.get_level_values("time")
    known = np.asarray(time <= t)
    pd.testing.assert_frame_equal(clean.X[known], later.X[known])
    pd.testing.assert_series_equal(clean.sizes[known], later.sizes[known])
    # y at t' < t is the return over t' + 1 <= t: known at t as well.
    earned_by_t = np.asarray(time < t)
    pd.testing.assert_series_equal(clean.y[earned_by_t], later.y[earned_by_t])
    # The perturbation is real: the month after t and y at t changed.
    after = np.asarray(time == pd.Period(t, "M") + 1)
    assert not np.allclose(clean.X[after].to_numpy(), later.X[after].to_numpy())
    at_t = np.asarray(time == t)
    assert not np.allclose(clean.y[at_t], later.y[at_t])
    np.testing.assert_array_equal(_fit_predict(clean, t), _fit_predict(later, t))


@needs_data
def test_fetch_convention_downloads_into_the_cache(tmp_path, monkeypatch):
    calls = []

    def fake_download(url, target):
        calls.append(url)
        name = url.rsplit("/", 1)[1].replace("_CSV.zip", ".CSV")
        shutil.copy(FRENCH / name, target.with_name(name))
        return target.with_name(name)

    monkeypatch.setattr(_french, "_download", fake_download)
    with pytest.raises(FileNotFoundError, match="25_Portfolios_5x5"):
        fetch_french_portfolio_panel(data_home=tmp_path, download_if_missing=False)
    assert calls == []
    data = fetch_french_portfolio_panel(data_home=tmp_path)
    assert len(calls) == 3 and data.X.shape == (36900, 8)
    fetch_french_portfolio_panel(data_home=tmp_path)  # cached now
    assert len(calls) == 3
