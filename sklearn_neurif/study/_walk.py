"""Each model's walk-forward run (:class:`ModelRun`) and a time-weighted bar.

Each model of the study is run through
:func:`~sklearn_neurif.model_selection.walk_forward_predict` once, over the
prepared panel's schedule; its ``on_refit`` hook advances the progress bar
by the expected time of each refit as it finishes and keeps what the report
needs of the refit's estimator (the validation score of every K, and for
a model that selects K every K's test predictions: :mod:`._sensitivity`). The
predictions of all refits are then frozen in a tiny estimator that
:func:`~sklearn_neurif.evaluation.evaluate_factor_model` evaluates like any
fitted model.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

from ..model_selection import walk_forward_predict

# The CLI validates --models and --threads with these before loading data.
from ._models import check_models, check_threads  # noqa: F401
from ._sensitivity import refit_k_outputs, stitch_k_outputs

__all__ = ["ModelRun", "TimedBar", "walk_forward_model"]


@dataclass(frozen=True, eq=False)
class ModelRun:
    """One model's walk-forward run over the study's panel.

    Attributes
    ----------
    name : str
        The model's label.
    predictions : Series
        Its prediction of every row of the panel (NaN outside the test months).
    fitted : Series
        Its total-fit values with the realised factors (NaN for a model
        without factors).
    refits : DataFrame
        One row per refit: ``refit`` (from 1), the periods, rows, times,
        ``best_params``/``best_score`` of the search, ``validation_r2`` (the
        validation score of every K under the run's K rule, a dict; None
        without a search), the refit's test ``R2_total`` and
        ``R2_predictive``, ``k_refit_time`` (seconds of the sensitivity's
        extra fits; NaN without them), ``warnings`` (the distinct warnings
        the refit raised, ``"Category: message"``).
    last_estimator : estimator
        The last refit's fitted model (a search's best estimator).
    k_predictions, k_fitted : DataFrame or None
        A model that selects K with the sensitivity on: one column per K of
        its grid, that K's predictions and total fits of every row (NaN
        outside the test months); the chosen K's are those of
        ``predictions``/``fitted`` (:mod:`._sensitivity`). None otherwise.
    """

    name: str
    predictions: pd.Series
    fitted: pd.Series
    refits: pd.DataFrame
    last_estimator: object
    k_predictions: pd.DataFrame | None = None
    k_fitted: pd.DataFrame | None = None

    @property
    def has_factors(self) -> bool:
        """Whether the model has realised factors (total-fit values)."""
        return bool(self.fitted.notna().any())

    def frozen(self):
        """A fitted-model stand-in holding the walk-forward predictions."""
        if self.has_factors:
            return _FrozenFactorModel(self.predictions, self.fitted)
        return _Frozen(self.predictions)


class _Frozen:
    """Walk-forward predictions as a fitted model for evaluate_factor_model."""

    def __init__(self, predictions: pd.Series):
        self.predictions = predictions

    def predict(self, X):
        return self.predictions.reindex(X.index).to_numpy(dtype=float)


class _FrozenFactorModel(_Frozen):
    def __init__(self, predictions, fitted):
        super().__init__(predictions)
        self.fitted = fitted

    def predict_total(self, X, y):
        return self.fitted.reindex(X.index).to_numpy(dtype=float)


class TimedBar:
    """A tqdm bar whose steps are weighted by their expected seconds.

    Attributes
    ----------
    times : dict
        Measured wall seconds of every step (and ``"total"`` once closed).
    fraction : float
        Share of the planned expected seconds done (also with ``quiet``,
        where tqdm itself counts nothing).
    """

    def __init__(self, quiet):
        self.bar = tqdm(
            total=1.0,
            desc="neurif study",
            disable=quiet,
            unit="s",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
        )
        self.times = {}
        self._start = time.perf_counter()
        self._step = None
        self._done = 0.0

    @property
    def fraction(self) -> float:
        """Share of the planned expected seconds done so far."""
        return self._done / self.bar.total

    def plan(self, expected_seconds: float):
        """Set the total: the expected seconds of every step of the run."""
        self.bar.total = max(float(expected_seconds), 1.0)
        self.bar.refresh()

    def replan(self, expected, revised) -> float:
        """A step not begun yet is now expected to take ``revised`` seconds, not ``expected``."""
        self.bar.total = max(self.bar.total + float(revised) - float(expected), 1.0)
        self.bar.refresh()
        return float(revised)

    def begin(self, name):
        """A step starts: show its name, start its clock."""
        self.bar.set_postfix_str(name)
        self._step = (name, time.perf_counter())

    def end(self, expected):
        """The step begun last ends: record its wall time, advance by ``expected``."""
        name, t0 = self._step
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0
        self._done += expected
        self.bar.update(expected)

    def step(self, name, expected, fn):
        """Run ``fn()``, record its wall time, advance by ``expected``."""
        self.begin(name)
        out = fn()
        self.end(expected)
        return out

    def close(self):
        self.times["total"] = time.perf_counter() - self._start
        self.bar.close()
        return self.times


def walk_forward_model(model, panel, bar, n_jobs=None) -> ModelRun:
    """Walk-forward predictions of one :class:`StudyModel` on a prepared panel.

    One call of ``walk_forward_predict`` over the panel's schedule; each
    finished refit is one progress step (named ``"<model> refit i/n"``).
    """
    n = len(panel.refit_periods)
    expected = [model.cost(*window) for window in panel.refit_windows]
    by_k, last, k_blocks, k_times, said = [], [], [], [], []

    def on_refit(refit):
        said.append([f"{kind.__name__}: {message}" for kind, message in refit.warnings])
        by_k.append(_by_k(refit.estimator) if model.grid else None)
        k_blocks.append(refit_k_outputs(refit, panel.features, panel.y))
        k_times.append(getattr(refit.estimator, "k_refit_time_", float("nan")))
        last[:] = [refit.estimator]
        bar.end(expected[refit.refit - 1])
        if refit.refit < n:
            bar.begin(f"{model.name} refit {refit.refit + 1}/{n}")

    schedule = dict(panel.schedule)
    if not model.validates:  # e.g. a plain regressor: its window is all training
        schedule["validation_periods"] = None
    bar.begin(f"{model.name} refit 1/{n}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = walk_forward_predict(
            model.estimator, panel.features, panel.y, on_refit=on_refit,
            n_jobs=n_jobs, **schedule,
        )  # fmt: skip
    _reissue_others(caught, said)
    refits = res.refits.reset_index(drop=True)
    refits.insert(0, "refit", range(1, n + 1))
    refits["validation_r2"] = by_k
    refits["K"] = chosen_k(refits, model.grid)
    refits["k_refit_time"] = k_times  # the sensitivity's extra fits
    refits["warnings"] = said  # summed up once by the study, not one per refit
    k_pred, k_fitted = stitch_k_outputs(k_blocks, panel.features.index) or (None,) * 2
    return ModelRun(
        name=model.name,
        predictions=res.predictions.where(res.test_mask),
        fitted=res.fitted.where(res.test_mask),
        refits=refits,
        last_estimator=getattr(last[0], "best_estimator_", last[0]),
        k_predictions=k_pred,
        k_fitted=k_fitted,
    )


def _reissue_others(caught, said) -> None:
    """Issue again the warnings not raised inside a refit (the schedule's).

    The refits' own (``said``, one list per refit) are kept in the refit
    table and summed up once per model by the study: a 50-refit run would
    otherwise print the same kind of warning dozens of times.
    """
    inside = {message for refit in said for message in refit}
    for w in caught:
        if f"{w.category.__name__}: {w.message}" not in inside:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _by_k(search) -> dict | None:
    """Validation score of every K of a search's grid (None without a search)."""
    results = getattr(search, "cv_results_", None)
    if results is None:
        return None
    ks = [int(next(iter(p.values()))) for p in results["params"]]
    return dict(zip(ks, map(float, results["mean_test_score"]), strict=True))


def chosen_k(refits: pd.DataFrame, grid) -> list:
    """K of each refit: the search's choice, else the single K of the grid.

    None for a model without a K grid (a user's estimator: its search, if
    any, is over other parameters).
    """
    if not grid:
        return [None] * len(refits)
    out = []
    for params in refits["best_params"]:
        if isinstance(params, dict) and params:
            out.append(int(next(iter(params.values()))))
        else:
            out.append(int(grid[0]) if grid else None)
    return out
