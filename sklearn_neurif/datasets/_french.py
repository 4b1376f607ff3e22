"""Kenneth R. French data library: factor files and portfolio files.

The library publishes each data set as a zip holding one multi-section CSV:
a few title lines, then blocks headed by a title (``Average Value Weighted
Returns -- Monthly``, ``Number of Firms in Portfolios``, ...), a header line
starting with a comma and rows keyed ``YYYYMM`` (monthly) or ``YYYY``
(annual), blocks separated by blank lines. ``-99.99`` and ``-999`` mark
missing values. :func:`read_french_sections` parses any such file;
:func:`fetch_french_factors` and :func:`fetch_french_portfolios` turn factor
and portfolio files into tidy frames in decimals.
"""

from __future__ import annotations

import io
import re
import urllib.error
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..panel import align_next_period_returns, to_decimal_returns, to_monthly_periods
from ._home import download, find_file, get_data_home

__all__ = [
    "FrenchSection",
    "fetch_french_factors",
    "fetch_french_portfolios",
    "read_french_sections",
]

FRENCH_URL = (
    "https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/ftp/{name}_CSV.zip"
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_DATA_ROW = re.compile(r"^\s*(\d{4}|\d{6})\s*,")
_MISSING = (-99.99, -999.0)

# Portfolio-file sections, found by a phrase of their (lower-case) title.
_RETURN_TITLES = {
    "value": "value weighted returns -- monthly",
    "equal": "equal weighted returns -- monthly",
}
_CHARACTERISTIC_TITLES = {
    "be_me": "average of be/me",
    "op": "average of op",
    "inv": "average of investment",
}
_N_FIRMS_TITLE = "number of firms"
_SIZE_TITLES = ("average market cap", "average firm size")


@dataclass(frozen=True)
class FrenchSection:
    """One block of a Ken French CSV.

    Attributes
    ----------
    title : str
        The title lines above the block's header, joined by spaces (empty
        when the block has none).
    frequency : {"monthly", "annual"}
        ``YYYYMM`` rows are monthly, ``YYYY`` rows annual.
    data : pandas.DataFrame
        Values as printed in the file (percent for returns), missing codes
        replaced by NaN, on a monthly or annual ``PeriodIndex`` named
        ``"time"``.
    """

    title: str
    frequency: str
    data: pd.DataFrame


def read_french_sections(source) -> list[FrenchSection]:
    """Parse a Ken French multi-section CSV into its blocks.

    Parameters
    ----------
    source : str or path-like
        A ``.csv`` file, the publisher's ``_CSV.zip``, or the CSV text itself
        (a string holding a newline).

    Returns
    -------
    list of FrenchSection
        Blocks in file order, monthly and annual alike.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file cannot be read or holds no data block, or a row has the
        wrong number of fields (the line number is named).
    """
    text = (
        source
        if isinstance(source, str) and "\n" in source
        else _read_text(Path(source))
    )
    sections = _parse(text)
    if not sections:
        raise ValueError(
            f"{_label(source)} holds no data block: not a Ken French CSV "
            "(expected a header line starting with ',' followed by YYYYMM rows)."
        )
    return sections


def _label(source) -> str:
    return "The text" if isinstance(source, str) and "\n" in source else str(source)


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}")
    raw = path.read_bytes()
    if path.suffix.lower() == ".zip":
        raw = _csv_from_zip(raw, path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # The publisher's files are plain ASCII; older ones carry Latin-1 bytes.
        return raw.decode("latin-1")


def _csv_from_zip(raw: bytes, path: Path) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = [
                m for m in archive.namelist() if m.lower().endswith((".csv", ".txt"))
            ]
            if not members:
                raise ValueError(f"{path} holds no CSV file.")
            return archive.read(members[0])
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a readable zip file: {exc}") from exc


def _parse(text: str) -> list[FrenchSection]:
    sections, title, header, rows = [], [], None, []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if header is not None and _DATA_ROW.match(line):
            rows.append((number, stripped))
            continue
        if header is not None:
            # Anything else (blank or text) closes the block.
            sections.append(_section(" ".join(title), header, rows))
            title, header, rows = [], None, []
        if stripped.startswith(","):
            header = [c.strip() for c in stripped.split(",")[1:]]
        elif stripped:
            title.append(stripped)
    if header is not None:
        sections.append(_section(" ".join(title), header, rows))
    return [s for s in sections if len(s.data)]


def _section(title: str, header: list[str], rows) -> FrenchSection:
    keys, values = [], []
    for number, row in rows:
        fields = row.split(",")
        if len(fields) != len(header) + 1:
            raise ValueError(
                f"Line {number} has {len(fields) - 1} values; its block "
                f"({title or 'untitled'!r}) has {len(header)} columns."
            )
        keys.append(fields[0].strip())
        try:
            values.append([float(f) for f in fields[1:]])
        except ValueError as exc:
            raise ValueError(f"Line {number} holds a non-numeric value: {exc}") from exc
    data = np.array(values, dtype=np.float64).reshape(len(rows), len(header))
    missing = np.zeros(data.shape, dtype=bool)
    for code in _MISSING:
        missing |= np.isclose(data, code)
    data[missing] = np.nan
    monthly = bool(keys) and len(keys[0]) == 6
    if monthly:
        index = to_monthly_periods(keys)
    else:
        index = pd.PeriodIndex([str(int(k)) for k in keys], freq="Y")
    index.name = "time"
    frame = pd.DataFrame(data, index=index, columns=header)
    return FrenchSection(title, "monthly" if monthly else "annual", frame)


def _french_file(name: str, data_home, download_if_missing: bool) -> Path:
    """Local path of data set ``name``, downloading it into the cache if allowed."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"Unknown Ken French data set name {name!r}: expected a name of the "
            "data library such as 'F-F_Research_Data_Factors' or '25_Portfolios_5x5'."
        )
    home = get_data_home(data_home)
    candidates = [f"{name}.csv", f"{name}_CSV.zip", f"{name}.zip", f"{name}.txt"]
    found = find_file(home, candidates)
    if found is not None:
        return found
    url = FRENCH_URL.format(name=name)
    where = (
        f"put {name}.CSV (or the publisher's zip {name}_CSV.zip from {url}) in "
        f"{_shown(home)}, or point data_home= (--data-home on the command line) "
        "or SKLEARN_NEURIF_DATA at the folder that holds it"
    )
    if not download_if_missing:
        raise FileNotFoundError(
            f"Ken French data set {name!r} is not in {home}; {where}."
        )
    try:
        return _download(url, home / f"{name}_CSV.zip")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise ValueError(
                f"Unknown Ken French data set {name!r}: {url} does not exist "
                "(HTTP 404)."
            ) from exc
        raise OSError(f"Could not download {url} (HTTP {exc.code}); {where}.") from exc
    except OSError as exc:
        raise OSError(
            f"Could not download Ken French data set {name!r} ({exc}); {where}."
        ) from exc


def _shown(home: Path) -> str:
    """``home`` for a message: absolute, with the folder a relative one is read from.

    A relative ``SKLEARN_NEURIF_DATA`` is read from the current directory,
    which is not always the one it was written for (sphinx-gallery runs the
    examples from ``examples/``).
    """
    if home.is_absolute():
        return str(home)
    return f"{home.absolute()} ({home} read from the current directory {Path.cwd()})"


def _download(url: str, target: Path) -> Path:
    # A module-level indirection so that tests can replace the network call.
    return download(url, target)


def fetch_french_factors(
    name: str = "F-F_Research_Data_5_Factors_2x3",
    *,
    data_home=None,
    download_if_missing: bool = True,
) -> pd.DataFrame:
    """Load monthly Fama-French factor returns from the Ken French data library.

    Parameters
    ----------
    name : str, default="F-F_Research_Data_5_Factors_2x3"
        Data set name as in the library's file names, e.g.
        ``"F-F_Research_Data_Factors"`` (Mkt-RF, SMB, HML, RF),
        ``"F-F_Research_Data_5_Factors_2x3"`` (adds RMW, CMA) or
        ``"F-F_Momentum_Factor"`` (Mom).
    data_home : str or path-like, default=None
        Cache directory (see :func:`~sklearn_neurif.datasets.get_data_home`).
        A file ``<name>.CSV`` (any case) or ``<name>_CSV.zip`` there is used.
    download_if_missing : bool, default=True
        Download the publisher's zip into ``data_home`` when absent.

    Returns
    -------
    pandas.DataFrame
        Monthly factor returns in decimals (``0.01`` is one percent), columns
        as in the file, on a monthly ``PeriodIndex`` named ``"time"``. Only the
        file's first monthly block is read; annual blocks are ignored.

    Raises
    ------
    ValueError
        If ``name`` is malformed or unknown to the library, or the file holds
        no monthly block.
    FileNotFoundError
        If the file is absent and ``download_if_missing`` is False.
    OSError
        If the download fails; the message says where to put the file.

    Notes
    -----
    As-of timing: the row labelled ``t`` holds factor returns earned over
    month ``t`` (the publisher's labelling). Join them with the package's
    as-of-labelled outputs through
    :func:`sklearn_neurif.panel.as_of_to_return_period`.

    Source: Kenneth R. French data library; cite Fama and French (1993, 2015)
    and Carhart (1997) for momentum.

    Examples
    --------
    >>> ff = fetch_french_factors("F-F_Research_Data_Factors")  # doctest: +SKIP
    >>> ff.loc["1926-07", "Mkt-RF"]  # doctest: +SKIP
    0.0296
    """
    path = _french_file(name, data_home, download_if_missing)
    monthly = [s for s in read_french_sections(path) if s.frequency == "monthly"]
    if not monthly:
        raise ValueError(f"{path} holds no monthly block.")
    return to_decimal_returns(monthly[0].data, "percent")


def fetch_french_portfolios(
    name: str = "25_Portfolios_5x5",
    *,
    data_home=None,
    weighting: str = "value",
    excess: bool = True,
    download_if_missing: bool = True,
) -> Bunch:
    """Load a Ken French portfolio file as a panel of test assets.

    Parameters
    ----------
    name : str, default="25_Portfolios_5x5"
        Data set name, e.g. ``"25_Portfolios_5x5"`` (size x book-to-market)
        or ``"25_Portfolios_ME_OP_5x5"`` (size x operating profitability).
    data_home : str or path-like, default=None
        Cache directory; see :func:`fetch_french_factors`.
    weighting : {"value", "equal"}, default="value"
        Which returns block to use: value- or equal-weighted.
    excess : bool, default=True
        Subtract the one-month T-bill rate (``RF`` of
        ``F-F_Research_Data_Factors``, read from the same ``data_home``) from
        the target ``y``. ``returns`` stays raw.
    download_if_missing : bool, default=True
        Download missing files into ``data_home``.

    Returns
    -------
    sklearn.utils.Bunch
        returns : DataFrame (T, n_portfolios)
            Raw monthly returns in decimals, ``(t)`` the return over month t.
        X : DataFrame
            Long panel on an ``(entity, time)`` MultiIndex (entity = portfolio
            name, time = monthly Period), one row per portfolio-month, with
            the columns ``be_me``, ``op``, ``inv`` (those present in the file),
            ``log_size`` (log of average firm market cap, $ million) and
            ``n_firms``. NaN where the file has no value.
        y : Series
            Return over month t+1 on ``X.index`` (excess when ``excess``), NaN
            when missing.
        sizes : Series
            Total market cap of the portfolio (average cap x number of firms,
            $ million) on ``X.index``, for value weighting.
        frame : DataFrame
            ``X`` with ``y`` as last column.
        rf : Series or None
            Risk-free rate used (decimals), None when ``excess`` is False.
        n_missing : Series
            Missing cells per column of ``X``.
        DESCR : str
            Source, units, timing.

    Raises
    ------
    ValueError
        If ``weighting`` is not "value" or "equal", the name is unknown, or
        the file lacks the returns block.
    FileNotFoundError, OSError
        As in :func:`fetch_french_factors`.

    Notes
    -----
    As-of timing. The characteristics blocks are value-weighted averages over
    the firms of each portfolio, e.g. for BE/ME in month m of July of year s
    to June of s+1: ``sum ME(m) * BE(fiscal year s-1) / ME(Dec s-1) / sum
    ME(m)``; accounting data (BE, OP, investment) are those of the fiscal year
    ending in calendar year s-1, known by the June formation date. The files
    do not say whether ``ME(m)`` is the market cap at the start or at the end
    of month m, so the value labelled ``t`` is treated as known only at the
    end of ``t`` (the conservative reading): ``X`` at ``(i, t)`` holds the
    file's values for month ``t`` and ``y`` the return over ``t+1``. The same
    holds for the average market cap and the number of firms.

    Source: Kenneth R. French data library; cite Fama and French (1993).

    Examples
    --------
    >>> home = "../shared/data/kenfrench"
    >>> data = fetch_french_portfolios(data_home=home)  # doctest: +SKIP
    >>> data.X.columns.tolist()  # doctest: +SKIP
    ['be_me', 'op', 'inv', 'log_size', 'n_firms']
    """
    if weighting not in _RETURN_TITLES:
        raise ValueError(f"weighting must be 'value' or 'equal'; got {weighting!r}.")
    path = _french_file(name, data_home, download_if_missing)
    monthly = [s for s in read_french_sections(path) if s.frequency == "monthly"]
    returns = to_decimal_returns(_returns_block(monthly, weighting, path), "percent")
    wide = _characteristics(monthly, returns, path)
    rf = None
    if excess:
        rf = fetch_french_factors(
            "F-F_Research_Data_Factors",
            data_home=data_home,
            download_if_missing=download_if_missing,
        )["RF"]
    return _portfolio_bunch(name, path, weighting, returns, wide, rf)


def _returns_block(monthly, weighting: str, path) -> pd.DataFrame:
    phrase = _RETURN_TITLES[weighting]
    for section in monthly:
        if phrase in section.title.lower():
            return section.data
    # Some copies drop the title of the first block; in the publisher's layout
    # the first block is always the value-weighted monthly returns.
    if weighting == "value" and monthly and not _known_title(monthly[0].title):
        return monthly[0].data
    raise ValueError(f"{path} has no block titled like {phrase!r}.")


def _known_title(title: str) -> bool:
    title = title.lower()
    phrases = (
        *_RETURN_TITLES.values(),
        *_CHARACTERISTIC_TITLES.values(),
        _N_FIRMS_TITLE,
        *_SIZE_TITLES,
    )
    return any(p in title for p in phrases)


def _find_block(monthly, phrases, returns, path) -> pd.DataFrame | None:
    for section in monthly:
        title = section.title.lower()
        if any(p in title for p in phrases):
            if list(section.data.columns) != list(returns.columns):
                raise ValueError(
                    f"{path}: block {section.title[:60]!r} has other portfolios "
                    "than the returns block."
                )
            return section.data.reindex(returns.index)
    return None


def _characteristics(monthly, returns: pd.DataFrame, path) -> dict[str, pd.DataFrame]:
    wide = {}
    for column, phrase in _CHARACTERISTIC_TITLES.items():
        block = _find_block(monthly, (phrase,), returns, path)
        if block is not None:
            wide[column] = block
    size = _find_block(monthly, _SIZE_TITLES, returns, path)
    n_firms = _find_block(monthly, (_N_FIRMS_TITLE,), returns, path)
    if size is not None:
        wide["log_size"] = np.log(size.where(size > 0))
    if n_firms is not None:
        wide["n_firms"] = n_firms
    if size is not None and n_firms is not None:
        wide["_total_cap"] = size * n_firms
    return wide


def _to_long(wide: pd.DataFrame) -> pd.Series:
    """Stack a (time x portfolio) frame into rows ordered by time, then portfolio."""
    periods, names = wide.index, wide.columns
    index = pd.MultiIndex.from_arrays(
        [np.tile(names, len(periods)), np.repeat(periods, len(names))],
        names=["entity", "time"],
    )
    return pd.Series(wide.to_numpy().ravel(), index=index)


def _portfolio_bunch(name, path, weighting, returns, wide, rf) -> Bunch:
    total_cap = wide.pop("_total_cap", None)
    long_returns = _to_long(returns)
    X = pd.DataFrame({col: _to_long(block).to_numpy() for col, block in wide.items()})
    X.index = long_returns.index
    target = long_returns
    if rf is not None:
        rf_rows = rf.reindex(long_returns.index.get_level_values("time")).to_numpy()
        target = long_returns - rf_rows
    X, y = align_next_period_returns(X, target, name="ret_next")
    sizes = (
        _to_long(total_cap).rename("size")
        if total_cap is not None
        else pd.Series(np.nan, index=X.index, name="size")
    )
    frame = pd.concat([X, y], axis=1)
    n_missing = X.isna().sum()
    descr = _portfolio_descr(name, path, weighting, returns, X, rf, n_missing)
    return Bunch(
        returns=returns,
        X=X,
        y=y,
        sizes=sizes,
        frame=frame,
        rf=rf,
        n_missing=n_missing,
        DESCR=descr,
    )


def _portfolio_descr(name, path, weighting, returns, X, rf, n_missing) -> str:
    first, last = returns.index[0], returns.index[-1]
    missing = ", ".join(f"{k}={v}" for k, v in n_missing.items())
    target = (
        "excess return (minus RF of F-F_Research_Data_Factors)"
        if rf is not None
        else "raw return"
    )
    return (
        f"Ken French portfolios {name} ({path.name})\n"
        f"{returns.shape[1]} portfolios, {len(returns)} months {first} to {last}, "
        f"{weighting}-weighted returns in decimals "
        "(file: percent; -99.99/-999 -> NaN).\n"
        f"X columns: {', '.join(X.columns)}. be_me, op, inv: value-weighted "
        "averages of the portfolio's firms as published; log_size: log of the "
        "average market cap ($ million); n_firms: number of firms.\n"
        f"Timing: X at (i, t) holds the file's values for month t, treated as "
        f"known at the end of t; y at (i, t) is the {target} over t+1.\n"
        f"Missing cells in X: {missing}.\n"
        "Source: Kenneth R. French data library. Cite Fama, E. F. and French, "
        "K. R. (1993), Common risk factors in the returns on stocks and bonds, "
        "Journal of Financial Economics 33, 3-56."
    )
