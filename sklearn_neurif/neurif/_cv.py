"""NeurIFRegressorCV: the deviation penalty chosen on validation months."""

from __future__ import annotations

import copy
import inspect
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import StrOptions

from ..metrics import r2_predictive, r2_total
from ..panel import check_panel_frame, panel_index
from ._estimator import NeurIFRegressor

__all__ = ["NeurIFRegressorCV"]

#: The default path, from the IPCA-like end (g forced to ~0) to the free net.
DEFAULT_PENALTIES = (1e4, 1.0, 0.0)

#: NeurIF parameters the CV estimator sets itself along the path.
_PATH_PARAMS = ("deviation_penalty", "warm_start")

_SCORERS = {"r2_total": r2_total, "r2_predictive": r2_predictive}


class NeurIFRegressorCV(NeurIFRegressor):
    r"""NeurIF with the deviation penalty chosen on validation months.

    In the idiom of :class:`~sklearn.linear_model.LassoCV`: the model is fitted
    along a path of ``deviation_penalties`` from the largest (the IPCA-like
    end: the nonlinear deviation is held at ~0, which nests a restricted
    IPCA) to the smallest (the free net), each fit starting at IPCA's
    solution (the large end's model; ``warm_path=True``: from the previous
    step's weights); each penalty is scored on validation months; the model
    at the best penalty is the one kept.

    Validation months: with ``cv=None``, the last ``validation_fraction`` of
    the training periods with returns, the months each path fit early-stops
    on: the path is fitted once on the whole training sample and the model
    at the chosen penalty is kept (no refit is needed; the selection reuses
    the early-stopping months, as the choice of the epoch does). Otherwise
    each split of ``cv`` (e.g.
    :class:`~sklearn_neurif.model_selection.PanelTimeSeriesSplit`, which
    yields row indices of the panel): a path on each split's training rows,
    scores averaged over splits, then a refit on all rows along the path.
    Ties go to the larger penalty (the simpler, more IPCA-like model).

    Every other parameter is :class:`NeurIFRegressor`'s (see its docstring),
    except ``deviation_penalty`` and ``warm_start``, which the path sets.

    Parameters
    ----------
    deviation_penalties : sequence of float, default=None
        Penalties to try; they are sorted from largest to smallest. None
        means ``(1e4, 1, 0)``: the IPCA-like end, the
        former default and the free net.
    cv : int, cross-validation splitter, iterable or None, default=None
        None: NeurIF's own validation months (the last
        ``validation_fraction`` of the training periods). Otherwise a splitter with ``split(X, y)`` or an iterable
        of ``(train_rows, validation_rows)`` index arrays. Each path fit still
        early-stops on the last ``validation_fraction`` of its own months.
    scoring : {"r2_total", "r2_predictive"}, default="r2_total"
        Validation score (uncentred; the package's metrics).
    warm_path : bool, default=False
        True: each step continues from the previous step's weights (the
        classic warm-started path). False: each step starts afresh at
        IPCA's solution, the model of the large end. Measured on the design
        family, the warm path left the deviation collapsed after the large
        end (its share ~1e-8) and the later steps stopped before it learned,
        so the path chose a model below IPCA; hence the default.
    **params
        :class:`NeurIFRegressor` parameters (keyword only).

    Attributes
    ----------
    deviation_penalty_ : float
        The chosen penalty.
    cv_results_ : DataFrame
        One row per penalty (in path order): ``deviation_penalty``,
        ``split<k>_score``, ``mean_score``, ``std_score``, ``epochs`` (summed
        over splits) and ``rank``.
    best_estimator_ : NeurIFRegressor
        The model at the chosen penalty; its fitted attributes (``net_``, ``factors_``,
        ``gamma_``, ``history_``, ...) are also set on this estimator, so it
        predicts, transforms and gives factors as a fitted NeurIF does.

    See Also
    --------
    NeurIFRegressor : The model at one penalty.

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_design_family_panel
    >>> from sklearn_neurif.neurif import NeurIFRegressorCV
    >>> data = make_design_family_panel("abs", n_entities=60, n_periods=30,
    ...                                 n_characteristics=4, random_state=0)
    >>> est = NeurIFRegressorCV(deviation_penalties=[1e4, 0.0], n_factors=2,
    ...                         window=2, max_epochs=2, random_state=0)
    >>> est.fit(data.X, data.y).cv_results_.shape[0]
    2
    """

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in NeurIFRegressor._parameter_constraints.items()
            if k not in _PATH_PARAMS
        },
        "deviation_penalties": ["array-like", None],
        "cv": ["cv_object", "array-like", None],
        "scoring": [StrOptions(set(_SCORERS))],
        "warm_path": ["boolean"],
    }

    def __init__(
        self,
        *,
        deviation_penalties=None,
        cv=None,
        scoring="r2_total",
        warm_path=False,
        **params,
    ):
        unknown = set(params) - set(_neurif_param_names())
        if unknown:
            raise TypeError(
                f"Unexpected parameter(s) {sorted(unknown)} for NeurIFRegressorCV."
            )
        super().__init__(**params)
        # Set by the path; not parameters of the CV estimator.
        del self.deviation_penalty, self.warm_start
        self.deviation_penalties = deviation_penalties
        self.cv = cv
        self.scoring = scoring
        self.warm_path = warm_path

    def fit(self, X, y):
        """Fit the path, choose the penalty on validation months, refit.

        Parameters
        ----------
        X : DataFrame of shape (n_rows, n_characteristics)
            Characteristics with an ``(entity, time)`` MultiIndex.
        y : Series of shape (n_rows,)
            Next-period returns on ``X``'s index; NaN is masked.

        Returns
        -------
        self
        """
        self._validate_params()
        penalties = self._penalties()  # checked before any training
        splits = self._splits(X, y)
        if self.cv is None:
            scores, epochs, models = self._scores_in_place(X, y, penalties, splits[0])
        else:
            scores, epochs = self._scores_on_splits(X, y, penalties, splits)
        # argmax over the path order (largest penalty first): ties keep the
        # more IPCA-like model.
        best = int(np.argmax(scores.mean(axis=1)))
        self.cv_results_ = _results(penalties, scores, epochs)
        self.deviation_penalty_ = float(penalties[best])
        if self.cv is None:
            self.best_estimator_ = models[best]
        else:
            # The refit walks the path down to the chosen penalty (only the
            # chosen step when the steps do not depend on each other).
            steps = penalties[: best + 1] if self.warm_path else penalties[best:][:1]
            refits = list(self._path(X, y, steps))
            self.best_estimator_ = refits[-1][0]
        self._adopt(self.best_estimator_)
        return self

    def _scores_in_place(self, X, y, penalties, split):
        """One path on all the months, scored on NeurIF's validation months.

        The validation months are the ones each path fit early-stops on, so
        every fit trains on all the other months; the model of each step is
        kept (a copy) and the chosen one needs no refit. The score is taken
        on predictions over the whole panel, so the validation months keep
        their full windows.
        """
        val_rows = split[1]
        scores = np.empty((len(penalties), 1))
        epochs = np.zeros(len(penalties), dtype=int)
        models = []
        for i, (est, n_epochs) in enumerate(self._path(X, y, penalties)):
            scores[i, 0] = self._score(est, X, y, rows=val_rows)
            epochs[i] = n_epochs
            models.append(copy.deepcopy(est))
        return scores, epochs, models

    def _scores_on_splits(self, X, y, penalties, splits):
        """A path per split on its training rows, scored on its validation rows."""
        scores = np.empty((len(penalties), len(splits)))
        epochs = np.zeros(len(penalties), dtype=int)
        for j, (fit_rows, val_rows) in enumerate(splits):
            X_val, y_val = X.iloc[val_rows], y.iloc[val_rows]
            path = self._path(X.iloc[fit_rows], y.iloc[fit_rows], penalties)
            for i, (est, n_epochs) in enumerate(path):
                scores[i, j] = self._score(est, X_val, y_val)
                epochs[i] += n_epochs
        return scores, epochs

    # ------------------------------------------------------------- helpers
    def _neurif(self):
        params = {k: getattr(self, k) for k in _neurif_param_names()}
        return NeurIFRegressor(**params, warm_start=self.warm_path)

    def _penalties(self):
        if self.deviation_penalties is None:
            return np.asarray(DEFAULT_PENALTIES, dtype=float)
        penalties = np.asarray(self.deviation_penalties, dtype=float).ravel()
        if (
            penalties.size == 0
            or not np.all(np.isfinite(penalties))
            or (penalties < 0).any()
        ):
            raise ValueError(
                "deviation_penalties must be a non-empty sequence of finite "
                f"non-negative numbers; got {self.deviation_penalties!r}."
            )
        return np.unique(penalties)[::-1]

    def _path(self, X, y, penalties):
        """Yield (fitted estimator, epochs of this step) along the path.

        With ``warm_path=False`` every step starts afresh at IPCA's solution
        (``init="ipca"``), which is where the large end sits: warm-starting
        from the large end left g collapsed (deviation share ~1e-8) and the
        later steps stopped on the plateau before g learns (measured in
        docs/neurif_tuning.md).
        """
        est = self._neurif()
        done = 0
        for penalty in penalties:
            if not self.warm_path:
                est, done = self._neurif(), 0
            est.set_params(deviation_penalty=float(penalty))
            est.fit(X, y)
            yield est, est.n_iter_ - done
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
        return _SCORERS[self.scoring](y[observed], fitted[observed])

    def _splits(self, X, y):
        check_panel_frame(X)
        if self.cv is not None:
            splitter = self.cv
            if isinstance(splitter, Real):
                from ..model_selection import PanelTimeSeriesSplit

                splitter = PanelTimeSeriesSplit(n_splits=int(splitter))
            split = getattr(splitter, "split", None)
            return list(split(X, y) if split else splitter)
        time = panel_index(X).get_level_values(-1)
        periods = np.sort(pd.unique(time[np.asarray(pd.notna(y))]))
        n_val = int(np.floor(self.validation_fraction * len(periods)))
        if n_val < 1 or n_val >= len(periods):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no validation "
                f"or no training periods out of {len(periods)}; pass cv= or change it."
            )
        is_val = np.isin(time, periods[-n_val:])
        return [(np.flatnonzero(~is_val), np.flatnonzero(is_val))]

    def _adopt(self, est):
        """Copy the chosen model's fitted state so self predicts as it does."""
        for name, value in vars(est).items():
            if (name.endswith("_") and not name.startswith("__")) or name == "_context":
                setattr(self, name, value)


def _neurif_param_names():
    names = inspect.signature(NeurIFRegressor.__init__).parameters
    return [n for n in names if n != "self" and n not in _PATH_PARAMS]


def _results(penalties, scores, epochs):
    frame = pd.DataFrame({"deviation_penalty": penalties})
    for j in range(scores.shape[1]):
        frame[f"split{j}_score"] = scores[:, j]
    frame["mean_score"] = scores.mean(axis=1)
    frame["std_score"] = scores.std(axis=1)
    frame["epochs"] = epochs
    frame["rank"] = frame["mean_score"].rank(ascending=False, method="min").astype(int)
    return frame


def _cv_signature():
    """The CV estimator's signature: its own parameters, then NeurIF's.

    scikit-learn reads parameter names from ``__init__``'s signature
    (``get_params``, ``clone``); building it from NeurIFRegressor's keeps
    the two in step when NeurIF gains a parameter.
    """
    base = inspect.signature(NeurIFRegressor.__init__).parameters
    own = inspect.signature(NeurIFRegressorCV.__init__).parameters
    params = [own["self"]]
    params += [p for n, p in own.items() if p.kind is p.KEYWORD_ONLY]
    params += [
        p.replace(kind=p.KEYWORD_ONLY)
        for n, p in base.items()
        if n != "self" and n not in _PATH_PARAMS
    ]
    return inspect.Signature(params)


NeurIFRegressorCV.__init__.__signature__ = _cv_signature()
