"""A family of simulated designs for tuning factor models honestly.

Each design has the same linear instrumented core (the IPCA model) plus one
kind of nonlinearity of known size, at a realistic signal-to-noise ratio, and
returns the oracle fit so that the share of the IPCA-to-oracle gap a model
closes can be computed. ``"linear"`` is the null: there is nothing to close.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from ._simulation import (
    _ar1_characteristics,
    _long_index,
    _presence,
    _rank_characteristics,
)

__all__ = ["DESIGNS", "make_design_family_panel"]

#: Names of the designs, the linear null first.
DESIGNS = (
    "linear",
    "interaction",
    "abs",
    "step",
    "conditional_slope",
    "regime",
    "pure_interaction",
    "pure_abs",
    "latent_state",
    "mixed",
)

#: Designs where one factor's loading has no linear part at all (issue 19).
_PURE = ("pure_interaction", "pure_abs")

#: Monthly probability that the latent state of ``"latent_state"`` flips.
_STATE_SWITCH = 1.0 / 24.0

#: Factor volatilities and means (monthly, decimals): a market-like factor
#: (constant loading near 1) and two long-short-like factors.
_FACTOR_VOLS = (0.045, 0.03, 0.02, 0.015, 0.01)
_FACTOR_MEANS = (0.006, 0.004, 0.003, 0.002, 0.002)


def make_design_family_panel(
    design: str = "interaction",
    *,
    n_entities: int = 600,
    n_periods: int = 220,
    n_characteristics: int = 12,
    n_factors: int = 3,
    oracle_r2: float = 0.2,
    nonlinear_r2: float = 0.03,
    missing_fraction: float = 0.1,
    random_state=None,
) -> Bunch:
    r"""Simulate one design of the tuning family (linear null or a nonlinearity).

    Characteristics are persistent AR(1) draws, rank-scaled cross-sectionally
    into :math:`[-\tfrac12, \tfrac12]`, plus a constant column ``const``.
    Loadings are a linear instrumented part plus one nonlinear part,

    .. math::

        \beta_{i,t} = \Gamma'[z_{i,t}, 1] + c\, \Delta' \phi(z_{i,\le t}),
        \qquad r_{i,t+1} = \beta_{i,t}'f_{t+1} + e_{i,t+1},

    where each factor's nonlinear term :math:`\phi_k` is residualised on
    :math:`[1, z]` over the whole panel (so no linear instrumented model can
    reach it) and scaled (:math:`c`) so that it carries ``nonlinear_r2`` of
    the oracle total R². The noise :math:`\sigma_e` is then set so that the
    oracle (true :math:`\beta'f`) uncentred total R² on the simulated panel
    equals ``oracle_r2`` in expectation over the noise. Designs, with :math:`a \ne b` two characteristics
    drawn per factor:

    * ``"linear"``: no nonlinear term (the null: IPCA is the true model);
    * ``"interaction"``: :math:`z_a z_b`;
    * ``"abs"``: :math:`|z_a|`;
    * ``"step"``: :math:`1[z_a > \tau]`, :math:`\tau \in \{-0.25, 0, 0.25\}`;
    * ``"conditional_slope"``: :math:`z_a 1[z_b > 0]` (the slope on ``a``
      exists only for assets high in ``b``);
    * ``"regime"``: :math:`s_{i,t} z_a` with :math:`s_{i,t} \in \{-1, 1\}` a
      persistent per-asset state that switches up when :math:`z_b > 0.25` and
      down when :math:`z_b < -0.25` (hysteresis): the slope on ``a`` depends
      on the asset's path, visible only through its history of ``b``.

    Designs without a linear footprint (issue 19), where IPCA's linear map
    has nothing to start from:

    * ``"pure_interaction"``: the last factor's loading is :math:`z_a z_b`
      alone (residualised), with no linear part at all (its column of
      :math:`\Gamma` and its constant are zero); the other factors are linear;
    * ``"pure_abs"``: the same with :math:`|z_a|` (centred and orthogonal to
      :math:`z`, a volatility-managed-like exposure);
    * ``"latent_state"``: the last factor's loading is :math:`s_{i,t}`
      alone, a persistent per-asset state in :math:`\{-1, 1\}` that flips
      with probability 1/24 a month and is independent of every
      characteristic; the last characteristic is replaced by the
      cross-sectional rank of the asset's own latest return
      :math:`r_{i,t}` (known at :math:`t`), so the state is visible only
      through the asset's return history (its window of that column);
    * ``"mixed"``: several kinds at once on different factors: the first
      factor linear plus :math:`|z_a|`, the second linear plus the
      ``"regime"`` slope, the last factor :math:`z_a z_b` with no linear part
      (with K < 3 the first kinds are dropped).

    For the designs without a linear part, ``nonlinear_r2`` is the share of
    the factor that has none (its whole loading), and with ``"mixed"`` the
    sum over the three kinds.

    Timing is the package's as-of convention: row ``(i, t)`` of ``X`` holds
    :math:`z_{i,t}` and row ``(i, t)`` of ``y`` holds :math:`r_{i,t+1}`.

    Parameters
    ----------
    design : str, default="interaction"
        Kind of nonlinearity, one of ``DESIGNS``: ``"linear"``,
        ``"interaction"``, ``"abs"``, ``"step"``, ``"conditional_slope"``,
        ``"regime"``, ``"pure_interaction"``, ``"pure_abs"``,
        ``"latent_state"``, ``"mixed"``.
    n_entities : int, default=600
        Assets per period before rows are removed.
    n_periods : int, default=220
        Periods T.
    n_characteristics : int, default=12
        Characteristics L (the constant column is added on top).
    n_factors : int, default=3
        Factors K (at most 5).
    oracle_r2 : float, default=0.2
        Uncentred total R² of the true :math:`\beta'f` on the simulated panel,
        in (0, 1).
    nonlinear_r2 : float, default=0.03
        Points of ``oracle_r2`` carried by the nonlinear term (ignored for
        ``"linear"``), in [0, ``oracle_r2``).
    missing_fraction : float, default=0.1
        Fraction of rows removed at random (unbalanced panel).
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X`` (DataFrame ``c1..cL`` and ``const``, ``(entity, time)``
        MultiIndex), ``y`` (Series of :math:`r_{i,t+1}`), ``oracle_fit``
        (Series of the true :math:`\beta'f_{t+1}`: its total R² is the
        oracle's), ``oracle_pred`` (Series of the true expected return
        :math:`\beta'\mu`: its predictive R² is the oracle's), ``loadings``
        (DataFrame of the true :math:`\beta`), ``nonlinear_loadings``
        (DataFrame of the nonlinear part), ``factors`` (DataFrame ``T x K``
        of :math:`f_{t+1}` labelled by ``t``), ``factor_means`` (ndarray
        :math:`\mu`), ``noise_vol``, ``design`` and ``DESCR``.

    See Also
    --------
    make_conditional_factor_panel : The Gu, Kelly and Xiu (2021) style design.

    Notes
    -----
    The share of the IPCA-to-oracle gap a model closes out of sample is
    :math:`(R^2_{model} - R^2_{IPCA}) / (R^2_{oracle} - R^2_{IPCA})`, with
    :math:`R^2_{oracle}` = ``r2_total(y_test, oracle_fit_test)``.

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_design_family_panel
    >>> from sklearn_neurif.metrics import r2_total
    >>> data = make_design_family_panel("abs", n_entities=100, n_periods=40,
    ...                                 random_state=0)
    >>> data.X.shape[1]
    13
    >>> abs(r2_total(data.y, data.oracle_fit) - 0.2) < 0.02  # noise draws vary
    True
    """
    _check_arguments(design, n_factors, oracle_r2, nonlinear_r2, missing_fraction)
    rng = check_random_state(random_state)
    N, T, L, K = n_entities, n_periods, n_characteristics, n_factors
    if min(N, T, L) < 2:
        raise ValueError("n_entities, n_periods and n_characteristics must be >= 2.")
    z = _rank_characteristics(_ar1_characteristics(rng, N, T, L, (0.9, 1.0)))
    # "latent_state" replaces the last characteristic: no loading on it.
    linear = _linear_loadings(rng, z, K, drop_last=design == "latent_state")
    vols = np.asarray(_FACTOR_VOLS[:K])
    mu = np.asarray(_FACTOR_MEANS[:K])
    f = mu + vols * rng.standard_normal((T, K))
    nonlinear = np.zeros_like(linear)
    if design in DESIGNS[1:6]:
        nonlinear = _residualise(_nonlinear_terms(design, rng, z, K), z)
    elif design != "linear":
        # Drawn after the first designs' draws: their panels are unchanged.
        linear, nonlinear = _extended_terms(design, rng, z, linear)
    if design != "linear":
        nonlinear *= _nonlinear_scale(linear, nonlinear, f, nonlinear_r2 / oracle_r2)
    beta = linear + nonlinear
    fit = np.einsum("tnk,tk->tn", beta, f)
    present = _presence(rng, N, T, missing_fraction, False)
    # Calibrate on the rows that exist: the oracle R^2 of the returned panel.
    signal = np.mean(fit[present] ** 2)
    noise_vol = float(np.sqrt(signal * (1.0 / oracle_r2 - 1.0)))
    r = fit + noise_vol * rng.standard_normal((T, N))
    if design == "latent_state":
        z[..., -1] = _last_return_rank(r)
    return _as_bunch(
        design,
        z,
        beta,
        nonlinear,
        f=f,
        mu=mu,
        r=r,
        fit=fit,
        present=present,
        noise_vol=noise_vol,
    )


def _check_arguments(design, n_factors, oracle_r2, nonlinear_r2, missing_fraction):
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}; got {design!r}.")
    if not 1 <= n_factors <= len(_FACTOR_VOLS):
        raise ValueError(f"n_factors must be in [1, 5]; got {n_factors}.")
    if not 0.0 < oracle_r2 < 1.0:
        raise ValueError(f"oracle_r2 must be in (0, 1); got {oracle_r2}.")
    if not 0.0 <= nonlinear_r2 < oracle_r2:
        raise ValueError(
            f"nonlinear_r2 must be in [0, oracle_r2={oracle_r2}); got {nonlinear_r2}."
        )
    if not 0.0 <= missing_fraction < 1.0:
        raise ValueError(f"missing_fraction must be in [0, 1); got {missing_fraction}.")


def _linear_loadings(rng, z, K, drop_last=False):
    """Gamma'[z, 1]: factor 1 market-like (mean 1), each factor's z part sd ~1."""
    L = z.shape[-1]
    gamma = rng.standard_normal((L, K)) * np.sqrt(12.0 / L)
    if drop_last:
        gamma[-1] = 0.0
    const = np.zeros(K)
    const[0] = 1.0
    return z @ gamma + const


def _nonlinear_terms(design, rng, z, K):
    """phi_k(z) per factor, (T, N, K), before residualisation and scaling."""
    L = z.shape[-1]
    terms = []
    for _ in range(K):
        a, b = rng.choice(L, size=2, replace=False)
        za, zb = z[..., a], z[..., b]
        if design == "interaction":
            term = za * zb
        elif design == "abs":
            term = np.abs(za)
        elif design == "step":
            term = (za > rng.choice([-0.25, 0.0, 0.25])).astype(float)
        elif design == "conditional_slope":
            term = za * (zb > 0)
        else:  # regime
            term = _hysteresis_state(zb) * za
        terms.append(term * rng.choice([-1.0, 1.0]))
    return np.stack(terms, axis=-1)


def _extended_terms(design, rng, z, linear):
    """Linear and nonlinear loadings of the designs of issue 19.

    The factor without a linear part is the last one: its linear column is
    set to zero, so its whole loading is the (residualised) nonlinear term.
    """
    T, N, L = z.shape
    K = linear.shape[-1]
    linear = linear.copy()
    terms = np.zeros_like(linear)
    a, b = rng.choice(L - 1, size=2, replace=False)  # the last column may change
    za, zb = z[..., a], z[..., b]
    if design == "pure_interaction":
        terms[..., -1] = za * zb
    elif design == "pure_abs":
        terms[..., -1] = np.abs(za)
    elif design == "latent_state":
        terms[..., -1] = _markov_state(rng, T, N)
    else:  # mixed
        terms[..., -1] = za * zb
        c, d, e = rng.choice(L - 1, size=3, replace=False)
        if K >= 3:
            terms[..., 0] = np.abs(z[..., c])
            terms[..., 1] = _hysteresis_state(z[..., d]) * z[..., e]
    linear[..., -1] = 0.0
    signs = rng.choice([-1.0, 1.0], size=K)
    return linear, _residualise(terms * signs, z)


def _markov_state(rng, T, N):
    """+1/-1 per asset, flipping with probability ``_STATE_SWITCH`` a month."""
    states = np.empty((T, N))
    states[0] = rng.choice([-1.0, 1.0], size=N)
    flips = rng.uniform(size=(T, N)) < _STATE_SWITCH
    for t in range(1, T):
        states[t] = np.where(flips[t], -states[t - 1], states[t - 1])
    return states


def _last_return_rank(r):
    """Rank-scaled r_{i,t} (row t-1 of ``r``) known at t; 0 in the first month."""
    ranks = np.zeros_like(r)
    ranks[1:] = _rank_characteristics(r[:-1][..., None])[..., 0]
    return ranks


def _hysteresis_state(zb, threshold=0.25):
    """+1/-1 per asset: up above +threshold, down below -threshold, else kept."""
    state = np.where(zb[0] >= 0, 1.0, -1.0)
    states = np.empty_like(zb)
    for t in range(zb.shape[0]):
        state = np.where(zb[t] > threshold, 1.0, state)
        state = np.where(zb[t] < -threshold, -1.0, state)
        states[t] = state
    return states


def _residualise(terms, z):
    """Each term minus its pooled OLS projection on [1, z]; unit sd."""
    T, N, L = z.shape
    design = np.hstack([np.ones((T * N, 1)), z.reshape(-1, L)])
    flat = terms.reshape(-1, terms.shape[-1])
    coef, *_ = np.linalg.lstsq(design, flat, rcond=None)
    resid = flat - design @ coef
    resid /= resid.std(axis=0).clip(min=1e-12)
    resid[:, ~flat.any(axis=0)] = 0.0  # factors without a nonlinear term
    return resid.reshape(terms.shape)


def _nonlinear_scale(linear, nonlinear, f, share):
    """c so that (c nl'f)^2 is ``share`` of the oracle signal (they are orthogonal)."""
    s_lin = np.mean(np.einsum("tnk,tk->tn", linear, f) ** 2)
    s_nl = np.mean(np.einsum("tnk,tk->tn", nonlinear, f) ** 2)
    return float(np.sqrt(share * s_lin / ((1.0 - share) * s_nl)))


def _as_bunch(design, z, beta, nonlinear, *, f, mu, r, fit, present, noise_vol):
    T, N, L = z.shape
    K = beta.shape[-1]
    t_idx, n_idx, index = _long_index(present)
    X = pd.DataFrame(
        z[t_idx, n_idx], index=index, columns=[f"c{j + 1}" for j in range(L)]
    ).assign(const=1.0)
    beta_cols = [f"beta_{k + 1}" for k in range(K)]

    def rows(values, name):
        return pd.Series(values[t_idx, n_idx], index=index, name=name)

    return Bunch(
        X=X,
        y=rows(r, "ret_next"),
        oracle_fit=rows(fit, "oracle_fit"),
        oracle_pred=rows(beta @ mu, "oracle_pred"),
        loadings=pd.DataFrame(beta[t_idx, n_idx], index=index, columns=beta_cols),
        nonlinear_loadings=pd.DataFrame(
            nonlinear[t_idx, n_idx], index=index, columns=beta_cols
        ),
        factors=pd.DataFrame(
            f,
            index=pd.Index(np.arange(T), name="time"),
            columns=[f"factor_{k + 1}" for k in range(K)],
        ),
        factor_means=mu.copy(),
        noise_vol=noise_vol,
        design=design,
        DESCR=(
            f"Design-family panel '{design}': {len(X)} rows, {T} periods, {N} "
            f"entities, {L} characteristics + const, {K} factors, "
            f"noise sd {noise_vol:.4f}."
        ),
    )
