"""Checks shared by every torch panel model (sklearn_neurif.nn._base)."""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_neurif import (
    ConditionalAutoencoderRegressor,
    NeurIFRegressor,
    TransformerRegressor,
)
from sklearn_neurif.datasets import make_conditional_factor_panel


@pytest.fixture(scope="module")
def thin_month_panel():
    """A panel whose period 5 has returns for only 2 assets."""
    data = make_conditional_factor_panel(30, 12, 5, 2, random_state=0)
    y = data.y.copy()
    time = data.X.index.get_level_values("time")
    entity = data.X.index.get_level_values("entity")
    y[np.asarray((time == 5) & (entity >= entity.unique()[2]))] = np.nan
    return data.X, y


@pytest.mark.parametrize(
    "model",
    [
        NeurIFRegressor(n_factors=3, window=2, max_epochs=1),
        ConditionalAutoencoderRegressor(n_factors=3, max_epochs=1),
    ],
    ids=["NeurIF", "CA"],
)
def test_factor_models_need_n_factors_assets_with_returns_each_month(
    thin_month_panel, model
):
    X, y = thin_month_panel
    with pytest.raises(ValueError, match=r"n_factors=3 exceeds the 2 asset\(s\).*5"):
        model.fit(X, y)
    model.set_params(n_factors=2).fit(X, y)  # 2 assets suffice for K=2


def test_models_without_factors_are_not_limited(thin_month_panel):
    X, y = thin_month_panel
    TransformerRegressor(window=2, max_epochs=1, random_state=0).fit(X, y)
