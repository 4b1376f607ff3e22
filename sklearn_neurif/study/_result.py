"""What the study measured: :class:`StudyResult`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._sensitivity import empty_k_sensitivity
from ._tables import WEIGHTING_LABELS

__all__ = ["StudyResult"]


@dataclass(frozen=True, eq=False)
class StudyResult:
    """Everything the study measured; numbers as attributes.

    Weightings are labelled ``"equal"`` and ``"value"`` in every table and
    key (the report prints them as EW and VW).

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
        on the validation window, the validation score of every K under the
        run's K rule (``validation_r2``: total or predictive R² as
        ``config["k_rule"]`` says, a dict; None without a search), fit time
        (``k_refit_time``: the part of it spent refitting every other K for
        the sensitivity line; NaN without it), the refit's test R², and
        ``warnings``: the distinct warnings the refit raised
        (``"Category: message"``), which the study sums up in one warning
        per model and in the report instead of repeating them per refit.
    test : dict
        Out-of-sample metrics per model on the common test months
        (``n_obs``: stock-months with a return; ``n_periods``: months).
    r2_intervals : DataFrame
        Pooled total and predictive R² with 95% Newey-West (delta-method)
        confidence intervals, one row per model
        (:attr:`~sklearn_neurif.evaluation.FactorModelEvaluation.r2_intervals`).
    diebold_mariano : DataFrame
        One row per model pair: Diebold-Mariano statistic and p-value on the
        monthly cross-sectional mean squared errors (Newey-West variance).
    sorts : DataFrame
        Long-short statistics per model and weighting, gross and net of costs.
    deciles : DataFrame
        Mean return of each decile of the sorts on predicted returns.
    long_short_returns : dict
        ``(model, weighting)`` -> DataFrame of long-short returns (as-of labels).
    alphas : DataFrame
        Alphas of the long-short portfolios against each factor set
        (``n_periods``: months in the regression).
    anomaly : dict
        Name -> anomaly-test summary DataFrame (factor sets side by side).
    attribution : dict
        Model -> characteristics x factors DataFrame (last refit).
    market : Series or None
        Market excess return by month earned (for the figures).
    timings : dict
        Seconds per step and in total.
    evaluations : dict
        Model -> :class:`~sklearn_neurif.evaluation.FactorModelEvaluation` of its
        walk-forward predictions on the test months (per-month series
        included): the source of ``test``, ``sorts``, ``deciles`` and
        ``long_short_returns``.
    predictions : DataFrame
        One column per model: its walk-forward prediction of every row of
        the panel (NaN outside the test months).
    ipca_tests : dict
        Kelly-Pruitt-Su bootstrap tests of IPCA on the last refit's training
        window (:func:`~sklearn_neurif.study._kps.ipca_tests`): ``skipped``
        (None or the reason), ``n_boot``, ``window`` (first/last as-of month,
        months, K, refit), ``alpha`` (:math:`W_\\alpha`: ``stat``, ``pvalue``,
        ``n_boot``) and ``instruments`` (:math:`W_{\\beta,l}` per
        characteristic, the constant included).
    k_sensitivity : DataFrame
        The sensitivity line: one row per ``(model, K)`` of every built-in
        model that selects K (several in its grid), the headline's figures
        had that K been used in every refit, over the same test months:
        ``r2_total``, ``r2_predictive``, ``ic_mean``, ``ic_nw_t`` (as in
        ``test``) and ``n_refits_chosen`` (refits whose search chose it).
        Each K is fitted on each whole training window as the search's
        refit would have fitted it; a K chosen in every refit has exactly
        the headline's figures. Empty when no model selects K or
        ``StudySettings.k_sensitivity`` is off.
    """

    config: dict
    data_info: dict
    split: dict
    refits: pd.DataFrame
    test: dict
    r2_intervals: pd.DataFrame
    diebold_mariano: pd.DataFrame
    sorts: pd.DataFrame
    deciles: pd.DataFrame
    long_short_returns: dict
    alphas: pd.DataFrame
    anomaly: dict
    attribution: dict
    market: pd.Series | None
    timings: dict
    evaluations: dict = field(default_factory=dict)
    predictions: pd.DataFrame | None = None
    ipca_tests: dict = field(default_factory=dict)
    k_sensitivity: pd.DataFrame = field(default_factory=empty_k_sensitivity)

    @property
    def models(self) -> list:
        """The models compared, in report order."""
        return list(self.config["models"])

    @property
    def label(self) -> str:
        """``" (quick run)"`` for ``--quick`` results, else empty."""
        return " (quick run)" if self.config.get("quick") else ""

    @property
    def monthly(self) -> dict:
        """Every monthly series: per model errors, R², IC; long-short returns."""
        out = {}
        for model, ev in self.evaluations.items():
            cols = ["n_rows", "mse", "r2_total", "r2_predictive", "rank_ic"]
            out[model] = ev.monthly[cols]
        for (model, w), frame in self.long_short_returns.items():
            out[f"long-short {model} {w}"] = frame
        return out

    def summary(self) -> pd.DataFrame:
        """The headline figures: one row per model, one column per statistic.

        Every model on the same test months: K chosen per refit, total and
        predictive R², the DM p-value against IPCA, RMSE, rank IC, long-short
        statistics equal- and value-weighted (columns labelled EW/VW), net
        Sharpe ratios and the FF5 (else last factor set's) alpha.
        """
        main = "value" if "value" in set(self.sorts.weighting) else "equal"
        rows = {}
        for model in self.models:
            m = self.test[model]
            row = {
                "K (per refit)": _k_range(self.refits, model),
                "total R2": m["r2_total"],
                "predictive R2": m["r2_predictive"],
                "DM p vs IPCA": self._dm_p(model),
                "RMSE": m["rmse"],
                "rank IC mean": m["ic_mean"],
                "rank IC NW t": m["ic_nw_t"],
            }
            for w in dict.fromkeys(("equal", main)):
                tag = WEIGHTING_LABELS[w]
                for stat, name in (("mean", "mean"), ("tstat", "NW t")):
                    row[f"LS {name} {tag}"] = self._ls(model, w, stat)
                row[f"LS Sharpe {tag}"] = self._ls(model, w, "sharpe")
            tag = WEIGHTING_LABELS[main]
            row[f"LS turnover {tag}"] = self._ls(model, main, "turnover")
            for bp in self.config["costs_bp"]:
                row[f"LS Sharpe {tag} net {bp:g} bp"] = self._ls(
                    model, main, f"sharpe_net_{bp:g}bp"
                )
            name, alpha, t = self._alpha(model, main)
            row[f"{name} alpha {tag} (monthly)"] = alpha
            row[f"{name} alpha {tag} t"] = t
            rows[model] = row
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")

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

    def to_dict(self) -> dict:
        """Every number as plain JSON-ready Python objects."""
        dm = self.diebold_mariano
        refits = self.refits.astype({"best_params": str}).assign(
            validation_r2=[
                None if v is None else {str(k): x for k, x in v.items()}
                for v in self.refits.validation_r2
            ]
        )
        differentials = {
            f"DM differential {r.model_1} vs {r.model_2}": r.differential
            for r in dm.itertuples(index=False)
        }
        return _jsonable(
            {
                "models": self.models,
                "n_test_months": int(self.split["test"]["n_periods_with_return"]),
                "quick": bool(self.config.get("quick")),
                "config": self.config,
                "data": self.data_info,
                "split": self.split,
                "headline": self.summary().T,
                "test": self.test,
                "r2_intervals": self.r2_intervals,
                "diebold_mariano": {
                    f"{r.model_1} vs {r.model_2}": r._asdict()
                    for r in dm.drop(columns="differential").itertuples(index=False)
                },
                "refits": refits,
                "sorts": self.sorts,
                "deciles": self.deciles,
                "alphas": self.alphas,
                "anomaly": self.anomaly,
                "attribution": self.attribution,
                "ipca_tests": self.ipca_tests,
                "k_sensitivity": {
                    model: frame.droplevel("model")
                    for model, frame in self.k_sensitivity.groupby(
                        level="model", sort=False
                    )
                },
                "monthly": {**self.monthly, **differentials},
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
