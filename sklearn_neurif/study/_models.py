"""The study's built-in models: everything the study knows about each, in one place.

One :class:`ModelSpec` per model (IPCA, NeurIF, CA2, the transformer):
its numbers of factors tried per refit, its fit parameters (default and
``--quick``), how to build its estimator and what a refit is expected to
cost (the weights of the progress bar). :class:`StudyModel` is a model
ready to run: a name, an unfitted estimator and its K grid.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import GridSearchCV

from ._sensitivity import K_RULES, KGridSearchCV, check_k_rule

__all__ = [
    "MODEL_NAMES",
    "MODEL_SPECS",
    "ModelSpec",
    "StudyModel",
    "build_estimator",
    "check_estimators",
    "check_models",
    "check_threads",
    "estimator_from_spec",
    "user_model",
]


def _ipca(params):
    from .. import IPCARegressor

    return IPCARegressor(**params)


def _neurif(params):
    from .. import NeurIFRegressor

    return NeurIFRegressor(**params)


def _ca2(params):
    from .. import ConditionalAutoencoderRegressor

    return ConditionalAutoencoderRegressor(n_hidden_layers=2, **params)


def _transformer(params):
    from .. import TransformerRegressor

    return TransformerRegressor(**params)


@dataclass(frozen=True)
class ModelSpec:
    """What the study knows about one built-in model.

    Attributes
    ----------
    name : str
        Name in the report and on the command line.
    make : callable
        ``make(params)`` -> the unfitted base estimator.
    grid, quick_grid : tuple of int
        Numbers of factors tried per refit (default run, ``--quick``); empty
        for a model without factors.
    params, quick_params : dict
        Fit parameters (besides ``n_factors``, ``random_state``, ``device``).
    cost : tuple of float
        ``(per_row, per_month)``: expected seconds of one fit (one epoch for
        a net) per training row and per training month of the window. Fitted
        to the refit times of the two full runs (one torch thread, load 2 to
        4): the US panel (6 refits, 2.6 million window-rows, 468
        window-months) and the long Ken French panel (50 refits, 1.1 million
        window-rows, 21,600 window-months) solve for both terms exactly
        (docs/study.md, "Progress"). They only weight the progress bar.
    is_net : bool
        A torch net: it takes ``random_state``, ``device`` and ``verbose``.
    always_search : bool
        Go through a ``GridSearchCV`` even with one K (IPCA has no
        validation fraction: the search gets the validation window).
    seeded : bool
        ``neurif_seeds`` applies: several seeds are averaged per refit in a
        :class:`~sklearn_neurif.SeedEnsembleRegressor`.
    """

    name: str
    make: Callable
    grid: tuple
    quick_grid: tuple
    params: dict = field(default_factory=dict)
    quick_params: dict = field(default_factory=dict)
    cost: tuple = (1e-6, 1e-4)
    is_net: bool = True
    always_search: bool = False
    seeded: bool = False


#: Every built-in model, in report order.
MODEL_SPECS = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "IPCA", _ipca, (1, 2, 3, 4, 5, 6), (1, 2, 3), cost=(1.5e-7, 1.6e-5),
            is_net=False, always_search=True,
        ),
        ModelSpec(
            "NeurIF", _neurif, (3,), (3,),
            {"window": 12, "max_epochs": 12, "patience": 3},
            {"window": 6, "max_epochs": 3, "patience": 1}, cost=(2.5e-6, 4.4e-4),
            seeded=True,
        ),
        ModelSpec(
            "CA2", _ca2, (1, 3, 5), (2,), {"max_epochs": 30, "patience": 5},
            {"max_epochs": 5, "patience": 2}, cost=(3.6e-7, 1.8e-4),
        ),
        # Transformer: not measured in a full run; twice NeurIF's costs (the
        # ratio of their former per-row constants).
        ModelSpec(
            "Transformer", _transformer, (), (),
            {"window": 12, "max_epochs": 8, "patience": 2},
            {"window": 6, "max_epochs": 3, "patience": 1}, cost=(5.0e-6, 8.8e-4),
        ),
    )
}  # fmt: skip

#: Every model the study can run, in report order.
MODEL_NAMES = tuple(MODEL_SPECS)


@dataclass(frozen=True)
class StudyModel:
    """A model of the study ready to run.

    Attributes
    ----------
    name : str
        Its label in every table.
    estimator : estimator
        Unfitted; cloned for each refit (a search chooses inside each).
    grid : tuple of int
        K tried per refit (empty: no K reported).
    params : dict
        Its parameters as reported in the protocol.
    cost : callable
        ``cost(n_train_rows, n_train_months)`` -> expected seconds of one
        refit (every fit of its search, seeds included).
    builtin : bool
        One of :data:`MODEL_NAMES` (False: a user's estimator).
    validates : bool
        The refit's validation window applies (see :func:`validates_on_periods`).
    """

    name: str
    estimator: object
    grid: tuple
    params: dict
    cost: Callable
    builtin: bool = True
    validates: bool = True


def builtin_model(
    spec, grid, params, seeds, seed, *, k_rule="total_r2", k_sensitivity=True
) -> StudyModel:
    """The :class:`StudyModel` of a built-in model with its grid and parameters.

    ``k_rule`` and ``k_sensitivity`` go to :func:`build_estimator`.
    """
    epochs = params.get("max_epochs", 1)
    fits = 1 if (not spec.always_search and len(grid) <= 1) else len(grid) + 1
    if k_sensitivity and len(grid) > 1:
        fits = 2 * len(grid)  # every K refitted on the whole window

    def cost(n_rows, n_months):
        per_row, per_month = spec.cost
        per_fit = (per_row * n_rows + per_month * n_months) * (
            epochs if spec.is_net else 1
        )
        return fits * per_fit * (seeds if spec.seeded else 1) + 0.5

    estimator = build_estimator(
        spec.name, grid, params, seeds, seed, k_rule=k_rule,
        k_sensitivity=k_sensitivity,
    )  # fmt: skip
    return StudyModel(spec.name, estimator, grid, params, cost)


def build_estimator(
    model, grid, params, seeds, seed, *, k_rule="total_r2", k_sensitivity=True
):
    """The estimator of one built-in model: a search over K when the grid has several.

    Parameters
    ----------
    model : str
        One of :data:`MODEL_NAMES`.
    grid : tuple of int
        Its numbers of factors (empty: no K).
    params : dict
        Its fit parameters.
    seeds, seed : int
        Seeds averaged per refit (a seeded model), and the ensemble's seed.
    k_rule : {"total_r2", "predictive_r2"}, default="total_r2"
        The search's scorer on the validation window (:data:`K_RULES`).
    k_sensitivity : bool, default=True
        With several K, a :class:`KGridSearchCV` (every K refitted on the
        whole window, for the sensitivity line) instead of ``GridSearchCV``.

    Returns
    -------
    estimator
        Unfitted.
    """
    from .. import SeedEnsembleRegressor

    spec = MODEL_SPECS[model]
    base = spec.make(params)
    if not grid:
        return base  # no factors: no K
    key = "n_factors"
    if spec.seeded and seeds > 1:
        base = SeedEnsembleRegressor(base, n_estimators=seeds, random_state=seed)
        key = "estimator__n_factors"
    if spec.always_search or len(grid) > 1:
        search = KGridSearchCV if k_sensitivity and len(grid) > 1 else GridSearchCV
        scorer = K_RULES[check_k_rule(k_rule)][0]
        return search(base, {key: list(grid)}, scoring=scorer)
    return base.set_params(**{key: grid[0]})


def model_params(model, params, seed, device) -> dict:
    """A built-in model's fit parameters with the run's seed and device."""
    p = dict(params)
    if MODEL_SPECS[model].is_net:
        p.update(random_state=seed, device=device, verbose=0)
    return p


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


def check_estimators(estimators, models=()) -> dict:
    """A user's estimators, validated: an ordered dict name -> unfitted estimator.

    ``estimators`` is None, a mapping or a sequence of ``(name, estimator)``
    pairs (what ``--estimator`` collects). Names must be non-empty strings,
    unique, and distinct from the built-in models; each estimator must be an
    instance with ``fit`` and ``predict``. Everything
    :func:`~sklearn_neurif.model_selection.walk_forward_predict` would
    refuse (a search without ``refit``, a row-wise ``cv``...) is refused
    here, before any model trains.
    """
    from ..model_selection._walk_forward_checks import _check_estimator

    if estimators is None:
        return {}
    if isinstance(estimators, Mapping):
        pairs = list(estimators.items())
    elif isinstance(estimators, str) or not isinstance(estimators, Sequence):
        raise TypeError(
            "estimators must be a dict {name: estimator} or a list of (name, "
            f"estimator) pairs; got {type(estimators).__name__}."
        )
    else:
        pairs = list(estimators)
    out = {}
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise TypeError(f"estimators: {pair!r} is not a (name, estimator) pair.")
        name, est = pair
        _check_estimator_name(name, out, models)
        if isinstance(est, type) or not (
            hasattr(est, "fit") and hasattr(est, "predict")
        ):
            raise TypeError(
                f"estimators[{name!r}] must be an estimator instance with fit and "
                f"predict (e.g. Ridge(), not Ridge); got {est!r}."
            )
        _check_estimator(est, 12 if validates_on_periods(est) else None, False)
        out[name] = est
    return out


def _check_estimator_name(name, seen, models) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            f"estimators: a name must be a non-empty string; got {name!r}."
        )
    if name in MODEL_NAMES or name in models:
        raise ValueError(
            f"estimators: {name!r} is a built-in model's name ({', '.join(MODEL_NAMES)}); "
            "choose another name for your estimator."
        )
    if name in seen:
        raise ValueError(f"estimators: the name {name!r} is given twice.")


def validates_on_periods(estimator) -> bool:
    """Whether the refit's validation window applies to ``estimator``.

    True for a search (its ``cv`` becomes the validation window: it chooses
    inside each refit on the last months) and for the package's nets (early
    stopping on those months, also at the end of a Pipeline or in a seed
    ensemble). False otherwise: e.g. ``HistGradientBoostingRegressor`` has a
    ``validation_fraction`` too, but of random rows, and is left as it is.
    """
    from sklearn.model_selection._search import BaseSearchCV

    if isinstance(estimator, BaseSearchCV):
        return True
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    keys = [
        k for k in estimator.get_params(deep=True) if k.endswith("validation_fraction")
    ]
    return type(final).__module__.startswith("sklearn_neurif.") and bool(keys)


def user_model(name, estimator) -> StudyModel:
    """The :class:`StudyModel` of a user's estimator (no K grid)."""

    def cost(n_rows, n_months):  # unknown: a guess that only weights the bar
        return 1e-5 * n_rows + 1e-3 * n_months + 1.0

    return StudyModel(
        name,
        estimator,
        (),
        {"estimator": repr(estimator)},
        cost,
        builtin=False,
        validates=validates_on_periods(estimator),
    )


def estimator_from_spec(text: str):
    """``NAME=module:callable`` -> ``(NAME, callable())`` (the CLI's ``--estimator``).

    The module is imported (the current folder first on the path, so a
    ``my_models.py`` next to the command works); ``callable`` may be dotted
    (``module:Class.factory``) and must return an unfitted estimator.

    Raises
    ------
    ValueError
        Naming what could not be read, imported, found or called.
    """
    import importlib
    import sys

    name, _, target = text.partition("=")
    module_name, _, attr = target.partition(":")
    if not (name.strip() and module_name.strip() and attr.strip()):
        raise ValueError(
            f"{text!r} is not NAME=module:callable (e.g. "
            "hgb=my_models:make_hgb, a function returning an unfitted estimator)."
        )
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        obj = importlib.import_module(module_name.strip())
    except ImportError as exc:
        raise ValueError(f"{text!r}: cannot import {module_name!r}: {exc}") from None
    finally:
        if added:
            sys.path.remove(cwd)
    for part in attr.strip().split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{text!r}: {module_name} has no {attr!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{text!r}: {attr} is not callable.")
    try:
        est = obj()
    except Exception as exc:  # the user's code: report, do not trace back
        raise ValueError(f"{text!r}: calling {attr}() failed: {exc!r}") from None
    return name.strip(), est
