"""The refit schedule of a walk-forward evaluation: :class:`WalkForwardSplit`."""

from __future__ import annotations

import numbers

import pandas as pd

from .._params import set_init_params
from ..panel import to_monthly_periods
from ._split import _check_int, _period_codes, _PeriodSplitter

__all__ = ["WalkForwardSplit"]


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
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> from sklearn_neurif.model_selection import WalkForwardSplit
    >>> X = make_conditional_factor_panel(2, 10, 1, 1, random_state=0).X  # periods 0..9
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
        set_init_params(self, locals())

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
        start = _as_period_label(self.test_start, periods)
        try:
            first = int(periods.searchsorted(start))
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


def _as_period_label(test_start, periods: pd.Index):
    """``test_start`` as a label of the panel's periods, or a clear error.

    Monthly panels (``YYYYMM`` integer labels are read as months) take a
    Period, a ``YYYYMM`` integer, a month string or a date; integer periods
    take an integer only: numpy would compare a string with them silently.
    """
    if isinstance(test_start, bool):
        raise ValueError(f"test_start must be a period label; got {test_start!r}.")
    if isinstance(periods, pd.PeriodIndex):
        if isinstance(test_start, pd.Period):
            return test_start
        try:
            if periods.freqstr.startswith("M"):
                return to_monthly_periods([test_start])[0]
            return pd.Period(test_start, freq=periods.freq)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"test_start={test_start!r} cannot be read as a period of the "
                f"panel ({periods.dtype}, {periods[0]} to {periods[-1]})."
            ) from exc
    if pd.api.types.is_integer_dtype(periods.dtype) and not isinstance(
        test_start, numbers.Integral
    ):
        raise ValueError(
            f"test_start={test_start!r} is not an integer, but the panel's periods "
            f"are integers ({periods[0]} to {periods[-1]}): pass the integer "
            "label of the first test period."
        )
    return test_start
