"""Walk-forward (recursive out-of-sample) prediction for long panels.

:func:`walk_forward_predict` runs the refits of a :class:`WalkForwardSplit`
schedule (``_walk_forward_split``), its inputs checked first
(``_walk_forward_checks``), and returns a :class:`WalkForwardResult`
(``_walk_forward_result``).
"""

from __future__ import annotations

import copy
import time
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils.parallel import Parallel, delayed

from ..metrics import r2_predictive, r2_total
from ..metrics._scorers import resolve_final_step
from ._split import _period_codes, _rows_of, _window_row
from ._walk_forward_checks import (
    _check_data,
    _check_estimator,
    _param_keys,
    _warn_schedule,
    check_n_jobs,
)
from ._walk_forward_result import WalkForwardRefit, WalkForwardResult
from ._walk_forward_split import WalkForwardSplit

__all__ = ["walk_forward_predict"]


def walk_forward_predict(
    estimator,
    X,
    y,
    *,
    test_start,
    refit_every=12,
    window="expanding",
    gap=0,
    validation_periods=None,
    warm_start=False,
    n_jobs=None,
    verbose=0,
    return_estimators=False,
    on_refit=None,
) -> WalkForwardResult:
    """Predict every test period with a model fitted only on earlier periods.

    The schedule is :class:`WalkForwardSplit`: from ``test_start`` on, a
    refit every ``refit_every`` periods on an expanding (or rolling) window
    of earlier periods, each refit predicting its block of test periods
    (Gu, Kelly and Xiu 2020). Hyperparameters are chosen inside each refit
    when ``estimator`` is a search (``GridSearchCV``, ...) or chooses them
    itself (a ``*CV`` estimator); the test periods never enter that choice.

    Parameters
    ----------
    estimator : estimator
        A regressor, a Pipeline ending with one, or a search over either
        (``refit=True``). It is cloned for each refit.
    X : DataFrame of shape (n_rows, n_characteristics)
        Characteristics panel with an ``(entity, time)`` MultiIndex.
    y : Series of shape (n_rows,)
        Next-period returns on ``X``'s index (NaN allowed, masked).
    test_start : period label
        First test period (see :class:`WalkForwardSplit`).
    refit_every : int, default=12
        Test periods per refit.
    window : "expanding" or int, default="expanding"
        Expanding training window, or a rolling window of that many periods.
    gap : int, default=0
        Periods between the training end and the test block (embargo).
    validation_periods : int, default=None
        Validation window at the end of each training window. For a search
        it replaces the search's ``cv`` by one split: train on the earlier
        periods, validate on these; the best candidate is then refitted on
        the whole window (``refit=True``). For an estimator with a
        ``validation_fraction`` parameter (NeurIF, CA, the transformer, also
        as the last step of a Pipeline) it sets the fraction so that
        early stopping watches exactly these periods. None leaves the
        estimator as it is.
    warm_start : bool, default=False
        Start each refit from the fit of the previous one (sets every
        ``warm_start`` parameter to True). Refits then run one after the
        other, whatever ``n_jobs``.
    n_jobs : int, default=None
        Refits run in parallel through joblib (``None`` means 1 unless in a
        ``joblib.parallel_backend`` context, e.g. dask).
    verbose : int, default=0
        joblib's verbosity.
    return_estimators : bool, default=False
        Keep the fitted estimator of every refit in the result.
    on_refit : callable, default=None
        Called in the calling process with a :class:`WalkForwardRefit` as
        each refit finishes, in schedule order (with ``n_jobs`` > 1, as the
        results arrive): the refit's periods, fitted estimator (also when
        ``return_estimators=False``), test-block predictions and fit time.
        Use it for progress reporting, logging or saving each refit as it
        completes; its return value is ignored.

    Returns
    -------
    WalkForwardResult
        Predictions (one per row), total-fit values, realised factors of
        the test periods, the per-refit table; ``summary()`` gives the
        pooled out-of-sample R-squared.

    Raises
    ------
    ValueError
        Before any fit: a malformed panel or ``y``, a schedule without room
        for training, a ``test_start`` that is not a label of the panel's
        periods, a search with ``refit=False`` or with a row-wise ``cv``
        (None, an int or a splitter such as ``KFold`` or
        ``TimeSeriesSplit``: they mix periods) and no ``validation_periods``,
        an estimator whose own ``cv`` is a row-wise splitter,
        ``validation_periods`` for an estimator that cannot use it,
        ``warm_start`` for a search or for an estimator without
        ``warm_start``, an invalid ``n_jobs``. An error raised inside a
        refit is re-raised with the refit's number and periods in its
        message (the refits before it were passed to ``on_refit``).
    TypeError
        If ``estimator`` has no ``fit``/``predict``, or ``warm_start`` is not
        a bool.

    Warns
    -----
    PanelDataWarning
        If months are missing between the first and last period of a monthly
        panel (a window then spans the hole), or a validation window leaves
        a single training period before it.

    See Also
    --------
    WalkForwardSplit : The schedule alone (also usable in ``cross_validate``).
    sklearn_neurif.inference.diebold_mariano : Compare two walk-forward runs.

    Notes
    -----
    Rows whose return is missing stay in the training rows of the
    package's models (masked; the window models' history) and are left out
    of those of any other estimator (scikit-learn's regressors refuse NaN
    targets). A test block whose returns are all missing (the last as-of month of a
    panel built by :func:`~sklearn_neurif.panel.align_next_period_returns`)
    is predicted but not scored: it has no realised factors and no R².

    **Warnings of the refits.** A warning raised inside a refit (in this
    process or in a worker) is recorded, each distinct message once per
    refit, and issued again in the calling process when the refit's result
    arrives, in schedule order, so the caller's warning filters apply
    whatever ``n_jobs``; they are also in :attr:`WalkForwardRefit.warnings`.

    **Why not** ``cross_val_predict``: it needs every row in exactly one
    test fold (the periods before ``test_start`` never are), it predicts
    with ``predict`` only (no realised factors, which need the test returns
    ``y`` of the period), and it keeps no record of the refits.

    **As-of timing.** Each refit sees only rows of its training window.
    Predictions of a block use the characteristics of the block (and of the
    ``gap`` periods before it, as history for window models): prediction of
    period ``t`` must not depend on characteristics after ``t``, which holds
    for the package's models. The realised factors of test period ``t``
    come from the model's ``get_factors(X_t, y_t)``, a cross-sectional
    regression of the returns over ``t+1`` on the loadings known at ``t``:
    the out-of-sample total R-squared of Kelly, Pruitt and Su (2019).

    Examples
    --------
    >>> from sklearn_neurif import IPCARegressor
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> from sklearn_neurif.model_selection import walk_forward_predict
    >>> data = make_conditional_factor_panel(50, 36, 4, 2, random_state=0)
    >>> res = walk_forward_predict(IPCARegressor(2), data.X, data.y,
    ...                            test_start=24, refit_every=6)
    >>> res.refits[["train_end", "test_start", "test_end"]].values.tolist()
    [[23, 24, 29], [29, 30, 35]]
    >>> int(res.predictions.notna().sum()), len(res.factors)
    (600, 12)
    """
    schedule = WalkForwardSplit(
        test_start,
        refit_every=refit_every,
        window=window,
        gap=gap,
        validation_periods=validation_periods,
    )
    check_n_jobs(n_jobs)
    if not isinstance(warm_start, bool | np.bool_):
        raise TypeError(f"warm_start must be True or False; got {warm_start!r}.")
    if on_refit is not None and not callable(on_refit):
        raise TypeError(f"on_refit must be None or a callable; got {on_refit!r}.")
    y = _check_data(X, y)
    codes, periods = _period_codes(X, None)
    windows = schedule._period_windows(periods)
    _check_estimator(estimator, validation_periods, warm_start)
    _warn_schedule(periods, windows)
    table = pd.DataFrame([_window_row(periods, *w, True) for w in windows]).rename_axis(
        "refit"
    )
    # A generator: joblib dispatches lazily (pre_dispatch), so only the
    # slices of the refits in flight are in memory, not one per refit.
    tasks = (
        _refit_data(X, y, codes, periods, w, _refit_label(i, table))
        for i, w in enumerate(windows)
    )
    if warm_start:
        keep = return_estimators or on_refit is not None
        results = _run_warm(estimator, tasks, keep)
    else:
        results = Parallel(n_jobs=n_jobs, verbose=verbose, return_as="generator")(
            delayed(_fit_predict)(clone(estimator), task) for task in tasks
        )
    outputs = []
    for i, out in enumerate(results):
        _reissue(out["warnings"])
        if on_refit is not None:
            on_refit(_refit_record(i, table, X, codes, windows[i], out))
        outputs.append(out if return_estimators else {**out, "estimator": None})
    return _assemble(table, X, y, codes, periods, windows, outputs, return_estimators)


def _refit_label(i: int, table: pd.DataFrame) -> str:
    row = table.iloc[i]
    return (
        f"Walk-forward refit {i + 1}/{len(table)} (training {row.train_start} to "
        f"{row.train_end}, test {row.test_start} to {row.test_end})"
    )


def _refit_record(i, table, X, codes, window, out) -> WalkForwardRefit:
    rows = _rows_of(codes, window[3], window[4])
    index = X.index[rows]
    fitted = out["fitted"]
    return WalkForwardRefit(
        refit=i + 1,
        n_refits=len(table),
        periods=table.iloc[i],
        estimator=out["estimator"],
        predictions=pd.Series(out["pred"], index=index, name="prediction"),
        fitted=None if fitted is None else pd.Series(fitted, index=index),
        fit_time=out["fit_time"],
        warnings=out["warnings"],
    )


class _RefitTask(NamedTuple):
    """Inputs of one refit: training rows; gap + test rows to predict."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_pred: pd.DataFrame
    y_pred: pd.Series
    is_test: np.ndarray
    n_val: int
    test_periods: pd.Index
    label: str


def _refit_data(X, y, codes, periods, window, label) -> _RefitTask:
    """The :class:`_RefitTask` of one window of the schedule."""
    first, stop, val_first, test_first, test_stop = window
    train = _rows_of(codes, first, stop)
    # The gap periods are predicted too (and dropped): they give window models
    # the history that follows their training end.
    pred = _rows_of(codes, stop, test_stop)
    return _RefitTask(
        X.iloc[train],
        y.iloc[train],
        X.iloc[pred],
        y.iloc[pred],
        codes[pred] >= test_first,
        stop - val_first,
        periods[test_first:test_stop],
        label,
    )


def _set_validation(estimator, X_train, y_train, n_val: int) -> None:
    if n_val == 0:
        return
    if isinstance(estimator, BaseSearchCV):
        codes, periods = _period_codes(X_train, None)
        n = len(periods)
        split = (_rows_of(codes, 0, n - n_val), _rows_of(codes, n - n_val, n))
        estimator.set_params(cv=[split])
        return
    # The nets validate on the last floor(fraction * m) of their m training
    # periods with returns; the half period makes the floor land on n_val.
    time_pos, _ = _period_codes(X_train, None)
    has_return = np.unique(time_pos[~np.isnan(y_train.to_numpy(dtype=np.float64))])
    m = len(has_return)
    if m <= n_val:
        raise ValueError(
            f"validation_periods={n_val} leaves no training period with returns "
            f"(the window has {m} period(s) with returns)."
        )
    fraction = (n_val + 0.5) / m
    estimator.set_params(
        **{k: fraction for k in _param_keys(estimator, "validation_fraction")}
    )


def realised_outputs(estimator, X, y):
    """Realised factors and total-fit values of a fitted factor model, or None.

    None also for a block without any return (the panel's last as-of month):
    it has no realised factors, and is predicted but not scored. The study's
    sensitivity line scores its other K's with it too.
    """
    model = getattr(estimator, "best_estimator_", estimator)
    final, Xt = resolve_final_step(model, X)
    if not (hasattr(final, "get_factors") and hasattr(final, "predict_total")):
        return None, None
    if y.isna().all():
        return None, None
    return final.get_factors(Xt, y), np.asarray(final.predict_total(Xt, y), float)


def _fit_predict(estimator, task: _RefitTask):
    """:func:`_fit_predict_block` with the warnings it raised, each once.

    Recorded here, whatever the process, and re-issued by the caller in
    schedule order: a worker process's warnings otherwise go straight to
    its stderr, out of reach of the caller's filters.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _fit_predict_block(estimator, task)
    distinct = dict.fromkeys((w.category, str(w.message)) for w in caught)
    return {**out, "warnings": tuple(distinct)}


def _reissue(refit_warnings) -> None:
    """Issue a refit's recorded warnings in this process (from the caller's line)."""
    for category, message in refit_warnings:
        warnings.warn(message, category, stacklevel=3)


def _fit_predict_block(estimator, task: _RefitTask):
    """Fit one refit, predict its block; everything the result needs.

    An error is re-raised with the refit (number and periods) in its message.
    """
    X_train, y_train = task.X_train, task.y_train
    if not _takes_missing_returns(estimator):
        # scikit-learn's regressors refuse NaN targets; the package's models
        # mask them and keep the rows (window models' history).
        has_return = y_train.notna().to_numpy()
        X_train, y_train = X_train[has_return], y_train[has_return]
    try:
        _set_validation(estimator, X_train, y_train, task.n_val)
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        pred = np.asarray(estimator.predict(task.X_pred), dtype=np.float64).ravel()
        factors, fitted = realised_outputs(estimator, task.X_pred, task.y_pred)
    except Exception as exc:
        named = _named_error(exc, task.label)
        if named is exc:
            raise
        raise named from exc
    is_test = task.is_test
    return {
        "pred": pred[is_test],
        "fitted": None if fitted is None else fitted[is_test],
        "factors": None if factors is None else factors.loc[task.test_periods],
        "fit_time": fit_time,
        "predict_time": time.perf_counter() - start,
        "best_params": getattr(estimator, "best_params_", None),
        "best_score": getattr(estimator, "best_score_", None),
        "estimator": estimator,
    }


def _takes_missing_returns(estimator) -> bool:
    """Whether the model that fits is one of the package's (NaN returns masked).

    Unwraps searches, Pipelines and meta-estimators (``estimator`` attribute)
    down to the final regressor.
    """
    seen = 0
    while seen < 10:  # searches, ensembles, Pipelines nest a few levels at most
        seen += 1
        if hasattr(estimator, "steps"):
            estimator = estimator.steps[-1][1]
        elif getattr(estimator, "estimator", None) is not None:
            estimator = estimator.estimator
        else:
            break
    return type(estimator).__module__.startswith("sklearn_neurif.")


def _named_error(exc: Exception, label: str) -> Exception:
    """``exc`` of the same type with the refit's label leading its message."""
    try:
        named = type(exc)(f"{label}: {exc}")
    except Exception:  # a type with another constructor: a note instead
        named = None
    if named is None or not str(named).startswith(label):
        exc.add_note(label)
        return exc
    return named


def _run_warm(estimator, tasks, keep: bool):
    """Refits one after the other, each continuing from the previous fit."""
    current = clone(estimator)
    current.set_params(**{k: True for k in _param_keys(current, "warm_start")})
    for task in tasks:
        out = _fit_predict(current, task)
        # The next refit continues from this fit; a copy keeps this one intact
        # when the caller keeps it (return_estimators, on_refit).
        current = copy.deepcopy(out["estimator"]) if keep else current
        yield out


def _block_r2(metric, y, values, rows) -> float:
    """A metric on one refit's test rows; NaN without returns or values."""
    y, values = y[rows], values[rows]
    if np.isnan(y).all() or np.isnan(values).any():
        return np.nan
    return metric(y, values)


def _assemble(table, X, y, codes, periods, windows, outputs, return_estimators):
    n = len(codes)
    pred, fitted = np.full(n, np.nan), np.full(n, np.nan)
    frames, test_rows_all = [], []
    for (_, _, _, test_first, test_stop), out in zip(windows, outputs, strict=True):
        rows = _rows_of(codes, test_first, test_stop)
        test_rows_all.append(len(rows))
        pred[rows] = out["pred"]
        if out["fitted"] is not None:
            fitted[rows] = out["fitted"]
            frames.append(out["factors"])
    test_periods = periods[windows[0][3] :]
    factors = (
        pd.concat(frames).reindex(test_periods)
        if frames
        else pd.DataFrame(index=test_periods)
    )
    refits = table.copy()
    refits["n_train_rows"] = [
        int(((codes >= a) & (codes < b)).sum()) for a, b, *_ in windows
    ]
    refits["n_test_rows"] = test_rows_all
    for key in ("fit_time", "predict_time", "best_params", "best_score"):
        refits[key] = [out[key] for out in outputs]
    y_values = y.to_numpy(dtype=np.float64, na_value=np.nan)
    blocks = [_rows_of(codes, w[3], w[4]) for w in windows]
    refits["R2_predictive"] = [
        _block_r2(r2_predictive, y_values, pred, b) for b in blocks
    ]
    refits["R2_total"] = [_block_r2(r2_total, y_values, fitted, b) for b in blocks]
    return WalkForwardResult(
        predictions=pd.Series(pred, index=X.index, name="prediction"),
        fitted=pd.Series(fitted, index=X.index, name="fitted"),
        factors=factors.rename_axis("time"),
        refits=refits,
        y=y,
        estimators=[out["estimator"] for out in outputs] if return_estimators else None,
    )
