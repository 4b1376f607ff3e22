"""The study's anomaly tests: test assets on observable and model factor sets.

Test assets: the characteristics' own long-short portfolios, the Ken French
25 size x book-to-market and 25 size x profitability portfolios (real data),
and an external anomaly file. Factor sets: CAPM, FF3, FF5 and, per model,
the market plus the model's long-short portfolio.
"""

from __future__ import annotations

import pandas as pd

from ..datasets import fetch_french_portfolios
from ..inference import anomaly_test
from ..panel import as_of_to_return_period
from ..portfolio import PortfolioSorter

__all__ = ["anomaly_tables", "characteristic_anomalies", "market_returns"]

_FRENCH_ASSETS = {
    "25 size x book-to-market": "25_Portfolios_5x5",
    "25 size x profitability": "25_Portfolios_ME_OP_5x5",
}


def characteristic_anomalies(X, y, sizes, q) -> pd.DataFrame:
    """Decile (quantile) long-short portfolio of each characteristic.

    Top minus bottom quantile of the raw characteristic each month,
    value-weighted with ``sizes`` when given, else equal-weighted; labelled by
    the as-of month (the return is earned over the next month).
    """
    data = X.copy()
    data["__size"] = sizes if sizes is not None else 1.0
    out = {}
    for col in X.columns:
        sorter = PortfolioSorter(q, signal=col, weights="__size")
        try:
            out[col] = sorter.fit(data, y).result_.returns["LS"]
        except ValueError:
            continue  # e.g. a characteristic missing throughout the sample
    return pd.DataFrame(out)


def market_returns(factor_sets: dict) -> pd.Series | None:
    """The market excess return (CAPM's factor) by month earned, or None."""
    capm = factor_sets.get("CAPM")
    return None if capm is None else capm.iloc[:, 0]


def _french_assets(data_home, download, notes) -> dict:
    """The 25 size x B/M and 25 size x OP portfolios, excess, by month earned."""
    out = {}
    for label, name in _FRENCH_ASSETS.items():
        try:
            bunch = fetch_french_portfolios(
                name, data_home=data_home, download_if_missing=download
            )
        except (OSError, ValueError) as exc:
            notes.append(f"Anomaly test on the {label} portfolios skipped: {exc}")
            continue
        # y is the excess return over t+1 on the as-of month t.
        wide = bunch.y.unstack(level=0)
        out[label] = as_of_to_return_period(wide).dropna(how="all")
    return out


def _factor_sets(panel, long_short) -> dict:
    """Observable factor sets and, per model, the market plus its long-short."""
    observed, months = panel.source.factor_sets, panel.test_months_earned
    sets = {k: v.reindex(months).dropna() for k, v in observed.items()}
    mkt = market_returns(observed)
    main = "value" if panel.sizes is not None else "equal"
    for (model, w), frame in long_short.items():
        if w != main or mkt is None:
            continue
        earned = as_of_to_return_period(frame["predicted"].rename(f"LS {model}"))
        both = pd.concat([mkt, earned], axis=1, join="inner")
        sets[f"MKT + {model} LS"] = both.reindex(months).dropna()
    return sets


def anomaly_tables(
    panel, long_short, external=None, *, data_home=None, download_if_missing=False
):
    """GRS and alphas of test assets on each factor set, over the test months.

    Factor sets: the observable ones (CAPM, FF3, FF5) and, per model, the
    market plus the model's value-weighted (else equal-weighted) long-short
    return on its predicted returns: the walk-forward's latent factors
    change rotation at every refit, so they are not one factor series.

    Returns
    -------
    results : dict
        Test-asset name -> anomaly-test summary DataFrame.
    notes : list of str
        What was skipped and why.
    """
    notes = []
    sets = _factor_sets(panel, long_short)
    if not sets:
        return {}, ["No factor set for the anomaly tests (no observable factors)."]
    rows = panel.test_rows
    sizes = panel.test_weights
    chars = characteristic_anomalies(
        panel.X[rows], panel.y[rows], sizes, panel.n_portfolios
    )
    assets = {"characteristic portfolios": as_of_to_return_period(chars)}
    if panel.source.name != "simulated":  # real data only: simulated months are labels
        assets.update(_french_assets(data_home, download_if_missing, notes))
    if external is not None:
        assets["external anomalies"] = external
    results = {}
    for name, frame in assets.items():
        # Months without any return (the last as-of month) go first; then
        # assets missing in a remaining month.
        frame = frame.reindex(panel.test_months_earned).dropna(how="all")
        frame = frame.dropna(axis=1)
        try:
            # summary() has one row per factor set; the study's tables and
            # metrics.json put the factor sets side by side.
            results[f"{name} (test months)"] = (
                anomaly_test(frame, sets, join="inner").summary().T
            )
        except ValueError as exc:
            notes.append(f"Anomaly test on the {name} skipped: {exc}")
    return results, notes
