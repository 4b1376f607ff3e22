"""Spanning regressions, GRS, anomaly tests: against independent computations."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels.asset_pricing import TradedFactorModel
from scipy import stats

from sklearn_neurif.inference import (
    FACTOR_SETS,
    anomaly_test,
    cross_sectional_r2,
    grs_test,
    newey_west_lags,
    resolve_factor_set,
    spanning_regression,
)
from sklearn_neurif.panel._periods import as_of_to_return_period

FF5 = list(FACTOR_SETS["FF5"])


def _data(T=240, M=8, K=5, alpha=0.0, seed=0, start="1990-01"):
    rng = np.random.default_rng(seed)
    t = pd.period_range(start, periods=T, freq="M")
    f = pd.DataFrame(rng.normal(0.005, 0.03, (T, K)), index=t, columns=FF5[:K])
    B = rng.normal(0.8, 0.4, (K, M))
    R = pd.DataFrame(
        alpha + f.to_numpy() @ B + rng.normal(0, 0.02, (T, M)),
        index=t,
        columns=[f"p{m}" for m in range(M)],
    )
    return R, f


def _grs_direct(R, F):
    """GRS by moments (Cochrane 2005, eq. 12.6), not by regression."""
    R, F = np.asarray(R), np.asarray(F)
    T, N = R.shape
    K = F.shape[1]
    omega = np.cov(F.T, bias=True).reshape(K, K)
    cross = (R - R.mean(0)).T @ (F - F.mean(0)) / T
    B = cross @ np.linalg.inv(omega)
    a = R.mean(0) - B @ F.mean(0)
    e = R - R.mean(0) - (F - F.mean(0)) @ B.T
    sigma = e.T @ e / T
    mu = F.mean(0)
    fstat = (
        (T - N - K)
        / N
        * (a @ np.linalg.inv(sigma) @ a)
        / (1 + mu @ np.linalg.inv(omega) @ mu)
    )
    return fstat, stats.f.sf(fstat, N, T - N - K)


@pytest.mark.parametrize("alpha, K", [(0.0, 3), (0.004, 1), (0.002, 5)])
def test_grs_matches_direct_formula(alpha, K):
    R, f = _data(alpha=alpha, K=K, seed=K)
    res = grs_test(R, f)
    fstat, p = _grs_direct(R, f)
    assert res.stat == pytest.approx(fstat, rel=1e-10)
    assert res.pvalue == pytest.approx(p, rel=1e-8)
    assert (res.df1, res.df2) == (8, 240 - 8 - K)
    assert res.stat == pytest.approx(res.wald * (240 - 8 - K) / (8 * 240), rel=1e-12)
    comp = anomaly_test(R, f)
    assert comp["factors"].grs_stat == pytest.approx(fstat, rel=1e-10)


def test_grs_against_linearmodels_traded_factor_model():
    # linearmodels has no iid covariance for TradedFactorModel, so its J statistic
    # (heteroskedasticity-robust Wald) corresponds to the GRS Wald statistic
    # only asymptotically under homoskedastic errors: alphas and betas agree
    # exactly, J and T a'S^-1 a / (1 + m'W^-1 m) to a few percent at T = 3000.
    R, f = _data(T=3000, M=6, K=3, alpha=0.0015, seed=11)
    lm = TradedFactorModel(R, f).fit(cov_type="robust", debiased=False)
    comp = anomaly_test(R, f)
    ours = comp["factors"]
    np.testing.assert_allclose(ours.alpha.to_numpy(), lm.alphas.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(ours.betas.to_numpy(), lm.betas.to_numpy(), rtol=1e-9)
    grs = grs_test(R, f)
    assert grs.wald == pytest.approx(lm.j_statistic.stat, rel=0.05)
    assert (grs.pvalue < 0.01) and (lm.j_statistic.pval < 0.01)


def test_newey_west_tstats_equal_statsmodels():
    R, f = _data(T=150, M=3, K=3, alpha=0.002)
    res = spanning_regression(R, f, "FF3")
    lags = newey_west_lags(150)
    assert (res.nw_lags == lags).all() and lags == 4
    X = sm.add_constant(f[["Mkt-RF", "SMB", "HML"]].to_numpy())
    for name in R.columns:
        fit = sm.OLS(R[name].to_numpy(), X).fit(
            cov_type="HAC", cov_kwds={"maxlags": lags}
        )
        np.testing.assert_allclose(
            res.tstats.loc[name].to_numpy(), fit.tvalues, rtol=1e-10
        )
        np.testing.assert_allclose(
            res.params.loc[name].to_numpy(), fit.params, rtol=1e-10
        )
        assert res.r2[name] == pytest.approx(fit.rsquared)
    fixed = spanning_regression(R, f, ["Mkt-RF"], nw_lags=0)
    ols = sm.OLS(R["p0"].to_numpy(), sm.add_constant(f["Mkt-RF"].to_numpy())).fit(
        cov_type="HC0"
    )
    assert fixed.alpha_tstat["p0"] == pytest.approx(ols.tvalues[0], rel=1e-10)
    table = res.summary()
    assert {"alpha", "alpha_annual", "t_alpha", "beta_SMB", "R2", "n_periods"} <= set(
        table.columns
    )
    np.testing.assert_allclose(table["alpha_annual"], 12 * table["alpha"])


def test_anomaly_statistics_and_side_by_side():
    R, f = _data(T=300, M=10, K=5, alpha=0.0, seed=2)
    R = R.add(np.linspace(-0.004, 0.004, 10), axis=1)
    comp = anomaly_test(R, f, ["CAPM", "FF3", "FF5"])
    table = comp.summary()
    assert list(table.index) == ["CAPM", "FF3", "FF5"]  # one row per factor set
    ff5 = comp["FF5"]
    span = spanning_regression(R, f, "FF5")
    np.testing.assert_allclose(ff5.alpha, span.alpha)
    assert ff5.mean_abs_alpha == pytest.approx(np.abs(span.alpha).mean())
    assert ff5.rms_alpha == pytest.approx(np.sqrt((span.alpha**2).mean()))
    assert ff5.n_t196 == int((span.alpha_tstat.abs() > 1.96).sum())
    assert ff5.n_t3 == int((span.alpha_tstat.abs() > 3).sum())
    assert ff5.avg_r2 == pytest.approx(span.r2.mean())
    rbar = R.mean()
    assert ff5.cs_r2 == pytest.approx(1 - (span.alpha**2).sum() / (rbar**2).sum())
    assert table.loc["FF5", "avg_R2"] > table.loc["CAPM", "avg_R2"]
    assert all(r.n_periods == 300 for r in comp.results.values())
    assert comp.alphas.shape == comp.tstats.shape == (10, 3)


def test_learned_and_observed_sets_by_dict_and_as_of_relabelling():
    R, f = _data(T=120, M=6, K=5, seed=4)
    learned = f[["Mkt-RF", "SMB"]].rename(columns=lambda c: f"factor_{c}")
    learned.index = learned.index - 1  # labelled by as-of period, as factors_ are
    comp = anomaly_test(R, {"learned": as_of_to_return_period(learned), "FF5": f})
    assert set(comp.summary().index) == {"learned", "FF5"}
    with pytest.raises(ValueError, match="missing for 1 of the 120"):
        anomaly_test(R, {"learned": learned, "FF5": f})


def test_misaligned_periods_list_the_gap():
    R, f = _data(T=60, M=3, K=3)
    gap = f.drop(f.index[[10, 11]])
    with pytest.raises(ValueError, match=r"missing for 2 of the 60.*1990-11, 1990-12"):
        spanning_regression(R, gap, "FF3")
    with pytest.raises(ValueError, match="1990-11"):
        anomaly_test(R, gap, "FF3")
    res = spanning_regression(R, gap, "FF3", join="inner")
    assert res.n_periods_unmatched == 2 and (res.n_periods == 58).all()
    comp = anomaly_test(R, gap, "FF3", join="inner")
    assert comp.n_periods_unmatched == 2 and len(comp.periods) == 58
    ints = f.reset_index(drop=True)
    with pytest.raises(ValueError, match="differ in type"):
        spanning_regression(R, ints)


def test_grs_needs_more_periods_than_assets_plus_factors():
    R, f = _data(T=12, M=9, K=3)
    with pytest.raises(ValueError, match="T=12, M=9, K=3"):
        grs_test(R, f[FF5[:3]])
    # anomaly_test computes the rest and reports GRS as unavailable
    # (tests/test_anomaly_grs.py).
    assert "T=12, M=9, K=3" in anomaly_test(R, f, "FF3")["FF3"].grs_unavailable
    grs_test(R.iloc[:, :8], f[FF5[:3]])  # T = 12 > 8 + 3


def test_constant_and_collinear_factors_rejected():
    R, f = _data(T=60, M=3, K=3)
    const = f.assign(SMB=0.01)
    with pytest.raises(ValueError, match=r"\['SMB'\] are constant"):
        spanning_regression(R, const, "FF3")
    with pytest.raises(ValueError, match="constant"):
        anomaly_test(R, const, "FF3")
    coll = f.assign(HML=f["Mkt-RF"] + f["SMB"])
    with pytest.raises(ValueError, match="linearly dependent"):
        spanning_regression(R, coll, "FF3")
    with pytest.raises(ValueError, match="missing or infinite"):
        spanning_regression(R, f.assign(SMB=f["SMB"].where(f.index.month != 3)), "FF3")


def test_nan_returns_handling_and_counts():
    R, f = _data(T=100, M=4, K=3, seed=7)
    R.iloc[:5, 0] = np.nan
    R.iloc[50, 2] = np.nan
    comp = anomaly_test(R, f, "FF3")
    assert comp.n_periods_missing_returns == 6
    assert list(comp.dropped_periods.astype(str)) == [
        *(str(p) for p in R.index[:5]),
        str(R.index[50]),
    ]
    assert comp["FF3"].n_periods == 94
    ok = R.dropna()
    assert comp["FF3"].grs_stat == pytest.approx(
        grs_test(ok, f.loc[ok.index, FF5[:3]]).stat
    )
    with pytest.raises(
        ValueError, match=r"missing values \(count per column: \{'p0': 5, 'p2': 1\}"
    ):
        anomaly_test(R, f, "FF3", missing="raise")
    per_asset = spanning_regression(R, f, "FF3")
    assert per_asset.n_periods.tolist() == [95, 100, 99, 100]
    dropped = spanning_regression(R, f, "FF3", missing="drop")
    assert (dropped.n_periods == 94).all() and dropped.n_periods_missing_returns == 6


def test_factor_set_resolution():
    _, f = _data(K=5)
    assert list(resolve_factor_set(f, "FF3").columns) == ["Mkt-RF", "SMB", "HML"]
    with pytest.raises(ValueError, match=r"\['Mom'\] are not in the factor frame"):
        resolve_factor_set(f, "Carhart4")
    with pytest.raises(ValueError, match="Unknown factor set"):
        resolve_factor_set(f, "FF7")
    assert FACTOR_SETS["q5"] == ("R_MKT", "R_ME", "R_IA", "R_ROE", "R_EG")


def test_cross_sectional_r2_formula():
    R, f = _data(T=80, M=6, K=3, seed=9)
    pred = R * 0.5 + 0.001
    res = cross_sectional_r2(R, pred)
    rbar, pbar = R.mean().to_numpy(), pred.mean().to_numpy()
    assert res.r2 == pytest.approx(1 - ((rbar - pbar) ** 2).sum() / (rbar**2).sum())
    # pbar is an exact affine function of rbar: slope 2, intercept -0.002, R2 1.
    assert res.slope == pytest.approx(2.0) and res.intercept == pytest.approx(-0.002)
    assert res.r2_ols == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same periods and columns"):
        cross_sectional_r2(R, pred.iloc[1:])


def test_align_factor_frames_relabels_and_converts_units():
    from sklearn_neurif.inference import align_factor_frames

    as_of = pd.period_range("2000-01", periods=3, freq="M")
    learned = pd.DataFrame({"factor_1": [0.01, 0.02, 0.03]}, index=as_of)
    file = pd.DataFrame(
        {"Mkt-RF": [1.0, 2.0, 3.0, 4.0, 5.0]},
        index=[199912, 200001, 200002, 200003, 200004],
    )
    model, obs = align_factor_frames(learned, file, units="percent")
    assert list(model.index.astype(str)) == ["2000-02", "2000-03", "2000-04"]
    assert obs.index.equals(model.index)
    np.testing.assert_allclose(obs["Mkt-RF"], [0.03, 0.04, 0.05])
    np.testing.assert_allclose(model["factor_1"], learned["factor_1"])
    slashes = file.set_axis(["12/1999", "01/2000", "02/2000", "03/2000", "04/2000"])
    _, obs2 = align_factor_frames(learned, slashes / 100, units="decimal")
    pd.testing.assert_frame_equal(obs2, obs)
    with pytest.raises(ValueError, match=r"missing for 1 of the 3.*2000-04"):
        align_factor_frames(learned, file.iloc[:4], units="percent")
    with pytest.raises(ValueError, match="units"):
        align_factor_frames(learned, file, units="pct")
