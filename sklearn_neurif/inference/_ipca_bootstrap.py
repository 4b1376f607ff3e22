r"""Bootstrap tests of IPCA (Kelly, Pruitt and Su 2019, section 4).

Three Wald-type statistics on a fitted :class:`~sklearn_neurif.IPCARegressor`,
each with a wild residual bootstrap of the managed portfolios under its null:

* :func:`ipca_alpha_test`, :math:`W_\alpha = \hat\Gamma_\alpha'\hat\Gamma_\alpha`
  (:math:`H_0: \Gamma_\alpha = 0`, characteristics carry no alpha beyond
  their betas);
* :func:`ipca_instrument_test`, :math:`W_{\beta,l} = \sum_{l \in S}
  \hat\gamma_{\beta,l}'\hat\gamma_{\beta,l}` (:math:`H_0`: the rows ``S`` of
  :math:`\Gamma_\beta` are zero, characteristic ``l`` or a group of them
  does not enter the loadings);
* :func:`ipca_factor_test`, :math:`W_\delta` the sum of squares of the
  columns of :math:`\Gamma_\delta` for the tested observable factors.

The bootstrap (KPS 2019, section 4.1): with :math:`\hat d_t = x_t/N_t -
(W_t/N_t)\hat\Gamma\tilde f_t` the managed-portfolio residuals of the fit
(per-asset averages, as ``ipca``), each draw builds

.. math::

    \tilde x_t / N_t = (W_t / N_t)\,\hat\Gamma^{0}\tilde f_t
        + q_t\,\hat d_{s_t}, \qquad q_t \sim t_5 \sqrt{3/5},
        \quad s_t \sim U\{1..T\},

with :math:`\hat\Gamma^{0}` the fitted :math:`\Gamma` with the tested part
set to zero, refits the *unrestricted* model on :math:`(W_t, \tilde x_t)`
(warm-started from :math:`\hat\Gamma`) and records the statistic; the
p-value is the share of draws whose statistic exceeds the fitted one (the
rule of ``ipca``). Only the managed portfolios are resampled, so a draw costs
an ALS refit of ``O(T L^2 K^2)`` per iteration whatever the number of assets.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "IPCABootstrapResult",
    "ipca_alpha_test",
    "ipca_factor_test",
    "ipca_instrument_significance",
    "ipca_instrument_test",
]

_LABELS = {"alpha": "W_alpha", "instrument": "W_beta", "factor": "W_delta"}


@dataclass(frozen=True, repr=False)
class IPCABootstrapResult:
    """A KPS (2019) bootstrap test of an IPCA fit.

    Attributes
    ----------
    test : {"alpha", "instrument", "factor"}
        Which statistic: :math:`W_\\alpha`, :math:`W_\\beta` or
        :math:`W_\\delta`.
    tested : tuple of str
        What the null sets to zero: ``("alpha",)``, the characteristics, or
        the observable factors.
    stat : float
        The W statistic on the fitted :math:`\\Gamma`.
    pvalue : float
        Share of bootstrap statistics strictly above ``stat``.
    n_boot : int
        Number of bootstrap draws.
    null_distribution : ndarray of shape (n_boot,)
        The bootstrap statistics (refits under the null).
    n_retries : int
        Draws redrawn because a refit failed (singular system or
        non-finite statistic).
    n_unconverged : int
        Refits that reached ``max_iter`` (kept, as ``ipca`` does).
    """

    test: str
    tested: tuple
    stat: float
    pvalue: float
    n_boot: int
    null_distribution: np.ndarray
    n_retries: int = 0
    n_unconverged: int = 0

    @property
    def label(self) -> str:
        """``W_alpha``, ``W_beta[c1,c2]`` or ``W_delta[mkt]``."""
        base = _LABELS[self.test]
        return base if self.test == "alpha" else f"{base}[{','.join(self.tested)}]"

    def summary(self) -> pd.DataFrame:
        """One row (the test): ``stat``, ``pvalue``, ``n_boot``."""
        return pd.DataFrame(
            {"stat": [self.stat], "pvalue": [self.pvalue], "n_boot": [self.n_boot]},
            index=pd.Index([self.label], name="test"),
        )

    def __repr__(self) -> str:
        return (
            f"IPCABootstrapResult({self.label}, stat={self.stat:.4g}, "
            f"pvalue={self.pvalue:.4g}, n_boot={self.n_boot})"
        )


def ipca_alpha_test(
    estimator,
    X,
    y,
    *,
    n_boot=1000,
    random_state=None,
    n_jobs=None,
    max_retries=10,
    iter_tol=None,
    progress=None,
    unit_variance=True,
):
    r"""Bootstrap test of :math:`\Gamma_\alpha = 0` (KPS 2019, section 4.1).

    Parameters
    ----------
    estimator : IPCARegressor or Pipeline
        Fitted with ``intercept=True`` and ``alpha=0`` on ``X``, ``y`` (a
        Pipeline ending in one: ``X`` goes through its earlier steps; a
        fitted ``IPCARegressorCV``: its ``best_estimator_``, refused unless
        the chosen ``alpha_`` is 0).
    X : DataFrame
        The characteristics the estimator was fitted on.
    y : Series
        The returns it was fitted on (as-of timing: row ``(i, t)`` holds
        :math:`r_{i,t+1}`).
    n_boot : int, default=1000
        Bootstrap draws.
    random_state : int, numpy Generator or None, default=None
        Seed of the draws (a ``SeedSequence`` spawns one stream per draw, so
        results do not depend on ``n_jobs``); the global numpy seed is
        never used.
    n_jobs : int, default=None
        Processes (joblib); None means 1.
    max_retries : int, default=10
        A draw whose refit fails (singular system, non-finite statistic) is
        redrawn at most this many times; then a ``RuntimeError``.
    iter_tol : float, default=None
        ALS tolerance of the refits; None uses the estimator's.
    progress : bool or None, default=None
        Progress bar on stderr; None shows it when stderr is a terminal.
    unit_variance : bool, default=True
        Scale the :math:`t_5` multipliers to unit variance, as KPS (2019)
        specify. False draws them unscaled (variance 5/3), as ``ipca``
        0.6.7 does, which inflates the bootstrap statistics and makes its
        tests conservative (docs/inference.md).

    Returns
    -------
    IPCABootstrapResult

    Raises
    ------
    NotFittedError
        If the estimator is not fitted.
    ValueError
        For a model without intercept, a regularised fit, ``n_boot < 1``,
        or ``X``/``y`` not the data of the fit.
    TypeError
        For ``n_boot`` not an integer (a bool included), or an estimator
        that is not an IPCARegressor.

    Examples
    --------
    >>> from sklearn_neurif import IPCARegressor
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> from sklearn_neurif.inference import ipca_alpha_test
    >>> d = make_conditional_factor_panel(100, 40, 4, 1, random_state=0)
    >>> est = IPCARegressor(1, intercept=True).fit(d.X, d.y)
    >>> res = ipca_alpha_test(est, d.X, d.y, n_boot=20, random_state=0)
    >>> res.summary().columns.tolist()
    ['stat', 'pvalue', 'n_boot']
    """
    model = _fitted_model(estimator)
    _check_n_boot(n_boot, max_retries)
    if not model.intercept:
        raise ValueError(
            "W_alpha tests Gamma_alpha = 0 and needs the unrestricted model: fit "
            "IPCARegressor(..., intercept=True)."
        )
    _check_unpenalised(model)
    problem = _Problem.build(estimator, model, X, y)
    column = problem.gamma.shape[1] - 1
    return _run(
        problem, "alpha", ("alpha",), (slice(None), [column]), n_boot=n_boot,
        random_state=random_state, n_jobs=n_jobs, retries=max_retries,
        iter_tol=iter_tol, progress=progress, unit_variance=unit_variance,
    )  # fmt: skip


def ipca_instrument_test(
    estimator,
    X,
    y,
    characteristics,
    *,
    n_boot=1000,
    random_state=None,
    n_jobs=None,
    max_retries=10,
    iter_tol=None,
    progress=None,
    unit_variance=True,
):
    r"""Bootstrap test that characteristics do not enter the loadings.

    :math:`W_{\beta} = \sum_{l\in S}\hat\gamma_{\beta,l}'\hat\gamma_{\beta,l}`
    over the rows ``S`` of :math:`\Gamma_\beta` (the latent factors'
    loadings) named in ``characteristics``; the null sets them to zero
    (KPS 2019, section 4.2). In models with an intercept or observable
    factors, :math:`\Gamma_\alpha` and :math:`\Gamma_\delta` are kept as
    fitted under the null and re-estimated in each refit.

    Parameters
    ----------
    estimator, X, y
        As in :func:`ipca_alpha_test` (any ``intercept``, observable
        factors allowed; ``n_factors >= 1``).
    characteristics : str or list of str
        One characteristic (a column of ``X``; ``"const"`` for the
        estimator's added constant) or a group tested jointly.
    n_boot, random_state, n_jobs, max_retries, iter_tol, progress, unit_variance
        As in :func:`ipca_alpha_test`.

    Returns
    -------
    IPCABootstrapResult

    Raises
    ------
    ValueError
        For an unknown or repeated characteristic, a model without latent
        factors, or as in :func:`ipca_alpha_test`.
    """
    model = _fitted_model(estimator)
    _check_n_boot(n_boot, max_retries)
    rows = _positions(characteristics, list(model.gamma_.index), "characteristic")
    if model.gamma_.shape[1] == 0:
        raise ValueError("W_beta tests Gamma_beta, but the model has no latent factor.")
    _check_unpenalised(model)
    problem = _Problem.build(estimator, model, X, y)
    block = (rows, list(range(model.gamma_.shape[1])))
    names = tuple(model.gamma_.index[rows])
    return _run(
        problem, "instrument", names, block, n_boot=n_boot,
        random_state=random_state, n_jobs=n_jobs, retries=max_retries,
        iter_tol=iter_tol, progress=progress, unit_variance=unit_variance,
    )  # fmt: skip


def ipca_factor_test(
    estimator,
    X,
    y,
    observable=None,
    *,
    n_boot=1000,
    random_state=None,
    n_jobs=None,
    max_retries=10,
    iter_tol=None,
    progress=None,
    unit_variance=True,
):
    r"""Bootstrap test that observable factors have zero loadings (:math:`W_\delta`).

    :math:`W_\delta` is the sum of squares of the columns of
    :math:`\Gamma_\delta` of the tested factors; the null sets them to zero
    (KPS 2019, "IPCA with observable factors"). Any number of factors,
    with or without an intercept and latent factors.

    Parameters
    ----------
    estimator, X, y
        As in :func:`ipca_alpha_test`; fitted with ``factors=``.
    observable : str or list of str, default=None
        The observable factors tested jointly (columns of
        ``gamma_delta_``); None tests all of them.
    n_boot, random_state, n_jobs, max_retries, iter_tol, progress, unit_variance
        As in :func:`ipca_alpha_test`.

    Returns
    -------
    IPCABootstrapResult
    """
    model = _fitted_model(estimator)
    _check_n_boot(n_boot, max_retries)
    if model.gamma_delta_ is None:
        raise ValueError(
            "W_delta tests the loadings on observable factors, but the model was "
            "fitted without them: fit(X, y, factors=...)."
        )
    names = list(model.gamma_delta_.columns)
    cols = _positions(names if observable is None else observable, names, "factor")
    _check_unpenalised(model)
    problem = _Problem.build(estimator, model, X, y)
    block = (slice(None), [model.gamma_.shape[1] + c for c in cols])
    return _run(
        problem, "factor", tuple(names[c] for c in cols), block, n_boot=n_boot,
        random_state=random_state, n_jobs=n_jobs, retries=max_retries,
        iter_tol=iter_tol, progress=progress, unit_variance=unit_variance,
    )  # fmt: skip


def ipca_instrument_significance(
    estimator, X, y, characteristics=None, *, random_state=None, **kwargs
):
    """KPS's table of instrument significance: :math:`W_{\\beta,l}` for each l.

    Runs :func:`ipca_instrument_test` for every characteristic (or those
    named), each with its own random stream spawned from ``random_state``.

    Parameters
    ----------
    estimator, X, y
        As in :func:`ipca_instrument_test`.
    characteristics : list of str, default=None
        None: every row of ``gamma_`` (the constant included).
    random_state : int, numpy Generator or None, default=None
    **kwargs
        ``n_boot``, ``n_jobs``, ``max_retries``, ``iter_tol``, ``progress``,
        ``unit_variance``.

    Returns
    -------
    DataFrame
        Indexed by ``characteristic``; columns ``stat``, ``pvalue``,
        ``n_boot``.
    """
    model = _fitted_model(estimator)
    names = list(model.gamma_.index) if characteristics is None else characteristics
    _positions(names, list(model.gamma_.index), "characteristic")  # before any work
    _check_n_boot(kwargs.get("n_boot", 1000), kwargs.get("max_retries", 10))
    seeds = _seed_sequence(random_state).spawn(len(names))
    rows = []
    for name, seed in zip(names, seeds, strict=True):
        res = ipca_instrument_test(
            estimator, X, y, name, random_state=np.random.default_rng(seed), **kwargs
        )
        rows.append((name, res.stat, res.pvalue, res.n_boot))
    return pd.DataFrame(rows, columns=["characteristic", "stat", "pvalue", "n_boot"])\
        .set_index("characteristic")  # fmt: skip


# --- checks (all before any computation) -------------------------------------


def _fitted_model(estimator):
    from ..ipca import IPCARegressor  # torch-free, but keep the import local

    model = estimator[-1] if hasattr(estimator, "steps") else estimator
    chosen = getattr(model, "best_estimator_", None)  # a fitted IPCARegressorCV
    if isinstance(chosen, IPCARegressor):
        model = chosen
    if not isinstance(model, IPCARegressor):
        raise TypeError(
            "The IPCA bootstrap tests need an IPCARegressor (or a Pipeline ending "
            f"in one); got {type(model).__name__}."
        )
    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise NotFittedError(
            "This IPCARegressor is not fitted yet: fit it on X, y before a "
            "bootstrap test."
        ) from exc
    return model


def _check_n_boot(n_boot, max_retries):
    for name, value, low in (("n_boot", n_boot, 1), ("max_retries", max_retries, 0)):
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an integer, got {value!r}.")
        if value < low:
            raise ValueError(f"{name} must be at least {low}, got {value}.")


def _check_unpenalised(model):
    alpha = getattr(model, "alpha_", model.alpha if hasattr(model, "alpha") else 0)
    if alpha > 0:
        raise ValueError(
            f"Bootstrap tests need an unpenalised fit (alpha=0; got "
            f"alpha={alpha}): the penalty shrinks the statistic towards 0 "
            "and the refits under the null would shrink differently, so the "
            "bootstrap distribution is not the statistic's null distribution. "
            "Refit with alpha=0 (e.g. on the characteristics the penalised fit "
            "selects)."
        )


def _positions(names, available, what):
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError(f"No {what} to test: pass at least one name.")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"Unknown {what}(s) {unknown}; the model has {available}.")
    if len(set(names)) < len(names):
        raise ValueError(f"Repeated {what}(s) in {names}.")
    return [available.index(n) for n in names]


# --- the bootstrap -----------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """Moments of the fit, fitted Gamma and factors, residuals."""

    moments: object  # ALSMoments of the active periods
    x: np.ndarray
    gamma: np.ndarray  # [Gamma_beta, Gamma_delta, Gamma_alpha]
    F: np.ndarray  # latent factors of the active periods
    resid: np.ndarray  # d_t = (x_t - W_t Gamma g_t) / N_t
    n_latent: int
    max_iter: int
    iter_tol: float

    @classmethod
    def build(cls, estimator, model, X, y):
        from ..ipca._als import ALSMoments
        from ..ipca._estimator import _check_characteristics, _one_blas_thread
        from ..panel import PanelLayout, check_panel_target, panel_index
        from ..panel._managed import managed_portfolios

        if hasattr(estimator, "steps") and len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        index = panel_index(X)
        Z = _check_characteristics(model, X, reset=False)
        r = check_panel_target(y, index, check_units=False)
        layout = PanelLayout(index)
        if not pd.Index(layout.periods).equals(pd.Index(model.factors_.index)):
            raise ValueError(
                "X must be the panel the estimator was fitted on: its periods "
                f"({len(layout.periods)}) differ from the fit's "
                f"({len(model.factors_.index)})."
            )
        with _one_blas_thread():
            W, x, n_obs = managed_portfolios(Z, r, layout, model.add_constant)
        active = n_obs > 0
        K = model.gamma_.shape[1]
        factors = model.factors_.to_numpy()[active]
        G = model._observed_columns(
            None if model.gamma_delta_ is None else model.factors_.iloc[:, K:], active
        )
        moments = ALSMoments.build(W[active], n_obs[active], G)
        gamma = np.hstack(
            [model._loading_map()]
            + ([model.gamma_alpha_.to_numpy()[:, None]] if model.intercept else [])
        )
        F = factors[:, :K]
        g = F if G is None else np.hstack([F, G])
        fitted = np.einsum("tlm,mk,tk->tl", moments.W, gamma, g)
        x = x[active]
        _check_same_fit(model, moments, x, gamma, F)
        resid = (x - fitted) / moments.n_obs[:, None]
        return cls(moments, x, gamma, F, resid, K, model.max_iter, model.iter_tol)


def _check_same_fit(model, moments, x, gamma, F):
    """Refuse data other than the fit's: the factor step must give ``factors_``."""
    if F.shape[1] == 0 or len(model.unidentified_periods_):
        return  # masked periods' factors are not the plain factor step's
    from ..ipca._als import _factor_step

    F_check, _ = _factor_step(
        moments, x, gamma, F.shape[1], np.zeros(len(x), dtype=np.int64)
    )
    scale = max(np.abs(F).max(), 1e-12)
    if not np.abs(F_check - F).max() <= 1e-3 * scale:
        raise ValueError(
            "X and y are not the data the estimator was fitted on (its factors "
            "cannot be reproduced from them): pass the training panel."
        )


def _seed_sequence(random_state):
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    if random_state is None or isinstance(random_state, Integral):
        return np.random.SeedSequence(random_state)
    raise TypeError(
        "random_state must be an int, a numpy Generator or None (the global "
        f"numpy seed is never used); got {type(random_state).__name__}."
    )


def _run(problem, test, tested, block, *, n_boot, random_state, n_jobs, retries,
         iter_tol, progress, unit_variance):  # fmt: skip
    rows, cols = block
    null_gamma = problem.gamma.copy()
    null_gamma[np.ix_(np.arange(len(null_gamma))[rows], cols)] = 0.0
    G = problem.moments.G
    g = problem.F if G is None else np.hstack([problem.F, G])
    null_fit = np.einsum("tlm,mk,tk->tl", problem.moments.W, null_gamma, g)
    stat = _statistic(problem.gamma, rows, cols)
    tol = problem.iter_tol if iter_tol is None else float(iter_tol)
    seeds = _seed_sequence(random_state).spawn(n_boot)
    n_jobs = max(1, min(effective_n_jobs(n_jobs), n_boot))
    chunks = np.array_split(np.arange(n_boot), min(n_boot, 4 * n_jobs))
    job = delayed(_draws)
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = tqdm(total=n_boot, desc=f"IPCA bootstrap {_LABELS[test]}", disable=not show)
    scale = np.sqrt(3.0 / 5.0) if unit_variance else 1.0  # Var t(5) = 5/3
    args = (problem, null_fit, rows, cols, tol, retries, scale)
    results = []
    with bar:
        if n_jobs == 1:
            for chunk in chunks:
                results.append(_draws(*args, [seeds[i] for i in chunk]))
                bar.update(len(chunk))
        else:
            parallel = Parallel(n_jobs=n_jobs, return_as="generator")
            for out in parallel(job(*args, [seeds[i] for i in c]) for c in chunks):
                results.append(out)
                bar.update(len(out[0]))
    null = np.concatenate([r[0] for r in results])
    return IPCABootstrapResult(
        test=test,
        tested=tested,
        stat=float(stat),
        pvalue=float(np.mean(null > stat)),
        n_boot=int(n_boot),
        null_distribution=null,
        n_retries=int(sum(r[1] for r in results)),
        n_unconverged=int(sum(r[2] for r in results)),
    )


def _statistic(gamma, rows, cols):
    return float(np.sum(gamma[rows][:, cols] ** 2))


def _draws(problem, null_fit, rows, cols, tol, retries, scale, seeds):
    """Bootstrap statistics of some draws (one worker's share)."""
    from ..ipca._als import run_als
    from ..ipca._estimator import _one_blas_thread

    T = len(problem.x)
    n_obs = problem.moments.n_obs
    stats = np.empty(len(seeds))
    n_retries = n_unconverged = 0
    with _one_blas_thread():
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(seed)
            for _ in range(retries + 1):
                q = scale * rng.standard_t(5, size=T)
                s = rng.integers(0, T, size=T)
                x_b = null_fit + (q * n_obs)[:, None] * problem.resid[s]
                try:
                    with np.errstate(all="ignore"):
                        res = run_als(
                            problem.moments, x_b, problem.n_latent, problem.gamma,
                            problem.F, max_iter=problem.max_iter, iter_tol=tol,
                        )  # fmt: skip
                    stats[i] = _statistic(res.gamma, rows, cols)
                    ok = np.isfinite(stats[i])
                except np.linalg.LinAlgError:
                    ok = False
                if ok:
                    n_unconverged += not res.converged
                    break
                n_retries += 1
            else:
                raise RuntimeError(
                    f"A bootstrap refit failed {retries + 1} times in a row (singular "
                    "system or non-finite statistic); the fitted model is probably "
                    "ill-conditioned (collinear characteristics or too few months). "
                    "Increase max_retries only if failures are rare."
                )
    return stats, n_retries, n_unconverged
