"""IPCARegressorCV: the elastic-net penalty (and K) chosen on validation months."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._docstrings import fill_doc
from .._param_validation import Interval
from .._warnings import warn_at_caller
from ..base import ChosenModelMixin, FactorModelMixin
from ..metrics import r2_predictive, r2_total
from ..model_selection._cv_path import (
    check_penalty_path,
    check_period_splits,
    score_results,
)
from ..panel import panel_index
from ..panel._units import return_rms
from ._als import PenaltyCollapseError
from ._estimator import IPCARegressor, _check_characteristics, _one_blas_thread

__all__ = ["IPCARegressorCV"]

#: Default path, on the scale of squared decimal returns per asset-month (the
#: Gamma step's loss is the mean squared error over the rows with returns).
DEFAULT_ALPHAS = (1e-3, 1e-4, 1e-5, 1e-6, 0.0)

_SCORERS = {"r2_total": r2_total, "r2_predictive": r2_predictive}

#: Fitted attributes of the chosen model also set on the CV estimator.
_ADOPTED = (
    "gamma_",
    "gamma_delta_",
    "gamma_alpha_",
    "factors_",
    "factor_premia_",
    "n_iter_",
    "n_features_in_",
    "feature_names_in_",
)


class IPCARegressorCV(
    ChosenModelMixin, FactorModelMixin, RegressorMixin, BaseEstimator
):
    r"""IPCA with the penalty ``alpha`` (and ``K`` if asked) chosen on validation months.

    In the idiom of :class:`~sklearn.linear_model.LassoCV` and
    :class:`~sklearn.linear_model.RidgeCV`: ``estimator`` (an
    :class:`IPCARegressor`) is fitted, for each candidate number of factors,
    along a path of ``alphas`` from the largest to the smallest, each fit
    warm-started from the previous one's :math:`\Gamma` and factors on the
    same managed portfolios (computed once per split); each step is scored
    on validation months; the best ``(n_factors, alpha)`` is refitted on all
    the data and kept as ``best_estimator_``. The CV estimator then
    predicts, transforms and gives factors as that model does. Ties go to
    the smaller ``K`` and then the larger ``alpha`` (path order).

    Validation months (never a random split): with ``cv=None`` the last
    ``validation_fraction`` of the periods with returns (the model is
    trained on the earlier ones); otherwise each split of ``cv``, scores
    averaged over splits.

    Parameters
    ----------
    estimator : IPCARegressor, default=None
        The model whose ``alpha`` (and ``n_factors``) is chosen; None means
        ``IPCARegressor()``. It is cloned, never fitted itself; its other
        parameters (``l1_ratio``, ``intercept``, ``add_constant``,
        ``max_iter``, ``iter_tol``, ``n_jobs``...) apply to every fit.
    alphas : sequence of float, default=None
        Penalties (finite, non-negative; sorted from largest to smallest).
        None means ``(1e-3, 1e-4, 1e-5, 1e-6, 0)``, on the scale of the
        Gamma step's loss: half the mean squared error of decimal returns
        per asset-month.
    n_factors : int or sequence of int, default=None
        Candidates for ``K``; None means the estimator's ``n_factors``.
    validation_fraction : float, default=0.2
        Share of the last periods with returns used for validation when
        ``cv=None``.
    cv : int, splitter, iterable or None, default=None
        None: the last ``validation_fraction`` of the months. An int:
        ``PanelTimeSeriesSplit(n_splits=cv)``. A splitter of months (one
        with ``split(X, y)`` yielding row positions, such as
        :class:`~sklearn_neurif.model_selection.PanelTimeSeriesSplit`) or an
        iterable of ``(train_rows, validation_rows)`` position arrays. Each
        split must hold whole months on each side: scikit-learn's row-wise
        splitters (``KFold``, ``TimeSeriesSplit``, ...) are refused.
    scoring : {"r2_total", "r2_predictive"}, default="r2_total"
        Validation score (uncentred, the package's metrics). ``r2_total``
        uses the validation months' realised factors (``predict_total``).

    Attributes
    ----------
    alpha_ : float
        The chosen penalty (as ``LassoCV.alpha_``).
    n_factors_ : int
        The chosen number of latent factors.
    best_params_ : dict
        ``{"n_factors": n_factors_, "alpha": alpha_}``.
    best_index_ : int
        Entry of ``cv_results_`` of the chosen pair.
    best_score_ : float
        Its mean validation score (NaN with a single period).
    best_estimator_ : IPCARegressor
        The model refitted on all the data at the chosen pair.
    cv_results_ : dict of ndarray
        scikit-learn's layout (``pd.DataFrame(cv_results_)`` is a table),
        one entry per ``(n_factors, alpha)`` in path order: ``params``,
        ``param_n_factors``, ``param_alpha``, ``split<k>_test_score``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score`` and
        ``n_iter`` (summed over splits). A step whose penalty removes a
        factor entirely scores NaN and is never chosen.
    n_splits_ : int
        Number of splits scored (1 with ``cv=None``).
    gamma_, gamma_delta_, gamma_alpha_, factors_, factor_premia_, n_iter_ : as ``IPCARegressor``
        Those of ``best_estimator_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    See Also
    --------
    IPCARegressor : The model at one penalty.

    Notes
    -----
    ``y`` is paired with ``X`` by its ``(entity, time)`` index, never by
    position. With a single period with returns (a plain array is one
    cross-section) there are no validation months: the first pair of the
    path that fits (the smallest ``K``, the largest ``alpha`` that leaves
    every factor) is kept with a warning, and its scores are NaN.

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> from sklearn_neurif.ipca import IPCARegressorCV
    >>> d = make_conditional_factor_panel(100, 40, 6, 2, random_state=0)
    >>> est = IPCARegressorCV(n_factors=[1, 2], alphas=[1e-4, 0.0]).fit(d.X, d.y)
    >>> len(est.cv_results_["params"]), est.n_factors_
    (4, 2)
    """

    _estimator_class = IPCARegressor

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "alphas": ["array-like", None],
        "n_factors": [Interval(Integral, 0, None, closed="left"), "array-like", None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "cv": ["cv_object", "array-like", None],
        "scoring": [StrOptions(set(_SCORERS))],
    }

    def __init__(
        self,
        estimator=None,
        *,
        alphas=None,
        n_factors=None,
        validation_fraction=0.2,
        cv=None,
        scoring="r2_total",
    ):
        self.estimator = estimator
        self.alphas = alphas
        self.n_factors = n_factors
        self.validation_fraction = validation_fraction
        self.cv = cv
        self.scoring = scoring

    @_fit_context(prefer_skip_nested_validation=False)
    @fill_doc
    def fit(self, X, y, factors=None):
        """Fit the paths, choose ``(n_factors, alpha)`` on validation months, refit.

        {params_fit_panel_X_y}
        factors : DataFrame or Series, default=None
            Observable factors by as-of period, as in
            :meth:`IPCARegressor.fit`.

        Returns
        -------
        self : IPCARegressorCV

        Raises
        ------
        ValueError
            Malformed panel or ``y``, bad ``alphas`` or ``n_factors``, a
            ``cv`` that splits rows rather than months or yields no split,
            no training months; all before any training. Also when every
            pair of the path removes a factor.
        TypeError
            ``estimator`` is not an IPCARegressor, non-numeric alphas.
        """
        base = self._base_estimator()
        alphas = check_penalty_path(self.alphas, "alphas", DEFAULT_ALPHAS).tolist()
        Ks = self._candidates(base)
        X, y = self._check_data(X, y)
        splits = self._splits(X, y)  # checked before any training
        grid = [(K, a) for K in Ks for a in alphas]  # path order
        if splits is None:
            scores, n_iter, best = self._single_period_fit(X, y, factors, grid)
        else:
            scores, n_iter = self._scores(X, y, factors, Ks, alphas, splits)
            means = scores.mean(axis=1)
            if np.isnan(means).all():
                raise ValueError(
                    "Every (n_factors, alpha) of the path removed a factor or "
                    "failed; use smaller alphas."
                )
            best = int(np.nanargmax(means))  # first maximum in path order
            self.best_estimator_ = self._fit_one(X, y, factors, *grid[best])
        self.cv_results_ = _results(grid, scores, n_iter)
        self.best_index_ = best
        self.best_score_ = float(self.cv_results_["mean_test_score"][best])
        self.n_factors_, self.alpha_ = grid[best][0], float(grid[best][1])
        self.best_params_ = {"n_factors": self.n_factors_, "alpha": self.alpha_}
        self.n_splits_ = scores.shape[1]
        self._adopt_fitted(_ADOPTED)
        return self

    # ----------------------------------------------------------- fit steps
    def _base_estimator(self):
        return self._clone_estimator(
            "an IPCARegressor (the model whose alpha is chosen)"
        )

    def _candidates(self, base):
        Ks = self.n_factors if self.n_factors is not None else base.n_factors
        Ks = [Ks] if np.isscalar(Ks) else list(np.ravel(Ks))
        if not Ks or any(
            isinstance(k, (bool, np.bool_)) or not isinstance(k, Integral) or k < 0
            for k in Ks
        ):
            raise ValueError(
                "n_factors must be an int >= 0 or a non-empty list of them; got "
                f"{self.n_factors!r}."
            )
        return sorted(set(int(k) for k in Ks))

    def _check_data(self, X, y):
        """Validate X as IPCA does and pair y with X's rows by index."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        _check_characteristics(self, X, reset=True)
        return X, self._target_on_rows(X, y)

    def _splits(self, X, y):
        """The (train_rows, validation_rows) pairs; None for one period."""
        if self.cv is not None:
            return check_period_splits(self.cv, X, y)
        time = panel_index(X).get_level_values(-1)
        periods = np.sort(pd.unique(time[np.asarray(pd.notna(y))]))
        if len(periods) < 2:
            return None
        n_val = max(1, int(round(self.validation_fraction * len(periods))))
        if n_val >= len(periods):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no training "
                f"period ({len(periods)} periods with returns). Lower it or pass cv=."
            )
        val = np.isin(time, periods[-n_val:])
        return [(np.flatnonzero(~val), np.flatnonzero(val))]

    def _single_period_fit(self, X, y, factors, grid):
        """No validation months: keep the first pair of the path that fits."""
        warn_at_caller(
            "IPCARegressorCV: the data have a single period with returns, so there "
            "are no validation months to choose alpha on; the first pair of the "
            "path that fits (smallest n_factors, largest alpha) is kept."
        )
        n_iter = np.zeros(len(grid), dtype=int)
        for g, (K, alpha) in enumerate(grid):
            try:
                self.best_estimator_ = self._fit_one(X, y, factors, K, alpha)
            except PenaltyCollapseError:
                continue
            n_iter[g] = self.best_estimator_.n_iter_
            return np.full((len(grid), 1), np.nan), n_iter, g
        raise ValueError(
            "Every (n_factors, alpha) of the path removed a factor; use smaller alphas."
        )

    def _fit_one(self, X, y, factors, K, alpha):
        est = clone(self._base_estimator()).set_params(n_factors=K, alpha=alpha)
        return est.fit(X, y, factors=factors)

    def _scores(self, X, y, factors, Ks, alphas, splits):
        """A path per split and K on its training rows, scored on its validation rows."""
        scores = np.full((len(Ks) * len(alphas), len(splits)), np.nan)
        n_iter = np.zeros(len(Ks) * len(alphas), dtype=int)
        for j, (train, val) in enumerate(splits):
            X_fit, y_fit = _safe_indexing(X, train), _safe_indexing(y, train)
            X_val, y_val = _safe_indexing(X, val), _safe_indexing(y, val)
            for i, K in enumerate(Ks):
                path = self._path(X_fit, y_fit, factors, K, alphas)
                for a, (est, iters) in enumerate(path):
                    n_iter[i * len(alphas) + a] += iters
                    if est is not None:
                        scores[i * len(alphas) + a, j] = self._score(
                            est, X_val, y_val, factors
                        )
        return scores, n_iter

    def _path(self, X, y, factors, K, alphas):
        """Yield ``(fitted estimator or None, iterations)`` along ``alphas``.

        The managed portfolios are computed once; each step starts from the
        previous step's Gamma and factors (a collapsed step restarts the
        next one from the SVD). The same estimator is updated in place.
        """
        est = self._base_estimator().set_params(n_factors=K, alpha=alphas[0])
        W, x, n_obs, layout, observed, r = est._moments(X, y, factors)
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

    # ------------------------------------------------- the chosen model
    @fill_doc
    def get_factors(self, X, y, factors=None):
        """Realised factors of the model at the chosen pair.

        {params_panel_X_y}
        factors : DataFrame or Series, default=None
            As in :meth:`IPCARegressor.get_factors`.

        Returns
        -------
        DataFrame of shape (n_periods, n_factors)
            ``best_estimator_.get_factors(X, y, factors)``.
        """
        check_is_fitted(self)
        return self.best_estimator_.get_factors(X, y, factors=factors)

    def predict_total(self, X, y, factors=None):
        """Fitted returns with realised factors of the model at the chosen pair.

        Parameters are as for :meth:`get_factors`.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``best_estimator_.predict_total(X, y, factors)``.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_total(X, y, factors=factors)


def _results(grid, scores, n_iter) -> dict:
    """``cv_results_`` in scikit-learn's layout, one entry per pair."""
    results = {
        "params": [{"n_factors": int(K), "alpha": float(a)} for K, a in grid],
        "param_n_factors": np.asarray([K for K, _ in grid], dtype=int),
        "param_alpha": np.asarray([a for _, a in grid], dtype=float),
    }
    results.update(score_results(scores))
    results["n_iter"] = np.asarray(n_iter, dtype=int)
    return results
