"""Is a cross-validation object period-wise? (refuse row-wise CV on panels).

A panel's rows are (entity, month) pairs. A row-wise splitter of
scikit-learn (``KFold``, ``ShuffleSplit``, ``TimeSeriesSplit``, ...) cuts the
rows without looking at their month: the months of its training and test
folds interleave, so a model is validated on months before those it was
trained on (look-ahead), and ``TimeSeriesSplit`` cuts one month in two. On a
panel only splitters over periods are valid: the package's
:class:`~sklearn_neurif.model_selection.PanelTimeSeriesSplit` and
:class:`~sklearn_neurif.model_selection.WalkForwardSplit`, or an explicit
list of ``(train, test)`` row positions (the caller's responsibility).
"""

from __future__ import annotations

import numbers

from ._split import _PeriodSplitter

__all__ = ["check_period_wise_cv", "is_period_wise_splitter"]


def is_period_wise_splitter(cv) -> bool:
    """Whether ``cv`` splits a panel by periods (never a month in two folds).

    True for the package's period splitters and for an explicit iterable of
    ``(train, test)`` positions; False for None, an integer (scikit-learn's
    K-fold over rows) and any other splitter object (it has ``split``).
    """
    if isinstance(cv, _PeriodSplitter):
        return True
    if cv is None or isinstance(cv, numbers.Integral) or hasattr(cv, "split"):
        return False
    return hasattr(cv, "__iter__")


def check_period_wise_cv(cv, owner: str) -> None:
    """Refuse a row-wise splitter object with a message naming ``owner``.

    None and integers are left to the caller (each owner has its own rule
    for them); explicit ``(train, test)`` iterables pass.

    Raises
    ------
    ValueError
        If ``cv`` is a splitter object that is not period-wise.
    """
    if cv is None or isinstance(cv, numbers.Integral) or is_period_wise_splitter(cv):
        return
    raise ValueError(
        f"{owner} has cv={cv!r}, a row-wise splitter: on a panel its folds mix "
        "months (a model validated on months before its training months). Use "
        "cv=PanelTimeSeriesSplit(...), which splits by periods, or explicit "
        "(train, test) row positions."
    )
