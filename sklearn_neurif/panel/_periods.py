"""Monthly period labels and return units shared by loaders and tools.

External monthly files label months as ``YYYYMM`` integers, ``MM/YYYY``
strings or dates, and give returns in percent or decimals. The package works
on monthly :class:`pandas.Period` labels and decimal returns; these helpers do
the conversion explicitly (never by guessing silently).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["to_monthly_periods", "to_decimal_returns", "as_of_to_return_period"]

_YYYYMM = re.compile(r"^\s*(\d{4})(\d{2})\s*$")
_MM_YYYY = re.compile(r"^\s*(\d{1,2})/(\d{4})\s*$")


def to_monthly_periods(labels) -> pd.PeriodIndex:
    """Convert month labels to a monthly :class:`pandas.PeriodIndex`.

    Parameters
    ----------
    labels : array-like
        ``YYYYMM`` integers or strings (``199001``), ``MM/YYYY`` strings
        (``01/1990``), ISO dates or datetimes (any day of the month), or
        monthly Periods.

    Returns
    -------
    pandas.PeriodIndex
        Frequency ``"M"``.

    Raises
    ------
    ValueError
        If a label cannot be read as a month; the first offending label is
        named.

    Examples
    --------
    >>> to_monthly_periods([199001, "02/1990", "1990-03-31"]).astype(str).tolist()
    ['1990-01', '1990-02', '1990-03']
    """
    if isinstance(labels, pd.PeriodIndex):
        return labels.asfreq("M")
    if isinstance(labels, pd.DatetimeIndex):
        return labels.to_period("M")
    values = list(labels)
    out = []
    for value in values:
        out.append(_one_month(value))
    return pd.PeriodIndex(out, freq="M")


def _one_month(value) -> pd.Period:
    if isinstance(value, pd.Period):
        return value.asfreq("M")
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).to_period("M")
    if isinstance(value, int | np.integer):
        value = str(int(value))
    text = str(value)
    match = _YYYYMM.match(text)
    if match:
        year, month = int(match[1]), int(match[2])
    else:
        match = _MM_YYYY.match(text)
        if match:
            month, year = int(match[1]), int(match[2])
        else:
            try:
                return pd.Timestamp(text).to_period("M")
            except (ValueError, TypeError) as exc:
                raise ValueError(f"Cannot read {value!r} as a month.") from exc
    if not 1 <= month <= 12:
        raise ValueError(
            f"Cannot read {value!r} as a month: month {month} is out of range."
        )
    return pd.Period(year=year, month=month, freq="M")


def months_from_fields(year, month, *, source="the data") -> pd.PeriodIndex:
    """Monthly Periods from year and month columns, refusing invalid months.

    ``pandas.PeriodIndex.from_fields`` rolls month 13 over into the next
    January (a silently duplicated month); this refuses it instead.

    Parameters
    ----------
    year, month : array-like of int
        Calendar year and month (1-12) of each row.
    source : str, default="the data"
        Named in messages (e.g. the file path).

    Returns
    -------
    pandas.PeriodIndex of shape (n_rows,)
        The month of each row (frequency ``"M"``), in the input order.

    Raises
    ------
    ValueError
        If a year or month is missing, not an integer, or a month is outside
        1-12.
    """
    year = pd.to_numeric(pd.Series(np.asarray(year)), errors="coerce")
    month = pd.to_numeric(pd.Series(np.asarray(month)), errors="coerce")
    bad = year.isna() | month.isna() | (year % 1 != 0) | (month % 1 != 0)
    bad |= ~month.between(1, 12)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{source}: row {row} has year {year.iloc[row]:g} and month "
            f"{month.iloc[row]:g}; a month must be an integer in 1-12."
        )
    return pd.PeriodIndex.from_fields(
        year=year.to_numpy(dtype=np.int64),
        month=month.to_numpy(dtype=np.int64),
        freq="M",
    )


def to_decimal_returns(frame, units: str):
    """Convert returns to decimals from the stated units.

    Parameters
    ----------
    frame : DataFrame or Series
        Returns.
    units : {"percent", "decimal"}
        The units of ``frame``. Required: the package never guesses units.

    Returns
    -------
    DataFrame or Series
        A new object in decimals (``0.01`` is one percent).

    Raises
    ------
    ValueError
        If ``units`` is not one of the two choices.
    """
    if units == "percent":
        return frame / 100.0
    if units == "decimal":
        return frame.copy()
    raise ValueError(f"units must be 'percent' or 'decimal'; got {units!r}.")


def as_of_to_return_period(frame, periods: int = 1):
    """Relabel as-of-period outputs by the period their returns are earned.

    The package labels period outputs (realised factors ``factors_``,
    ``get_factors``, portfolio returns) by the as-of period ``t`` of the
    characteristics that formed them; the returns themselves are earned over
    ``t+1``. Factor files (Fama-French, q5) label a return by the month it
    is earned. Call this before joining the two.

    Parameters
    ----------
    frame : DataFrame or Series
        Indexed by monthly periods (or anything :func:`to_monthly_periods`
        reads).
    periods : int, default=1
        How many periods to move the labels forward.

    Returns
    -------
    DataFrame or Series
        A copy with the index moved forward by ``periods`` months.
    """
    out = frame.copy()
    out.index = to_monthly_periods(frame.index) + periods
    return out
