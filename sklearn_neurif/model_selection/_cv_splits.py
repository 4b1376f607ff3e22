"""Checked ``cv`` splits of whole months for the CV meta-estimators.

Shared by :class:`~sklearn_neurif.neurif.NeurIFRegressorCV` and
:class:`~sklearn_neurif.ipca.IPCARegressorCV`: both choose a penalty on
validation months, so a split must keep each month's cross-section on one
side (a row-wise splitter would score on the months it trained on).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd

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
