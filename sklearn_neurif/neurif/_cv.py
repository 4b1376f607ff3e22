"""NeurIFRegressorCV: the deviation penalty chosen on validation months."""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._docstrings import fill_doc
from .._warnings import warn_at_caller
from ..base import ChosenModelMixin, FactorModelMixin
from ..metrics import r2_predictive, r2_total
from ..model_selection._cv_path import (
    check_penalty_path,
    check_period_splits,
    score_results,
)
from ..panel import check_panel_frame, panel_index
from ._estimator import NeurIFRegressor

__all__ = ["NeurIFRegressorCV"]

#: The default path, from the IPCA-like end (g forced to ~0) to the free net.
DEFAULT_PENALTIES = (1e4, 1.0, 0.0)

_SCORERS = {"r2_total": r2_total, "r2_predictive": r2_predictive}

#: Fitted attributes of the chosen model also set on the CV estimator.
_ADOPTED = (
    "factors_",
    "gamma_",
    "gamma_alpha_",
    "factor_means_",
    "n_iter_",
    "n_features_in_",
    "feature_names_in_",
)


class NeurIFRegressorCV(
    ChosenModelMixin, FactorModelMixin, RegressorMixin, BaseEstimator
):
    r"""NeurIF with the deviation penalty chosen on validation months.

    In the idiom of :class:`~sklearn.linear_model.RidgeCV` and
    :class:`~sklearn.linear_model.LassoCV`: ``estimator`` (a
    :class:`NeurIFRegressor`) is fitted along a path of
    ``deviation_penalties`` from the largest (the IPCA-like end: the
    nonlinear deviation is held at ~0, which nests a restricted IPCA) to the
    smallest (the free net); each penalty is scored on validation months and
    the model at the best penalty is kept as ``best_estimator_``. The CV
    estimator then predicts, transforms and gives factors as that model does.

    Validation months: with ``cv=None``, the last ``validation_fraction``
    (``estimator``'s) of the periods with returns, the months each path fit
    early-stops on: the path is fitted once on the whole sample and the
    model at the chosen penalty is kept (no refit; the selection reuses the
    early-stopping months, as the choice of the epoch does). Otherwise each
    split of ``cv`` (e.g.
    :class:`~sklearn_neurif.model_selection.PanelTimeSeriesSplit`): a path
    on each split's training rows, scores averaged over splits, then a refit
    on all rows. Ties go to the larger penalty (the simpler, more IPCA-like
    model).

    Parameters
    ----------
    estimator : NeurIFRegressor, default=None
        The model whose ``deviation_penalty`` is chosen; None means
        ``NeurIFRegressor()``. It is cloned, never fitted itself; the path
        sets the clones' ``deviation_penalty`` and ``warm_start``.
    deviation_penalties : sequence of float, default=None
        Penalties to try (finite, non-negative, not booleans); they are
        sorted from largest to smallest. None means ``(1e4, 1, 0)``: the
        IPCA-like end, the former default and the free net.
    cv : int, splitter, iterable or None, default=None
        None: the estimator's own validation months (see above). An int:
        ``PanelTimeSeriesSplit(n_splits=cv)``. A splitter of months (one with
        ``split(X, y)`` yielding row positions, such as
        ``PanelTimeSeriesSplit``) or an iterable of ``(train_rows,
        validation_rows)`` position arrays. Each split must hold whole
        months on each side: scikit-learn's row-wise splitters (``KFold``,
        ``TimeSeriesSplit``, ...) put rows of one month in both and are
        refused. Each path fit still early-stops on the last
        ``validation_fraction`` of its own months.
    scoring : {"r2_total", "r2_predictive"}, default="r2_total"
        Validation score (uncentred; the package's metrics).
    warm_path : bool, default=False
        True: each step continues from the previous step's weights (the
        classic warm-started path). False: each step starts afresh at IPCA's
        solution, the model of the large end. Measured on the design family,
        the warm path left the deviation collapsed after the large end (its
        share ~1e-8) and the later steps stopped before it learned, so the
        path chose a model below IPCA; hence the default.
    random_state : int, RandomState instance or None, default=None
        None: each fit uses ``estimator``'s own ``random_state``. Otherwise
        one seed drawn from it at ``fit`` replaces it for every fit of the
        path, so the penalties are compared from the same initialisation
        (and ``fit`` is repeatable).

    Attributes
    ----------
    deviation_penalty_ : float
        The chosen penalty (as ``RidgeCV.alpha_``).
    best_params_ : dict
        ``{"deviation_penalty": deviation_penalty_}``.
    best_index_ : int
        Row of ``cv_results_`` of the chosen penalty.
    best_score_ : float
        Its mean validation score.
    best_estimator_ : NeurIFRegressor
        The model at the chosen penalty.
    cv_results_ : dict of ndarray
        scikit-learn's layout (``pd.DataFrame(cv_results_)`` is a table),
        one entry per penalty in path order: ``params``,
        ``param_deviation_penalty``, ``split<k>_test_score``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score``,
        ``mean_fit_time``, ``std_fit_time`` and ``n_epochs`` (summed over
        splits).
    n_splits_ : int
        Number of splits scored (1 with ``cv=None``).
    factors_, gamma_, gamma_alpha_, factor_means_, n_iter_ : as ``NeurIFRegressor``
        Those of ``best_estimator_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    See Also
    --------
    NeurIFRegressor : The model at one penalty.

    Notes
    -----
    ``y`` is paired with ``X`` by its ``(entity, time)`` index, never by
    position. With a single period (a plain array is one cross-section)
    there are no validation months: the largest penalty is kept with a
    warning and the others are not fitted (their scores are NaN).

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_design_family_panel
    >>> from sklearn_neurif.neurif import NeurIFRegressor, NeurIFRegressorCV
    >>> data = make_design_family_panel("abs", n_entities=60, n_periods=30,
    ...                                 n_characteristics=4, random_state=0)
    >>> base = NeurIFRegressor(n_factors=2, window=2, max_epochs=2, random_state=0)
    >>> est = NeurIFRegressorCV(base, deviation_penalties=[1e4, 0.0])
    >>> est.fit(data.X, data.y).cv_results_["param_deviation_penalty"]
    array([10000.,     0.])
    >>> est.predict(data.X).shape
    (1627,)
    """

    _estimator_class = NeurIFRegressor

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "deviation_penalties": ["array-like", None],
        "cv": ["cv_object", "array-like", None],
        "scoring": [StrOptions(set(_SCORERS))],
        "warm_path": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        deviation_penalties=None,
        cv=None,
        scoring="r2_total",
        warm_path=False,
        random_state=None,
    ):
        self.estimator = estimator
        self.deviation_penalties = deviation_penalties
        self.cv = cv
        self.scoring = scoring
        self.warm_path = warm_path
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the path, choose the penalty on validation months, refit.

        Parameters
        ----------
        X : DataFrame of shape (n_rows, n_characteristics)
            Characteristics with an ``(entity, time)`` MultiIndex (a plain
            array is one period).
        y : Series of shape (n_rows,)
            Next-period returns on ``X``'s index, in any order (paired by
            index); NaN is masked.

        Returns
        -------
        self : NeurIFRegressorCV

        Raises
        ------
        ValueError
            Malformed panel or ``y``, bad ``deviation_penalties``, a ``cv``
            that splits rows rather than months or yields no split, no
            validation months; all before any training.
        TypeError
            ``estimator`` is not a NeurIFRegressor, non-numeric penalties.
        """
        base = self._base_estimator()
        penalties = check_penalty_path(
            self.deviation_penalties, "deviation_penalties", DEFAULT_PENALTIES
        )
        X, y = self._check_data(X, y)
        splits = self._splits(X, y, base)  # checked before any training
        if splits is None:
            result = self._single_period_fit(X, y, base, penalties)
        elif self.cv is None:
            result = self._scores_in_place(X, y, base, penalties, splits[0])
        else:
            result = self._scores_on_splits(X, y, base, penalties, splits)
        scores, epochs, times, models = result
        # argmax over the path order (largest penalty first): ties, and a
        # path without scores, keep the more IPCA-like model.
        means = scores.mean(axis=1)
        best = 0 if np.isnan(means).all() else int(np.nanargmax(means))
        if models is None:  # refit on all rows along the path to the choice
            models = {best: self._refit(X, y, base, penalties, best)}
        self.cv_results_ = _results(penalties, scores, epochs, times)
        self.best_index_ = best
        self.best_score_ = float(means[best])
        self.deviation_penalty_ = float(penalties[best])
        self.best_params_ = {"deviation_penalty": self.deviation_penalty_}
        self.best_estimator_ = models[best]
        self.n_splits_ = scores.shape[1]
        self._adopt_fitted(_ADOPTED)
        return self

    # ----------------------------------------------------------- fit steps
    def _base_estimator(self):
        """A clone of ``estimator`` (a NeurIFRegressor) with the path's seed."""
        base = self._clone_estimator(
            "a NeurIFRegressor (the model whose deviation_penalty is chosen)"
        )
        if self.random_state is not None:
            rng = check_random_state(self.random_state)
            base.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
        return base

    def _check_data(self, X, y):
        """Validate X as NeurIF does and pair y with X's rows by index."""
        check_panel_frame(X)
        validate_data(self, X, dtype=[np.float64, np.float32], reset=True)
        return X, self._target_on_rows(X, y)

    def _splits(self, X, y, base):
        """The (train_rows, validation_rows) pairs; None for one period."""
        if self.cv is not None:
            return check_period_splits(self.cv, X, y)
        time_level = panel_index(X).get_level_values(-1)
        periods = np.sort(pd.unique(time_level[np.asarray(pd.notna(y))]))
        if len(periods) < 2:
            return None
        n_val = int(np.floor(base.validation_fraction * len(periods)))
        if n_val < 1:
            raise ValueError(
                f"validation_fraction={base.validation_fraction} of the estimator "
                f"leaves no validation periods out of the {len(periods)} periods "
                "with returns: the penalty is chosen on validation months. Raise "
                "it or pass cv=."
            )
        is_val = np.isin(time_level, periods[-n_val:])
        return [(np.flatnonzero(~is_val), np.flatnonzero(is_val))]

    def _single_period_fit(self, X, y, base, penalties):
        warn_at_caller(
            "NeurIFRegressorCV: the data have a single period with returns, so "
            "there are no validation months to choose the penalty on; the largest "
            f"penalty ({penalties[0]:g}, the IPCA-like end) is kept.",
        )
        scores = np.full((len(penalties), 1), np.nan)
        epochs, times = (
            np.zeros(len(penalties), dtype=int),
            np.zeros((len(penalties), 1)),
        )
        (est, epochs[0], times[0, 0]), *_ = self._path(X, y, base, penalties[:1])
        return scores, epochs, times, {0: est}

    def _scores_in_place(self, X, y, base, penalties, split):
        """One path on all the months, scored on NeurIF's validation months.

        The validation months are the ones each path fit early-stops on, so
        every fit trains on all the other months; the model of each step is
        kept (a copy) and the chosen one needs no refit. The score is taken
        on predictions over the whole panel, so the validation months keep
        their full windows.
        """
        scores = np.empty((len(penalties), 1))
        epochs = np.zeros(len(penalties), dtype=int)
        times = np.empty((len(penalties), 1))
        models = {}
        for i, (est, n_epochs, seconds) in enumerate(self._path(X, y, base, penalties)):
            scores[i, 0] = self._score(est, X, y, rows=split[1])
            epochs[i], times[i, 0] = n_epochs, seconds
            models[i] = copy.deepcopy(est) if self.warm_path else est
        return scores, epochs, times, models

    def _scores_on_splits(self, X, y, base, penalties, splits):
        """A path per split on its training rows, scored on its validation rows."""
        scores = np.empty((len(penalties), len(splits)))
        epochs = np.zeros(len(penalties), dtype=int)
        times = np.empty((len(penalties), len(splits)))
        for j, (fit_rows, val_rows) in enumerate(splits):
            X_fit, y_fit = _safe_indexing(X, fit_rows), _safe_indexing(y, fit_rows)
            X_val, y_val = _safe_indexing(X, val_rows), _safe_indexing(y, val_rows)
            path = self._path(X_fit, y_fit, base, penalties)
            for i, (est, n_epochs, seconds) in enumerate(path):
                scores[i, j] = self._score(est, X_val, y_val)
                epochs[i] += n_epochs
                times[i, j] = seconds
        return scores, epochs, times, None

    def _refit(self, X, y, base, penalties, best):
        """Walk the path down to the chosen penalty on all rows.

        Only the chosen step is fitted when the steps do not depend on each
        other (``warm_path=False``).
        """
        steps = penalties[: best + 1] if self.warm_path else penalties[best:][:1]
        *_, (est, _, _) = self._path(X, y, base, steps)
        return est

    def _path(self, X, y, base, penalties):
        """Yield (fitted estimator, epochs of this step, seconds) along the path.

        With ``warm_path=False`` every step starts afresh at IPCA's solution
        (``init="ipca"``), which is where the large end sits: warm-starting
        from the large end left g collapsed (deviation share ~1e-8) and the
        later steps stopped on the plateau before g learns (measured in
        docs/neurif_tuning.md).
        """
        est = clone(base).set_params(warm_start=self.warm_path)
        done = 0
        for penalty in penalties:
            if not self.warm_path:
                est, done = clone(base).set_params(warm_start=False), 0
            est.set_params(deviation_penalty=float(penalty))
            start = time.perf_counter()
            est.fit(X, y)
            yield est, est.n_iter_ - done, time.perf_counter() - start
            done = est.n_iter_

    def _score(self, est, X, y, rows=None):
        if self.scoring == "r2_total":
            fitted = np.asarray(est.predict_total(X, y))
        else:
            fitted = np.asarray(est.predict(X))
        y = np.asarray(y, dtype=float)
        if rows is not None:
            y, fitted = y[rows], fitted[rows]
        observed = ~np.isnan(y)
        if not observed.any():
            return np.nan
        return _SCORERS[self.scoring](y[observed], fitted[observed])

    # ------------------------------------------------- the chosen model
    @fill_doc
    def get_factors(self, X, y):
        """Realised factors of the model at the chosen penalty.

        {params_panel_X_y}

        Returns
        -------
        DataFrame of shape (n_periods, n_factors)
            ``best_estimator_.get_factors(X, y)``.
        """
        check_is_fitted(self)
        return self.best_estimator_.get_factors(X, y)

    def predict_total(self, X, y):
        """Fitted returns with realised factors of the model at the chosen penalty.

        Parameters are as for :meth:`get_factors`.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``best_estimator_.predict_total(X, y)``.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict_total(X, y)


def _results(penalties, scores, epochs, times) -> dict:
    """``cv_results_`` in scikit-learn's layout, one entry per penalty."""
    results = {
        "params": [{"deviation_penalty": float(p)} for p in penalties],
        "param_deviation_penalty": np.asarray(penalties, dtype=float),
    }
    results.update(score_results(scores))
    results["mean_fit_time"] = times.mean(axis=1)
    results["std_fit_time"] = times.std(axis=1)
    results["n_epochs"] = np.asarray(epochs, dtype=int)
    return results
