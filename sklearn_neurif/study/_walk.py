"""The study's models, their walk-forward predictions and a time-weighted bar.

Each model of the study is one estimator (a ``GridSearchCV`` over
``n_factors`` when its grid has several K, always for IPCA) run through
:func:`~sklearn_neurif.model_selection.walk_forward_predict` one refit at a
time, so that the progress bar can advance by the expected time of each
refit. The predictions of all refits are then frozen in a tiny estimator
that :func:`~sklearn_neurif.metrics.evaluate_factor_model` evaluates like any
fitted model.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV
from tqdm.auto import tqdm

from ..metrics import predictive_r2_scorer
from ..model_selection import WalkForwardSplit, walk_forward_predict

__all__ = ["MODEL_NAMES", "check_models"]

#: Every model the study can run, in report order.
MODEL_NAMES = ("IPCA", "NeurIF", "CA2", "Transformer")

# Expected seconds per training row and epoch (per fit for IPCA), measured on
# the US panel with one torch thread: they only weight the progress bar.
_COST = {"IPCA": 2.5e-6, "NeurIF": 1.2e-5, "CA2": 3e-6, "Transformer": 2.5e-5}


def check_models(models) -> tuple:
    """The models asked for, validated: a tuple of names of :data:`MODEL_NAMES`.

    ``models`` is a comma-separated string or a sequence of names; IPCA is
    always compared against, so it must be among them.
    """
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    models = tuple(models)
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(
            f"Unknown model(s) {unknown}: choose among {', '.join(MODEL_NAMES)}."
        )
    if len(set(models)) != len(models):
        raise ValueError(f"A model is named twice in {list(models)}.")
    if "IPCA" not in models:
        raise ValueError(
            "The models must include IPCA: every other model is tested against it."
        )
    return models


def check_threads(threads) -> None:
    """Refuse a thread count that is not None or an integer in [1, CPUs].

    More threads than cores only adds contention; a value like 100000 is a
    typo. Used by :func:`run_study` and the CLI (where 0 stands for None).
    """
    n_cpus = os.cpu_count() or 1
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer):
        raise TypeError(f"threads must be None or an integer; got {threads!r}.")
    if not 1 <= threads <= n_cpus:
        raise ValueError(
            f"threads must be in [1, {n_cpus}], the CPUs of this machine (None: "
            f"torch's default); got {threads}."
        )


def build_estimator(model, grid, params, seeds, seed):
    """The estimator of one model: a search over K when the grid has several."""
    from .. import (
        ConditionalAutoencoderRegressor,
        IPCARegressor,
        NeurIFRegressor,
        SeedEnsembleRegressor,
        TransformerRegressor,
    )

    if model == "IPCA":
        base = IPCARegressor()
    elif model == "NeurIF":
        base = NeurIFRegressor(**params)
        if seeds > 1:
            base = SeedEnsembleRegressor(base, n_estimators=seeds, random_state=seed)
    elif model == "CA2":
        base = ConditionalAutoencoderRegressor(n_hidden_layers=2, **params)
    else:
        return TransformerRegressor(**params)  # no factors: no K
    key = "estimator__n_factors" if model == "NeurIF" and seeds > 1 else "n_factors"
    if model == "IPCA" or len(grid) > 1:
        # IPCA always goes through the search: walk_forward_predict gives a
        # search its validation window (IPCA has no validation_fraction).
        return GridSearchCV(base, {key: list(grid)}, scoring=predictive_r2_scorer)
    return base.set_params(**{key: grid[0]})


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


def frozen_model(wf: dict):
    """A fitted-model stand-in holding one model's walk-forward predictions."""
    if wf["fitted"].notna().any():
        return _FrozenFactorModel(wf["predictions"], wf["fitted"])
    return _Frozen(wf["predictions"])


class TimedBar:
    """A tqdm bar whose steps are weighted by their expected seconds."""

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

    def plan(self, expected_seconds: float):
        self.bar.total = max(float(expected_seconds), 1.0)
        self.bar.refresh()

    def step(self, name, expected, fn):
        """Run ``fn()``, record its wall time, advance by ``expected``."""
        self.bar.set_postfix_str(name)
        t0 = time.perf_counter()
        out = fn()
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0
        self.bar.update(expected)
        return out

    def close(self):
        self.times["total"] = time.perf_counter() - self._start
        self.bar.close()
        return self.times


def expected_seconds(model, n_rows, grid, seeds, epochs) -> float:
    """Rough expected fit time of one refit (weights of the progress bar)."""
    fits = 1 if (model != "IPCA" and len(grid) == 1) else len(grid) + 1
    per_fit = n_rows * _COST[model] * (1 if model == "IPCA" else epochs)
    return fits * per_fit * (seeds if model == "NeurIF" else 1) + 0.5


def walk_forward_model(estimator, X, y, schedule_kw, bar, model, expect):
    """Walk-forward predictions of one model, one refit per progress step.

    Each refit is one call of ``walk_forward_predict`` on the periods up to
    the end of its test block (the same training rows, validation window and
    test rows as one call over the whole panel would use).
    """
    table = WalkForwardSplit(**schedule_kw).split_periods(X)
    time_of = X.index.get_level_values(-1)
    preds, fitted, refits, last = [], [], [], None
    for i, row in enumerate(table.itertuples(index=False)):
        keep = np.asarray(time_of <= row.test_end)
        kw = dict(schedule_kw, test_start=row.test_start, refit_every=10**6)
        res = bar.step(
            f"{model} refit {i + 1}/{len(table)}",
            expect(int((time_of[keep] <= row.train_end).sum())),
            lambda kw=kw, keep=keep: walk_forward_predict(
                estimator, X[keep], y[keep], return_estimators=True, **kw
            ),
        )
        mask = res.test_mask
        preds.append(res.predictions[mask])
        fitted.append(res.fitted[mask])
        last = res.estimators[-1]
        refits.append(res.refits.assign(refit=i + 1, validation_r2=[_by_k(last)]))
    refit_table = pd.concat(refits, ignore_index=True)
    return {
        "predictions": pd.concat(preds).reindex(X.index),
        "fitted": pd.concat(fitted).reindex(X.index),
        "refits": refit_table,
        "last_estimator": getattr(last, "best_estimator_", last),
    }


def _by_k(search) -> dict | None:
    """Validation score of every K of a search's grid (None without a search)."""
    results = getattr(search, "cv_results_", None)
    if results is None:
        return None
    ks = [int(next(iter(p.values()))) for p in results["params"]]
    return dict(zip(ks, map(float, results["mean_test_score"]), strict=True))


def chosen_k(refits: pd.DataFrame, grid) -> list:
    """K of each refit: the search's choice, else the single K of the grid."""
    out = []
    for params in refits["best_params"]:
        if isinstance(params, dict) and params:
            out.append(int(next(iter(params.values()))))
        else:
            out.append(int(grid[0]) if grid else None)
    return out
