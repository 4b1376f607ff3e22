"""One name per statistic across the result objects (docs/conventions.md).

Nothing has been released, so former names are removed rather than kept as
deprecated aliases: reading one raises AttributeError.
"""

import numpy as np
import pandas as pd
import pytest

from sklearn_neurif.inference import (
    anomaly_test,
    diebold_mariano,
    grs_test,
    spanning_regression,
)
from sklearn_neurif.metrics import rank_ic


def _results():
    rng = np.random.default_rng(0)
    f = pd.DataFrame(rng.normal(0.01, 0.04, (60, 2)), columns=["a", "b"])
    R = pd.DataFrame(
        f.to_numpy() @ rng.normal(1, 0.3, (2, 5)) + rng.normal(0, 0.02, (60, 5)),
        columns=[f"p{j}" for j in range(5)],
    )
    idx = pd.MultiIndex.from_product([range(10), range(4)], names=["entity", "time"])
    return {
        "span": spanning_regression(R, f),
        "grs": grs_test(R, f),
        "test": anomaly_test(R, {"ab": f})["ab"],
        "dm": diebold_mariano(pd.Series(rng.normal(0, 0.05, 40), index=idx), 0.0, 0.01),
        "ic": rank_ic(pd.Series(rng.normal(size=40), index=idx), rng.normal(size=40)),
    }


RESULTS = _results()


@pytest.mark.parametrize(
    "obj, old, new",
    [
        ("span", "tvalues", "tstats"),
        # Tables of statistics are plural (linearmodels): one per asset.
        ("span", "tstat", "tstats"),
        ("span", "pvalue", "pvalues"),
        ("test", "tstat", "tstats"),
        ("span", "n_obs", "n_periods"),
        ("grs", "f_stat", "stat"),
        ("test", "grs_f", "grs_stat"),
        ("ic", "t_stat", "tstat"),
        ("dm", "nobs", "n_periods"),
    ],
)
def test_former_names_are_removed(obj, old, new):
    result = RESULTS[obj]
    assert not hasattr(result, old)
    assert getattr(result, new) is not None


def test_tables_are_plural_and_single_statistics_singular():
    assert isinstance(RESULTS["span"].tstats, pd.DataFrame)
    assert isinstance(RESULTS["span"].pvalues, pd.DataFrame)
    assert isinstance(RESULTS["test"].tstats, pd.Series)
    assert np.isscalar(RESULTS["ic"].tstat)  # one mean IC: one t-statistic


def test_single_tests_have_stat_and_pvalue():
    for name in ("grs", "dm"):
        assert np.isfinite(RESULTS[name].stat) and 0 <= RESULTS[name].pvalue <= 1


def test_newey_west_mean_returns_a_frozen_result():
    import dataclasses

    from sklearn_neurif.inference import NeweyWestMeanResult, newey_west_mean

    rng = np.random.default_rng(1)
    res = newey_west_mean(rng.normal(0.01, 0.02, 60), lags=2)
    assert isinstance(res, NeweyWestMeanResult)
    assert res.stat == pytest.approx(res.mean / res.std_error)
    assert 0 < res.pvalue < 1 and res.nw_lags == 2 and res.n_periods == 60
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.mean = 0.0
    with pytest.raises(TypeError):
        mean, stat, lags = res  # not a tuple
