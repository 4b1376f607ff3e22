"""Tests of PanelTimeSeriesSplit and temporal_train_test_split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import config_context
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_validate
from sklearn.pipeline import make_pipeline

from sklearn_neurif.model_selection import (
    PanelTimeSeriesSplit,
    temporal_train_test_split,
)
from sklearn_neurif.preprocessing import CrossSectionalRankScaler


def _panel(n_entities=4, n_periods=10, seed=0, drop=0.0, shuffle=True):
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product(
        [
            [f"e{i}" for i in range(n_entities)],
            pd.period_range("2001-01", periods=n_periods, freq="M"),
        ],
        names=["entity", "date"],
    )
    X = pd.DataFrame(
        rng.standard_normal((len(index), 3)), index=index, columns=["a", "b", "c"]
    )
    if drop:
        X = X[rng.random(len(X)) >= drop]
    if shuffle:
        X = X.iloc[rng.permutation(len(X))]
    y = pd.Series(
        X.to_numpy() @ [0.5, -0.2, 0.1] + 0.1 * rng.standard_normal(len(X)),
        index=X.index,
    )
    return X, y


def _periods_of(X, rows):
    return sorted(set(X.index.get_level_values(-1)[rows]))


def test_explicit_period_lists():
    X, _ = _panel(n_periods=10)
    months = pd.period_range("2001-01", periods=10, freq="M")
    cv = PanelTimeSeriesSplit(n_splits=3, test_size=2, gap=1)
    got = [(_periods_of(X, tr), _periods_of(X, te)) for tr, te in cv.split(X)]
    # Test blocks are the last 3 x 2 periods: [4, 5], [6, 7], [8, 9]; training
    # stops gap=1 period before each block.
    expected = [
        (list(months[:3]), list(months[4:6])),
        (list(months[:5]), list(months[6:8])),
        (list(months[:7]), list(months[8:10])),
    ]
    assert got == expected
    rolling = PanelTimeSeriesSplit(n_splits=3, test_size=2, max_train_size=4)
    got = [(_periods_of(X, tr), _periods_of(X, te)) for tr, te in rolling.split(X)]
    assert got == [
        (list(months[:4]), list(months[4:6])),
        (list(months[2:6]), list(months[6:8])),
        (list(months[4:8]), list(months[8:10])),
    ]
    # Default test_size: n_periods // (n_splits + 1) = 10 // 4 = 2.
    default = PanelTimeSeriesSplit(n_splits=3)
    assert [_periods_of(X, te) for _, te in default.split(X)] == [
        list(months[4:6]),
        list(months[6:8]),
        list(months[8:10]),
    ]
    table = cv.split_periods(X)
    assert table["test_start"].tolist() == [months[4], months[6], months[8]]
    assert table["n_train_periods"].tolist() == [3, 5, 7]


@pytest.mark.parametrize(
    "params",
    [
        dict(n_splits=5),
        dict(n_splits=3, test_size=3, gap=2),
        dict(n_splits=4, test_size=1, max_train_size=3),
        dict(n_splits=2, gap=3, max_train_size=5),
    ],
)
def test_matches_sklearn_time_series_split_over_periods(params):
    X, _ = _panel(n_entities=5, n_periods=17, drop=0.3)
    periods = np.sort(X.index.get_level_values(-1).unique())
    sk = TimeSeriesSplit(**params).split(np.arange(len(periods)))
    ours = PanelTimeSeriesSplit(**params).split(X)
    time = X.index.get_level_values(-1)
    for (sk_train, sk_test), (train, test) in zip(sk, ours, strict=True):
        np.testing.assert_array_equal(
            train, np.flatnonzero(time.isin(periods[sk_train]))
        )
        np.testing.assert_array_equal(test, np.flatnonzero(time.isin(periods[sk_test])))


@st.composite
def panels_and_splitters(draw):
    n_entities = draw(st.integers(1, 6))
    n_periods = draw(st.integers(3, 14))
    present = draw(
        st.lists(
            st.booleans(),
            min_size=n_entities * n_periods,
            max_size=n_entities * n_periods,
        )
    )
    keys = [(e, t) for e in range(n_entities) for t in range(n_periods)]
    keys = [k for k, p in zip(keys, present, strict=True) if p]
    # Every period needs a row (otherwise it is not a period of the panel).
    keys += [(0, t) for t in range(n_periods) if not any(k[1] == t for k in keys)]
    perm = draw(st.permutations(range(len(keys))))
    index = pd.MultiIndex.from_tuples([keys[i] for i in perm], names=["entity", "time"])
    X = pd.DataFrame({"z": np.arange(len(index), dtype=float)}, index=index)
    n_splits = draw(st.integers(2, 4))
    test_size = draw(st.integers(1, 3))
    gap = draw(st.integers(0, 2))
    max_train = draw(st.one_of(st.none(), st.integers(1, 5)))
    cv = PanelTimeSeriesSplit(
        n_splits, test_size=test_size, gap=gap, max_train_size=max_train
    )
    return X, cv


@settings(max_examples=80, deadline=None)
@given(panels_and_splitters())
def test_split_properties_on_random_unbalanced_panels(case):
    X, cv = case
    time = X.index.get_level_values(-1).to_numpy()
    n_periods = len(np.unique(time))
    if n_periods - cv.gap - cv.n_splits * cv.test_size < 1:
        with pytest.raises(ValueError, match="Too few periods"):
            list(cv.split(X))
        return
    splits = list(cv.split(X))
    assert len(splits) == cv.get_n_splits(X) == cv.n_splits
    previous_test_end = None
    for train, test in splits:
        train_t, test_t = set(time[train]), set(time[test])
        assert not set(train) & set(test)
        assert len(test_t) == cv.test_size
        # Whole periods on each side: every row of a used period is included.
        assert set(np.flatnonzero(np.isin(time, list(test_t)))) == set(test)
        assert set(np.flatnonzero(np.isin(time, list(train_t)))) == set(train)
        # Training strictly before testing, with gap periods in between.
        assert max(train_t) + cv.gap < min(test_t)
        assert min(test_t) - max(train_t) - 1 == cv.gap
        if cv.max_train_size is not None:
            assert len(train_t) <= cv.max_train_size
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        if previous_test_end is not None:
            assert min(test_t) == previous_test_end + 1
        previous_test_end = max(test_t)
    assert previous_test_end == time.max()


def test_groups_for_arrays_and_checks():
    X, y = _panel(n_periods=8)
    time = X.index.get_level_values(-1)
    cv = PanelTimeSeriesSplit(n_splits=3, test_size=1)
    from_index = [(tr.tolist(), te.tolist()) for tr, te in cv.split(X)]
    from_groups = [
        (tr.tolist(), te.tolist()) for tr, te in cv.split(X.to_numpy(), groups=time)
    ]
    assert from_index == from_groups
    # The time level passed again as groups is accepted.
    assert [
        (tr.tolist(), te.tolist()) for tr, te in cv.split(X, groups=time)
    ] == from_index
    with pytest.raises(ValueError, match="groups must be None or the time level"):
        list(cv.split(X, groups=X.index.get_level_values(0)))
    with pytest.raises(
        ValueError, match="no \\(entity, time\\) MultiIndex and groups is None"
    ):
        list(cv.split(X.to_numpy()))
    with pytest.raises(ValueError, match="groups has 3 entries; X has 32 rows"):
        list(cv.split(X.to_numpy(), groups=[1, 2, 3]))
    with pytest.raises(ValueError, match="missing period"):
        list(cv.split(np.zeros((3, 1)), groups=[1.0, np.nan, 2.0]))


def test_too_few_periods_message_has_the_numbers():
    X, _ = _panel(n_periods=6)
    with pytest.raises(
        ValueError,
        match=r"n_splits=3 x test_size=2 .* gap=1 leave -1 .* 6 periods and need at least 8",
    ):
        list(PanelTimeSeriesSplit(3, test_size=2, gap=1).split(X))
    with pytest.raises(
        ValueError, match="n_splits=6 needs at least 7 periods; the data have 6"
    ):
        list(PanelTimeSeriesSplit(6).split(X))
    with pytest.raises(ValueError, match="n_splits must be an integer >= 2"):
        list(PanelTimeSeriesSplit(1).split(X))
    with pytest.raises(ValueError, match="gap must be an integer >= 0"):
        list(PanelTimeSeriesSplit(2, gap=-1).split(X))


def test_cross_validate_and_grid_search_with_ridge():
    X, y = _panel(n_entities=30, n_periods=24, drop=0.2)
    cv = PanelTimeSeriesSplit(n_splits=4, test_size=3, gap=1)
    res = cross_validate(Ridge(), X, y, cv=cv, return_indices=True)
    assert len(res["test_score"]) == 4 and np.all(res["test_score"] > 0.5)
    time = X.index.get_level_values(-1)
    for train, test in zip(
        res["indices"]["train"], res["indices"]["test"], strict=True
    ):
        assert time[train].max() + 1 < time[test].min()  # gap=1 month
        assert not set(time[train]) & set(time[test])
    pipe = make_pipeline(CrossSectionalRankScaler(), Ridge())
    search = GridSearchCV(pipe, {"ridge__alpha": [0.1, 10.0]}, cv=cv).fit(X, y)
    assert search.best_params_["ridge__alpha"] in (0.1, 10.0)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_groups_routed_under_metadata_routing():
    X, y = _panel(n_periods=12)
    time = X.index.get_level_values(-1)
    cv = PanelTimeSeriesSplit(n_splits=3)
    plain = cross_validate(Ridge(), X, y, cv=cv)["test_score"]
    with config_context(enable_metadata_routing=True):
        routed = cross_validate(
            Ridge(), X.to_numpy(), y.to_numpy(), cv=cv, params={"groups": time}
        )["test_score"]
    np.testing.assert_allclose(routed, plain)


def test_temporal_train_test_split():
    X, y = _panel(n_periods=10, drop=0.1)
    months = pd.period_range("2001-01", periods=10, freq="M")
    X_tr, X_te, y_tr, y_te = temporal_train_test_split(X, y, test_size=3, gap=2)
    assert _periods_of(X_tr, slice(None)) == list(months[:5])
    assert _periods_of(X_te, slice(None)) == list(months[7:])
    assert X_tr.index.equals(y_tr.index) and X_te.index.equals(y_te.index)
    # Original row order kept inside each part.
    pos = X.index.get_indexer(X_tr.index)
    assert np.all(np.diff(pos) > 0)
    # A share of the periods, rounded up: ceil(0.25 * 10) = 3.
    _, X_te2 = temporal_train_test_split(X, test_size=0.25)
    assert _periods_of(X_te2, slice(None)) == list(months[7:])
    a_tr, a_te = temporal_train_test_split(
        X.to_numpy(), groups=X.index.get_level_values(-1), test_size=2
    )
    np.testing.assert_array_equal(
        a_te, X.to_numpy()[X.index.get_level_values(-1) >= months[8]]
    )
    with pytest.raises(ValueError, match="leave 0 training period"):
        temporal_train_test_split(X, y, test_size=8, gap=2)
    with pytest.raises(ValueError, match="different numbers of rows"):
        temporal_train_test_split(X, y.iloc[:-1])


def test_inputs_not_mutated():
    X, y = _panel(n_periods=8)
    X0, y0 = X.copy(), y.copy()
    list(PanelTimeSeriesSplit(3).split(X, y))
    temporal_train_test_split(X, y, test_size=2)
    pd.testing.assert_frame_equal(X, X0)
    pd.testing.assert_series_equal(y, y0)
