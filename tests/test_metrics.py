"""Metric definitions (docs/metrics.md): closed forms on hand-made data."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import r2_score

from sklearn_neurif.metrics import mae, r2_predictive, r2_total, rank_ic, rmse


def test_r2_is_uncentred_not_sklearn_r2():
    y = np.array([0.05, 0.07, 0.06, 0.08])
    pred = np.full(4, y.mean())
    # Predicting the mean is a perfect centred benchmark (r2_score = 0) but the
    # uncentred R2 credits it with explaining the level of returns.
    assert r2_score(y, pred) == pytest.approx(0.0)
    expected = 1 - np.sum((y - pred) ** 2) / np.sum(y**2)
    assert r2_predictive(y, pred) == pytest.approx(expected, rel=1e-12)
    assert r2_total(y, pred) == pytest.approx(expected, rel=1e-12)
    assert r2_predictive(y, np.zeros(4)) == 0.0


def test_missing_returns_are_masked():
    y = np.array([0.1, np.nan, -0.2, 0.3])
    p = np.array([0.0, 5.0, -0.1, 0.1])
    keep = ~np.isnan(y)
    expected = 1 - np.sum((y[keep] - p[keep]) ** 2) / np.sum(y[keep] ** 2)
    assert r2_total(y, p) == pytest.approx(expected)
    assert rmse(y, p) == pytest.approx(np.sqrt(np.mean((y[keep] - p[keep]) ** 2)))
    assert mae(y, p) == pytest.approx(np.mean(np.abs(y[keep] - p[keep])))


def test_weighted_r2():
    y = np.array([0.1, -0.2, 0.3])
    p = np.array([0.0, -0.1, 0.1])
    w = np.array([1.0, 2.0, 3.0])
    expected = 1 - np.sum(w * (y - p) ** 2) / np.sum(w * y**2)
    assert r2_predictive(y, p, sample_weight=w) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0.1, 0.2], [0.1], "different lengths"),
        ([0.1, 0.2], [0.1, np.nan], "y_pred contains 1 NaN"),
        ([np.nan, np.nan], [0.1, 0.2], "Every value of y_true is missing"),
        ([0.0, 0.0], [0.1, 0.2], "All returns are zero"),
    ],
)
def test_metric_errors(y, p, match):
    with pytest.raises(ValueError, match=match):
        r2_total(y, p)


def test_rank_ic_matches_per_period_spearman():
    rng = np.random.default_rng(0)
    idx = pd.MultiIndex.from_product([range(30), range(6)], names=["entity", "time"])
    y = pd.Series(rng.standard_normal(len(idx)), index=idx)
    p = y.to_numpy() + rng.standard_normal(len(idx))
    y.iloc[3] = np.nan
    result = rank_ic(y, p)
    frame = pd.DataFrame({"y": y, "p": p}).dropna()
    by_hand = frame.groupby(level="time").apply(
        lambda g: stats.spearmanr(g["p"], g["y"]).statistic
    )
    np.testing.assert_allclose(result.series.to_numpy(), by_hand.to_numpy(), rtol=1e-12)
    assert result.mean == pytest.approx(by_hand.mean())
    assert result.tstat == pytest.approx(by_hand.mean() / (by_hand.std() / np.sqrt(6)))
    assert result.n_periods == 6 and result.n_skipped == 0
    assert list(result.summary().columns)[:3] == ["mean IC", "std", "t-stat"]


def test_rank_ic_skips_thin_periods_and_counts_them():
    y = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.1]
    p = [0.2, 0.1, 0.3, 0.4, 0.6, 0.5, 0.0]
    periods = [1, 1, 1, 2, 2, 2, 3]
    result = rank_ic(y, p, periods)
    assert result.n_periods == 2 and result.n_skipped == 1
    assert result.series.loc[1] == pytest.approx(0.5)
