"""Checks of :func:`walk_forward_predict`'s inputs, all before any refit trains."""

from __future__ import annotations

import numbers
import warnings

import pandas as pd
from sklearn.model_selection._search import BaseSearchCV

from ..panel import PanelDataWarning, check_panel_frame, check_panel_target, panel_index
from ._period_wise import check_period_wise_cv

__all__ = ["check_n_jobs"]  # also the study's check of its n_jobs


def check_n_jobs(n_jobs) -> None:
    """None or a non-zero integer (joblib's -1 = every CPU), not a bool."""
    if n_jobs is None:
        return
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(
            f"n_jobs must be None or a non-zero integer (-1: every CPU); got "
            f"{n_jobs!r} ({type(n_jobs).__name__})."
        )
    if n_jobs == 0:
        raise ValueError(
            "n_jobs=0 runs nothing: pass None or 1 (one refit at a time), k > 1 "
            "(k refits in parallel) or -1 (every CPU)."
        )


def _warn_schedule(periods: pd.Index, windows) -> None:
    """Warn about holes in a monthly panel and one-period training windows."""
    if isinstance(periods, pd.PeriodIndex) and len(periods) > 1:
        full = pd.period_range(periods[0], periods[-1], freq=periods.freq)
        missing = full.difference(periods)
        if len(missing):
            shown = ", ".join(map(str, missing[:5])) + (
                ", ..." if len(missing) > 5 else ""
            )
            warnings.warn(
                f"{len(missing)} period(s) between {periods[0]} and {periods[-1]} "
                f"are absent from the panel ({shown}): training windows and "
                "window models' history span the hole as if the periods were "
                "consecutive.",
                PanelDataWarning,
                stacklevel=3,
            )
    single = [w for w in windows if w[2] < w[1] and w[2] - w[0] == 1]
    if single:
        first, stop, val_first, test_first, _ = single[0]
        warnings.warn(
            f"validation_periods={stop - val_first} leaves one training period "
            f"({periods[first]}) before the validation window of the refit "
            f"testing from {periods[test_first]} ({len(single)} refit(s) so): the "
            "model trains on a single period. Shorten the validation window or "
            "move test_start later.",
            PanelDataWarning,
            stacklevel=3,
        )


def _check_data(X, y) -> pd.Series:
    # NaN characteristics are allowed: a Pipeline may impute them.
    check_panel_frame(X, allow_nan=True)
    index = panel_index(X)
    # check_panel_target matches y to X's rows by index; the rows are then
    # cut by position, so y must be in X's order from here on.
    values = check_panel_target(y, index)
    name = y.name if isinstance(y, pd.Series) else "y"
    return pd.Series(values, index=X.index, name=name)


def _param_keys(estimator, name: str) -> list[str]:
    """Parameter names ``name`` or ``<step>__name`` of an estimator (deep)."""
    return [
        k
        for k in estimator.get_params(deep=True)
        if k == name or k.endswith(f"__{name}")
    ]


def _check_estimator(estimator, validation_periods, warm_start) -> None:
    kind = type(estimator).__name__
    # Searches first: without refit they have no predict (available_if).
    if isinstance(estimator, BaseSearchCV):
        if not estimator.refit:
            raise ValueError(
                f"The {kind} needs refit=True: each walk-forward refit predicts "
                "with the best candidate refitted on its training window."
            )
        cv = estimator.cv
        if validation_periods is None and (
            cv is None or isinstance(cv, numbers.Integral)
        ):
            raise ValueError(
                f"The {kind} has cv={cv!r}, a K-fold over rows that mixes periods "
                "(look-ahead inside each refit). Pass validation_periods=... or "
                "cv=PanelTimeSeriesSplit(...)."
            )
        if validation_periods is None:  # (validation_periods replaces the cv)
            check_period_wise_cv(cv, f"The {kind}")
        if warm_start:
            raise ValueError(
                f"warm_start=True cannot apply to a {kind}: it clones its estimator "
                "for every candidate, so no fit carries over between refits."
            )
        return
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        raise TypeError(f"estimator must have fit and predict; {kind} does not.")
    if hasattr(estimator, "get_params"):
        # A *CV estimator (or a Pipeline step) choosing with a row-wise splitter.
        for key in _param_keys(estimator, "cv"):
            check_period_wise_cv(estimator.get_params()[key], f"{kind} ({key})")
    if validation_periods is not None and not _param_keys(
        estimator, "validation_fraction"
    ):
        raise ValueError(
            f"validation_periods={validation_periods} has no use for {kind}: it is "
            "neither a search (GridSearchCV, ...) nor has a validation_fraction "
            "parameter. Pass validation_periods=None."
        )
    if warm_start and not _param_keys(estimator, "warm_start"):
        raise ValueError(
            f"warm_start=True needs an estimator with a warm_start parameter; "
            f"{kind} has none."
        )
