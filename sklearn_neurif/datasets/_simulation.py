"""Simulated conditional factor panels (Gu, Kelly and Xiu 2021 style)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from ..base import factor_names

__all__ = ["make_conditional_factor_panel"]


def make_conditional_factor_panel(
    n_entities: int = 200,
    n_periods: int = 120,
    n_characteristics: int = 10,
    n_factors: int = 3,
    *,
    loadings: str = "linear",
    factor_means=0.005,
    factor_vols=(0.05, 0.03, 0.02, 0.01, 0.005),
    noise_vol: float = 0.1,
    persistence: tuple[float, float] = (0.9, 1.0),
    missing_fraction: float = 0.0,
    entry_exit: bool = False,
    intercept: bool = False,
    random_state=None,
) -> Bunch:
    r"""Simulate a long panel of returns driven by conditional latent factors.

    The data-generating process follows the simulation design of Gu, Kelly
    and Xiu (2021, section 3), in the notation of the package:

    .. math::

        c_{i,t,l} &= \rho_l\, c_{i,t-1,l} + \sqrt{1-\rho_l^2}\,\varepsilon_{i,t,l},
            \qquad \rho_l \sim U[\rho_{lo}, \rho_{hi}] \\
        z_{i,t,l} &= \frac{\operatorname{rank}_i(c_{i,t,l}) - 1}{N_t - 1} - \tfrac12
            \in [-\tfrac12, \tfrac12] \\
        \beta_{i,t} &= \Gamma' \phi(z_{i,t}) \\
        r_{i,t+1} &= \alpha_{i,t} + \beta_{i,t}' f_{t+1} + e_{i,t+1}, \qquad
            f_{t+1} \sim N(\mu, \operatorname{diag}(\sigma^2)),\;
            e_{i,t+1} \sim N(0, \sigma_e^2)

    With ``loadings="linear"``, :math:`\phi(z) = z` (the IPCA model).
    With ``loadings="nonlinear"``, :math:`\phi` stacks, for each factor,
    standardised squares :math:`z_a^2`, interactions :math:`z_a z_b` and signs
    :math:`\operatorname{sgn}(z_c)` next to a smaller linear part, so that
    a model linear in :math:`z` misses most of the loading variation (the
    squares and interactions are uncorrelated with every :math:`z_l`).
    :math:`\Gamma` is scaled so each factor's loadings have unit
    cross-sectional standard deviation. With ``intercept=True`` an alpha
    :math:`\alpha_{i,t} = 0.002 \cdot 12\, z_{i,t,1}` (mispricing linear in
    the first characteristic) is added.

    Timing (as-of): row ``(i, t)`` of ``X`` holds :math:`z_{i,t}`, known at the
    end of period ``t``; row ``(i, t)`` of ``y`` holds :math:`r_{i,t+1}`. The
    returned ``factors`` are labelled by the as-of period ``t`` and hold
    :math:`f_{t+1}`, the same labels as ``X``, ``y`` and the estimators'
    ``factors_``.

    Parameters
    ----------
    n_entities : int, default=200
        Number of assets (a balanced panel has ``n_entities`` per period).
    n_periods : int, default=120
        Number of periods ``T``.
    n_characteristics : int, default=10
        Number of characteristics ``L``.
    n_factors : int, default=3
        Number of latent factors ``K``.
    loadings : {"linear", "nonlinear"}, default="linear"
        Shape of the map from characteristics to loadings.
    factor_means : float or array-like of shape (n_factors,), default=0.005
        Factor premia :math:`\mu` (monthly, decimals).
    factor_vols : float or array-like, default=(0.05, 0.03, 0.02, 0.01, 0.005)
        Factor volatilities :math:`\sigma`; a sequence is cut or cycled to
        ``n_factors``.
    noise_vol : float, default=0.1
        Idiosyncratic volatility :math:`\sigma_e`.
    persistence : (float, float), default=(0.9, 1.0)
        Range of the AR(1) coefficients :math:`\rho_l` of the raw
        characteristics.
    missing_fraction : float, default=0.0
        Fraction of ``(entity, time)`` rows removed at random (unbalanced
        panel; the rows are absent, not NaN).
    entry_exit : bool, default=False
        If True, each asset lives over a random contiguous span of periods
        (at least a quarter of the sample), as firms enter and leave.
    intercept : bool, default=False
        Add a characteristic-driven alpha.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible panels.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``X`` (DataFrame, ``(entity, time)`` MultiIndex, columns
        ``c1..cL``), ``y`` (Series of next-period returns), ``loadings``
        (DataFrame of true :math:`\beta_{i,t}`, columns ``beta_1..K``),
        ``alpha`` (Series), ``factors`` (DataFrame ``T x K`` of
        :math:`f_{t+1}` labelled by ``t``), ``gamma`` (true :math:`\Gamma`,
        only for linear loadings, else None), ``expected_returns``
        (Series of :math:`\alpha + \beta'\mu`), ``DESCR``.

    References
    ----------
    The nonlinear loadings follow the simulation design of Gu, Kelly and Xiu
    (2021), "Autoencoder asset pricing models", Journal of Econometrics
    222(1), 429-450.

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> data = make_conditional_factor_panel(
    ...     n_entities=50, n_periods=24, n_characteristics=5, n_factors=2, random_state=0
    ... )
    >>> data.X.shape, data.y.shape, data.factors.shape
    ((1200, 5), (1200,), (24, 2))
    """
    rng = check_random_state(random_state)
    N, T, L, K = n_entities, n_periods, n_characteristics, n_factors
    _check_simulation(loadings, missing_fraction, (N, T, L, K))

    z = _rank_characteristics(
        _ar1_characteristics(rng, N, T, L, persistence)
    )  # (T, N, L)
    if loadings == "linear":
        gamma = rng.standard_normal((L, K))
        phi = z
    else:
        phi, gamma = _nonlinear_design(rng, z, K)
    beta = phi @ gamma  # (T, N, K)
    scale = beta.reshape(-1, K).std(axis=0)
    beta /= scale
    if loadings == "linear":
        gamma = gamma / scale

    mu = np.broadcast_to(np.asarray(factor_means, dtype=float), (K,)).copy()
    vols = np.resize(np.asarray(factor_vols, dtype=float), K)
    f = mu + vols * rng.standard_normal((T, K))
    alpha = 0.024 * z[..., 0] if intercept else np.zeros((T, N))
    r = (
        alpha
        + np.einsum("tnk,tk->tn", beta, f)
        + noise_vol * rng.standard_normal((T, N))
    )

    present = _presence(rng, N, T, missing_fraction, entry_exit)  # (T, N)
    return _simulated_bunch(
        present,
        z=z,
        r=r,
        beta=beta,
        f=f,
        alpha=alpha,
        mu=mu,
        gamma=gamma,
        loadings=loadings,
    )


def _simulated_bunch(present, *, z, r, beta, f, alpha, mu, gamma, loadings):
    """The long-layout Bunch of the present (T, N) cells of the simulated arrays."""
    T, N, L = z.shape
    K = beta.shape[-1]
    t_idx, n_idx, index = _long_index(present)
    X = pd.DataFrame(
        z[t_idx, n_idx], index=index, columns=[f"c{j + 1}" for j in range(L)]
    )
    y = pd.Series(r[t_idx, n_idx], index=index, name="ret_next")
    factor_cols = factor_names(K)
    return Bunch(
        X=X,
        y=y,
        loadings=pd.DataFrame(
            beta[t_idx, n_idx], index=index, columns=factor_names(K, "beta")
        ),
        alpha=pd.Series(alpha[t_idx, n_idx], index=index, name="alpha"),
        factors=pd.DataFrame(
            f, index=pd.Index(np.arange(T), name="time"), columns=factor_cols
        ),
        gamma=(
            pd.DataFrame(gamma, index=X.columns, columns=factor_cols)
            if loadings == "linear"
            else None
        ),
        expected_returns=pd.Series(
            (alpha + beta @ mu)[t_idx, n_idx], index=index, name="expected_return"
        ),
        DESCR=(
            f"Simulated conditional factor panel: {len(X)} rows, {T} periods, "
            f"{N} entities, {L} characteristics, {K} {loadings} factors."
        ),
    )


def _check_simulation(loadings, missing_fraction, sizes):
    if loadings not in ("linear", "nonlinear"):
        raise ValueError(f"loadings must be 'linear' or 'nonlinear'; got {loadings!r}.")
    if not 0.0 <= missing_fraction < 1.0:
        raise ValueError(f"missing_fraction must be in [0, 1); got {missing_fraction}.")
    if min(sizes) < 1:
        raise ValueError(
            "n_entities, n_periods, n_characteristics and n_factors must be >= 1."
        )


def _ar1_characteristics(rng, N, T, L, persistence):
    lo, hi = persistence
    rho = rng.uniform(lo, hi, size=L)
    c = np.empty((T, N, L))
    c[0] = rng.standard_normal((N, L))
    innovation_scale = np.sqrt(1.0 - rho**2)
    for t in range(1, T):
        c[t] = rho * c[t - 1] + innovation_scale * rng.standard_normal((N, L))
    return c


def _rank_characteristics(c):
    """Cross-sectional ranks mapped to [-0.5, 0.5] (no ties in continuous draws)."""
    N = c.shape[1]
    ranks = c.argsort(axis=1).argsort(axis=1).astype(float)
    return ranks / max(N - 1, 1) - 0.5


def _nonlinear_design(rng, z, K):
    """Per factor: a weak linear part plus a square, an interaction and a sign."""
    L = z.shape[-1]
    terms = []
    for _ in range(K):
        a, b, c = rng.choice(L, size=3, replace=L < 3)
        if L >= 2 and a == b:
            b = (a + 1) % L
        square = (z[..., a] ** 2 - 1.0 / 12.0) / np.sqrt(1.0 / 180.0)
        interaction = z[..., a] * z[..., b] * 12.0 if a != b else square
        sign = np.sign(z[..., c])
        linear = z[..., c] * np.sqrt(12.0)
        terms.append(np.stack([square, interaction, sign, 0.3 * linear], axis=-1))
    phi = np.concatenate(terms, axis=-1)  # (T, N, 4K)
    gamma = np.zeros((4 * K, K))
    for k in range(K):
        gamma[4 * k : 4 * k + 4, k] = rng.choice([-1.0, 1.0]) * np.array(
            [1.0, 1.0, 0.7, 1.0]
        )
    return phi, gamma


def _long_index(present):
    """Period and entity positions of the present (T, N) cells, and their index."""
    t_idx, n_idx = np.nonzero(present)
    order = np.lexsort((t_idx, n_idx))  # entity-major rows, as panels usually come
    t_idx, n_idx = t_idx[order], n_idx[order]
    index = pd.MultiIndex.from_arrays([n_idx, t_idx], names=["entity", "time"])
    return t_idx, n_idx, index


def _presence(rng, N, T, missing_fraction, entry_exit):
    present = np.ones((T, N), dtype=bool)
    if entry_exit:
        min_life = max(T // 4, 1)
        life = rng.randint(min_life, T + 1, size=N)
        start = rng.randint(0, T - life + 1)
        t = np.arange(T)[:, None]
        present &= (t >= start) & (t < start + life)
    if missing_fraction > 0:
        present &= rng.uniform(size=(T, N)) >= missing_fraction
    # Keep at least one asset in every period so that no period vanishes.
    empty = ~present.any(axis=1)
    present[empty, rng.randint(0, N, size=int(empty.sum()))] = True
    return present
