"""
Quick start: IPCA on a simulated conditional factor panel
==========================================================

Simulate a panel whose loadings are linear in the characteristics, fit
:class:`~sklearn_neurif.IPCARegressor` on the first 80% of the periods and
report out-of-sample total and predictive R-squared (uncentred) on the rest.

Run ``python examples/plot_quickstart.py`` (``--quick`` for a smaller panel).
"""

# %%
# Simulate a panel
# ----------------
# Rows are ``(entity, time)``; ``y`` at ``(i, t)`` is the return over ``t+1``.
import sys

from sklearn.pipeline import make_pipeline

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.metrics import r2_predictive, r2_total
from sklearn_neurif.model_selection import temporal_train_test_split
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

quick = "--quick" in sys.argv
data = make_conditional_factor_panel(
    n_entities=200 if quick else 1000,
    n_periods=60 if quick else 240,
    n_characteristics=20,
    n_factors=3,
    factor_means=(0.02, 0.01, 0.01),
    noise_vol=0.08,
    missing_fraction=0.2,
    random_state=0,
)
X_train, X_test, y_train, y_test = temporal_train_test_split(
    data.X, data.y, test_size=0.2
)
print(data.DESCR)

# %%
# Fit IPCA behind the cross-sectional rank scaler
# -----------------------------------------------
model = make_pipeline(CrossSectionalRankScaler(), IPCARegressor(n_factors=3))
model.fit(X_train, y_train)
ipca = model[-1]
print(f"converged in {ipca.n_iter_} iterations")

# %%
# Out-of-sample fit
# -----------------
# Total R-squared uses the realised factors of the test months (a
# cross-sectional regression of their returns on the loadings); predictive
# R-squared uses the factor premia known at ``t`` (``predict``).
fitted = ipca.predict_total(model[:-1].transform(X_test), y_test)
expected = model.predict(X_test)
print(f"out-of-sample total R2:      {r2_total(y_test, fitted):.4f}")
print(f"out-of-sample predictive R2: {r2_predictive(y_test, expected):.4f}")
