"""Holm's adjusted p-values against statsmodels' multipletests."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from sklearn_neurif.inference import holm


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.05, 4), rng.uniform(0, 1, 8), [0.0, 1.0]])
    rng.shuffle(p)
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-14)


def test_holm_ties_nan_series_and_bounds():
    p = pd.Series([0.02, np.nan, 0.02, 0.5], index=list("abcd"), name="p")
    out = holm(p)
    assert list(out.index) == list("abcd") and out.name == "p"
    # m = 3 tests (the NaN is not one): 3 x 0.02, then max(0.06, 2 x 0.02).
    np.testing.assert_allclose(out.to_numpy(), [0.06, np.nan, 0.06, 0.5])
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]  # capped at 1
    assert holm([]).shape == (0,)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ([0.1, 1.5], ValueError, r"in \[0, 1\]"),
        ([-0.1], ValueError, r"in \[0, 1\]"),
        ([[0.1, 0.2]], ValueError, "one-dimensional"),
        ([True, False], TypeError, "must be numbers"),
        (["0.1"], TypeError, "must be numbers"),
    ],
)
def test_holm_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        holm(bad)
