"""Walk-forward (recursive out-of-sample) prediction for long panels."""

from __future__ import annotations

import copy
import numbers
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils.parallel import Parallel, delayed

from ..metrics import r2_predictive, r2_total, rmse
from ..metrics._scorers import resolve_final_step
from ..panel import check_panel_frame, check_panel_target, panel_index
from ._split import _check_int, _period_codes, _PeriodSplitter, _rows_of

__all__ = ["WalkForwardResult", "WalkForwardSplit", "walk_forward_predict"]


class WalkForwardSplit(_PeriodSplitter):
    """Refit schedule of a walk-forward evaluation over the periods of a panel.

    The test periods run from ``test_start`` to the last period of the
    panel, cut into consecutive blocks of ``refit_every`` periods (the last
    block may be shorter). Block ``k`` is predicted by a model trained on the
    periods before it, less ``gap`` periods of embargo: all of them
    (expanding window) or the last ``window`` (rolling window). With
    ``validation_periods`` the last periods of each training window form its
    validation window (used to choose hyperparameters or to stop training
    early, see :func:`walk_forward_predict`); they stay part of the training
    window.

    Parameters
    ----------
    test_start : period label
        First test period: the first period of the panel at or after this
        label (e.g. ``pd.Period("2011-01", "M")``, ``"2011-01"`` for a
        monthly ``PeriodIndex``, or an integer for integer periods).
    refit_every : int, default=12
        Number of periods predicted by each refit.
    window : "expanding" or int, default="expanding"
        ``"expanding"`` trains on every earlier period; an integer on at
        most that many periods ending at the training end (rolling).
    gap : int, default=0
        Periods left out between the training end and the test block.
    validation_periods : int, default=None
        Length of the validation window at the end of each training window;
        None for none. It must leave at least one period before it.

    See Also
    --------
    walk_forward_predict : Fit and predict on this schedule.
    PanelTimeSeriesSplit : Equal test blocks ending at the last period.

    Notes
    -----
    **As-of timing.** Row ``(i, t)`` holds characteristics known at the end
    of ``t`` and the return over ``t+1``. With ``gap=0`` the last training
    label of a block starting at ``t0`` is the return over ``t0``, known at
    the end of ``t0`` when the first prediction of the block is made: no
    look-ahead. Use ``gap = h - 1`` for ``h``-period returns.

    The splits are not a partition of the rows (the periods before
    ``test_start`` are never tested), so the schedule works with
    ``cross_validate`` but not with ``cross_val_predict``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_neurif.model_selection import WalkForwardSplit
    >>> idx = pd.MultiIndex.from_product([["a", "b"], range(10)],
    ...                                  names=["entity", "time"])
    >>> X = pd.DataFrame({"z": np.arange(20.0)}, index=idx)
    >>> cv = WalkForwardSplit(test_start=5, refit_every=2, validation_periods=2)
    >>> table = cv.split_periods(X)
    >>> table[["train_end", "validation_start", "test_start", "test_end"]].values.tolist()
    [[4, 3, 5, 6], [6, 5, 7, 8], [8, 7, 9, 9]]
    """

    __metadata_request__split = {"groups": True}
    _split_label = "refit"
    _has_validation = True

    def __init__(
        self,
        test_start,
        *,
        refit_every=12,
        window="expanding",
        gap=0,
        validation_periods=None,
    ):
        self.test_start = test_start
        self.refit_every = refit_every
        self.window = window
        self.gap = gap
        self.validation_periods = validation_periods

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of refits for the periods of ``X``.

        Parameters
        ----------
        X : DataFrame or array-like
            The panel (the count depends on its periods).
        y : object
            Ignored.
        groups : array-like, default=None
            Period of each row, for data without a MultiIndex.

        Returns
        -------
        int
        """
        if X is None:
            raise ValueError(
                "WalkForwardSplit needs X to count its refits (they depend on "
                "the panel's periods)."
            )
        _, periods = _period_codes(X, groups)
        return len(self._period_windows(periods))

    def _period_windows(self, periods: pd.Index) -> list[tuple[int, ...]]:
        """``(train_first, train_stop, val_first, test_first, test_stop)`` positions."""
        refit_every, gap, window, n_val = self._check_params()
        first_test = self._first_test(periods)
        n_periods = len(periods)
        windows = []
        for test_first in range(first_test, n_periods, refit_every):
            stop = test_first - gap
            first = 0 if window is None else max(0, stop - window)
            if stop - first - n_val < 1:
                raise ValueError(
                    f"Too few periods before the test block starting at "
                    f"{periods[test_first]!r}: {max(stop - first, 0)} training "
                    f"period(s) after gap={gap}, and validation_periods={n_val} must "
                    "leave at least one. Move test_start later or shorten the "
                    "validation window."
                )
            test_stop = min(test_first + refit_every, n_periods)
            windows.append((first, stop, stop - n_val, test_first, test_stop))
        return windows

    def _first_test(self, periods: pd.Index) -> int:
        try:
            first = int(periods.searchsorted(self.test_start))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"test_start={self.test_start!r} cannot be compared with the panel's "
                f"periods ({periods.dtype}, {periods[0]!r} to {periods[-1]!r})."
            ) from exc
        if first >= len(periods):
            raise ValueError(
                f"test_start={self.test_start!r} is after the last period "
                f"{periods[-1]!r}: there is nothing to test."
            )
        return first

    def _check_params(self):
        refit_every = _check_int(self.refit_every, "refit_every", minimum=1)
        gap = _check_int(self.gap, "gap", minimum=0)
        window = self.window
        if isinstance(window, str) and window == "expanding":
            window = None
        elif isinstance(window, numbers.Integral) and not isinstance(window, bool):
            window = _check_int(window, "window", minimum=1)
        else:
            raise ValueError(
                f"window must be 'expanding' or a positive integer (a rolling "
                f"window of that many periods); got {window!r}."
            )
        n_val = self.validation_periods
        n_val = (
            0 if n_val is None else _check_int(n_val, "validation_periods", minimum=1)
        )
        return refit_every, gap, window, n_val


@dataclass(frozen=True, repr=False)
class WalkForwardResult:
    """Out-of-sample predictions of a walk-forward evaluation.

    Attributes
    ----------
    predictions : Series
        One prediction per input row, on ``X``'s index; NaN outside the test
        periods.
    fitted : Series
        Total-fit values :math:`\\alpha_{i,t} + \\beta_{i,t}'\\hat f_{t+1}`
        with the realised factors of the row's test period (for factor
        models; NaN elsewhere and for models without ``get_factors``).
    factors : DataFrame
        Realised factors of each test period (rows, labelled by the as-of
        period ``t``; the factors are realised over ``t+1``), from the model
        of the refit that predicts that period. Columns ``factor_1..K`` up
        to the largest ``K`` chosen; the factors of different refits are not
        comparable (each refit has its own rotation and signs).
    refits : DataFrame
        One row per refit: the periods of
        :meth:`WalkForwardSplit.split_periods`, ``n_train_rows``,
        ``n_test_rows``, ``fit_time`` and ``predict_time`` (seconds, the
        latter with the realised factors), ``best_params`` and
        ``best_score`` (for searches; None otherwise), and the uncentred
        ``R2_predictive`` and ``R2_total`` of the refit's test block (NaN
        where undefined), to spot a refit that went wrong.
    y : Series
        The returns the predictions are scored against (``y`` as passed).
    estimators : list or None
        The fitted estimator of each refit, with ``return_estimators=True``.
    """

    predictions: pd.Series
    fitted: pd.Series
    factors: pd.DataFrame
    refits: pd.DataFrame
    y: pd.Series
    estimators: list | None = None

    @property
    def test_mask(self) -> np.ndarray:
        """Boolean mask of the rows in a test period."""
        times = self.predictions.index.get_level_values(-1)
        return np.asarray(times.isin(self.test_periods))

    @property
    def test_periods(self) -> pd.Index:
        """The test periods, sorted."""
        return self.factors.index

    def summary(self) -> pd.DataFrame:
        """Pooled out-of-sample statistics over every test row, as a one-row table.

        Returns
        -------
        DataFrame
            ``n_refits``, ``n_test_periods``, ``n_test_rows``, ``R2_total``
            (NaN without realised factors), ``R2_predictive`` and ``RMSE``
            (uncentred R-squared, rows with a missing return left out),
            ``fit_time`` (seconds, summed over refits).
        """
        mask = self.test_mask
        y = self.y.to_numpy(dtype=np.float64, na_value=np.nan)[mask]
        pred = self.predictions.to_numpy()[mask]
        fitted = self.fitted.to_numpy()[mask]
        has_total = not np.isnan(fitted).all()
        return pd.DataFrame(
            {
                "n_refits": [len(self.refits)],
                "n_test_periods": [len(self.test_periods)],
                "n_test_rows": [int(mask.sum())],
                "R2_total": [r2_total(y, fitted) if has_total else np.nan],
                "R2_predictive": [r2_predictive(y, pred)],
                "RMSE": [rmse(y, pred)],
                "fit_time": [float(self.refits["fit_time"].sum())],
            },
            index=["walk-forward"],
        )

    def __repr__(self) -> str:
        return (
            f"WalkForwardResult(n_refits={len(self.refits)}, "
            f"test_periods={len(self.test_periods)}, "
            f"test_rows={int(self.test_mask.sum())})"
        )


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
        for training, a search with ``refit=False`` or with a row-wise
        ``cv`` (None or an int: K-fold mixes periods) and no
        ``validation_periods``, ``validation_periods`` for an estimator
        that cannot use it, ``warm_start`` for a search or for an estimator
        without ``warm_start``.
    TypeError
        If ``estimator`` has no ``fit``/``predict``.

    See Also
    --------
    WalkForwardSplit : The schedule alone (also usable in ``cross_validate``).
    sklearn_neurif.inference.diebold_mariano : Compare two walk-forward runs.

    Notes
    -----
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
    y = _check_data(X, y)
    codes, periods = _period_codes(X, None)
    windows = schedule._period_windows(periods)
    _check_estimator(estimator, validation_periods, warm_start)
    # A generator: joblib dispatches lazily (pre_dispatch), so only the
    # slices of the refits in flight are in memory, not one per refit.
    tasks = (_refit_data(X, y, codes, periods, w) for w in windows)
    if warm_start:
        outputs = _run_warm(estimator, tasks, return_estimators)
    else:
        outputs = Parallel(n_jobs=n_jobs, verbose=verbose)(
            delayed(_fit_predict)(clone(estimator), *task, keep=return_estimators)
            for task in tasks
        )
    return _assemble(
        schedule, X, y, codes, periods, windows, outputs, return_estimators
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
        if warm_start:
            raise ValueError(
                f"warm_start=True cannot apply to a {kind}: it clones its estimator "
                "for every candidate, so no fit carries over between refits."
            )
        return
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        raise TypeError(f"estimator must have fit and predict; {kind} does not.")
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


def _refit_data(X, y, codes, periods, window):
    """Inputs of one refit: training rows; gap + test rows to predict."""
    first, stop, val_first, test_first, test_stop = window
    train = _rows_of(codes, first, stop)
    # The gap periods are predicted too (and dropped): they give window models
    # the history that follows their training end.
    pred = _rows_of(codes, stop, test_stop)
    is_test = codes[pred] >= test_first
    return (
        X.iloc[train],
        y.iloc[train],
        X.iloc[pred],
        y.iloc[pred],
        is_test,
        stop - val_first,
        periods[test_first:test_stop],
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


def _realised(estimator, X, y):
    """Realised factors and total-fit values of a fitted factor model, or None."""
    model = getattr(estimator, "best_estimator_", estimator)
    final, Xt = resolve_final_step(model, X)
    if not (hasattr(final, "get_factors") and hasattr(final, "predict_total")):
        return None, None
    return final.get_factors(Xt, y), np.asarray(final.predict_total(Xt, y), float)


def _fit_predict(
    estimator, X_train, y_train, X_pred, y_pred, is_test, n_val, test_periods, *, keep
):
    """Fit one refit, predict its block; everything the result needs."""
    _set_validation(estimator, X_train, y_train, n_val)
    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    pred = np.asarray(estimator.predict(X_pred), dtype=np.float64).ravel()
    factors, fitted = _realised(estimator, X_pred, y_pred)
    return {
        "pred": pred[is_test],
        "fitted": None if fitted is None else fitted[is_test],
        "factors": None if factors is None else factors.loc[test_periods],
        "fit_time": fit_time,
        "predict_time": time.perf_counter() - start,
        "best_params": getattr(estimator, "best_params_", None),
        "best_score": getattr(estimator, "best_score_", None),
        "estimator": estimator if keep else None,
    }


def _run_warm(estimator, tasks, return_estimators):
    current = clone(estimator)
    current.set_params(**{k: True for k in _param_keys(current, "warm_start")})
    outputs = []
    for task in tasks:
        out = _fit_predict(current, *task, keep=True)
        # The next refit continues from this fit; a copy keeps this one intact.
        current = copy.deepcopy(out["estimator"]) if return_estimators else current
        if not return_estimators:
            out["estimator"] = None
        outputs.append(out)
    return outputs


def _block_r2(metric, y, values, rows) -> float:
    """A metric on one refit's test rows; NaN without returns or values."""
    y, values = y[rows], values[rows]
    if np.isnan(y).all() or np.isnan(values).any():
        return np.nan
    return metric(y, values)


def _assemble(schedule, X, y, codes, periods, windows, outputs, return_estimators):
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
    refits = schedule.split_periods(X)
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
