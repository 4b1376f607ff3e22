"""
Choosing the number of factors by time-series cross-validation
================================================================

A grid search over ``n_factors`` for a rank-scaler + IPCA Pipeline, with
:class:`~sklearn_neurif.model_selection.PanelTimeSeriesSplit` (folds over
periods, expanding window, a one-period embargo) and two of the package's
scorers at once: out-of-sample total R-squared and the long-short decile
Sharpe ratio of the predicted returns. The same code runs
:class:`~sklearn_neurif.NeurIFRegressor`: swap the last step.

Run ``python examples/plot_grid_search.py`` (``--quick`` for a smaller panel).
"""

# %%
# Data and the Pipeline
# ---------------------
import sys

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.metrics import r2_predictive_scorer, r2_total_scorer
from sklearn_neurif.model_selection import PanelTimeSeriesSplit
from sklearn_neurif.portfolio import long_short_sharpe_scorer
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

quick = "--quick" in sys.argv
data = make_conditional_factor_panel(
    n_entities=200 if quick else 800,
    n_periods=72 if quick else 240,
    n_characteristics=12,
    n_factors=3,
    factor_means=(0.02, 0.01, 0.01),
    noise_vol=0.08,
    random_state=0,
)
pipe = make_pipeline(CrossSectionalRankScaler(), IPCARegressor())

# %%
# Grid search over periods
# ------------------------
# Each fold trains on all periods before its test block, leaves one period
# out as an embargo, and scores the next block. The scorers read the period
# of each row from the ``(entity, time)`` MultiIndex.
search = GridSearchCV(
    pipe,
    {"ipcaregressor__n_factors": [1, 2, 3, 4, 5, 6]},
    cv=PanelTimeSeriesSplit(n_splits=3 if quick else 5, gap=1),
    scoring={
        "total_r2": r2_total_scorer,
        "predictive_r2": r2_predictive_scorer,
        "long_short_sharpe": long_short_sharpe_scorer,
    },
    # Total R-squared out of sample still re-estimates the factors on the test
    # months, so it keeps creeping up with K; choose K on predictive R-squared.
    refit="predictive_r2",
)
search.fit(data.X, data.y)
results = pd.DataFrame(search.cv_results_).set_index("param_ipcaregressor__n_factors")
table = results[
    ["mean_test_total_r2", "mean_test_predictive_r2", "mean_test_long_short_sharpe"]
]
table.columns = ["total R2", "predictive R2", "long-short Sharpe"]
print(table.round(4).to_string())
print("best n_factors:", search.best_params_["ipcaregressor__n_factors"], "(true: 3)")

# %%
# Scores by number of factors
# ---------------------------
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
table["predictive R2"].plot(ax=axes[0], marker="o", title="out-of-sample predictive R2")
table["long-short Sharpe"].plot(
    ax=axes[1], marker="o", title="long-short Sharpe (annualised)"
)
for ax in axes:
    ax.set_xlabel("n_factors")
fig.tight_layout()
plt.show()
