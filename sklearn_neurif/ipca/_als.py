r"""Alternating least squares of IPCA on managed portfolios.

One iteration shared by :class:`IPCARegressor` (its fit), the regularisation
path of :class:`IPCARegressorCV` and the bootstrap tests of
:mod:`sklearn_neurif.inference` (which refit on resampled managed portfolios
``x_t`` with the same ``W_t``). Everything here works on the per-period
moments ``W_t = Z_t'Z_t`` and ``x_t = Z_t'r_{t+1}`` (unscaled sums), so its
cost does not depend on the number of assets.

Columns of ``gamma`` (``L x k``): the ``K`` latent factors, then the
observed columns ``G`` (``T x M'``): the ``M`` observable factors and, with
an intercept, a constant (as ``ipca`` treats the intercept: a pre-specified
factor equal to one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from sklearn.linear_model import ElasticNet

__all__ = [
    "ALSMoments",
    "ALSResult",
    "PenaltyCollapseError",
    "initial_gamma",
    "run_als",
]


class PenaltyCollapseError(ValueError):
    """The penalised Gamma step set every loading of a latent factor to zero."""


#: A period's factor direction is unidentified when its loadings vary along
#: it at most this fraction (in variance) of the sample's typical period...
IDENTIFICATION_RTOL = 0.05
#: ... and, once masked, stays masked until they vary more than this fraction.
IDENTIFICATION_HOLD = 0.5
#: Coordinate-descent tolerance of the elastic-net Gamma step (scikit-learn's
#: duality-gap criterion): tight, so that the step is solved, not approximated.
ENET_TOL = 1e-12
ENET_MAX_ITER = 100_000


@dataclass(frozen=True)
class ALSMoments:
    """The fixed inputs of ALS: moments of the periods with returns.

    Attributes
    ----------
    W : ndarray of shape (T, L, L)
    n_obs : ndarray of shape (T,)
        Rows with returns per period (all positive).
    G : ndarray of shape (T, M') or None
        Observed columns (observable factors, then a constant with an
        intercept), None when there are none.
    W_upper : ndarray of shape (T, L(L+1)/2)
        Upper triangles of ``W`` (packed once; the Gamma step reads them).
    """

    W: np.ndarray
    n_obs: np.ndarray
    G: np.ndarray | None
    W_upper: np.ndarray
    upper: tuple

    @classmethod
    def build(cls, W, n_obs, G):
        upper = np.triu_indices(W.shape[1])
        W_upper = np.ascontiguousarray(W[:, upper[0], upper[1]])
        return cls(W, n_obs, G, W_upper, upper)


@dataclass
class ALSResult:
    gamma: np.ndarray
    F: np.ndarray
    n_iter: int
    n_masked: np.ndarray
    converged: bool
    change: float


def initial_gamma(x, n_obs, n_latent, n_columns):
    """SVD warm start of ``ipca``: ``Gamma`` and latent factors."""
    U, s, Vt = np.linalg.svd((x / n_obs[:, None]).T, full_matrices=False)
    gamma = U[:, :n_columns]
    F = (s[:n_columns, None] * Vt[:n_columns]).T[:, :n_latent]
    return gamma, F


def run_als(
    moments,
    x,
    n_latent,
    gamma,
    F,
    *,
    max_iter,
    iter_tol,
    alpha=0.0,
    l1_ratio=1.0,
    verbose=False,
):
    """Iterate the factor step, the Gamma step and the KPS normalisation.

    Stops when the largest absolute change of ``Gamma`` (and, without
    observed columns, of the factors) is at most ``iter_tol``, the criterion
    of ``ipca``. ``gamma`` and ``F`` are the starting values (any, e.g. a
    previous fit's: the factor step does not read ``F``, which only enters
    the first change). With ``n_latent == 0`` the model is linear in
    ``Gamma``: one Gamma step solves it.
    """
    G, K = moments.G, n_latent
    n_masked = np.zeros(len(x), dtype=np.int64)
    if K == 0:
        gamma = _gamma_step(moments, x, np.zeros((len(x), 0)), alpha, l1_ratio, gamma)
        return ALSResult(gamma, np.zeros((len(x), 0)), 1, n_masked, True, 0.0)
    change = np.inf
    for n_iter in range(1, max_iter + 1):
        F_new, n_masked = _factor_step(moments, x, gamma, K, n_masked)
        gamma_new = _gamma_step(moments, x, F_new, alpha, l1_ratio, gamma)
        if alpha > 0:
            _check_not_collapsed(gamma_new[:, :K], alpha, l1_ratio)
        gamma_new, F_new = _normalise(gamma_new, F_new, K, G)
        change = np.max(np.abs(gamma_new - gamma))
        if G is None:  # with observed columns ipca checks Gamma only
            change = max(change, np.max(np.abs(F_new - F)))
        gamma, F = gamma_new, F_new
        if verbose:
            print(f"IPCA iteration {n_iter}: max change {change:.3e}")
        if change <= iter_tol:
            return ALSResult(gamma, F, n_iter, n_masked, True, change)
    return ALSResult(gamma, F, max_iter, n_masked, False, change)


def _check_not_collapsed(gamma_beta, alpha, l1_ratio):
    dead = np.flatnonzero(~np.any(gamma_beta != 0, axis=0))
    if len(dead):
        raise PenaltyCollapseError(
            f"The penalty (alpha={alpha:g}, l1_ratio={l1_ratio:g}) sets every "
            f"loading of latent factor(s) {[int(k) + 1 for k in dead]} to zero: "
            "the factor vanishes and the KPS normalisation is undefined. Reduce "
            "alpha or n_factors."
        )


def _factor_step(moments, x, gamma, K, n_masked):
    """Factors of every period given Gamma: ``T`` batched ``K x K`` solves.

    ``b_t = Gb'(x_t - W_t Gamma_obs g_t)``: returns net of the observed
    columns' part. ``A_t = Gb' W_t Gb`` is compared with the pooled
    per-asset average ``Abar = sum_t A_t / sum_t N_t``: the eigenvalues
    ``mu`` of ``A_t / N_t`` relative to ``Abar`` measure how much the
    period's loadings vary along each factor direction against a typical
    period (about 1). Directions with ``mu <= IDENTIFICATION_RTOL`` are
    unidentified: the factor is fitted orthogonally to them (0 along them;
    the pseudo-inverse solution when they span the null space of ``A_t``).
    The ``n_masked[t]`` directions masked at the previous iteration stay
    masked while their ``mu <= IDENTIFICATION_HOLD`` (re-admitted as soon as
    ``mu`` exceeds ``IDENTIFICATION_RTOL``, the factor drifts again and ALS
    oscillates). Periods passing the bound below get exactly the plain
    solve, so the iterates are those of ``ipca`` wherever every period
    identifies the factors.
    """
    W, n_obs, G = moments.W, moments.n_obs, moments.G
    WG = W @ gamma  # (T, L, k)
    Gb = gamma[:, :K]
    A = np.matmul(Gb.T, WG[:, :, :K])  # Gb' W_t Gb, (T, K, K)
    b = x @ Gb
    if G is not None:  # observed columns: returns net of their part
        b = b - np.einsum("tlm,tm->tl", WG[:, :, K:], G) @ Gb
    A_bar = A.sum(axis=0) / n_obs.sum()
    n_weak = n_masked.copy()
    # One solve gives f_t and A_t^-1; mu_min >= 1 / (N_t tr(A_t^-1 Abar)),
    # so periods passing that bound need no eigendecomposition.
    rhs = np.concatenate([b[..., None], np.broadcast_to(A_bar, A.shape)], axis=2)
    try:
        with np.errstate(all="ignore"):
            sol = np.linalg.solve(A, rhs)
        F = sol[:, :, 0]
        bound = n_obs * np.trace(sol[:, :, 1:], axis1=1, axis2=2)
        suspect = ~((bound > 0) & (bound * IDENTIFICATION_RTOL < 1)) | (n_masked > 0)
    except np.linalg.LinAlgError:  # an exactly singular period
        F, suspect = np.zeros_like(b), np.ones(len(b), dtype=bool)
    if suspect.any():
        idx = np.flatnonzero(suspect)
        # Whitened by Abar = C C': B_t = C^-1 (A_t / N_t) C^-T = Q diag(mu) Q';
        # the columns of P = C^-T Q are the directions, mu ascending.
        C = np.linalg.cholesky(A_bar)
        Ci = scipy.linalg.solve_triangular(C, np.eye(K), lower=True)
        mu, Q = np.linalg.eigh(Ci @ A[idx] @ Ci.T / n_obs[idx, None, None])
        P = Ci.T @ Q
        held = np.minimum(n_masked[idx], np.sum(mu <= IDENTIFICATION_HOLD, 1))
        n_weak[idx] = np.maximum(held, np.sum(mu <= IDENTIFICATION_RTOL, 1))
        for m in np.unique(n_weak[idx]):
            sel = n_weak[idx] == m
            F[idx[sel]] = _solve_masked(A[idx[sel]], b[idx[sel]], P[sel, :, :m])
    return F, n_weak


def _solve_masked(A, b, V):
    """Least squares ``f_t`` orthogonal to the columns of ``V_t`` (``K x m``).

    ``f = N (N'AN)^-1 N'b`` with ``N`` an orthonormal basis of the
    complement of ``V``: the factor has no component along the unidentified
    directions, and the others are fitted. When ``A_t`` is singular with
    null space ``V_t`` this is the pseudo-inverse (minimum-norm) solution.
    """
    K, m = A.shape[-1], V.shape[-1]
    if m == 0:
        return np.linalg.solve(A, b[..., None])[..., 0]
    if m == K:
        return np.zeros_like(b)
    N = np.linalg.qr(V, mode="complete")[0][:, :, m:]  # (T, K, K - m)
    NtA = np.matmul(N.transpose(0, 2, 1), A)
    coef = np.linalg.solve(NtA @ N, (N.transpose(0, 2, 1) @ b[..., None]))
    return (N @ coef)[..., 0]


def _gamma_system(moments, x, F):
    """``D = sum_t W_t (x) f f'`` and ``sum_t x_t (x) f``, ``f = (f_t, g_t)``.

    The blocks ``sum_t W_t[l, m] f f'`` are formed for ``l <= m`` only (one
    matrix product) and mirrored: ``W_t`` is symmetric.
    """
    T, L = x.shape
    Fa = F if moments.G is None else np.hstack([F, moments.G])
    k = Fa.shape[1]
    FF = (Fa[:, :, None] * Fa[:, None, :]).reshape(T, k * k)
    blocks = (FF.T @ moments.W_upper).T.reshape(-1, k, k)
    upper = moments.upper
    D = np.empty((L, L, k, k))
    D[upper[0], upper[1]] = blocks
    D[upper[1], upper[0]] = blocks
    D = D.transpose(0, 2, 1, 3).reshape(L * k, L * k)
    return D, (x.T @ Fa).reshape(L * k), k


def _gamma_step(moments, x, F, alpha, l1_ratio, gamma_old):
    """Gamma given the factors: least squares, ridge or elastic net.

    With ``alpha > 0`` the step minimises, as ``ipca``'s ``ElasticNet`` on
    the panel (without its intercept),
    ``1/(2n) sum (r - z'Gamma f)^2 + alpha l1_ratio |Gamma|_1
    + alpha (1 - l1_ratio)/2 |Gamma|^2`` with ``n`` the rows with returns,
    written on the moments only.
    """
    D, rhs, k = _gamma_system(moments, x, F)
    L = x.shape[1]
    if alpha > 0:
        return _penalised_solve(D, rhs, moments.n_obs.sum(), alpha, l1_ratio, gamma_old)
    # LAPACK directly: the scipy.linalg wrappers cost as much as the solve.
    potrf, potrs = scipy.linalg.get_lapack_funcs(("potrf", "potrs"), (D,))
    chol, info = potrf(D, lower=False, overwrite_a=False, clean=False)
    if info == 0:
        sol, info = potrs(chol, rhs, lower=False)
    if info != 0:  # not positive definite: least squares
        sol = np.linalg.lstsq(D, rhs, rcond=None)[0]
    return sol.reshape(L, k)


def _penalised_solve(D, rhs, n, alpha, l1_ratio, gamma_old):
    """Minimise ``(g'Dg - 2 g'rhs)/(2n) + alpha P(g)`` (elastic-net ``P``).

    Ridge (``l1_ratio == 0``) in closed form. Otherwise scikit-learn's
    coordinate descent on a square design ``R`` with ``R'R = D`` and
    ``R'y = rhs``: its loss ``|y - Rg|^2 / (2p)`` equals ours times ``n/p``
    up to a constant, so its penalty is ``alpha n / p``. Warm-started from
    the previous Gamma.
    """
    p = len(rhs)
    L, k = gamma_old.shape
    if l1_ratio == 0:
        return np.linalg.solve(D + n * alpha * np.eye(p), rhs).reshape(L, k)
    vals, vecs = np.linalg.eigh(D)
    vals = np.clip(vals, 0.0, None)
    R = np.sqrt(vals)[:, None] * vecs.T  # R'R = D
    keep = vals > vals.max() * 1e-14
    y = np.zeros(p)
    y[keep] = (vecs.T @ rhs)[keep] / np.sqrt(vals[keep])
    model = ElasticNet(
        alpha=alpha * n / p,
        l1_ratio=l1_ratio,
        fit_intercept=False,
        tol=ENET_TOL,
        max_iter=ENET_MAX_ITER,
        warm_start=True,
        selection="cyclic",
    )
    model.coef_ = gamma_old.reshape(p).copy()
    model.fit(R, y)
    return model.coef_.reshape(L, k)


def _normalise(gamma, F, K, G):
    """KPS normalisation, the same rotation and signs as ``ipca`` 0.6.7.

    ``Gamma_b'Gamma_b = I``; ``F'F`` diagonal, decreasing; positive factor
    means; the observed columns' Gamma orthogonal to ``Gamma_b``, the
    projected part moved into the latent factors (``f += shift g``), which
    leaves ``Gamma_b f + Gamma_obs g`` unchanged.
    """
    gamma = gamma.copy()
    Gb = gamma[:, :K]
    R1 = np.linalg.cholesky(Gb.T @ Gb).T  # upper triangular, R1'R1 = Gb'Gb
    R2 = np.linalg.svd(R1 @ (F.T @ F) @ R1.T)[0]
    Gb = scipy.linalg.solve_triangular(R1, Gb.T, trans="T").T @ R2
    F = F @ R1.T @ R2
    Gb, F = _positive_means(Gb, F)
    if G is not None:
        shift = Gb.T @ gamma[:, K:]  # (K, M')
        gamma[:, K:] -= Gb @ shift
        F = F + G @ shift.T
        Gb, F = _positive_means(Gb, F)
    gamma[:, :K] = Gb
    return gamma, F


def _positive_means(Gb, F):
    sign = np.sign(F.mean(axis=0))
    sign[sign == 0] = 1.0
    return Gb * sign, F * sign
