"""A long-history real panel: the 50 Ken French size-sorted portfolios as assets.

The 25 size x book-to-market and the 25 size x operating-profitability
portfolios of the Ken French data library, 1963-07 to the file's end, become
50 assets with characteristics known at the end of each month: the files'
own value-weighted averages (firm size, BE/ME, OP, investment) and momentum,
reversal and volatility from the portfolios' own returns. About 60 years of
months: enough test months for forecast comparisons to have power.

As-of rule (the one rule of this module): ``X`` at ``(i, t)`` uses no file
row labelled after ``t``. Only ``y`` (the return over ``t+1``) reads row
``t+1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..panel import align_next_period_returns, to_decimal_returns
from ._french import (
    _CHARACTERISTIC_TITLES,
    _N_FIRMS_TITLE,
    _SIZE_TITLES,
    _find_block,
    _french_file,
    _returns_block,
    _to_long,
    fetch_french_factors,
    read_french_sections,
)

__all__ = ["FRENCH_PANEL_CHARACTERISTICS", "fetch_french_portfolio_panel"]

#: Characteristics of :func:`fetch_french_portfolio_panel`, in column order
#: (``const`` last, when asked for).
FRENCH_PANEL_CHARACTERISTICS = (
    "log_size",
    "be_me",
    "op",
    "inv",
    "mom_12_2",
    "strev",
    "vol_12",
)
_FILES = ("25_Portfolios_5x5", "25_Portfolios_ME_OP_5x5")
_RF_FILE = "F-F_Research_Data_Factors"


def fetch_french_portfolio_panel(
    *,
    data_home=None,
    download_if_missing: bool = True,
    excess: bool = True,
    constant: bool = True,
) -> Bunch:
    """Load the 50 Ken French size portfolios as a 60-year panel of assets.

    The 25 size x book-to-market (``25_Portfolios_5x5``) and the 25 size x
    operating-profitability (``25_Portfolios_ME_OP_5x5``) portfolios,
    value-weighted returns, from 1963-07 (the first month of the
    profitability file) to the files' last month (2024-12 for the 202412
    build): 50 assets a month, 738 months.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Cache folder of the Ken French files (see
        :func:`~sklearn_neurif.datasets.get_data_home`). The two portfolio
        files, and ``F-F_Research_Data_Factors`` when ``excess``, are read
        from it.
    download_if_missing : bool, default=True
        Download missing files into ``data_home`` (scikit-learn's ``fetch_*``
        convention); False never touches the network.
    excess : bool, default=True
        Subtract the one-month T-bill (``RF`` of
        ``F-F_Research_Data_Factors``) from the target ``y``. The
        characteristics use raw returns either way.
    constant : bool, default=True
        Add a column ``const`` equal to 1 (the constant instrument of Kelly,
        Pruitt and Su 2019).

    Returns
    -------
    sklearn.utils.Bunch
        X : DataFrame
            Long panel on an ``(entity, time)`` MultiIndex (entity = portfolio
            name as in the files, e.g. ``"ME1 BM2"``, ``"SMALL LoOP"``; time
            = monthly Period), rows ordered by time then portfolio, columns
            ``log_size``, ``be_me``, ``op``, ``inv``, ``mom_12_2``, ``strev``,
            ``vol_12`` (and ``const``). NaN where undefined (the return
            windows in the first 11 months).
        y : Series
            Return over ``t+1`` on ``X.index`` in decimals, in excess of RF
            when ``excess``; NaN in the last month.
        returns : Series
            Raw return over month ``t`` at ``(i, t)``, decimals.
        sizes : Series
            Portfolio market cap (average cap x number of firms, $ million)
            from row ``t`` of the file: the cap at the end of ``t-1``, a
            month-old value weight known at ``t``.
        rf : Series or None
            Risk-free rate subtracted (decimals, by month earned), None when
            ``excess`` is False.
        feature_names : list of str
            The columns of ``X``.
        n_missing : Series
            Missing cells per column of ``X``.
        DESCR : str
            Source, units, timing, counts.

    Raises
    ------
    FileNotFoundError
        A file is not in ``data_home`` and ``download_if_missing`` is False.
    OSError
        A download failed (the message says which file to put where).
    ValueError
        A file lacks a block this panel needs, or the two files share a
        portfolio name.

    Notes
    -----
    **As-of timing.** ``X`` at ``(i, t)`` reads only file rows labelled
    ``t`` or earlier; ``y`` at ``(i, t)`` is the return over ``t+1``. The
    files' portfolios are formed at the end of June of year ``s`` on market
    equity of June ``s`` and accounting data of the fiscal year ending in
    ``s-1`` (assumed public by then), and held from July ``s`` to June
    ``s+1``. Their characteristic blocks are value-weighted averages over
    the firms held in each month ``m``, e.g. BE/ME
    :math:`\\sum_j ME_{j,m} BE_{j,s-1} / ME_{j,Dec\\,s-1} / \\sum_j ME_{j,m}`:
    the accounting ratio is fixed from July ``s`` to June ``s+1`` and only
    the weights move (the new portfolio's values first appear in the row of
    July ``s``; the June row still describes the portfolio formed a year
    earlier, checked on the file). The ``Average Market Cap`` row ``m`` is
    the cap at the **end of** ``m-1`` (its growth from row ``m`` to row
    ``m+1`` matches the return over ``m``, correlation 0.996), so the weights
    of row ``m`` are known by the start of ``m``. Using row ``t`` at ``t`` is
    therefore safe and about one month stale; the price of the rule is one
    month a year: at the end of June the characteristics describe the
    portfolio formed a year earlier while ``y`` is the return of the one
    just formed.

    ``mom_12_2`` is :math:`\\prod_{s=t-11}^{t-1}(1+r_{i,s}) - 1` (skips
    month ``t``), ``strev`` is :math:`r_{i,t}`, ``vol_12`` the standard
    deviation (ddof 1) of :math:`r_{i,t-11..t}`, from the portfolio's raw
    value-weighted returns in the panel's months only (so the two families
    share one warm-up, 1963-07 to 1964-05); a window with a missing return
    is NaN. ``log_size`` is the log of ``Average Market Cap`` ($ million).

    The files are one vintage (the 202412 build): values back to 1963 are
    computed from today's CRSP and Compustat, with whatever backfilling
    these hold, not from data as it was published at the time.

    Source: Kenneth R. French data library; cite Fama and French (1993,
    2015).

    Examples
    --------
    >>> from sklearn_neurif.datasets import fetch_french_portfolio_panel
    >>> data = fetch_french_portfolio_panel(data_home="data")  # doctest: +SKIP
    >>> data.X.shape  # doctest: +SKIP
    (36900, 8)
    """
    wide = [_read_file(name, data_home, download_if_missing) for name in _FILES]
    returns = pd.concat([w["returns"] for w in wide], axis=1, join="inner")
    names = returns.columns
    if names.has_duplicates:
        raise ValueError(
            f"The files {_FILES} share portfolio names: {list(names[names.duplicated()])}."
        )
    blocks = {
        col: pd.concat([w[col] for w in wide], axis=1).reindex(returns.index)
        for col in ("log_size", "be_me", "op", "inv", "_cap")
    }
    blocks.update(_return_characteristics(returns))
    columns = list(FRENCH_PANEL_CHARACTERISTICS)
    long = {col: _to_long(blocks[col]) for col in [*columns, "_cap"]}
    index = long["log_size"].index
    X = pd.DataFrame({col: long[col].to_numpy() for col in columns}, index=index)
    if constant:
        X["const"] = 1.0
    raw = _to_long(returns).rename("ret")
    rf = None
    target = raw
    if excess:
        rf = fetch_french_factors(
            _RF_FILE, data_home=data_home, download_if_missing=download_if_missing
        )["RF"]
        target = raw - rf.reindex(index.get_level_values("time")).to_numpy()
    X, y = align_next_period_returns(X, target, name="ret_next")
    n_missing = X.isna().sum()
    return Bunch(
        X=X,
        y=y,
        returns=raw,
        sizes=long["_cap"].rename("size"),
        rf=rf,
        feature_names=list(X.columns),
        n_missing=n_missing,
        DESCR=_descr(returns, X, rf, n_missing),
    )


def _read_file(name, data_home, download_if_missing) -> dict:
    """One portfolio file's monthly blocks (T x 25 frames), decimals for returns."""
    path = _french_file(name, data_home, download_if_missing)
    monthly = [s for s in read_french_sections(path) if s.frequency == "monthly"]
    returns = to_decimal_returns(_returns_block(monthly, "value", path), "percent")
    out = {}
    for column, phrase in _CHARACTERISTIC_TITLES.items():
        out[column] = _required(monthly, (phrase,), returns, path)
    cap = _required(monthly, _SIZE_TITLES, returns, path)
    n_firms = _required(monthly, (_N_FIRMS_TITLE,), returns, path)
    out["log_size"] = np.log(cap.where(cap > 0))
    out["_cap"] = cap * n_firms
    # The panel starts where every block does (1963-07 for OP and INV).
    first = max(block.first_valid_index() for block in out.values())
    out["returns"] = returns.loc[first:]
    return out


def _required(monthly, phrases, returns, path) -> pd.DataFrame:
    block = _find_block(monthly, phrases, returns, path)
    if block is None:
        raise ValueError(f"{path} has no block titled like {phrases[0]!r}.")
    return block


def _return_characteristics(returns: pd.DataFrame) -> dict:
    """Momentum, reversal and volatility at t from returns up to t (T x N)."""
    log_growth = np.log1p(returns)
    # rolling() needs every month of the window (min_periods = window).
    momentum = np.expm1(log_growth.shift(1).rolling(11).sum())
    return {
        "mom_12_2": momentum,
        "strev": returns,
        "vol_12": returns.rolling(12).std(ddof=1),
    }


def _descr(returns, X, rf, n_missing) -> str:
    first, last = returns.index[0], returns.index[-1]
    missing = ", ".join(f"{k}={v}" for k, v in n_missing.items())
    target = "excess return (minus RF)" if rf is not None else "RAW return"
    return (
        "Ken French 50 size portfolios as a panel: 25 size x book-to-market "
        "(25_Portfolios_5x5) and 25 size x operating profitability "
        "(25_Portfolios_ME_OP_5x5), value-weighted.\n"
        f"{returns.shape[1]} portfolios, {len(returns)} months {first} to {last}, "
        f"{len(X)} rows. Returns in decimals (files: percent).\n"
        f"X columns: {', '.join(X.columns)}. log_size, be_me, op, inv: the files' "
        "value-weighted averages (formed each June, accounting data of the "
        "previous fiscal year); mom_12_2, strev, vol_12 from the portfolios' "
        "own returns.\n"
        "Timing: X at (i, t) uses no file row labelled after t; y at (i, t) is "
        f"the {target} over t+1.\n"
        f"Missing cells in X: {missing}.\n"
        "Source: Kenneth R. French data library. Cite Fama and French (1993, "
        "2015)."
    )
