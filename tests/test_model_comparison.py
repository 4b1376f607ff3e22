"""Tests of diebold_mariano, clark_west and monthly_r2 against statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from sklearn_neurif.inference import (
    ForecastComparisonResult,
    clark_west,
    diebold_mariano,
    monthly_r2,
    newey_west_lags,
)
from sklearn_neurif.metrics import r2_predictive


def _panel(n=40, t=36, seed=0, missing=0.1):
    """Returns with a predictable part; two forecasts of different quality."""
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [[f"e{i}" for i in range(n)], pd.period_range("2001-01", periods=t, freq="M")],
        names=["permno", "date"],
    )
    signal = rng.normal(0, 0.03, len(idx))
    y = pd.Series(signal + rng.normal(0, 0.1, len(idx)), index=idx, name="ret")
    y[rng.random(len(idx)) < missing] = np.nan
    good = pd.Series(signal + rng.normal(0, 0.02, len(idx)), index=idx)
    noisy = pd.Series(0.3 * signal + rng.normal(0, 0.04, len(idx)), index=idx)
    return y, good, noisy


def _hac_t(d, lags):
    """Oracle: OLS of the differential on a constant, statsmodels HAC."""
    fit = sm.OLS(d, np.ones((len(d), 1))).fit(
        cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False}
    )
    return float(fit.tvalues[0]), float(fit.pvalues[0])


def _by_period(y, values):
    """Per-period means with an explicit loop (independent of the package)."""
    times = y.index.get_level_values("date")
    out = {}
    for t in sorted(set(times)):
        rows = (times == t) & y.notna().to_numpy() & ~np.isnan(values)
        out[t] = values[rows].mean()
    return pd.Series(out)


def test_diebold_mariano_matches_statsmodels_hac():
    y, good, noisy = _panel()
    res = diebold_mariano(y, noisy, good)
    r = y.to_numpy()
    d = _by_period(y, (r - noisy.to_numpy()) ** 2 - (r - good.to_numpy()) ** 2)
    lags = newey_west_lags(len(d))
    t, p = _hac_t(d.to_numpy(), lags)
    assert isinstance(res, ForecastComparisonResult)
    assert res.n_periods == 36 and res.nw_lags == lags == 3
    np.testing.assert_allclose(res.differential.to_numpy(), d.to_numpy(), rtol=1e-12)
    assert list(res.differential.index) == list(d.index)
    assert res.stat == pytest.approx(t, rel=1e-10)
    assert res.pvalue == pytest.approx(p, rel=1e-8)
    assert res.mean_differential == pytest.approx(d.mean(), rel=1e-12)
    # The better forecast is second: a large positive statistic.
    assert res.stat > 3 and res.pvalue < 0.01
    # Explicit lags; the package's convention has no small-sample correction
    # (statsmodels' use_correction=True would scale the t by sqrt((T-1)/T)).
    res5 = diebold_mariano(y, noisy, good, nw_lags=5)
    assert res5.stat == pytest.approx(_hac_t(d.to_numpy(), 5)[0], rel=1e-10)
    corrected = sm.OLS(d.to_numpy(), np.ones((36, 1))).fit(
        cov_type="HAC", cov_kwds={"maxlags": 5, "use_correction": True}
    )
    assert res5.stat * np.sqrt(35 / 36) == pytest.approx(corrected.tvalues[0])


def test_diebold_mariano_closed_form_without_lags():
    y, good, noisy = _panel(seed=1)
    res = diebold_mariano(y, good, noisy, nw_lags=0)
    d = res.differential.to_numpy()
    # With zero lags the Newey-West variance of the mean is sum((d - dbar)^2) / T^2.
    expected = d.mean() / np.sqrt(((d - d.mean()) ** 2).sum() / len(d) ** 2)
    assert res.stat == pytest.approx(expected, rel=1e-10)
    assert res.pvalue == pytest.approx(2 * stats.norm.sf(abs(expected)), rel=1e-8)


def test_diebold_mariano_alternatives_and_symmetry():
    y, good, noisy = _panel(seed=2)
    two = diebold_mariano(y, noisy, good)
    swapped = diebold_mariano(y, good, noisy)
    assert swapped.stat == pytest.approx(-two.stat, rel=1e-12)
    assert swapped.pvalue == pytest.approx(two.pvalue, rel=1e-12)
    greater = diebold_mariano(y, noisy, good, alternative="greater")
    less = diebold_mariano(y, noisy, good, alternative="less")
    assert greater.pvalue == pytest.approx(two.pvalue / 2, rel=1e-10)
    assert greater.pvalue + less.pvalue == pytest.approx(1.0)
    table = two.summary()
    assert table.index.tolist() == ["Diebold-Mariano"]
    assert table.loc["Diebold-Mariano", "stat"] == two.stat


def test_forecasts_are_aligned_by_index_not_position():
    y, good, noisy = _panel(seed=3)
    rng = np.random.default_rng(0)
    shuffled = good.iloc[rng.permutation(len(good))]
    by_array = diebold_mariano(y, noisy.to_numpy(), good.to_numpy())
    by_index = diebold_mariano(y, noisy, shuffled)
    assert by_index.stat == pytest.approx(by_array.stat, rel=1e-12)
    # A forecast Series missing some rows: those rows drop out of both models.
    partial = good.iloc[: len(good) // 2]
    res = diebold_mariano(y, noisy, partial)
    keep = y.notna() & y.index.isin(partial.index)
    assert res.n_rows == int(keep.sum())
    assert res.n_rows_dropped == len(y) - res.n_rows
    reference = diebold_mariano(y[keep], noisy[keep], good[keep])
    assert res.stat == pytest.approx(reference.stat, rel=1e-12)


def test_clark_west_matches_statsmodels_hac():
    y, good, _ = _panel(seed=4)
    # Nested comparison against the zero forecast (GKX's R-squared benchmark).
    res = clark_west(y, 0.0, good)
    r, p = y.to_numpy(), good.to_numpy()
    f = _by_period(y, r**2 - (r - p) ** 2 + p**2)
    t, p_two = _hac_t(f.to_numpy(), newey_west_lags(len(f)))
    assert res.test == "Clark-West" and res.alternative == "greater"
    np.testing.assert_allclose(res.differential.to_numpy(), f.to_numpy(), rtol=1e-12)
    assert res.stat == pytest.approx(t, rel=1e-10)
    assert res.pvalue == pytest.approx(stats.norm.sf(t), rel=1e-8)
    assert res.pvalue == pytest.approx(p_two / 2, rel=1e-8)
    # The adjustment adds the squared forecast difference to the DM differential.
    dm = diebold_mariano(y, 0.0, good)
    adjustment = _by_period(y, p**2)
    np.testing.assert_allclose(
        res.differential.to_numpy(),
        dm.differential.to_numpy() + adjustment.to_numpy(),
        rtol=1e-10,
    )
    assert res.stat > dm.stat


def test_monthly_r2_per_period_and_pooled():
    y, good, _ = _panel(seed=5, missing=0.0)
    series = monthly_r2(y, good)
    times = y.index.get_level_values("date")
    first = times == times.min()
    expected = 1 - ((y[first] - good[first]) ** 2).sum() / (y[first] ** 2).sum()
    assert len(series) == 36 and series.index.name == "time"
    assert series.iloc[0] == pytest.approx(expected, rel=1e-12)
    # With equal cross-sections the sum-of-squares-weighted mean is the pooled R2.
    sst = (y**2).groupby(times).sum()
    pooled = 1 - ((1 - series) * sst.to_numpy()).sum() / sst.sum()
    assert pooled == pytest.approx(r2_predictive(y, good.to_numpy()), rel=1e-10)


def test_bad_input():
    y, good, noisy = _panel(t=6)
    with pytest.raises(TypeError, match="MultiIndex"):
        diebold_mariano(y.to_numpy(), good, noisy)
    with pytest.raises(ValueError, match="has 3 values; y has"):
        diebold_mariano(y, good, np.zeros(3))
    with pytest.raises(TypeError, match="DataFrame"):
        diebold_mariano(y, good, noisy.to_frame())
    with pytest.raises(ValueError, match="alternative"):
        diebold_mariano(y, good, noisy, alternative="bigger")
    with pytest.raises(ValueError, match="nw_lags"):
        diebold_mariano(y, good, noisy, nw_lags=-1)
    # 6 periods: a Bartlett kernel with 6 lags has nothing to weight.
    with pytest.raises(ValueError, match=r"lags=6 must be below .*\(6\)"):
        diebold_mariano(y, good, noisy, nw_lags=6)
    assert diebold_mariano(y, good, noisy, nw_lags=5).nw_lags == 5
    for test in (diebold_mariano, clark_west):
        with pytest.raises(ValueError, match="identical forecasts"):
            test(y, good, good.copy())
    with pytest.raises(ValueError, match="infinite"):
        diebold_mariano(y, good, noisy.replace(noisy.iloc[0], np.inf))
    other = noisy.copy()
    other.index = other.index.set_levels(["x" + str(i) for i in range(40)], level=0)
    with pytest.raises(ValueError, match="No row of pred2"):
        diebold_mariano(y, good, other)
    one_month = y[
        y.index.get_level_values("date") == y.index.get_level_values("date")[0]
    ]
    with pytest.raises(ValueError, match="at least 2 periods"):
        clark_west(one_month, 0.0, good)
