"""
Anomaly tests: learned factors against Fama-French
===================================================

Treat the 25 size/book-to-market portfolios of Fama and French as a panel of
assets with characteristics (book-to-market, profitability, investment, size),
fit IPCA on it, and ask which factor set prices the 25 portfolios better: the
three learned factors or the Fama-French five factors. The
:func:`~sklearn_neurif.inference.anomaly_test` table gives mean absolute
alpha, significant alphas, the GRS test and average R-squared side by side.

The data come from Kenneth French's data library (downloaded once and cached
under ``data_home``; set ``SKLEARN_NEURIF_DATA`` to a folder holding the CSV
files to run offline). The learned factors are estimated on the same months,
so this is an in-sample comparison.

Run ``python examples/plot_anomaly_tests.py`` (``--quick``: from 1990 on).
"""

# %%
# Portfolios as a panel, and the factor files
# -------------------------------------------
import sys

import matplotlib.pyplot as plt
from sklearn.pipeline import make_pipeline

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import fetch_french_factors, fetch_french_portfolios
from sklearn_neurif.inference import anomaly_test
from sklearn_neurif.panel import as_of_to_return_period
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

quick = "--quick" in sys.argv
ff25 = fetch_french_portfolios("25_Portfolios_5x5")
ff5 = fetch_french_factors("F-F_Research_Data_5_Factors_2x3")
time = ff25.X.index.get_level_values("time")
keep = (time >= "1990-01" if quick else time >= "1964-01") & ff25.y.notna().to_numpy()
X, y = ff25.X[keep], ff25.y[keep]
print(ff25.DESCR.splitlines()[0])

# %%
# IPCA on the portfolio panel
# ---------------------------
# ``factors_`` are labelled by the as-of month ``t`` and earned over ``t+1``;
# factor files label a return by the month it is earned, hence the relabel.
# Rank-scaled characteristics average zero across assets, so a constant
# instrument (``add_constant=True``, as in KPS 2019) carries the market.
ipca = IPCARegressor(n_factors=3, add_constant=True)
model = make_pipeline(CrossSectionalRankScaler(), ipca).fit(X, y)
learned = as_of_to_return_period(model[-1].factors_)
test_assets = ff25.returns.loc[learned.index]

# %%
# Side by side: learned factors, FF3 and FF5
# ------------------------------------------
comparison = anomaly_test(
    test_assets,
    {
        "IPCA (3 learned)": learned,
        "FF3": ff5[["Mkt-RF", "SMB", "HML"]],
        "FF5": ff5[["Mkt-RF", "SMB", "HML", "RMW", "CMA"]],
    },
    join="inner",
)
print(comparison.summary().round(4))

# %%
# Alphas of the 25 portfolios under each factor set
# -------------------------------------------------
alphas = comparison.alphas * 100
ax = alphas.plot.bar(figsize=(10, 3.5), width=0.8)
ax.set_ylabel("alpha, % per month")
ax.figure.tight_layout()
plt.show()
