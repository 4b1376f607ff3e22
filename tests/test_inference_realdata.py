"""Anomaly tests on the real Fama-French, q5 and KNS files in ../shared/data.

Data: Kenneth R. French data library (Fama and French 1993, 2015; Carhart
1997 momentum), Hou, Xue and Zhang q5 factors, Kozak, Nagel and Santosh
(2020) anomaly portfolios. The figures are reported in docs/inference.md.
"""

from pathlib import Path

import pytest

from sklearn_neurif.inference import anomaly_test

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not (DATA / "kenfrench").is_dir(),
        reason=f"real data folder {DATA} absent (Ken French, q5 and KNS files)",
    ),
]


@pytest.fixture(scope="module")
def french():
    from sklearn_neurif.datasets._french import (
        fetch_french_factors,
        fetch_french_portfolios,
    )

    home = DATA / "kenfrench"
    kw = {"data_home": home, "download_if_missing": False}
    ff3 = fetch_french_factors("F-F_Research_Data_Factors", **kw)
    ff5 = fetch_french_factors("F-F_Research_Data_5_Factors_2x3", **kw)
    mom = fetch_french_factors("F-F_Momentum_Factor", **kw)
    ff25 = fetch_french_portfolios("25_Portfolios_5x5", weighting="value", **kw)
    return ff3, ff5, mom, ff25.returns


def test_ff25_against_ff3_and_ff5(french):
    ff3, ff5, _, raw = french
    # Excess returns over the T-bill; the FF5 sample starts in 1963-07.
    excess = raw.sub(ff3["RF"], axis=0).loc[ff5.index[0] :]
    comp = anomaly_test(excess, ff5, ["FF3", "FF5"])
    table = comp.summary()
    assert comp.n_periods_missing_returns == 0
    assert str(comp.periods[0]) == "1963-07" and len(comp.periods) >= 700
    for name in ("FF3", "FF5"):
        res = comp[name]
        assert res.grs_pvalue < 0.001, table
        assert res.avg_r2 > 0.85
        # Small-growth (smallest size, lowest BE/ME) alpha: the textbook failure.
        assert res.alpha["SMALL LoBM"] < -0.002
        assert res.tstats["SMALL LoBM"] < -3
    assert comp["FF5"].grs_stat < comp["FF3"].grs_stat
    assert comp["FF5"].rms_alpha < comp["FF3"].rms_alpha


def test_kns_anomalies_capm_vs_ff5(french):
    from sklearn_neurif.datasets._anomalies import (
        load_anomaly_portfolios,
        load_q5_factors,
    )

    kns = DATA / "anomalies" / "managed_portfolios_anom_50.csv"
    if not kns.is_file():
        pytest.skip(f"{kns} absent")
    _, ff5, mom, _ = french
    anomalies = load_anomaly_portfolios(kns, format="kns")
    q5 = load_q5_factors(DATA / "anomalies" / "q5_factors_monthly_2023.csv")
    factors = ff5.join(mom, how="left").join(q5, how="left")
    sets = ["CAPM", "FF3", "Carhart4", "FF5", "FF5+Mom", "q5"]
    comp = anomaly_test(anomalies, factors.loc[anomalies.index], sets)
    assert anomalies.shape[1] == 50
    # Months where an anomaly is missing (the early 1960s-1970s) are dropped, counted.
    assert comp.n_periods_missing_returns == 124
    assert str(comp.periods[0]) == "1973-11" and len(comp.periods) == 530
    capm, ff5_res = comp["CAPM"], comp["FF5"]
    assert ff5_res.n_t196 < capm.n_t196
    assert ff5_res.n_t3 < capm.n_t3
    assert ff5_res.mean_abs_alpha < capm.mean_abs_alpha
    assert ff5_res.avg_r2 > capm.avg_r2
    assert capm.grs_pvalue < 0.001 and ff5_res.grs_pvalue < 0.001
    assert comp.summary().shape == (len(sets), 12)
