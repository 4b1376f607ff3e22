"""The study's data: one loader for every source, a user's file, the checks.

The built-in sources (US panel, Ken French panels, simulation) are in
``_sources``; this module reads a user's file and checks every source alike.

Every source is returned in the package's conventions: ``X`` on an
``(entity, time)`` MultiIndex of monthly periods (row ``(i, t)`` known at the
end of month ``t``), ``y`` the excess return over ``t+1``, optional ``sizes``
at ``t`` for value weights, and observable factor sets labelled by the month
their returns are earned (the factor files' convention).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..panel import align_next_period_returns, check_panel_frame, to_monthly_periods
from ..panel._units import PERCENT_MEDIAN_ABS
from ._sources import (
    _french25,
    _french_long,
    _read_factor_path,
    _sets,
    _simulated,
    _subtract_rf,
    _us_stocks,
)

__all__ = ["DATA_NAMES", "StudyData", "load_study_data", "returns_statement"]

#: Names accepted by ``--data`` besides a file path.
DATA_NAMES = ("us-stocks", "french", "french25", "simulated")
#: Units accepted for the returns of a panel file (``--returns-unit``).
RETURN_UNITS = ("decimal", "percent")

_FILE_AS_GIVEN = (
    "the file's returns as given; --factors FILE with an RF column subtracts "
    "the risk-free rate"
)
_MIN_PERIODS = 6


class StudyData(Bunch):
    """A data source of the study, as :func:`load_study_data` returns it.

    A :class:`~sklearn.utils.Bunch` (keys listed in :func:`load_study_data`)
    whose text is its name, so that a loaded source can stand for the data
    argument of :func:`~sklearn_neurif.study.run_study` (the report prints
    ``str(data)``).
    """

    def __str__(self) -> str:
        return str(self.get("name", "data"))


def load_study_data(
    data="us-stocks",
    *,
    factors=None,
    data_home=None,
    download_if_missing=False,
    entity_col="entity",
    time_col="time",
    return_col="ret",
    size_col=None,
    returns_unit=None,
    characteristics=None,
    drop=None,
    seed=0,
) -> Bunch:
    """Load one data source of the study in the package's conventions.

    Parameters
    ----------
    data : {"us-stocks", "french", "french25", "simulated"}, path or StudyData
        A name or a CSV/parquet file (see :func:`read_panel_file`); a source
        this function returned already is returned unchanged (the other
        arguments are then not used).
        ``"french"`` is the 60-year panel of the 50 Ken French size
        portfolios (:func:`~sklearn_neurif.datasets.fetch_french_portfolio_panel`).
    factors : path, optional
        A Ken French factor file or a folder holding
        ``F-F_Research_Data_5_Factors_2x3``: the observable factors (and
        ``RF``) used instead of the source's own. Its ``RF`` is subtracted
        from the returns of every real source, a user's file included.
    data_home : path, optional
        Cache folder of the Ken French files (the loaders' ``data_home``).
        A folder given here must hold the files the source needs (or
        ``download_if_missing`` must fetch them): for ``"us-stocks"`` a folder without
        the risk-free rate is an error, never a silent fallback to raw
        returns (which happens, with a warning, only when no folder is
        given and the file can be neither found nor downloaded).
    download_if_missing : bool, default=False
        Allow the Ken French loaders to download missing files.
    entity_col, time_col, return_col, size_col : str
        Column names of a user's file.
    returns_unit : {"decimal", "percent"}, optional
        Unit of a file's return column. None (default): decimals, and returns
        that look like percent (median absolute return above 0.5) are
        refused; ``"percent"`` divides them by 100. Only for files: the
        built-in sources are read in their publishers' units.
    characteristics : sequence of str, optional
        Keep only these characteristic columns (any source).
    drop : sequence of str, optional
        Leave out these characteristic columns (any source).
    seed : int
        Seed of the simulated panel.

    Returns
    -------
    StudyData
        A Bunch: ``X``, ``y``, ``sizes`` (or None), ``factor_sets`` (dict name ->
        DataFrame labelled by the month earned; may be empty), ``name``,
        ``notes`` (list of str for the report, the first one saying whether
        the returns are raw or excess and where the risk-free rate came
        from), ``returns_kind`` (``"excess"``, ``"raw"`` or ``"simulated"``),
        ``rf_source`` (str or None), ``default_split`` (pair of period
        strings or None), ``min_train_years`` (years of history before the
        first test month the source asks for, or None).

    Raises
    ------
    ValueError, TypeError, OSError
        Unknown data name, unreadable file, missing columns, returns that
        look like percent, unknown, all-missing or constant characteristic
        columns, too few periods.
    """
    if isinstance(data, StudyData):
        return data  # loaded already (e.g. by the command, with its options)
    if returns_unit is not None and returns_unit not in RETURN_UNITS:
        raise ValueError(
            f"returns_unit must be one of {list(RETURN_UNITS)} or None; "
            f"got {returns_unit!r}."
        )
    notes: list[str] = []
    observed = _read_factor_path(factors) if factors is not None else None
    if _data_kind(data) == "name":
        if returns_unit is not None:
            raise ValueError(
                f"--returns-unit applies to a panel file; {data!r} is read in its "
                "publisher's units (converted to decimals by its loader)."
            )
        loader = {
            "us-stocks": _us_stocks,
            "french": _french_long,
            "french25": _french25,
            "simulated": _simulated,
        }[data]
        out = loader(observed, factors, data_home, download_if_missing, seed, notes)
    else:
        out = _user_file(
            Path(data), entity_col, time_col, return_col, size_col, returns_unit,
            observed, factors,
        )  # fmt: skip
        out.factor_sets = _sets(observed) if observed is not None else {}
        out.default_split = None
    if observed is not None:
        notes.append(f"Observable factors from {factors}.")
    out.X = select_characteristics(out.X, characteristics, drop)
    _check_characteristics(out.X)
    out.setdefault("min_train_years", None)
    out.notes = [returns_statement(out)] + notes + list(out.get("notes", []))
    _check_study_panel(out.X, out.y)
    return StudyData(**out)


def returns_statement(src) -> str:
    """One line: raw or excess returns, and where the risk-free rate came from."""
    if src.returns_kind == "excess":
        return (
            "Returns: EXCESS returns (minus the one-month T-bill RF of "
            f"{src.rf_source})."
        )
    if src.returns_kind == "simulated":
        return "Returns: simulated (no risk-free rate involved)."
    return f"Returns: RAW, no risk-free rate subtracted ({src.rf_source})."


def select_characteristics(X, characteristics=None, drop=None) -> pd.DataFrame:
    """``X`` with only ``characteristics``, or without ``drop`` (names checked).

    Raises
    ------
    ValueError
        A name that is not a column, both options given, or nothing left.
    """
    if characteristics is None and drop is None:
        return X
    if characteristics is not None and drop is not None:
        raise ValueError(
            "Give --characteristics (columns to keep) or --drop (columns to leave "
            "out), not both."
        )
    names = list(characteristics if characteristics is not None else drop)
    option = "--characteristics" if characteristics is not None else "--drop"
    unknown = [n for n in names if n not in X.columns]
    if unknown:
        raise ValueError(
            f"{option}: no characteristic column(s) {unknown}; the data has "
            f"{list(X.columns)}."
        )
    keep = names if characteristics is not None else [c for c in X if c not in names]
    if not keep:
        raise ValueError(f"{option} leaves no characteristic column.")
    return X[keep]


def _check_characteristics(X) -> None:
    """Refuse columns that are empty, or one value everywhere.

    An all-missing column would mask every month as warm-up (a characteristic
    missing for every asset); a column with a single value repeats the
    constant instrument the study adds, so the instruments are linearly
    dependent and IPCA is not identified. (A column constant within each
    month but moving over time, a macro variable, passes the rank scaler
    unchanged and is kept.)
    """
    empty = [c for c in X.columns if not X[c].notna().any()]
    if empty:
        raise ValueError(
            f"Characteristic column(s) {empty} have no value at all; leave them "
            "out with --drop " + ",".join(map(str, empty)) + "."
        )
    flat = [c for c in X.columns if not X[c].max() > X[c].min()]
    if flat:
        raise ValueError(
            f"Characteristic column(s) {flat} take a single value in every row: "
            "the study adds its own constant instrument, and a second one makes "
            "the instruments linearly dependent. Leave them out with --drop "
            + ",".join(map(str, flat))
            + "."
        )


def check_data_arguments(data, *, factors=None, anomalies=None, data_home=None):
    """Refuse data arguments that name nothing, before anything is read.

    Parameters
    ----------
    data : str or path
        A name of :data:`DATA_NAMES` or a panel file, which must exist.
    factors : path, optional
        A factor file or folder, which must exist.
    anomalies : path, optional
        An anomaly file, which must exist.
    data_home : path, optional
        The Ken French cache folder, which must exist.

    Raises
    ------
    ValueError
        ``data`` is neither a name nor a file name.
    OSError
        A named file or folder does not exist.
    """
    if _data_kind(data) == "file" and not Path(data).is_file():
        what = "not a file" if Path(data).exists() else "no such file"
        raise OSError(f"Cannot read {data}: {what}.")
    if factors is not None and not Path(factors).exists():
        raise OSError(f"--factors: no such file or folder: {factors}")
    if anomalies is not None and not Path(anomalies).is_file():
        raise OSError(f"--anomalies: no such file: {anomalies}")
    if data_home is not None and not Path(data_home).is_dir():
        raise OSError(f"--data-home: no such folder: {data_home}")


def _data_kind(data) -> str:
    """``"name"`` or ``"file"``; ValueError for anything else."""
    if isinstance(data, str) and data in DATA_NAMES:
        return "name"
    if isinstance(data, str | Path) and (
        Path(data).suffix.lower() in (".csv", ".parquet", ".pq") or Path(data).exists()
    ):
        return "file"
    raise ValueError(
        f"Unknown data {data!r}: use one of {list(DATA_NAMES)} or the path of a "
        "CSV or parquet panel file."
    )


def _check_study_panel(X, y) -> None:
    check_panel_frame(X, allow_nan=True)
    periods = X.index.get_level_values(-1)[np.asarray(y.notna())].unique()
    if len(periods) < _MIN_PERIODS:
        raise ValueError(
            f"The panel has {len(periods)} period(s) with next-period returns; the "
            f"study needs at least {_MIN_PERIODS} (train, validation and test months)."
        )


def read_panel_file(path, entity_col, time_col, return_col, size_col=None):
    """Read a user's long panel file (CSV or parquet).

    One row per asset-month: an entity column, a time column (months:
    ``YYYYMM``, ``YYYY-MM``, dates), the return **over that month** in
    decimals, an optional size column (market cap at the end of the month,
    for value weights) and numeric characteristics known at the end of the
    month (every other column). The study pairs row ``t`` with the return over
    ``t+1`` (:func:`~sklearn_neurif.panel.align_next_period_returns`).
    """
    path = Path(path)
    if not path.is_file():
        raise OSError(f"Cannot read {path}: no such file.")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except ImportError as exc:
        raise ValueError(f"Cannot read parquet file {path}: {exc}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"Cannot read {path} as a CSV panel: {exc}") from exc
    needed = [c for c in (entity_col, time_col, return_col, size_col) if c is not None]
    if len(set(needed)) < len(needed):  # e.g. --return-col naming the entity ids
        raise ValueError(
            f"{path}: the entity, time, return (and size) columns must differ; "
            f"got {needed}."
        )
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; the file has {list(frame.columns)}. "
            "Name them with --entity-col, --time-col, --return-col (--size-col)."
        )
    try:
        months = to_monthly_periods(frame[time_col])
    except ValueError as exc:
        raise ValueError(f"{path}: time column {time_col!r}: {exc}") from exc
    index = pd.MultiIndex.from_arrays(
        [frame[entity_col].to_numpy(), months], names=["entity", "time"]
    )
    if index.has_duplicates:
        row = int(np.flatnonzero(index.duplicated())[0])
        raise ValueError(
            f"{path}: {int(index.duplicated().sum())} row(s) repeat an (entity, "
            f"month) pair, e.g. {entity_col}={frame[entity_col].iloc[[row]].tolist()[0]!r}, "
            f"{time_col}={frame[time_col].iloc[[row]].tolist()[0]!r} on data row "
            f"{row + 1}; the "
            "file needs one row per entity and month (daily data must be "
            "compounded to months first)."
        )
    chars = [c for c in frame.columns if c not in needed]
    if not chars:
        raise ValueError(f"{path}: no characteristic columns besides {needed}.")
    X = frame[chars].set_axis(index)
    returns = _numeric_column(frame, return_col, path).set_axis(index)
    sizes = _numeric_column(frame, size_col, path).set_axis(index) if size_col else None
    return X, returns, sizes


def _numeric_column(frame, column, path) -> pd.Series:
    """``frame[column]`` as floats; ValueError naming the column and a value."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}: column {column!r} must hold numbers; {int(bad.sum())} value(s) "
            f"are not, e.g. {frame[column].iloc[row]!r} on data row {row + 1}."
        )
    return values.astype("float64")


def _user_file(
    path, entity_col, time_col, return_col, size_col, returns_unit, observed, factors
) -> Bunch:
    X, returns, sizes = read_panel_file(
        path, entity_col, time_col, return_col, size_col
    )
    returns = _to_decimals(returns, returns_unit, path, return_col)
    check_panel_frame(X, allow_nan=True)
    X, y = align_next_period_returns(X, returns)
    rf = observed["RF"] if observed is not None and "RF" in observed else None
    if rf is None:
        source = _FILE_AS_GIVEN
    else:
        y, source = _subtract_rf(y, rf), f"--factors {factors}"
    return Bunch(
        X=X,
        y=y,
        sizes=sizes,
        name=str(path),
        notes=[f"Panel file {path}."],
        returns_kind="raw" if rf is None else "excess",
        rf_source=source,
    )


def _to_decimals(returns, returns_unit, path, return_col) -> pd.Series:
    """A file's returns in decimals; percent-looking returns refused unless told."""
    if returns_unit == "percent":
        return returns / 100.0
    magnitude = float(returns.abs().median())
    if returns_unit is None and magnitude > PERCENT_MEDIAN_ABS:
        raise ValueError(
            f"{path}: the returns in column {return_col!r} look like percent (median "
            f"absolute return {magnitude:.3g}, above {PERCENT_MEDIAN_ABS}); the study "
            "works in decimals (0.01 is one percent). Pass --returns-unit percent to "
            "divide them by 100, or --returns-unit decimal if they are decimals."
        )
    return returns
