"""The checked inputs of a penalty path chosen on validation months.

Shared by :class:`~sklearn_neurif.neurif.NeurIFRegressorCV` and
:class:`~sklearn_neurif.ipca.IPCARegressorCV`: the penalties of the path,
the ``cv`` splits (whole months on each side: a row-wise splitter would
score on the months it trained on) and the scores and ranks of
``cv_results_``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..panel import panel_index
from ._split import PanelTimeSeriesSplit


def check_period_splits(cv, X, y):
    """Row positions ``(train, validation)`` of each split of ``cv``, checked.

    Parameters
    ----------
    cv : int, splitter or iterable
        An int means ``PanelTimeSeriesSplit(n_splits=cv)``; a splitter with
        ``split(X, y)`` or an iterable of ``(train_rows, validation_rows)``.
        scikit-learn's own splitters split rows, not months, and are refused.
    X : DataFrame or ndarray
        The panel the positions index.
    y : Series or ndarray
        Passed to ``cv.split``.

    Returns
    -------
    list of (ndarray, ndarray)
    """
    if isinstance(cv, Integral):
        cv = PanelTimeSeriesSplit(n_splits=int(cv))
    module = type(cv).__module__
    if module.startswith("sklearn.model_selection"):
        raise ValueError(
            f"cv={cv!r} splits rows, not months: its folds put rows of one month "
            "on both sides (the penalty would be scored on the months it trained on). Use "
            "sklearn_neurif.model_selection.PanelTimeSeriesSplit or an iterable of "
            "(train_rows, validation_rows) whose months do not overlap."
        )
    split = getattr(cv, "split", None)
    splits = list(split(X, y) if split is not None else cv)
    if not splits:
        raise ValueError(f"cv={cv!r} yielded no split: nothing to score penalties on.")
    time_pos = pd.factorize(panel_index(X).get_level_values(-1))[0]
    for k, pair in enumerate(splits):
        _check_split(k, pair, time_pos, len(time_pos))
    return [(np.asarray(a), np.asarray(b)) for a, b in splits]


def _check_split(k, pair, time_pos, n_rows):
    try:
        fit_rows, val_rows = (np.asarray(rows) for rows in pair)
    except (TypeError, ValueError):
        raise ValueError(
            f"cv split {k} is not a (train_rows, validation_rows) pair."
        ) from None
    for name, rows in (("training", fit_rows), ("validation", val_rows)):
        if rows.ndim != 1 or rows.size == 0 or rows.dtype.kind not in "iu":
            raise ValueError(
                f"cv split {k}: the {name} rows must be a non-empty 1-d array of "
                f"integer row positions; got dtype {rows.dtype}, shape {rows.shape}."
            )
        if rows.min() < 0 or rows.max() >= n_rows:
            raise ValueError(
                f"cv split {k}: {name} row positions outside X's {n_rows} rows."
            )
    shared = np.intersect1d(time_pos[fit_rows], time_pos[val_rows])
    if shared.size:
        raise ValueError(
            f"cv split {k} puts rows of {shared.size} month(s) in both the training "
            "and the validation rows: a row-wise split (KFold, TimeSeriesSplit...) "
            "mixes each month's cross-section. Split by months, e.g. with "
            "PanelTimeSeriesSplit."
        )


def check_penalty_path(values, name, default) -> np.ndarray:
    """The path's penalties, unique and largest first; refused before training.

    Parameters
    ----------
    values : sequence of float or None
        The penalties; None means ``default``.
    name : str
        The parameter's name, for the messages.
    default : sequence of float

    Returns
    -------
    ndarray of float
    """
    if values is None:
        return np.unique(np.asarray(default, dtype=float))[::-1]
    what = (
        f"{name} must be a flat sequence of finite non-negative numbers; got {values!r}"
    )
    if isinstance(values, (dict, set, str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{what} (a {type(values).__name__}).")
    values = list(values)
    for value in values:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
            raise TypeError(f"{what}: {value!r} is not a number.")
    values = np.asarray(values, dtype=float)
    if values.size == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"{what}.")
    return np.unique(values)[::-1]


def rank_test_scores(means) -> np.ndarray:
    """``rank_test_score`` as scikit-learn's searches: 1 best, NaN last."""
    means = np.asarray(means, dtype=float)
    if np.isnan(means).all():
        return np.ones(len(means), dtype=np.int32)
    filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    return rankdata(-filled, method="min").astype(np.int32)


def score_results(scores) -> dict:
    """The score entries of ``cv_results_`` in scikit-learn's keys.

    Parameters
    ----------
    scores : ndarray of shape (n_candidates, n_splits)
        Validation score of each candidate on each split (NaN: not scored).

    Returns
    -------
    dict
        ``split<k>_test_score``, ``mean_test_score``, ``std_test_score`` and
        ``rank_test_score``.
    """
    results = {f"split{k}_test_score": scores[:, k] for k in range(scores.shape[1])}
    means = scores.mean(axis=1)
    results["mean_test_score"] = means
    results["std_test_score"] = scores.std(axis=1)
    results["rank_test_score"] = rank_test_scores(means)
    return results
