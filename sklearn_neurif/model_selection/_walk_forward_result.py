"""What a walk-forward evaluation returns: the whole run and each refit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..metrics import r2_predictive, r2_total, rmse
from ..panel import panel_index

__all__ = ["WalkForwardRefit", "WalkForwardResult"]


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
        # panel_index reads YYYYMM integer labels as months, as the schedule.
        times = panel_index(self.predictions).get_level_values(-1)
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


@dataclass(frozen=True, repr=False)
class WalkForwardRefit:
    """One finished refit of :func:`walk_forward_predict` (``on_refit``'s argument).

    Attributes
    ----------
    refit : int
        Number of the refit, from 1.
    n_refits : int
        Refits in the schedule.
    periods : Series
        The refit's row of :meth:`WalkForwardSplit.split_periods`
        (``train_start`` .. ``n_test_periods``).
    estimator : estimator
        The fitted estimator of this refit.
    predictions : Series
        Predictions of the refit's test rows (on their ``X`` index).
    fitted : Series or None
        Total-fit values of those rows (factor models; None otherwise or
        when the block has no return).
    fit_time : float
        Seconds spent in ``fit``.
    warnings : tuple of (type, str)
        Category and message of each distinct warning the refit raised (also
        issued again in the calling process).
    """

    refit: int
    n_refits: int
    periods: pd.Series
    estimator: object
    predictions: pd.Series
    fitted: pd.Series | None
    fit_time: float
    warnings: tuple = ()

    def __repr__(self) -> str:
        p = self.periods
        return (
            f"WalkForwardRefit({self.refit}/{self.n_refits}, train {p.train_start} "
            f"to {p.train_end}, test {p.test_start} to {p.test_end})"
        )
