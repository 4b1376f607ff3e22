"""Instrumented PCA (Kelly, Pruitt and Su 2019) by ALS on managed portfolios."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)
from threadpoolctl import ThreadpoolController

from .._param_validation import N_JOBS_CONSTRAINT, Interval  # refuses booleans
from .._params import set_init_params
from .._warnings import warn_at_caller
from ..base import FactorModelMixin, FactorOutputs, check_n_factors, factor_names
from ..panel import (
    PanelLayout,
    check_characteristic_scale,
    check_numeric_dtypes,
    check_panel_frame,
    check_panel_target,
    is_panel,
    panel_index,
)
from ..panel._index import check_index_names
from ..panel._managed import managed_portfolios
from ..panel._units import UNSCALED_MAX_ABS, return_rms
from ._als import IDENTIFICATION_RTOL, ALSMoments, initial_gamma, run_als
from ._observable import align_observable_factors

__all__ = ["IPCARegressor"]


class IPCARegressor(FactorModelMixin, RegressorMixin, BaseEstimator):
    r"""Instrumented principal components analysis (IPCA) of a returns panel.

    IPCA (Kelly, Pruitt and Su 2019) models the excess return of asset ``i``
    over period ``t+1`` with loadings that are linear in the asset's
    characteristics at ``t``:

    .. math::

        r_{i,t+1} = \alpha_{i,t} + \beta_{i,t}' f_{t+1} + e_{i,t+1}, \qquad
        \beta_{i,t} = \Gamma_\beta' z_{i,t}, \qquad
        \alpha_{i,t} = \Gamma_\alpha' z_{i,t}

    ``Gamma_beta`` (``L x K``) and the latent factors ``f`` minimise the
    pooled sum of squared errors over every ``(i, t)`` with a return. The
    estimator solves it by alternating least squares on the managed
    portfolios ``x_t = Z_t' r_{t+1}`` and the second moments
    ``W_t = Z_t' Z_t`` (computed once), so that an iteration costs
    ``O(T L^2 K^2)`` whatever the number of assets. The results coincide
    with ``ipca.InstrumentedPCA`` (version 0.6.7) fitted to the same panel.

    Parameters
    ----------
    n_factors : int, default=1
        Number of latent factors ``K`` (the default of
        ``ipca.InstrumentedPCA``). ``K`` plus the observable factors (plus
        one with ``intercept=True``) must not exceed the number of
        characteristics. 0 is allowed with observable factors (a model of
        observable factors with instrumented betas). Unlike ``ipca``, whose
        ``n_factors`` counts the pre-specified factors too, this is the
        number of latent factors only.
    add_constant : bool, default=False
        If True, a constant instrument (a column of ones, named ``const`` in
        ``gamma_``) is added to the characteristics, as in Kelly, Pruitt and
        Su (2019). Rank-scaled characteristics have a cross-sectional mean of
        zero, so without it the average loading is zero in every period and
        no factor can act as a market factor. The constant is handled inside
        the managed-portfolio sums (no copy of ``X``). Off by default to
        match ``ipca.InstrumentedPCA``, which uses the columns it is given.
    intercept : bool, default=False
        If True, fit the unrestricted model with an alpha
        :math:`\alpha_{i,t} = \Gamma_\alpha' z_{i,t}`, orthogonal to the
        loadings (:math:`\Gamma_\beta'\Gamma_\alpha = 0`).
    alpha : float, default=0.0
        Elastic-net penalty of the Gamma step (``ipca``'s ``alpha``): each
        Gamma step minimises :math:`\frac{1}{2n}\sum (r - z'\Gamma\tilde
        f)^2 + \alpha\,\rho\,\lVert\Gamma\rVert_1 +
        \frac{\alpha(1-\rho)}{2}\lVert\Gamma\rVert_2^2` over the ``n``
        rows with returns (all of :math:`\Gamma`: loadings, alpha and
        observable-factor loadings), then the KPS normalisation rotates it,
        as ``ipca`` does. 0 (default) is the unpenalised fit. Bootstrap
        tests refuse penalised fits.
    l1_ratio : float, default=1.0
        :math:`\rho`, the share of the L1 penalty (1: lasso, 0: ridge),
        as ``ipca``'s ``l1_ratio``.
    max_iter : int, default=10000
        Maximum number of ALS iterations.
    iter_tol : float, default=1e-6
        Convergence tolerance: ALS stops when the largest absolute change of
        an element of ``Gamma`` (and, without intercept, of the factors)
        between two normalised iterations is at most ``iter_tol``; the
        criterion of ``ipca.InstrumentedPCA`` (whose default is ``10e-6``,
        i.e. ``1e-5``).
    n_jobs : int, default=None
        Threads computing the per-period moments :math:`Z_t'Z_t` and
        :math:`Z_t'r_{t+1}` (the one-off setup, memory-bound; BLAS itself
        runs one thread). ``None`` means 1, ``-1`` all cores (joblib's
        convention). Results do not depend on it (each period's product is
        computed whole by one thread). On an idle 2-core machine 2 threads
        cut the setup from about 51 to 29 ms at N=1000, T=240, L=30; on cores
        busy with other jobs they bring nothing.
    verbose : bool or int, default=False
        Print the change of each iteration.

    Attributes
    ----------
    gamma_ : DataFrame of shape (n_characteristics + add_constant, n_factors)
        :math:`\Gamma_\beta`, indexed by feature name (``x0, x1, ...`` for
        arrays), columns ``factor_1..K``.
    gamma_alpha_ : Series of shape (n_characteristics + add_constant,) or None
        :math:`\Gamma_\alpha` with ``intercept=True``, else None.
    gamma_delta_ : DataFrame of shape (n_characteristics + add_constant, n_observable) or None
        :math:`\Gamma_\delta`, the loadings map of the observable factors
        (columns named as in ``factors``), or None without them.
    factors_ : DataFrame of shape (n_periods, n_factors + n_observable)
        Realised latent factors of the training periods, then the
        observable factors as given, labelled by the as-of period ``t``
        (the factor is realised over ``t+1``). A training period without
        any return has NaN latent factors.
    factor_premia_ : Series of shape (n_factors + n_observable,)
        :math:`\lambda`, the mean of ``factors_`` over the training periods
        with returns: the factor premia used by :meth:`predict`.
    n_iter_ : int
        Number of ALS iterations run.
    unidentified_periods_ : Index
        Training periods whose loadings do not identify every factor (see
        Notes, "Identification"); empty when every period does. A warning
        names them at ``fit``.
    n_features_in_ : int
        Number of characteristics seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_characteristics,)
        Names of the characteristics, when ``X`` has string column names.

    See Also
    --------
    sklearn_neurif.NeurIFRegressor : nonlinear, attention-based loadings.

    Notes
    -----
    **Algorithm.** With ``W_t`` and ``x_t`` computed once (rows whose return
    is missing left out of both), ALS alternates

    .. math::

        f_{t+1} &= (\Gamma_\beta' W_t \Gamma_\beta)^{-1}
                   \Gamma_\beta' (x_t - W_t \Gamma_\alpha)
                   \quad \text{for every } t, \\
        \operatorname{vec}(\Gamma') &= \Big(\sum_t W_t \otimes \tilde f_{t+1}
            \tilde f_{t+1}'\Big)^{-1} \sum_t x_t \otimes \tilde f_{t+1},
            \qquad \tilde f = (f, 1) \text{ with intercept,}

    the first as one batched solve of ``T`` systems ``K x K``, the second as
    one ``LK x LK`` system. ``W_t`` and ``x_t`` are *not* divided by the
    number of assets: the objective pools all asset-months (KPS); per-period
    averages would weight months equally and change ``Gamma`` on unbalanced
    panels. ALS starts from the SVD of the per-period average managed
    portfolios ``x_t / N_t``, as ``ipca`` does.

    **Normalisation** (KPS, applied after every iteration exactly as
    ``ipca`` does, so iterates and ``iter_tol`` mean the same): rotate so that
    :math:`\Gamma_\beta'\Gamma_\beta = I` and :math:`\sum_t f_t f_t'` is
    diagonal with decreasing entries, flip signs so that every factor has a
    positive mean, and with an intercept project :math:`\Gamma_\alpha` off
    the span of :math:`\Gamma_\beta`, moving the projected part into the
    factors (``ipca`` adds it after the projection, which is a no-op; the
    fixed points coincide). Fitted values are invariant to all of these.

    **Identification.** Period ``t`` identifies its factors when its loadings
    :math:`Z_t\Gamma_\beta` have full column rank, i.e. when
    :math:`A_t = \Gamma_\beta' W_t \Gamma_\beta` (``K x K``) is
    nonsingular. It loses rank when characteristics are missing for every
    asset of the period (imputed to 0, e.g. momentum in a panel's first
    year) and a factor is built on them: ALS then lets that factor drift in
    those periods (:math:`\Gamma` sheds its last weight on the other
    characteristics and the factor grows without bound; ``ipca`` does the
    same, or fails on a singular matrix). The rule: with
    :math:`\bar A = \sum_t A_t / \sum_t N_t` the loadings' second moment
    in a typical period, the eigenvalues :math:`\mu` of
    :math:`\bar A^{-1} A_t / N_t` measure how much period ``t``'s loadings
    vary along each factor direction relative to a typical period (close to
    1 in a balanced panel; 0 for an absent direction). A direction with
    :math:`\mu \le 0.05` is unidentified: the period's factor is fitted
    orthogonally to it (0 along it; the minimum-norm solution when
    :math:`A_t` is singular), and it stays masked while its :math:`\mu` is
    at most 0.5 (re-admitting it as soon as :math:`\mu` exceeds 0.05
    restarts the drift and ALS oscillates). The periods are
    reported (``unidentified_periods_``, and a warning naming the
    characteristics absent in them); the other periods are solved as before,
    so fits in which every period identifies the factors are those of
    ``ipca``. On the US panel of ``load_us_stock_panel`` up to 2013-11
    (rank-scaled, plus a constant, ``K=5``), where four characteristics are
    missing throughout 2011-01..2011-11, ALS now converges in 147 iterations
    with factor standard deviations of 0.016 to 0.095 and predictions within
    2% a month, instead of stopping at ``max_iter=10000`` with a factor whose
    standard deviation is 72 and predictions up to 1,212%.
    :meth:`get_factors` still runs each period's unrestricted regression.

    **Timing (as-of).** Row ``(i, t)`` of ``X`` holds :math:`z_{i,t}`, known
    at the end of ``t``; row ``(i, t)`` of ``y`` holds :math:`r_{i,t+1}`.
    :meth:`predict` returns :math:`\hat r_{i,t+1} = \alpha_{i,t} +
    \beta_{i,t}'\lambda`, which uses only ``X`` at ``t`` and the premia
    estimated on the training sample, so it works for unseen assets and
    periods. Realised factors of any period come from :meth:`get_factors`
    (a cross-sectional regression of its returns on the loadings: the ALS
    factor step).

    A plain array (no MultiIndex) is one cross-section, i.e. one period.

    **Observable factors** (``fit(X, y, factors=...)``, ``ipca``'s
    ``PSF``): :math:`r_{i,t+1} = \alpha_{i,t} + \beta_{i,t}'f_{t+1} +
    \delta_{i,t}'g_{t+1} + e`, :math:`\delta_{i,t} = \Gamma_\delta'z_{i,t}`,
    with :math:`g` given. ALS treats them (and the intercept, a factor equal
    to one) as factors whose values are known; :math:`\Gamma_\delta` is
    projected off :math:`\Gamma_\beta` as :math:`\Gamma_\alpha` is. They
    are a fit parameter, not a constructor parameter: they are data
    (scikit-learn keeps data out of ``__init__``), matched to the panel's
    periods by label, so a Pipeline routes them as
    ``fit(X, y, ipcaregressor__factors=...)`` and a period split needs no
    slicing of them.

    **Regularisation** (``alpha > 0``): the Gamma step is ``ipca``'s
    ``ElasticNet`` objective without its intercept, solved on the managed
    portfolios (coordinate descent on :math:`\sum_t W_t \otimes \tilde
    f\tilde f'`, so it costs nothing per asset); ``ipca``'s default fits
    an intercept in every Gamma step (see docs/ipca.md).

    References
    ----------
    Kelly, B., Pruitt, S., Su, Y. (2019). Characteristics are covariances:
    A unified model of risk and return. Journal of Financial Economics
    134(3), 501-524.

    Examples
    --------
    >>> from sklearn_neurif import IPCARegressor
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> data = make_conditional_factor_panel(100, 60, 6, 2, random_state=0)
    >>> est = IPCARegressor(n_factors=2).fit(data.X, data.y)
    >>> est.gamma_.shape, est.factors_.shape
    ((6, 2), (60, 2))
    >>> est.predict(data.X).shape
    (6000,)
    """

    _parameter_constraints: dict = {
        "n_factors": [Interval(Integral, 0, None, closed="left")],
        "add_constant": ["boolean"],
        "intercept": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "iter_tol": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": N_JOBS_CONSTRAINT,
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_factors=1,
        *,
        add_constant=False,
        intercept=False,
        alpha=0.0,
        l1_ratio=1.0,
        max_iter=10000,
        iter_tol=1e-6,
        n_jobs=None,
        verbose=False,
    ):
        set_init_params(self, locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, factors=None):
        """Fit ``Gamma`` and the factors by alternating least squares.

        Parameters
        ----------
        X : DataFrame of shape (n_rows, n_characteristics)
            Characteristics at ``t`` with an ``(entity, time)`` MultiIndex
            (or one cross-section as an array). No missing values: impute
            and scale first (e.g. ``CrossSectionalRankScaler``).
        y : Series of shape (n_rows,)
            Excess returns over ``t+1`` on ``X``'s index. Missing returns
            (NaN) are left out of the fit.
        factors : DataFrame or Series, default=None
            Observable (pre-specified) factor returns, one column per
            factor, indexed by the **as-of** period ``t`` of ``X``'s time
            level: the row labelled ``t`` holds the factor return over
            ``t+1``, the month of ``y``'s returns (relabel a factor file
            with ``sklearn_neurif.panel.as_of_to_return_period``'s inverse,
            i.e. shift its month labels back by one). Every training period
            with returns must be present and finite; other rows are
            ignored. Their loadings ``Gamma_delta`` (``gamma_delta_``) are
            instrumented by the characteristics like the latent ones.

        Returns
        -------
        self : IPCARegressor

        Raises
        ------
        ValueError
            For a malformed panel, missing or infinite characteristics,
            more factors than characteristics, fewer periods than factors,
            a period with fewer assets than factors, collinear
            characteristics, ``n_factors=0`` without observable factors, or
            observable factors missing for a training month.
        TypeError
            For non-numeric characteristics or returns, or ``factors`` not
            a pandas object.
        """
        W, x, n_obs, layout, observed, r = self._moments(X, y, factors)
        with _one_blas_thread():
            self._fit_moments(W, x, n_obs, layout, observed)
        # Scale of the training returns for predict's guard (units of y).
        self._return_rms_ = return_rms(r)
        return self

    def _moments(self, X, y, factors):
        """Check the training data and compute its managed portfolios.

        Returns ``(W, x, n_obs, layout, observed, r)``: the arguments of
        :meth:`_fit_moments` and the returns ``r`` on the month-major
        layout. Shared by :meth:`fit` and ``IPCARegressorCV``'s warm-started
        path (which computes them once per split and ``K``).
        """
        Z, r, layout = self._check_training_data(X, y)
        observed = self._check_observable(X, factors, layout, r)
        # The products are small (L x L, LK x LK): one BLAS thread avoids the
        # synchronisation cost that dominates multithreaded BLAS at this size.
        with _one_blas_thread():
            W, x, n_obs = managed_portfolios(
                Z, r, layout, self.add_constant, n_jobs=effective_n_jobs(self.n_jobs)
            )
            self._check_finite(X, Z, r, W)
        return W, x, n_obs, layout, observed, r

    def _fit_moments(self, W, x, n_obs, layout, observed=None, start=None):
        """ALS on the per-period moments ``W_t = Z_t'Z_t``, ``x_t = Z_t'r_t``.

        Sets ``gamma_``, ``gamma_delta_``, ``gamma_alpha_``, ``factors_``,
        ``factor_premia_``, ``n_iter_`` and ``unidentified_periods_``
        (``n_features_in_`` must be set). ``observed``: a DataFrame of the
        observable factors on ``layout.periods`` (or None). NeurIF starts
        from this with the moments of its own float32 panel, so that no
        second copy of the training rows is made. ``start``: ALS starting
        values ``(gamma, F)`` (a warm start, e.g. the previous step of a
        regularisation path); returns the final ``(gamma, F)``.
        """
        active = n_obs > 0
        if not active.all():  # periods without returns drop out of ALS
            W, x = W[active], x[active]
        G = self._observed_columns(observed, active)
        self._check_identified(W, n_obs, layout, G)
        moments = ALSMoments.build(W, n_obs[active], G)
        try:
            result = self._alternating_least_squares(moments, x, start)
        except np.linalg.LinAlgError:
            message = self._unscaled_message(W.sum(axis=0), n_obs)
            if message is None:
                raise
            raise ValueError(message) from None
        self.n_iter_ = result.n_iter
        self._store(result.gamma, result.F, active, layout, observed)
        self._store_identification(result.n_masked, W, active, layout)
        return result.gamma, result.F

    def _observed_columns(self, observed, active):
        """``G``: the observable factors of the active periods, then a constant."""
        columns = [] if observed is None else [observed.to_numpy()[active]]
        if self.intercept:
            columns.append(np.ones((int(active.sum()), 1)))
        return np.hstack(columns) if columns else None

    def _check_training_data(self, X, y):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        index = panel_index(X)
        # Finiteness is checked on the moments (see _check_finite), which
        # saves a full pass over X.
        Z = _check_characteristics(self, X, reset=True, ensure_all_finite=False)
        check_characteristic_scale(Z, getattr(self, "feature_names_in_", None))
        r = check_panel_target(y, index)
        n_features = Z.shape[1] + int(self.add_constant)
        check_n_factors(self.n_factors, n_features, intercept=self.intercept)
        valid = ~np.isnan(r)
        if not np.any(r[valid]):
            raise ValueError("Every return in y is zero; there is nothing to fit.")
        return Z, r, PanelLayout(index)

    def _check_observable(self, X, factors, layout, r):
        """The observable factors on ``layout.periods`` (DataFrame), or None.

        Raised before any computation: ``n_factors=0`` without them, a
        non-panel ``X``, too many factors for the characteristics, a
        training month with returns but no factor value, collinear factors.
        """
        if factors is None:
            if self.n_factors == 0:
                raise ValueError(
                    "n_factors=0 needs observable factors: pass them as "
                    "fit(X, y, factors=...), or set n_factors >= 1."
                )
            return None
        if not is_panel(X):
            raise ValueError(
                "Observable factors need a panel X (an (entity, time) MultiIndex) "
                "to be matched to its periods by label."
            )
        needed = np.bincount(
            layout.time_pos[~np.isnan(r)], minlength=layout.n_periods
        ).astype(bool)
        observed = align_observable_factors(factors, layout.periods, needed)
        M = observed.shape[1]
        n_features = self.n_features_in_ + int(self.add_constant)
        k_total = self.n_factors + M + int(self.intercept)
        if k_total > n_features:
            raise ValueError(
                f"n_factors={self.n_factors} latent plus {M} observable factor(s)"
                + (" plus the intercept" if self.intercept else "")
                + f" need {k_total} characteristic directions; X has {n_features}."
            )
        clash = set(observed.columns) & set(factor_names(self.n_factors))
        if clash:
            raise ValueError(
                f"Observable factor name(s) {sorted(clash)} clash with the latent "
                "factors' names factor_1..K; rename them."
            )
        G = observed.to_numpy()[needed]
        if self.intercept:
            G = np.hstack([G, np.ones((len(G), 1))])
        if np.linalg.matrix_rank(G) < G.shape[1]:
            raise ValueError(
                "The observable factors"
                + (" and the intercept (a constant)" if self.intercept else "")
                + " are linearly dependent over the training months with returns "
                "(e.g. a constant factor): their loadings are not identified."
            )
        return observed

    def _check_finite(self, X, Z, r, W):
        """Raise the usual message if ``X`` holds NaN or infinite values.

        The trace of ``W_t`` sums the squares of every characteristic of the
        rows with returns, so it is finite exactly when those are (barring
        overflow beyond 1e154, for which the full check below passes); the
        rows without returns are checked directly. Only if a check fails is
        ``X`` validated in full, which names the offending columns.
        """
        missing = np.isnan(r)
        finite = np.isfinite(np.trace(W, axis1=1, axis2=2).sum())
        if finite and missing.any():
            finite = np.isfinite(Z[missing].sum())
        if not finite:
            _check_characteristics(self, X, reset=True)

    def _check_identified(self, W, n_obs, layout, G=None):
        """Raise before ALS if the factors or Gamma are not identified."""
        k_eff = self.n_factors + (0 if G is None else G.shape[1])
        n_periods = int(np.count_nonzero(n_obs))
        if n_periods < k_eff:
            what = f"n_factors={self.n_factors}" + (
                " plus the observable factors and intercept" if G is not None else ""
            )
            raise ValueError(
                f"{what} needs at least {k_eff} periods with returns; got "
                f"{n_periods} (a plain array is a single period)."
            )
        active = n_obs > 0
        # The feature bound was checked with the data (np.inf skips it here).
        check_n_factors(self.n_factors, np.inf, n_obs[active], layout.periods[active])
        pooled = W.sum(axis=0)
        # Rank of the correlation form: scale-free, so a column in dollars
        # (1e9) next to ranks in [-1, 1] is not taken for a dependent one.
        scale = np.sqrt(np.diag(pooled))
        scale = np.where(scale > 0, scale, 1.0)
        corr = pooled / np.outer(scale, scale)
        rank = np.linalg.matrix_rank(corr, hermitian=True)
        unscaled = self._unscaled_message(pooled, n_obs)
        if unscaled and (rank < pooled.shape[0] or np.linalg.cond(corr) > 1e10):
            raise ValueError(unscaled)
        if rank < pooled.shape[0]:
            raise ValueError(
                f"The characteristics are linearly dependent over the "
                f"{int(n_obs.sum())} sample(s) with returns: Z'Z has rank {rank} "
                f"< {pooled.shape[0]}, so Gamma is not identified; the dependent "
                f"column(s) are among {_dependent_columns(corr, rank, self)}. Drop "
                "constant (e.g. all missing before scaling) or redundant "
                "characteristics."
            )

    def _unscaled_message(self, pooled, n_obs) -> str | None:
        """Why the moments are singular when columns are far from [-1, 1].

        Rounding, not the data, then makes ``Z'Z`` singular, and the advice
        is to scale, not to drop columns. None when every column's root mean
        square is within ``UNSCALED_MAX_ABS``.
        """
        rms = np.sqrt(np.diag(pooled) / max(int(n_obs.sum()), 1))
        unscaled = [str(c) for c in _feature_names(self)[rms > UNSCALED_MAX_ABS]]
        if not unscaled:
            return None
        return (
            f"Characteristic column(s) {unscaled} are far from the scale the model "
            f"needs (root mean square above {UNSCALED_MAX_ABS:.0e}, e.g. a market "
            "capitalisation in dollars): at that scale the moments Z'Z are "
            "numerically singular, so Gamma cannot be estimated. This is a scale "
            "problem, not redundant columns: rank the characteristics into [-1, 1] "
            "each period first, with "
            "sklearn_neurif.preprocessing.CrossSectionalRankScaler."
        )

    def _alternating_least_squares(self, moments, x, start=None):
        """Run ALS from the SVD warm start (or ``start = (gamma, F)``); warn if
        ``max_iter`` is reached."""
        K = self.n_factors
        n_columns = K + (0 if moments.G is None else moments.G.shape[1])
        if start is None:
            start = initial_gamma(x, moments.n_obs, K, n_columns)
        result = run_als(
            moments,
            x,
            K,
            *start,
            max_iter=self.max_iter,
            iter_tol=self.iter_tol,
            alpha=self.alpha,
            l1_ratio=self.l1_ratio,
            verbose=self.verbose,
        )
        if not result.converged:
            masked = int(np.count_nonzero(result.n_masked))
            advice = (
                f" {masked} period(s) have a factor direction their loadings do not "
                "identify (unidentified_periods_); ALS can cycle between masked "
                "directions there: reduce n_factors or start the sample where "
                "every characteristic is available."
                if masked
                else " Increase max_iter or iter_tol."
            )
            warn_at_caller(
                f"IPCA did not converge in max_iter={self.max_iter} iterations "
                f"(last change {result.change:.2e} > iter_tol={self.iter_tol})."
                f"{advice}",
                ConvergenceWarning,
            )
        return result

    def _store(self, gamma, F, active, layout, observed=None):
        K = self.n_factors
        latent = factor_names(K)
        observed_names = [] if observed is None else list(observed.columns)
        M = len(observed_names)
        features = _feature_names(self)
        self.gamma_ = pd.DataFrame(gamma[:, :K], index=features, columns=latent)
        self.gamma_delta_ = (
            pd.DataFrame(gamma[:, K : K + M], index=features, columns=observed_names)
            if M
            else None
        )
        self.gamma_alpha_ = (
            pd.Series(gamma[:, K + M], index=features, name="alpha")
            if self.intercept
            else None
        )
        factors = np.full((layout.n_periods, K + M), np.nan)
        factors[active, :K] = F
        if M:
            factors[:, K:] = observed.to_numpy()
        self.factors_ = pd.DataFrame(
            factors,
            index=pd.Index(layout.periods, name="time"),
            columns=latent + observed_names,
        )
        self.factor_premia_ = pd.Series(
            factors[active].mean(axis=0), index=self.factors_.columns, name="premium"
        )

    def _store_identification(self, n_masked, W, active, layout):
        """Set ``unidentified_periods_`` and warn, naming periods and causes."""
        periods = pd.Index(layout.periods[active])[n_masked > 0]
        self.unidentified_periods_ = periods.rename("time")
        if not len(periods):
            return
        # Characteristics that are zero for every asset of those periods
        # (e.g. missing and imputed to 0): the usual cause.
        diag = np.diagonal(W[n_masked > 0], axis1=1, axis2=2)
        absent = _feature_names(self)[np.all(diag == 0, axis=0)]
        cause = (
            f" Characteristics zero for every asset in all of them: {list(absent)}."
            if len(absent)
            else ""
        )
        shown = ", ".join(map(str, periods[:6])) + (", ..." if len(periods) > 6 else "")
        warn_at_caller(
            f"IPCA: in {len(periods)} period(s) ({shown}) the loadings Z_t Gamma do "
            f"not identify all {self.n_factors} factors (along some direction "
            f"they vary at most {IDENTIFICATION_RTOL:g} times as much as in a "
            "typical period)."
            f"{cause} Their factors are fitted orthogonally to the unidentified "
            "direction(s) (0 along them); the periods are in unidentified_periods_. "
            "Reduce n_factors, or start the sample where every characteristic "
            "is available.",
            UserWarning,
        )

    def _loading_map(self):
        """``[Gamma_beta, Gamma_delta]``: the loadings on every factor."""
        if self.gamma_delta_ is None:
            return self.gamma_.to_numpy()
        return np.hstack([self.gamma_.to_numpy(), self.gamma_delta_.to_numpy()])

    def _panel_outputs(self, X) -> FactorOutputs:
        check_is_fitted(self)
        index = panel_index(X)
        Z = _check_characteristics(self, X, reset=False)
        loadings = _instrumented(Z, self._loading_map(), self.add_constant)
        premia = np.broadcast_to(self.factor_premia_.to_numpy(), loadings.shape)
        alpha = (
            None
            if self.gamma_alpha_ is None
            else _instrumented(Z, self.gamma_alpha_.to_numpy(), self.add_constant)
        )
        return FactorOutputs(PanelLayout(index), loadings, premia, alpha)

    def get_feature_names_out(self, input_features=None):
        """Names of the ``transform`` columns.

        Parameters
        ----------
        input_features : array-like of str, optional
            Checked against ``feature_names_in_`` (scikit-learn's rule).

        Returns
        -------
        ndarray of str
            ``loading_1..K`` (then ``loading_<name>`` per observable
            factor), followed by ``factor_1..K`` (then ``factor_<name>``).
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        observed = [] if self.gamma_delta_ is None else list(self.gamma_delta_.columns)
        K = self.gamma_.shape[1]
        names = (
            factor_names(K, "loading")
            + [f"loading_{n}" for n in observed]
            + factor_names(K)
            + [f"factor_{n}" for n in observed]
        )
        return np.asarray(names, dtype=object)

    def get_factors(self, X, y, factors=None) -> pd.DataFrame:
        r"""Realised factors of any periods with returns.

        Latent factors per period by the cross-sectional regression of
        returns, net of alpha and of the observable factors' part, on the
        latent loadings (the ALS factor step):
        :math:`\hat f_{t+1} = (B_t'B_t)^{-1}B_t'(r_{t+1} - \alpha_t -
        \Delta_t g_{t+1})`; observable factors as given.

        Parameters
        ----------
        X : DataFrame
            Characteristics panel.
        y : Series
            Next-period returns on ``X``'s rows (NaN masked).
        factors : DataFrame or Series, default=None
            Observable factors by as-of period (as in :meth:`fit`) for the
            periods of ``X`` with returns; None takes them from ``factors_``
            (training periods only). Only for a model fitted with them.

        Returns
        -------
        DataFrame of shape (n_periods, n_factors + n_observable)
            Labelled by the as-of period ``t``; a period with no returns
            gets NaN latent factors.
        """
        return self._realised_all(X, y, factors)[0]

    def predict_total(self, X, y, factors=None):
        r"""Fitted returns :math:`\alpha_{i,t} + \beta_{i,t}'f_{t+1}` with realised factors.

        These enter the total R-squared. Parameters are as for
        :meth:`get_factors`.

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        frame, out = self._realised_all(X, y, factors)
        fitted = np.einsum(
            "nk,nk->n", out.loadings, out.layout.per_period(frame.to_numpy())
        )
        if out.alpha is not None:
            fitted = fitted + out.alpha
        return np.nan_to_num(fitted, nan=0.0)

    def _realised_all(self, X, y, factors):
        out = self._panel_outputs(X)
        if self.gamma_delta_ is None:
            if factors is not None:
                raise ValueError(
                    "factors= was passed, but this model was fitted without "
                    "observable factors."
                )
            return self._realised_factors(X, y, out=out)[0], out
        layout, K = out.layout, self.gamma_.shape[1]
        r = check_panel_target(y, layout.index)
        needed = np.bincount(
            layout.time_pos[~np.isnan(r)], minlength=layout.n_periods
        ).astype(bool)
        names = list(self.gamma_delta_.columns)
        source = self.factors_[names] if factors is None else factors
        observed = align_observable_factors(source, layout.periods, needed, names)
        G = observed.to_numpy()
        rows_G = layout.per_period(np.where(np.isnan(G), 0.0, G))
        part = np.einsum("nm,nm->n", out.loadings[:, K:], rows_G)
        alpha = part if out.alpha is None else out.alpha + part
        if K:
            latent_out = FactorOutputs(
                layout, out.loadings[:, :K], out.premia[:, :K], alpha
            )
            latent = self._realised_factors(X, y, out=latent_out)[0].to_numpy()
        else:
            latent = np.zeros((layout.n_periods, 0))
        frame = pd.DataFrame(
            np.hstack([latent, G]),
            index=pd.Index(layout.periods, name="time"),
            columns=list(self.factors_.columns),
        )
        return frame, out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


_CONTROLLER = None


def _one_blas_thread():
    """Context manager limiting BLAS to one thread.

    One controller is created on first use and reused: creating one scans the
    loaded shared libraries, which costs milliseconds on every fit (the
    pattern of scikit-learn's own ``_get_threadpool_controller``).
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _check_characteristics(estimator, X, reset, ensure_all_finite=True):
    """``validate_data`` with the panel layer's column-naming messages.

    A DataFrame that fails validation (NaN, inf, non-numeric columns) gets
    ``check_panel_frame``'s message naming the columns; valid data pays for
    one pass only (none with ``ensure_all_finite=False``).
    """
    check_numeric_dtypes(X)  # numbers stored as text: refused, never parsed
    check_index_names(estimator, X, reset=reset)
    try:
        return validate_data(
            estimator,
            X,
            reset=reset,
            dtype=np.float64,
            ensure_all_finite=ensure_all_finite,
        )
    except (TypeError, ValueError):
        check_panel_frame(X)
        raise


def _feature_names(estimator) -> pd.Index:
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = [f"x{j}" for j in range(estimator.n_features_in_)]
    names = list(names) + (["const"] if estimator.add_constant else [])
    return pd.Index(names, dtype=object)


def _dependent_columns(corr, rank, estimator) -> list:
    """Names of the columns in the null space of a rank-deficient ``Z'Z``."""
    _, vectors = np.linalg.eigh(corr)  # ascending: the null space comes first
    null = vectors[:, : corr.shape[0] - rank]
    involved = np.abs(null).max(axis=1) > 1e-6
    return [str(n) for n in _feature_names(estimator)[involved]]


def _instrumented(Z, gamma, add_constant):
    """``Z @ gamma``, the last row of ``gamma`` weighting the constant if added."""
    if add_constant:
        return Z @ gamma[:-1] + gamma[-1]
    return Z @ gamma
