"""IPCARegressorCV: the elastic-net penalty (and K) chosen on validation months."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import StrOptions

from .._param_validation import N_JOBS_CONSTRAINT, Interval
from ..metrics import r2_predictive, r2_total
from ..panel import check_panel_target, panel_index
from ..panel._managed import managed_portfolios
from ..panel._units import return_rms
from ._als import PenaltyCollapseError
from ._estimator import IPCARegressor, _one_blas_thread

__all__ = ["IPCARegressorCV"]

#: Default path, on the scale of squared decimal returns per asset-month (the
#: Gamma step's loss is the mean squared error over the rows with returns).
DEFAULT_ALPHAS = (1e-3, 1e-4, 1e-5, 1e-6, 0.0)

_SCORERS = {"r2_total": r2_total, "r2_predictive": r2_predictive}


class IPCARegressorCV(IPCARegressor):
    r"""IPCA with the penalty ``alpha`` (and ``K`` if asked) chosen on validation months.

    In the idiom of :class:`~sklearn.linear_model.LassoCV`: for each number
    of factors, the model is fitted along a path of ``alphas`` from the
    largest to the smallest, each fit warm-started from the previous one's
    :math:`\Gamma` and factors on the same managed portfolios (computed once
    per split); each step is scored on validation months; the best
    ``(n_factors, alpha)`` is refitted on all the data and its fitted
    attributes are set on this estimator. Ties go to the larger ``alpha``
    and the smaller ``K``.

    Validation months (never a random split): with ``cv=None`` the last
    ``validation_fraction`` of the periods with returns (the model is
    trained on the earlier ones); otherwise each split of ``cv`` (e.g.
    :class:`~sklearn_neurif.model_selection.PanelTimeSeriesSplit`, yielding
    row indices), scores averaged over splits.

    Parameters
    ----------
    n_factors : int or sequence of int, default=1
        ``K``, or the candidates to choose from.
    alphas : sequence of float, default=None
        Penalties (sorted from largest to smallest). None means
        ``(1e-3, 1e-4, 1e-5, 1e-6, 0)``, on the scale of the Gamma step's
        loss: half the mean squared error of decimal returns per asset-month.
    l1_ratio : float, default=1.0
        Elastic-net mixing of ``IPCARegressor`` (1: lasso, 0: ridge).
    validation_fraction : float, default=0.2
        Share of the last periods with returns used for validation when
        ``cv=None``.
    cv : cross-validation splitter, iterable or None, default=None
        Splits of row indices ``(train, validation)``.
    scoring : {"r2_total", "r2_predictive"}, default="r2_total"
        Validation score (uncentred, the package's metrics). ``r2_total``
        uses the validation months' realised factors (``predict_total``).
    add_constant, intercept, max_iter, iter_tol, n_jobs, verbose
        As in :class:`IPCARegressor`.

    Attributes
    ----------
    alpha_ : float
        The chosen penalty.
    n_factors_ : int
        The chosen number of latent factors.
    cv_results_ : DataFrame
        One row per ``(n_factors, alpha)`` in path order: ``n_factors``,
        ``alpha``, ``split<k>_score``, ``mean_score``, ``n_iter`` (summed
        over splits), ``rank``. A step whose penalty removes a factor
        entirely scores NaN and is never chosen.
    gamma_, gamma_delta_, gamma_alpha_, factors_, factor_premia_, n_iter_
        Those of the refit at the chosen values (see :class:`IPCARegressor`).

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> from sklearn_neurif.ipca import IPCARegressorCV
    >>> d = make_conditional_factor_panel(100, 40, 6, 2, random_state=0)
    >>> est = IPCARegressorCV([1, 2], alphas=[1e-4, 0.0]).fit(d.X, d.y)
    >>> est.cv_results_.shape[0], est.n_factors_
    (4, 2)
    """

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in IPCARegressor._parameter_constraints.items()
            if k not in ("n_factors", "alpha")
        },
        "n_factors": [Interval(Integral, 0, None, closed="left"), "array-like"],
        "alphas": ["array-like", None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "cv": ["cv_object", "array-like", None],
        "scoring": [StrOptions(set(_SCORERS))],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(
        self,
        n_factors=1,
        *,
        alphas=None,
        l1_ratio=1.0,
        validation_fraction=0.2,
        cv=None,
        scoring="r2_total",
        add_constant=False,
        intercept=False,
        max_iter=10000,
        iter_tol=1e-6,
        n_jobs=None,
        verbose=False,
    ):
        self.n_factors = n_factors
        self.alphas = alphas
        self.l1_ratio = l1_ratio
        self.validation_fraction = validation_fraction
        self.cv = cv
        self.scoring = scoring
        self.add_constant = add_constant
        self.intercept = intercept
        self.max_iter = max_iter
        self.iter_tol = iter_tol
        self.n_jobs = n_jobs
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, factors=None):
        """Fit the paths, choose ``(n_factors, alpha)`` on validation months, refit.

        Parameters
        ----------
        X : DataFrame
            Characteristics with an ``(entity, time)`` MultiIndex.
        y : Series
            Next-period returns on ``X``'s index; NaN is masked.
        factors : DataFrame or Series, default=None
            Observable factors by as-of period, as in
            :meth:`IPCARegressor.fit`.

        Returns
        -------
        self
        """
        Ks = self._candidates()
        alphas = self._alphas()
        splits = self._splits(X, y)
        scores = np.full((len(Ks) * len(alphas), len(splits)), np.nan)
        n_iter = np.zeros(len(Ks) * len(alphas), dtype=int)
        for j, (train, val) in enumerate(splits):
            X_fit, y_fit = X.iloc[train], y.iloc[train]
            X_val, y_val = X.iloc[val], y.iloc[val]
            for i, K in enumerate(Ks):
                for a, (est, iters) in enumerate(
                    self._path(X_fit, y_fit, factors, K, alphas)
                ):
                    n_iter[i * len(alphas) + a] += iters
                    if est is not None:
                        scores[i * len(alphas) + a, j] = self._score(
                            est, X_val, y_val, factors
                        )
        grid = [(K, a) for K in Ks for a in alphas]
        mean = scores.mean(axis=1)
        if np.all(np.isnan(mean)):
            raise ValueError(
                "Every (n_factors, alpha) of the path removed a factor or failed; "
                "use smaller alphas."
            )
        # First maximum in path order: larger alpha, then smaller K, win ties.
        order = sorted(range(len(grid)), key=lambda g: (grid[g][0], -grid[g][1]))
        best = max(order, key=lambda g: -np.inf if np.isnan(mean[g]) else mean[g])
        self.cv_results_ = _results(grid, scores, n_iter)
        self.n_factors_, self.alpha_ = grid[best][0], float(grid[best][1])
        refit = self._estimator(self.n_factors_, self.alpha_).fit(X, y, factors=factors)
        for name, value in vars(refit).items():
            if name.endswith("_") and not name.startswith("__"):
                setattr(self, name, value)
        return self

    def _estimator(self, K, alpha):
        return IPCARegressor(
            K,
            add_constant=self.add_constant,
            intercept=self.intercept,
            alpha=alpha,
            l1_ratio=self.l1_ratio,
            max_iter=self.max_iter,
            iter_tol=self.iter_tol,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
        )

    def _path(self, X, y, factors, K, alphas):
        """Yield ``(fitted estimator or None, iterations)`` along ``alphas``.

        The managed portfolios are computed once; each step starts from the
        previous step's Gamma and factors (a collapsed step restarts the
        next one from the SVD).
        """
        est = self._estimator(K, alphas[0])
        Z, r, layout = est._check_training_data(X, y)
        observed = est._check_observable(X, factors, layout, r)
        with _one_blas_thread():
            W, x, n_obs = managed_portfolios(
                Z, r, layout, self.add_constant, n_jobs=effective_n_jobs(self.n_jobs)
            )
        est._check_finite(X, Z, r, W)
        est._return_rms_ = return_rms(r)
        start = None
        for alpha in alphas:
            est.alpha = alpha
            try:
                with _one_blas_thread(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = est._fit_moments(W, x, n_obs, layout, observed, start)
            except PenaltyCollapseError:
                start = None
                yield None, 0
                continue
            yield est, est.n_iter_

    def _score(self, est, X, y, factors):
        if self.scoring == "r2_total":
            return r2_total(y, est.predict_total(X, y, factors=factors))
        return r2_predictive(y, est.predict(X))

    def _candidates(self):
        Ks = [self.n_factors] if np.isscalar(self.n_factors) else list(self.n_factors)
        if not Ks or any(
            isinstance(k, bool) or not isinstance(k, Integral) or k < 0 for k in Ks
        ):
            raise ValueError(
                f"n_factors must be an int >= 0 or a non-empty list of them; got "
                f"{self.n_factors!r}."
            )
        return sorted(set(int(k) for k in Ks))

    def _alphas(self):
        alphas = DEFAULT_ALPHAS if self.alphas is None else self.alphas
        alphas = np.asarray(alphas, dtype=float).ravel()
        if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
            raise ValueError(f"alphas must be finite and >= 0; got {self.alphas!r}.")
        return sorted(set(alphas.tolist()), reverse=True)

    def _splits(self, X, y):
        index = panel_index(X)
        if self.cv is not None:
            source = self.cv.split(X, y) if hasattr(self.cv, "split") else self.cv
            return [(np.asarray(a), np.asarray(b)) for a, b in source]
        time = index.get_level_values(-1)
        has_return = ~np.isnan(check_panel_target(y, index, check_units=False))
        periods = np.sort(pd.unique(time[has_return]))
        n_val = max(1, int(round(self.validation_fraction * len(periods))))
        if n_val >= len(periods):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no training "
                f"period ({len(periods)} periods with returns)."
            )
        val = np.isin(time, periods[-n_val:])
        return [(np.flatnonzero(~val), np.flatnonzero(val))]


def _results(grid, scores, n_iter):
    frame = pd.DataFrame(
        {"n_factors": [g[0] for g in grid], "alpha": [g[1] for g in grid]}
    )
    for j in range(scores.shape[1]):
        frame[f"split{j}_score"] = scores[:, j]
    frame["mean_score"] = scores.mean(axis=1)
    frame["n_iter"] = n_iter
    frame["rank"] = (
        frame["mean_score"].rank(ascending=False, method="min").fillna(len(frame))
    ).astype(int)
    return frame
