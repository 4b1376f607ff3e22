"""Warnings point at the user's line, however deep they are raised."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from test_ipca import _absent_panel  # tests/ is on sys.path (rootdir conftest)

from sklearn_neurif import IPCARegressor, NeurIFRegressor
from sklearn_neurif._warnings import warn_at_caller
from sklearn_neurif.panel import PanelDataWarning
from sklearn_neurif.preprocessing import CrossSectionalRankScaler


def _percent_panel(n=40, t=12, L=3, seed=0):
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([range(n), range(t)], names=["entity", "time"])
    X = pd.DataFrame(rng.uniform(-0.5, 0.5, (n * t, L)), index=index)
    X.columns = [f"z{j}" for j in range(L)]
    return X, pd.Series(rng.normal(0, 5, n * t), index=index)  # percent


def _only(caught, category, text):
    found = [
        w for w in caught if issubclass(w.category, category) and text in str(w.message)
    ]
    assert found, [str(w.message) for w in caught]
    return found


def test_helper_skips_package_frames():
    with pytest.warns(UserWarning, match="here") as record:
        warn_at_caller("here")
    assert record[0].filename == __file__


@pytest.mark.parametrize("wrap", ["plain", "pipeline", "grid"])
def test_percent_returns_warning_points_at_the_fit_call(wrap):
    X, y = _percent_panel()
    est = IPCARegressor(1)
    if wrap == "pipeline":
        est = make_pipeline(CrossSectionalRankScaler(), est)
    elif wrap == "grid":
        est = GridSearchCV(
            est, {"n_factors": [1]}, cv=[(np.arange(240), np.arange(240, 480))]
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    for w in _only(caught, PanelDataWarning, "look like percent"):
        assert w.filename == __file__, (w.filename, w.lineno)


def test_ipca_identification_warning_points_at_the_fit_call():
    X, y = _absent_panel()
    with pytest.warns(UserWarning, match="unidentified_periods_") as record:
        IPCARegressor(3).fit(X, y)
    assert {w.filename for w in record} == {__file__}


def test_neurif_reports_its_ipca_start_warning_as_its_own():
    """The IPCA start's identification warning names the start and points at
    the user's NeurIF fit, not at a line inside the package."""
    X, y = _absent_panel(n=100, t=36)
    est = NeurIFRegressor(n_factors=3, max_epochs=1, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    found = _only(caught, UserWarning, "NeurIF's IPCA start: IPCA: in")
    assert all(w.filename == __file__ for w in found)


@pytest.mark.parametrize("model", ["NeurIF", "CA"])
def test_percent_warning_once_per_fit(model):
    """y is checked once: the realised factors of the training months, computed
    at the end of fit, do not warn a second time."""
    from sklearn_neurif import ConditionalAutoencoderRegressor

    X, y = _percent_panel(n=60, t=12)
    cls = NeurIFRegressor if model == "NeurIF" else ConditionalAutoencoderRegressor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cls(n_factors=1, max_epochs=1, random_state=0).fit(X, y)
    assert len(_only(caught, PanelDataWarning, "look like percent")) == 1
