"""Anomaly long-short portfolio files and the Hou-Xue-Zhang q5 factors.

Readers of two public wide formats of anomaly portfolio returns
(Kozak-Nagel-Santosh "managed portfolios" files and Chen-Zimmermann
"PredictorLSretWide" files) and of the q5 factor file of global-q.org. All
return frames in decimals on a monthly ``PeriodIndex`` named ``"time"``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..panel import to_decimal_returns, to_monthly_periods
from ..panel._periods import months_from_fields
from ._home import find_file, get_data_home

__all__ = ["load_anomaly_portfolios", "load_q5_factors"]

_FORMATS = {"kns": "decimal", "chen-zimmermann": "percent"}
_KNS_MARKET = ("rme", "re_ew")
_DATE_COLUMNS = ("date", "yyyymm", "month")
_Q5_COLUMNS = ["R_F", "R_MKT", "R_ME", "R_IA", "R_ROE", "R_EG"]
_Q5_FILES = ["q5_factors_monthly_2023.csv", "q5_factors_monthly.csv"]


def _read_csv(path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"Cannot read {path} as CSV: {exc}") from exc


def load_anomaly_portfolios(
    path,
    *,
    format: str = "kns",
    units: str | None = None,
    include_market: bool = False,
) -> pd.DataFrame:
    """Load a wide file of anomaly long-short portfolio returns.

    Parameters
    ----------
    path : str or path-like
        CSV file with one date column and one column per anomaly.
    format : {"kns", "chen-zimmermann"}, default="kns"
        ``"kns"``: Kozak, Nagel and Santosh (2020) managed-portfolio files
        (``managed_portfolios_anom_50.csv``): a ``date`` column ``MM/YYYY``,
        the market excess return ``rme``, the equal-weighted market excess
        return ``re_ew`` and one ``r_<anomaly>`` column per anomaly, in
        decimals. ``"chen-zimmermann"``: Chen and Zimmermann (2022) wide files
        (``PredictorLSretWide.csv``): a ``date`` (ISO) or ``yyyymm`` column and
        one column per signal, in percent.
    units : {"percent", "decimal"}, default=None
        Units of the file; None takes the format's default (KNS decimals,
        Chen-Zimmermann percent). Give it explicitly for a file that departs
        from its format's default.
    include_market : bool, default=False
        KNS only: keep the ``rme`` and ``re_ew`` columns (first) besides the
        anomalies.

    Returns
    -------
    pandas.DataFrame
        Returns in decimals, ``(T, M)``, on a monthly ``PeriodIndex`` named
        ``"time"``, columns named as in the file. Missing values (empty
        cells, ``NA``) stay NaN.

    Raises
    ------
    ValueError
        Unknown ``format`` or ``units``; unreadable file; no date column;
        unreadable dates; duplicated months; non-numeric return columns.
    FileNotFoundError
        If ``path`` does not exist.

    Notes
    -----
    As-of timing: row ``t`` holds the portfolio returns earned over month
    ``t`` (the publishers' labelling). To join with the package's as-of
    labelled outputs use :func:`sklearn_neurif.panel.as_of_to_return_period`.

    Cite Kozak, S., Nagel, S. and Santosh, S. (2020), Shrinking the cross
    section, Journal of Financial Economics 135, 271-292; Chen, A. Y. and
    Zimmermann, T. (2022), Open source cross-sectional asset pricing, Critical
    Finance Review 11, 207-264.

    Examples
    --------
    >>> r = load_anomaly_portfolios("managed_portfolios_anom_50.csv")  # doctest: +SKIP
    >>> r.shape  # doctest: +SKIP
    (654, 50)
    """
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {sorted(_FORMATS)}; got {format!r}.")
    units = _FORMATS[format] if units is None else units
    if units not in ("percent", "decimal"):
        raise ValueError(f"units must be 'percent' or 'decimal'; got {units!r}.")
    raw = _read_csv(path)
    date_col = _date_column(raw, path)
    frame = raw.drop(columns=[date_col])
    frame.index = _periods(raw[date_col], path)
    _check_numeric(frame, path)
    if format == "kns" and not include_market:
        frame = frame.drop(columns=[c for c in _KNS_MARKET if c in frame.columns])
    return to_decimal_returns(frame.astype("float64"), units)


def _date_column(raw: pd.DataFrame, path) -> str:
    lower = {str(c).strip().lower(): c for c in raw.columns}
    for name in _DATE_COLUMNS:
        if name in lower:
            return lower[name]
    raise ValueError(
        f"{path} has no date column (expected one of {list(_DATE_COLUMNS)}); "
        f"columns are {list(raw.columns)[:5]}..."
    )


def _periods(labels: pd.Series, path) -> pd.PeriodIndex:
    if labels.isna().any():
        raise ValueError(f"{path}: {int(labels.isna().sum())} row(s) have no date.")
    try:
        index = to_monthly_periods(labels)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if index.has_duplicates:
        raise ValueError(f"{path}: month {index[index.duplicated()][0]} appears twice.")
    index.name = "time"
    return index


def _check_numeric(frame: pd.DataFrame, path) -> None:
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise ValueError(f"{path}: non-numeric return column(s) {bad[:5]}.")


def load_q5_factors(path=None, *, data_home=None) -> pd.DataFrame:
    """Load the Hou-Xue-Zhang q5 factors (monthly file of global-q.org).

    Parameters
    ----------
    path : str or path-like, default=None
        The CSV (``q5_factors_monthly_2023.csv``: columns ``year``, ``month``,
        ``R_F``, ``R_MKT``, ``R_ME``, ``R_IA``, ``R_ROE``, ``R_EG`` in
        percent). None looks for ``q5_factors_monthly_2023.csv`` (or
        ``q5_factors_monthly.csv``) in ``data_home``.
    data_home : str or path-like, default=None
        Directory searched when ``path`` is None (see
        :func:`~sklearn_neurif.datasets.get_data_home`).

    Returns
    -------
    pandas.DataFrame
        Columns ``R_F`` (one-month T-bill), ``R_MKT`` (market excess return),
        ``R_ME``, ``R_IA``, ``R_ROE``, ``R_EG`` in decimals on a monthly
        ``PeriodIndex`` named ``"time"``.

    Raises
    ------
    FileNotFoundError
        If the file is not found; the message says where to put it.
    ValueError
        If the file lacks the expected columns or cannot be read.

    Notes
    -----
    As-of timing: row ``t`` holds factor returns earned over month ``t``.
    The file is not downloaded automatically (global-q.org asks users to
    register); download it from global-q.org and pass its path.

    Cite Hou, K., Xue, C. and Zhang, L. (2015), Digesting anomalies: an
    investment approach, Review of Financial Studies 28, 650-705, and Hou,
    K., Mo, H., Xue, C. and Zhang, L. (2021), An augmented q-factor model with
    expected growth, Review of Finance 25, 1-41.

    Examples
    --------
    >>> q5 = load_q5_factors("q5_factors_monthly_2023.csv")  # doctest: +SKIP
    >>> q5.columns.tolist()  # doctest: +SKIP
    ['R_F', 'R_MKT', 'R_ME', 'R_IA', 'R_ROE', 'R_EG']
    """
    if path is None:
        home = get_data_home(data_home)
        path = find_file(home, _Q5_FILES)
        if path is None:
            raise FileNotFoundError(
                f"The q5 factor file is not in {home}: download "
                f"{_Q5_FILES[0]} from global-q.org and put it there, or pass its "
                "path (or data_home= / SKLEARN_NEURIF_DATA)."
            )
    raw = _read_csv(path)
    missing = [c for c in ["year", "month", *_Q5_COLUMNS] if c not in raw.columns]
    if missing:
        raise ValueError(f"{path} lacks the q5 column(s) {missing}.")
    index = months_from_fields(raw["year"], raw["month"], source=path)
    frame = raw[_Q5_COLUMNS].astype("float64")
    frame.index = index.rename("time")
    return to_decimal_returns(frame, "percent")
