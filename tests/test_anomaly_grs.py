"""anomaly_test with more test assets than periods (T <= M + K): everything
but GRS is computed, GRS is reported unavailable with its reason (issue 12,
class 9)."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from sklearn_neurif.inference import FACTOR_SETS, anomaly_test

FF5 = list(FACTOR_SETS["FF5"])


def _data(T, M, K=5, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.period_range("2019-01", periods=T, freq="M")
    f = pd.DataFrame(rng.normal(0.005, 0.03, (T, K)), index=t, columns=FF5[:K])
    R = pd.DataFrame(
        0.001
        + f.to_numpy() @ rng.normal(0.8, 0.4, (K, M))
        + rng.normal(0, 0.02, (T, M)),
        index=t,
        columns=[f"anom{m}" for m in range(M)],
    )
    return R, f


def test_more_test_assets_than_periods_reports_grs_unavailable():
    R, f = _data(T=24, M=50)  # 50 anomalies over 24 test months
    comp = anomaly_test(R, f, ["CAPM", "FF3"], nw_lags=2)
    for label, K in (("CAPM", 1), ("FF3", 3)):
        res = comp[label]
        assert np.isnan(res.grs_stat) and np.isnan(res.grs_pvalue)
        assert f"T=24, M=50, K={K} (T must exceed M + K = {50 + K})" in (
            res.grs_unavailable
        )
        assert "GRS unavailable" in repr(res)
        # The alphas are those of the per-asset OLS, as with T > M + K.
        X = sm.add_constant(f[FF5[:K]].to_numpy())
        for m in (0, 17, 49):
            ols = sm.OLS(R.iloc[:, m].to_numpy(), X).fit()
            assert res.alpha.iloc[m] == pytest.approx(ols.params[0], rel=1e-10)
            assert res.r2.iloc[m] == pytest.approx(ols.rsquared, rel=1e-10)
        assert np.isfinite(res.tstats).all() and np.isfinite(res.cs_r2)
    table = comp.summary()
    assert list(table.columns[table.columns.get_loc("GRS_pvalue") + 1 :][:1]) == [
        "GRS_unavailable"
    ]
    assert "T=24, M=50, K=3" in table.loc["FF3", "GRS_unavailable"]
    assert table.loc["FF3", "mean_abs_alpha"] == pytest.approx(
        comp["FF3"].alpha.abs().mean()
    )


def test_grs_unavailable_only_for_the_sets_that_need_it():
    R, f = _data(T=30, M=26)  # CAPM: 30 > 27; FF5: 30 <= 31
    comp = anomaly_test(R, f, ["CAPM", "FF5"])
    assert comp["CAPM"].grs_unavailable is None and np.isfinite(comp["CAPM"].grs_stat)
    assert "T=30, M=26, K=5" in comp["FF5"].grs_unavailable
    table = comp.summary()
    assert pd.isna(table.loc["CAPM", "GRS_unavailable"])
    assert "GRS_unavailable" not in anomaly_test(R, f, "CAPM").summary().columns


def test_collinear_test_assets_report_grs_unavailable():
    R, f = _data(T=60, M=4, K=3)
    R["copy"] = R["anom0"] + R["anom1"]  # residual covariance singular
    res = anomaly_test(R, f, "FF3")["FF3"]
    assert np.isnan(res.grs_stat) and "rank 4 < M=5" in res.grs_unavailable
    assert res.alpha["copy"] == pytest.approx(res.alpha["anom0"] + res.alpha["anom1"])
