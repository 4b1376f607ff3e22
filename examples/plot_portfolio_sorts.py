"""
Portfolio sorts on IPCA loadings
================================

Fit :class:`~sklearn_neurif.IPCARegressor` on the first half of a simulated
panel, then, on the second half (out of sample), sort the assets each period
into deciles on the predicted return and on each factor loading with
:func:`~sklearn_neurif.portfolio.sort_on_factor_model`, and plot the
cumulative long-short returns.

Run ``python examples/plot_portfolio_sorts.py`` (a few seconds; headless with
the Agg backend).
"""

# %%
# Simulate a panel and fit IPCA on the first half
# -----------------------------------------------
# Row ``(i, t)`` holds characteristics known at the end of ``t``; ``y`` at
# ``(i, t)`` is the excess return over ``t+1``.
import matplotlib.pyplot as plt
from sklearn.pipeline import make_pipeline

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.model_selection import temporal_train_test_split
from sklearn_neurif.portfolio import PortfolioSorter, sort_on_factor_model
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

data = make_conditional_factor_panel(
    n_entities=300,
    n_periods=120,
    n_characteristics=10,
    n_factors=3,
    factor_means=(0.01, 0.005, 0.0025),
    random_state=0,
)
X_train, X_test, y_train, y_test = temporal_train_test_split(
    data.X, data.y, test_size=0.5
)
model = make_pipeline(CrossSectionalRankScaler(), IPCARegressor(n_factors=3))
model.fit(X_train, y_train)

# %%
# Sort on the predicted return and on each loading, in one call
# -------------------------------------------------------------
# Deciles each period (equal weights), long-short = top minus bottom decile.
# The table gives the long-short mean, its Newey-West t-statistic, the
# annualised Sharpe ratio and the one-way turnover (sum of both legs).
sorts = sort_on_factor_model(model, X_test, y_test, n_portfolios=10)
print(sorts.summary()[["mean", "tstat", "sharpe", "turnover", "n_periods"]].round(3))

# %%
# The tidy table has one row per (signal, portfolio):
print(sorts.table.head(12).round(4))

# %%
# Decile mean returns of the predicted-return sort
# ------------------------------------------------
# The same sort with :class:`~sklearn_neurif.portfolio.PortfolioSorter`
# directly: the signal is one column of a panel.
pred = X_test[[]].assign(predicted=model.predict(X_test))
deciles = PortfolioSorter(n_portfolios=10).fit(pred, y_test).result_
fig, ax = plt.subplots(figsize=(6, 3))
deciles.mean.drop("LS").plot.bar(ax=ax, color="tab:blue")
ax.set_ylabel("mean monthly return")
ax.set_title("Deciles sorted on IPCA predicted return (out of sample)")
fig.tight_layout()

# %%
# Cumulative long-short returns
# -----------------------------
# Portfolio rows are labelled by the as-of period ``t`` of the sort; each
# return is earned over ``t+1``.
ls = sorts.long_short_returns
fig, ax = plt.subplots(figsize=(6, 3.5))
ls.cumsum().plot(ax=ax)
ax.set_xlabel("as-of period t of the sort (return over t+1)")
ax.set_ylabel("cumulative long-short return")
ax.set_title("Decile long-short portfolios, out of sample")
fig.tight_layout()
