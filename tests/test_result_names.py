"""One name per statistic across the result objects (docs/conventions.md).

The former names stay as deprecated aliases: they warn (FutureWarning) and
return the same values as the new names.
"""

import warnings

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


def test_renamed_attributes_warn_and_agree():
    rng = np.random.default_rng(0)
    f = pd.DataFrame(rng.normal(0.01, 0.04, (60, 2)), columns=["a", "b"])
    R = pd.DataFrame(
        f.to_numpy() @ rng.normal(1, 0.3, (2, 5)) + rng.normal(0, 0.02, (60, 5)),
        columns=[f"p{j}" for j in range(5)],
    )
    span = spanning_regression(R, f)
    grs = grs_test(R, f)
    test = anomaly_test(R, {"ab": f})["ab"]
    idx = pd.MultiIndex.from_product([range(10), range(4)], names=["entity", "time"])
    dm = diebold_mariano(pd.Series(rng.normal(0, 0.05, 40), index=idx), 0.0, 0.01)
    ic = rank_ic(pd.Series(rng.normal(size=40), index=idx), rng.normal(size=40))
    pairs = [
        (span, "tvalues", "tstat"),
        (span, "pvalues", "pvalue"),
        (span, "n_obs", "n_periods"),
        (grs, "f_stat", "stat"),
        (test, "grs_f", "grs_stat"),
        (ic, "t_stat", "tstat"),
        (dm, "nobs", "n_periods"),
    ]
    for obj, old, new in pairs:
        with pytest.warns(FutureWarning, match=f"{old} is deprecated.*{new}"):
            value = getattr(obj, old)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            current = getattr(obj, new)
        if isinstance(current, pd.DataFrame):
            pd.testing.assert_frame_equal(value, current)
        elif isinstance(current, pd.Series):
            pd.testing.assert_series_equal(value, current)
        else:
            assert value == current
