"""Scale and unit checks: characteristics, returns and predictions.

The models expect characteristics ranked into [-1, 1] each period and
returns in decimals; values far from those scales are warned about (or
refused where no unit could mean them), and so are predictions that no
return model could mean.
"""

from __future__ import annotations

import numpy as np

from .._warnings import warn_at_caller

__all__ = [
    "PanelDataWarning",
    "check_characteristic_scale",
    "check_predictions",
    "check_return_units",
    "return_rms",
]

#: Characteristics whose largest absolute value exceeds this get a warning:
#: the models are tuned for ranks in [-1, 1] (``CrossSectionalRankScaler``).
UNSCALED_MAX_ABS = 1e3

#: Characteristics beyond this are refused: no scale of a characteristic
#: means 1e15 (market capitalisation in dollars is about 1e12), and squares
#: of such values lose every digit of the others in float32 and float64 sums.
REFUSED_MAX_ABS = 1e15

#: Predictions beyond this many times the training returns' root mean square
#: are refused by every model's ``predict`` (:func:`check_predictions`).
PREDICTION_BOUND = 10.0

#: Returns whose median absolute value exceeds this look like percent
#: (a median monthly return of 50% in decimals is implausible).
PERCENT_MEDIAN_ABS = 0.5


class PanelDataWarning(UserWarning):
    """Data the package accepts but that is probably not what the user meant.

    Raised for characteristics far from the scale the models expect and for
    returns that look like percent.
    """


def check_return_units(values, what: str = "returns") -> None:
    """Warn when returns look like percent rather than decimals.

    Parameters
    ----------
    values : array-like
        Returns; NaN is ignored.
    what : str, default="returns"
        Name used in the message.

    Warns
    -----
    PanelDataWarning
        If the median absolute return exceeds ``PERCENT_MEDIAN_ABS`` (0.5):
        a typical monthly return of 50% means the data are in percent.
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size and float(np.median(np.abs(arr))) > PERCENT_MEDIAN_ABS:
        warn_at_caller(
            f"{what}: the returns look like percent, the median absolute return is "
            f"{float(np.median(np.abs(arr))):.3g} (above {PERCENT_MEDIAN_ABS}). The "
            "package works in decimals (0.01 is one percent); divide by 100, e.g. "
            "with sklearn_neurif.panel.to_decimal_returns(y, 'percent').",
            PanelDataWarning,
        )


def check_characteristic_scale(
    Z, feature_names=None, *, max_abs: float = REFUSED_MAX_ABS, reason: str = ""
) -> None:
    """Warn about characteristics far from the scale the models expect.

    The models are built for characteristics ranked into [-1, 1] each period
    (``CrossSectionalRankScaler``); raw values such as a market
    capitalisation in dollars make IPCA's moment matrices ill-conditioned
    and overflow the nets' float32 arithmetic.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, n_characteristics)
        Validated characteristics (NaN ignored).
    feature_names : sequence of str, optional
        Column names for the message (``x0, x1, ...`` by default).
    max_abs : float, default=REFUSED_MAX_ABS
        Columns whose largest absolute value exceeds this are refused. The
        panel nets pass ``UNSCALED_MAX_ABS``: they cannot train on such
        values (see docs/validation.md), where IPCA only warns.
    reason : str, default=""
        Why, appended to the message.

    Warns
    -----
    PanelDataWarning
        If a column's largest absolute value exceeds ``UNSCALED_MAX_ABS``
        (1e3).

    Raises
    ------
    ValueError
        If a column's largest absolute value exceeds ``max_abs`` (by
        default ``REFUSED_MAX_ABS``, 1e15: no characteristic scale means
        that, and fitting would fail or give NaN after training had started).
    """
    Z = np.asarray(Z)
    if Z.ndim != 2 or Z.size == 0:
        return
    # fmax/fmin skip NaN and allocate no copy of Z (CRSP scale: 3M x 94).
    largest = np.fmax(np.fmax.reduce(Z, axis=0), -np.fmin.reduce(Z, axis=0))
    if feature_names is None:
        feature_names = [f"x{j}" for j in range(Z.shape[1])]
    names = [str(n) for n in feature_names]
    # Infinite cells are left to the finiteness checks, which name them.
    largest = np.where(np.isinf(largest), np.nan, largest)
    refused = {n: float(v) for n, v in zip(names, largest, strict=True) if v > max_abs}
    if refused:
        why = reason or "no characteristic means that (a unit or data error?)"
        raise ValueError(
            f"Characteristic column(s) {_short(refused)} hold values beyond "
            f"{max_abs:.0e} in absolute value; {why}. Scale them first, e.g. with "
            "sklearn_neurif.preprocessing.CrossSectionalRankScaler."
        )
    far = {
        n: float(v) for n, v in zip(names, largest, strict=True) if v > UNSCALED_MAX_ABS
    }
    if far:
        warn_at_caller(
            f"Characteristic column(s) {_short(far)} are far from the scale the "
            f"models expect (largest absolute value above {UNSCALED_MAX_ABS:.0e}); "
            "rank them into [-1, 1] each period with "
            "sklearn_neurif.preprocessing.CrossSectionalRankScaler before fitting.",
            PanelDataWarning,
        )


def check_predictions(pred, return_rms: float = np.inf) -> np.ndarray:
    r"""Refuse predictions that no return model could mean.

    Every return model's ``predict`` ends here. Conditional means vary less
    than the returns themselves (:math:`\operatorname{Var} E[r|z] \le
    \operatorname{Var} r`), so a prediction that is not finite, or beyond
    ``PREDICTION_BOUND`` (10) times the root mean square of the training
    returns, means characteristics on another scale than in ``fit`` (or a
    degenerate fit), not an expected return.

    Parameters
    ----------
    pred : ndarray of shape (n_rows,)
        Predictions.
    return_rms : float, default=inf
        Root mean square of the training returns (``inf``: only non-finite
        predictions are refused, e.g. for a model pickled before it was kept).

    Returns
    -------
    ndarray
        ``pred``, unchanged.

    Raises
    ------
    ValueError
        Naming the count, the largest prediction and its row.
    """
    pred = np.asarray(pred)
    bad = ~(np.abs(pred) <= PREDICTION_BOUND * return_rms)
    if bad.any():
        worst = int(np.argmax(np.where(np.isnan(pred), np.inf, np.abs(pred))))
        what = (
            "are not finite"
            if np.isinf(return_rms)
            else f"are not finite or exceed {PREDICTION_BOUND:g} times the root "
            f"mean square of the training returns ({return_rms:.3g})"
        )
        raise ValueError(
            f"{int(bad.sum())} of {len(pred)} prediction(s) {what}; the largest "
            f"is {pred[worst]:.3g} (row {worst}). No expected return is that far "
            "from the returns: are the characteristics scaled as in fit (e.g. "
            "with CrossSectionalRankScaler)?"
        )
    return pred


def return_rms(r) -> float:
    """Root mean square of the observed (non-NaN) returns, for :func:`check_predictions`."""
    r = np.asarray(r, dtype=np.float64)
    r = r[~np.isnan(r)]
    return float(np.sqrt(np.mean(r**2))) if r.size else np.inf


def _short(columns: dict, limit: int = 8) -> str:
    items = [f"{k} (max |x| {v:.3g})" for k, v in list(columns.items())[:limit]]
    more = f" and {len(columns) - limit} more" if len(columns) > limit else ""
    return "[" + ", ".join(items) + "]" + more
