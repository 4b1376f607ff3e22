"""Out-of-sample evaluation of a fitted return model on a test panel.

One function, :func:`evaluate_factor_model`, computes every figure the
study, the benchmarks and the examples report for a model on the same test
months (total and predictive R-squared, RMSE, MAE, rank IC, decile
long-short portfolios) from the package's metric functions and
:class:`~sklearn_neurif.portfolio.PortfolioSorter`, and returns them in one
:class:`FactorModelEvaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..inference import monthly_r2, newey_west_lags, newey_west_mean
from ..inference._spanning import _hac_fit
from ..metrics import RankICResult, mae, r2_predictive, r2_total, rank_ic, rmse
from ..metrics._scorers import resolve_final_step
from ..panel import check_panel_target, is_panel, panel_index
from ..portfolio import FactorSortResult, PortfolioSorter
from ..portfolio._sorter import LS, _loading_columns, _row_values
from ..portfolio._sorter import _check_params as _check_sort_params

__all__ = ["FactorModelEvaluation", "evaluate_factor_model"]

_LS_STATS = ("mean", "tstat", "sharpe", "turnover", "n_periods")


@dataclass(frozen=True, repr=False, eq=False)
class FactorModelEvaluation:
    """Out-of-sample statistics of a fitted return model on one test panel.

    Every figure is computed on the rows of the evaluated panel; returns
    that are NaN are left out of every statistic.

    Attributes
    ----------
    name : str
        Label of the model (default: the final estimator's class name).
    r2_total : float
        Uncentred total R-squared of the fitted values with the realised
        factors of the same months (:func:`r2_total` of
        ``predict_total(X, y)``); NaN for a model without factors.
    r2_predictive : float
        Uncentred predictive R-squared of ``predict(X)``.
    rmse, mae : float
        Root mean squared and mean absolute error of ``predict(X)``.
    rank_ic : RankICResult
        Monthly Spearman rank IC of ``predict(X)`` with its statistics.
    ic_nw_tstat : float
        Newey-West t-statistic of the mean rank IC (``ic_nw_lags`` lags).
    ic_nw_lags : int
        Lags of that t-statistic.
    sorts : dict of str -> FactorSortResult
        ``"equal"`` (and ``"value"`` when weights were given), the
        weightings of :class:`PortfolioSorter`: quantile sorts on
        the predicted return (key ``"predicted"``) and, with
        ``sort_loadings=True``, on each loading ``loading_1..K``.
    monthly : DataFrame
        One row per as-of month with a return: ``n_rows``, ``sum_sq``
        (:math:`\\sum_i r^2`, the R-squared denominator), ``sse_total`` and
        ``sse_predictive`` (the numerators), the month's ``r2_total`` and
        ``r2_predictive`` (:func:`~sklearn_neurif.inference.monthly_r2`),
        ``mse``, and ``rank_ic`` (NaN in a month the IC skips). Pooled
        R-squared = ``1 - sse.sum() / sum_sq.sum()``.
    n_rows : int
        Rows with a return.
    n_periods : int
        Months in the evaluated panel.
    notes : tuple of str
        What could not be computed and why.
    """

    name: str
    r2_total: float
    r2_predictive: float
    rmse: float
    mae: float
    rank_ic: RankICResult
    ic_nw_tstat: float
    ic_nw_lags: int
    sorts: dict
    monthly: pd.DataFrame
    n_rows: int
    n_periods: int
    notes: tuple = ()

    @property
    def ic_mean(self) -> float:
        """Mean monthly rank IC."""
        return self.rank_ic.mean

    @property
    def ic_tstat(self) -> float:
        """t-statistic of the mean rank IC, ``mean / (std / sqrt(T))``."""
        return self.rank_ic.tstat

    @property
    def long_short(self) -> pd.DataFrame:
        """Long-short (top minus bottom) statistics of the sort on ``predict``.

        One row per weighting (``equal``, ``value``); columns ``mean``, ``tstat``
        (Newey-West), ``sharpe`` (annualised), ``turnover``, ``n_periods``.
        """
        rows = {
            w: s["predicted"].summary().loc[LS, list(_LS_STATS)]
            for w, s in self.sorts.items()
        }
        return pd.DataFrame(rows).T.astype({"n_periods": int}).rename_axis("weighting")

    @property
    def long_short_returns(self) -> pd.DataFrame:
        """Monthly long-short returns of the sort on ``predict`` (as-of labels).

        One column per weighting (``equal``, ``value``).
        """
        return pd.DataFrame(
            {w: s["predicted"].returns[LS] for w, s in self.sorts.items()}
        )

    @property
    def r2_intervals(self) -> pd.Series:
        """Pooled total and predictive R² with 95% Newey-West intervals.

        ``r2_total``, ``total_lo``, ``total_hi``, ``r2_predictive``,
        ``predictive_lo``, ``predictive_hi`` (R² ± 1.96 s.e.; NaN bounds with
        fewer than 3 months or an undefined R²). The pooled R² is
        :math:`1 - S/Q` with monthly sums :math:`s_t` (squared errors) and
        :math:`q_t` (squared returns) of :attr:`monthly`; its linearisation
        :math:`z_t = -(s_t - (1 - R^2) q_t) / \\bar q` (delta method) has a
        mean whose Newey-West standard error is that of R².
        """
        m, out = self.monthly, {}
        for kind, r2 in (("total", self.r2_total), ("predictive", self.r2_predictive)):
            s, q = m[f"sse_{kind}"].to_numpy(float), m["sum_sq"].to_numpy(float)
            lo = hi = np.nan
            if np.isfinite(r2) and len(s) >= 3:
                z = -(s - (1 - r2) * q) / q.mean()
                lags = newey_west_lags(len(z))
                se = float(_hac_fit(z, np.ones((len(z), 1)), lags).bse[0])
                lo, hi = r2 - 1.96 * se, r2 + 1.96 * se
            out.update({f"r2_{kind}": r2, f"{kind}_lo": lo, f"{kind}_hi": hi})
        return pd.Series(out, dtype=float)

    def summary(self) -> pd.DataFrame:
        """The headline statistics as a one-row table indexed by the model.

        One row per model, the statistics as columns (the package's rule
        for ``summary()``); tables of several models stack:
        ``pd.concat([a.summary(), b.summary()])``.
        """
        rows = {
            "total R2": self.r2_total,
            "predictive R2": self.r2_predictive,
            "RMSE": self.rmse,
            "MAE": self.mae,
            "rank IC mean": self.ic_mean,
            "rank IC t": self.ic_tstat,
            "rank IC NW t": self.ic_nw_tstat,
        }
        for w, stats in self.long_short.iterrows():
            for stat in ("mean", "tstat", "sharpe", "turnover"):
                rows[f"LS {stat} ({w})"] = float(stats[stat])
        rows.update({"n_rows": self.n_rows, "n_periods": self.n_periods})
        table = pd.DataFrame([rows], index=pd.Index([self.name], name="model"))
        return table.astype({"n_rows": int, "n_periods": int})

    def __repr__(self) -> str:
        sharpe = ", ".join(
            f"LS Sharpe {w}={s:.3f}" for w, s in self.long_short["sharpe"].items()
        )
        return (
            f"FactorModelEvaluation({self.name}: total R2={self.r2_total:.4f}, "
            f"predictive R2={self.r2_predictive:.4f}, RMSE={self.rmse:.5f}, "
            f"rank IC={self.ic_mean:.4f} (t={self.ic_tstat:.2f}), {sharpe}, "
            f"months={self.n_periods})"
        )


def _check_options(
    estimator, n_portfolios, sort_loadings, nw_lags, periods_per_year, name
):
    """Every option checked before the model runs (the sorts' checks included)."""
    if not callable(getattr(estimator, "predict", None)):
        raise TypeError(
            "estimator must be a fitted return model with predict (a factor model, a "
            f"Pipeline or a fitted search ending with one); got {type(estimator).__name__}."
        )
    _check_sort_params(n_portfolios, "top-bottom", None, nw_lags, periods_per_year)
    if not isinstance(sort_loadings, bool):
        raise TypeError(f"sort_loadings must be True or False; got {sort_loadings!r}.")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a string; got {type(name).__name__}.")


def _model_outputs(estimator, X, y, sort_loadings):
    """``predict``, ``predict_total`` (or None) and the loading signals."""
    final, Xt = resolve_final_step(estimator, X)
    pred = np.asarray(final.predict(Xt), dtype=np.float64).reshape(-1)
    notes = []
    if hasattr(final, "predict_total"):
        total = np.asarray(final.predict_total(Xt, y), dtype=np.float64).reshape(-1)
    else:
        total = None
        notes.append(
            f"{type(final).__name__} has no realised factors (no predict_total): "
            "the total R2 is undefined (NaN)."
        )
    signals = {"predicted": pred}
    if sort_loadings:
        if not (hasattr(final, "transform") and hasattr(final, "n_factors")):
            raise TypeError(
                f"sort_loadings=True needs a factor model with loadings; "
                f"{type(final).__name__} has no transform/n_factors."
            )
        loadings, names = _loading_columns(final.transform(Xt), final.n_factors)
        signals.update({n: loadings[:, j] for j, n in enumerate(names)})
    return final, pred, total, signals, notes


def accuracy(y, pred, total, nw_lags=None) -> dict:
    """The accuracy figures of :func:`evaluate_factor_model`, from its inputs.

    The one definition the evaluation and the study's sensitivity line
    share, so that equal predictions give equal figures to the last bit.

    Parameters
    ----------
    y : Series
        Float returns on the panel's rows.
    pred, total : ndarray
        Predictions and total fits in ``y``'s row order; ``total`` None
        when the model has none.
    nw_lags : int, optional
        Newey-West lags of the rank IC's t-statistic (None: the default rule).

    Returns
    -------
    dict
        ``r2_total`` (NaN without ``total``), ``r2_predictive``, ``rank_ic``
        (:class:`~sklearn_neurif.metrics.RankICResult`) and ``ic_nw`` (its
        Newey-West mean test).
    """
    ic = rank_ic(y, pred, y.index.get_level_values(-1))
    return {
        "r2_total": r2_total(y, total) if total is not None else float("nan"),
        "r2_predictive": r2_predictive(y, pred),
        "rank_ic": ic,
        "ic_nw": newey_west_mean(ic.series.to_numpy(), nw_lags),
    }


def _monthly(index, r, pred, total, ic: RankICResult) -> pd.DataFrame:
    """Per-month sums behind the pooled R-squared, and the month's figures."""
    keep = ~np.isnan(r)
    time_of = index.get_level_values(-1)[keep]
    # Sums, not means: the sums of several test windows pool into one R2.
    parts = {
        "n_rows": np.ones(keep.sum()),
        "sum_sq": r[keep] ** 2,
        "sse_total": (r - total)[keep] ** 2 if total is not None else np.nan,
        "sse_predictive": (r - pred)[keep] ** 2,
    }
    frame = (
        pd.DataFrame(parts, index=time_of).groupby(level=0, sort=True).sum(min_count=1)
    )
    frame["n_rows"] = frame["n_rows"].astype(int)
    y = pd.Series(r, index=index)
    frame["r2_total"] = np.nan if total is None else monthly_r2(y, total)
    frame["r2_predictive"] = monthly_r2(y, pred)
    frame["mse"] = frame["sse_predictive"] / frame["n_rows"]
    frame["rank_ic"] = ic.series.reindex(frame.index)
    return frame.rename_axis(index.names[-1])


def _sorts(index, y, signals, weights, n_portfolios, nw_lags, periods_per_year):
    """Quantile sorts on each signal, equal- and (with weights) value-weighted."""
    frame = pd.DataFrame(signals, index=index)
    by_weighting = {"equal": None}
    if weights is not None:
        by_weighting["value"] = "__weight"
    if weights is not None:
        frame["__weight"] = weights
    out = {}
    for label, column in by_weighting.items():
        results = {}
        for signal in signals:
            sorter = PortfolioSorter(
                n_portfolios,
                signal=signal,
                weights=column,
                nw_lags=nw_lags,
                periods_per_year=periods_per_year,
            )
            results[signal] = sorter.fit(frame, y).result_
        out[label] = FactorSortResult(results=results)
    return out


def evaluate_factor_model(
    estimator,
    X,
    y,
    *,
    weights=None,
    n_portfolios=10,
    sort_loadings=False,
    nw_lags=None,
    periods_per_year=12,
    name=None,
) -> FactorModelEvaluation:
    r"""Evaluate a fitted return model on a test panel: R², errors, IC, sorts.

    The figures the package reports for a model out of sample, each from
    the metric function that defines it:

    - total R² (:func:`r2_total` of ``predict_total(X, y)``, the fitted
      values with the realised factors of the evaluated months) and
      predictive R² (:func:`r2_predictive` of ``predict(X)``), both
      uncentred;
    - :func:`rmse` and :func:`mae` of ``predict(X)``;
    - the monthly rank IC (:func:`rank_ic`) with its t-statistic and a
      Newey-West t-statistic;
    - quantile sorts on ``predict(X)`` with
      :class:`~sklearn_neurif.portfolio.PortfolioSorter`, equal-weighted
      and, given ``weights``, value-weighted: long-short mean, Newey-West
      t-statistic, annualised Sharpe ratio, turnover;
    - the per-month series behind them (:attr:`FactorModelEvaluation.monthly`).

    Parameters
    ----------
    estimator : fitted estimator, Pipeline or search
        A factor model of the package (``predict``, ``predict_total``,
        ``transform``), a Pipeline ending with one, a fitted search
        (``GridSearchCV``, refitted) over one, whose ``best_estimator_`` is
        evaluated, a :class:`~sklearn_neurif.SeedEnsembleRegressor` of one,
        or any return model with
        ``predict`` (e.g. :class:`~sklearn_neurif.TransformerRegressor`):
        without ``predict_total`` the total R² is NaN and a note says so.
    X : DataFrame with an (entity, time) MultiIndex
        Characteristics known at ``t`` of the evaluated months.
    y : Series
        Excess returns over ``t+1`` with ``X``'s ``(entity, time)`` rows (in
        any order: paired by index); NaN returns are left out of every
        statistic.
    weights : Series on X's (entity, time) index, optional
        Value weights (market capitalisation at ``t``) for the value-weighted
        sorts, paired with ``X`` by index; default: equal-weighted sorts only.
    n_portfolios : int, default=10
        Quantile portfolios of the sorts (deciles).
    sort_loadings : bool, default=False
        Also sort on each loading ``loading_1..K`` of ``transform(X)``
        (factor models only).
    nw_lags : int, optional
        Newey-West lags of the long-short and IC t-statistics; default
        :math:`\lfloor 4 (T/100)^{2/9} \rfloor`.
    periods_per_year : int, default=12
        Annualisation of the Sharpe ratio.
    name : str, optional
        Label of the model in :meth:`FactorModelEvaluation.summary`;
        default: the final estimator's class name.

    Returns
    -------
    FactorModelEvaluation

    Raises
    ------
    TypeError
        If ``estimator`` has no ``predict`` (e.g. None), ``X`` is not a
        panel, or ``sort_loadings=True`` for a model without loadings.
    ValueError
        If ``y`` or ``weights`` are not aligned with ``X``, or the options
        are invalid (``n_portfolios`` below 2, ``nw_lags`` negative,
        ``periods_per_year`` below 1), all before the model is called.

    Examples
    --------
    >>> from sklearn_neurif import IPCARegressor, evaluate_factor_model
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> data = make_conditional_factor_panel(200, 40, 5, 2, factor_means=0.02,
    ...                                      random_state=0)
    >>> t = data.X.index.get_level_values("time")
    >>> model = IPCARegressor(n_factors=2).fit(data.X[t < 30], data.y[t < 30])
    >>> ev = evaluate_factor_model(model, data.X[t >= 30], data.y[t >= 30])
    >>> ev.r2_total > ev.r2_predictive
    True
    >>> ev.long_short.columns.tolist()
    ['mean', 'tstat', 'sharpe', 'turnover', 'n_periods']
    """
    _check_options(
        estimator, n_portfolios, sort_loadings, nw_lags, periods_per_year, name
    )
    if not is_panel(X):
        raise TypeError("X must be a DataFrame with an (entity, time) MultiIndex.")
    index = panel_index(X)
    r = check_panel_target(y, index)
    # Returns (and weights) are paired with X by index: from here on every
    # call gets them in X's row order, like the model's outputs.
    y = pd.Series(r, index=index, name=getattr(y, "name", None))
    w = _row_values(weights, index, "weights")
    final, pred, total, signals, notes = _model_outputs(estimator, X, y, sort_loadings)
    fit = accuracy(y, pred, total, nw_lags)
    ic, ic_nw = fit["rank_ic"], fit["ic_nw"]
    return FactorModelEvaluation(
        name=name or type(final).__name__,
        r2_total=fit["r2_total"],
        r2_predictive=fit["r2_predictive"],
        rmse=rmse(y, pred),
        mae=mae(y, pred),
        rank_ic=ic,
        ic_nw_tstat=ic_nw.stat,
        ic_nw_lags=ic_nw.nw_lags,
        sorts=_sorts(index, y, signals, w, n_portfolios, nw_lags, periods_per_year),
        monthly=_monthly(index, r, pred, total, ic),
        n_rows=int(np.isfinite(r).sum()),
        n_periods=int(index.get_level_values(-1).nunique()),
        notes=tuple(notes),
    )
