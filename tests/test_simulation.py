"""The simulated data-generating process does what its docstring says."""

import numpy as np
import pytest

from sklearn_neurif.datasets import make_conditional_factor_panel


def test_linear_panel_is_exact_factor_model():
    d = make_conditional_factor_panel(100, 30, 6, 2, noise_vol=0.0, random_state=0)
    # Loadings are exactly Gamma' z and returns exactly beta' f (no noise).
    np.testing.assert_allclose(
        d.loadings.to_numpy(), d.X.to_numpy() @ d.gamma.to_numpy()
    )
    f = d.factors.to_numpy()[d.X.index.get_level_values("time")]
    np.testing.assert_allclose(
        d.y.to_numpy(), np.sum(d.loadings.to_numpy() * f, axis=1)
    )
    assert np.allclose(d.loadings.std(), 1.0, atol=0.05)


def test_characteristics_are_rank_scaled_and_persistent():
    d = make_conditional_factor_panel(
        50, 40, 3, 1, persistence=(0.95, 0.95), random_state=1
    )
    assert d.X.min().min() == pytest.approx(-0.5) and d.X.max().max() == pytest.approx(
        0.5
    )
    wide = d.X["c1"].unstack("time")
    autocorr = np.mean([np.corrcoef(wide[t], wide[t + 1])[0, 1] for t in range(39)])
    assert autocorr > 0.85


def test_nonlinear_loadings_are_mostly_not_linear():
    d = make_conditional_factor_panel(
        300, 30, 8, 3, loadings="nonlinear", random_state=2
    )
    Z = np.c_[np.ones(len(d.X)), d.X.to_numpy()]
    B = d.loadings.to_numpy()
    resid = B - Z @ np.linalg.lstsq(Z, B, rcond=None)[0]
    linear_share = 1 - resid.var(axis=0) / B.var(axis=0)
    assert np.all(linear_share < 0.5)
    assert d.gamma is None


def test_unbalanced_panel_and_factor_moments():
    d = make_conditional_factor_panel(
        200,
        600,
        4,
        2,
        factor_means=(0.01, 0.0),
        factor_vols=(0.04, 0.02),
        missing_fraction=0.3,
        entry_exit=True,
        random_state=3,
    )
    assert len(d.X) < 0.7 * 200 * 600
    assert not d.X.index.has_duplicates and (d.X.index == d.y.index).all()
    np.testing.assert_allclose(d.factors.mean(), [0.01, 0.0], atol=0.004)
    np.testing.assert_allclose(d.factors.std(), [0.04, 0.02], rtol=0.1)
    # Entry/exit: each entity's periods are a contiguous span before random holes.
    counts = d.X.groupby(level="entity").size()
    assert counts.min() >= 1


def test_intercept_and_expected_returns():
    d = make_conditional_factor_panel(50, 10, 3, 2, intercept=True, random_state=4)
    mu = np.array([0.005, 0.005])
    np.testing.assert_allclose(
        d.expected_returns, d.alpha + d.loadings.to_numpy() @ mu, rtol=1e-12
    )
    assert np.allclose(d.alpha, 0.024 * d.X["c1"])


def test_reproducible_and_validated():
    a = make_conditional_factor_panel(20, 5, 2, 1, random_state=7)
    b = make_conditional_factor_panel(20, 5, 2, 1, random_state=7)
    assert a.y.equals(b.y)
    with pytest.raises(ValueError, match="loadings must be"):
        make_conditional_factor_panel(loadings="cubic")
    with pytest.raises(ValueError, match="missing_fraction"):
        make_conditional_factor_panel(missing_fraction=1.0)
