"""benchmarks/latent_state_bound.py: the forward filter that bounds the latent_state design."""

import numpy as np
import pytest

from sklearn_neurif.datasets._design_family import _markov_state


@pytest.fixture(scope="module")
def bound(load_benchmark):
    return load_benchmark("latent_state_bound")


def test_filter_recovers_a_loud_state_and_nothing_from_silence(bound):
    rng = np.random.default_rng(0)
    T, N = 60, 400
    s = _markov_state(rng, T, N)
    f_last = rng.choice([-1.0, 1.0], size=T)
    observed = np.ones((T, N), dtype=bool)
    loud = s * f_last[:, None] + 0.1 * rng.standard_normal((T, N))
    s_hat = bound.filtered_state(loud, f_last, 1.0, 0.01, observed)
    # The state at t is known from the return at t (row t-1) unless it flipped.
    agree = np.mean(np.sign(s_hat[1:]) == s[1:])
    assert agree > 1 - 2 * bound.SWITCH
    assert np.all(s_hat[0] == 0.0)  # nothing observed before the first month
    quiet = bound.filtered_state(loud, np.zeros(T), 1.0, 0.01, observed)
    assert np.all(quiet == 0.0)


def test_filter_is_the_exact_posterior_on_two_months(bound):
    # E[s_1 | u_0] by Bayes' rule by hand: prior 1/2, one update, one flip step.
    u, f, kappa, var = 0.3, 0.5, 2.0, 1.5
    llr = 2 * kappa * f * u / var
    post = 1 / (1 + np.exp(-llr))
    p_up = post * (1 - bound.SWITCH) + (1 - post) * bound.SWITCH
    got = bound.filtered_state(
        np.array([[u], [0.0]]), np.array([f, 0.0]), kappa, var, np.ones((2, 1), bool)
    )
    assert got[1, 0] == pytest.approx(2 * p_up - 1, rel=1e-12)


def test_window_restarts_the_filter(bound):
    rng = np.random.default_rng(1)
    T, N = 30, 50
    u = rng.standard_normal((T, N))
    f_last = rng.standard_normal(T)
    observed = rng.uniform(size=(T, N)) > 0.1
    full = bound.filtered_state(u, f_last, 0.5, 1.0, observed)
    windowed = bound.filtered_state(u, f_last, 0.5, 1.0, observed, window=5)
    # Up to t = window the windowed filter has seen everything the full one has.
    np.testing.assert_allclose(windowed[:6], full[:6], rtol=1e-12)
    # Later it equals the full filter run on the last 5 returns only.
    t = 20
    late = bound._forward(
        np.where(observed, 2 * 0.5 * f_last[:, None] * u, 0.0)[t - 5 : t], 6, N
    )[-1]
    np.testing.assert_allclose(windowed[t], late, rtol=1e-12)
    assert not np.allclose(windowed[t], full[t])
