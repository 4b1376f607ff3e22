"""Tests of the shared panel data layer (validation, layout, timing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_neurif.panel import (
    PanelLayout,
    align_next_period_returns,
    check_panel_frame,
    check_panel_target,
    is_panel,
    panel_index,
)


@st.composite
def unbalanced_indexes(draw, max_entities=7, max_periods=9):
    """Random unbalanced (entity, time) index in random row order."""
    n_entities = draw(st.integers(1, max_entities))
    n_periods = draw(st.integers(1, max_periods))
    grid = [(f"e{e}", 100 + 3 * t) for e in range(n_entities) for t in range(n_periods)]
    present = draw(st.lists(st.booleans(), min_size=len(grid), max_size=len(grid)))
    keys = [k for k, p in zip(grid, present, strict=True) if p] or [grid[0]]
    perm = draw(st.permutations(range(len(keys))))
    return pd.MultiIndex.from_tuples([keys[i] for i in perm], names=["entity", "time"])


def _brute_force_lookup(index):
    """(entity, period position) -> row, with period positions from sorted times."""
    periods = sorted(set(index.get_level_values(-1)))
    pos = {t: k for k, t in enumerate(periods)}
    return {(e, pos[t]): r for r, (e, t) in enumerate(index)}, pos


@settings(max_examples=80, deadline=None)
@given(unbalanced_indexes(), st.integers(1, 3))
def test_dense_long_round_trip(index, n_features):
    layout = PanelLayout(index)
    rng = np.random.default_rng(len(index))
    values = rng.standard_normal((len(index), n_features))
    dense = layout.to_dense(values)
    assert dense.shape == (layout.n_periods, layout.n_max, n_features)
    np.testing.assert_array_equal(layout.to_long(dense), values)  # exact
    mask = layout.mask
    assert mask.sum() == layout.n_rows == len(index)
    assert np.isnan(dense[~mask]).all() and not np.isnan(dense[mask]).any()
    # 1-d values and integer values with an explicit fill.
    ints = np.arange(len(index))
    dense_int = layout.to_dense(ints, fill_value=-1)
    assert dense_int.dtype.kind == "i"
    np.testing.assert_array_equal(layout.to_long(dense_int), ints)
    np.testing.assert_array_equal(layout.dense_rows, dense_int)
    # Periods are sorted, slots follow the sorted entities of each period.
    times = index.get_level_values(-1)
    assert list(layout.periods) == sorted(set(times))
    np.testing.assert_array_equal(
        layout.counts, [np.sum(times == t) for t in layout.periods]
    )
    for t, rows in enumerate(layout.period_rows()):
        assert set(times[rows]) == {layout.periods[t]}
        entities = index.get_level_values(0)[rows]
        assert list(entities) == sorted(entities)
        np.testing.assert_array_equal(layout.slot[rows], np.arange(len(rows)))
    assert sorted(np.concatenate(layout.period_rows()).tolist()) == list(
        range(len(index))
    )
    per_row = layout.per_period(np.arange(layout.n_periods) * 10)
    np.testing.assert_array_equal(per_row, layout.time_pos * 10)


@settings(max_examples=80, deadline=None)
@given(unbalanced_indexes(), st.integers(1, 4))
def test_lagged_rows_and_history_match_brute_force(index, window):
    layout = PanelLayout(index)
    lookup, pos = _brute_force_lookup(index)
    table = layout.lagged_rows(window)
    assert table.shape == (len(index), window)
    for r, (e, t) in enumerate(index):
        for k in range(window):
            assert table[r, window - 1 - k] == lookup.get((e, pos[t] - k), -1)
    # A subset of rows gives the same rows of the table.
    rows = np.arange(0, len(index), 2)
    np.testing.assert_array_equal(layout.lagged_rows(window, rows=rows), table[rows])
    history = layout.history_length()
    for r, (e, t) in enumerate(index):
        n = 0
        while (e, pos[t] - n - 1) in lookup:
            n += 1
        assert history[r] == n


def test_layout_example_and_shape_errors():
    idx = pd.MultiIndex.from_tuples(
        [("b", 2), ("a", 1), ("b", 1)], names=["entity", "time"]
    )
    layout = PanelLayout.from_data(pd.DataFrame({"z": [3.0, 1.0, 2.0]}, index=idx))
    np.testing.assert_array_equal(
        layout.to_dense(np.array([3.0, 1.0, 2.0])), [[1.0, 2.0], [3.0, np.nan]]
    )
    np.testing.assert_array_equal(layout.lagged_rows(2), [[2, 0], [-1, 1], [-1, 2]])
    np.testing.assert_array_equal(layout.history_length(), [1, 0, 0])
    with pytest.raises(ValueError, match="values have 2 rows; the panel has 3"):
        layout.to_dense(np.zeros(2))
    with pytest.raises(ValueError, match="expected \\(2, 2\\)"):
        layout.to_long(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="values have 3 periods; the panel has 2"):
        layout.per_period(np.zeros(3))
    with pytest.raises(ValueError, match="window must be at least 1"):
        layout.lagged_rows(0)
    assert "n_rows=3" in repr(layout)


# --- panel_index -----------------------------------------------------------


def test_plain_arrays_are_one_period():
    for X in (np.zeros((4, 2)), [[1.0], [2.0], [3.0]], pd.DataFrame({"a": [1.0, 2.0]})):
        index = panel_index(X)
        n = len(X)
        assert list(index.names) == ["entity", "time"]
        np.testing.assert_array_equal(index.get_level_values(0), np.arange(n))
        assert set(index.get_level_values(1)) == {0}
        assert PanelLayout(index).n_periods == 1
    assert not is_panel(np.zeros((2, 2))) and not is_panel(pd.DataFrame({"a": [1]}))


def test_panel_index_errors():
    three = pd.MultiIndex.from_product([["a"], [1], ["x", "y"]], names=["e", "t", "k"])
    with pytest.raises(ValueError, match="two-level MultiIndex .* got 3 levels"):
        panel_index(pd.DataFrame({"z": [1.0, 2.0]}, index=three))
    dup = pd.MultiIndex.from_tuples([("a", 1), ("a", 1), ("b", 1)])
    with pytest.raises(
        ValueError, match=r"1 duplicated \(entity, time\) pair\(s\), e.g. \('a', 1\)"
    ):
        panel_index(pd.Series([1.0, 2.0, 3.0], index=dup))
    nan_time = pd.MultiIndex.from_arrays([["a", "b"], [1.0, np.nan]])
    with pytest.raises(ValueError, match="1 missing time key"):
        panel_index(pd.Series([1.0, 2.0], index=nan_time))
    nan_entity = pd.MultiIndex.from_arrays([[None, "b"], [1, 1]])
    with pytest.raises(ValueError, match="1 missing entity key"):
        panel_index(pd.Series([1.0, 2.0], index=nan_entity))


# --- check_panel_frame -----------------------------------------------------


def _frame():
    idx = pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["entity", "time"])
    return pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "bm": [1, 2, 3, 4]}, index=idx)


def test_check_panel_frame_errors():
    X = _frame()
    check_panel_frame(X)
    check_panel_frame(X.assign(flag=[True, False, True, False]))
    obj = X.assign(
        industry=["tech", "bank", "tech", "oil"], sic=pd.Categorical([1, 2, 1, 3])
    )
    with pytest.raises(
        TypeError, match=r"non-numeric column\(s\): \['industry', 'sic'\]"
    ):
        check_panel_frame(obj)
    inf = X.copy()
    inf.loc[("a", 2), "size"] = -np.inf
    with pytest.raises(ValueError, match=r"infinite values in column\(s\) \['size'\]"):
        check_panel_frame(inf, allow_nan=True)
    nan = X.copy()
    nan.loc[("b", 1), "size"] = np.nan
    with pytest.raises(ValueError, match=r"missing values per column: \{'size': 1\}"):
        check_panel_frame(nan)
    check_panel_frame(nan, allow_nan=True)
    check_panel_frame(np.array([[np.inf]]))  # arrays are left to validate_data


# --- check_panel_target ----------------------------------------------------


def test_check_panel_target():
    X = _frame()
    y = pd.Series([0.1, np.nan, -0.2, 0.3], index=X.index)
    out = check_panel_target(y, X.index)
    np.testing.assert_array_equal(out, y.to_numpy())
    out[0] = 99.0
    assert y.iloc[0] == 0.1  # a copy, y untouched
    np.testing.assert_array_equal(
        check_panel_target(y.to_frame(), X.index), y.to_numpy()
    )
    # Paired by index: a reordered y is put back in X's row order.
    np.testing.assert_array_equal(
        check_panel_target(y.iloc[::-1], X.index), y.to_numpy()
    )
    with pytest.raises(ValueError, match="not aligned with X"):
        check_panel_target(y.iloc[:3], X.index)
    with pytest.raises(
        ValueError, match="1 \\(entity, time\\) row\\(s\\) of X missing"
    ):
        check_panel_target(y.iloc[:3], X.index)
    with pytest.raises(ValueError, match="never by position"):
        check_panel_target(np.zeros(4), X.index)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        check_panel_target(np.zeros(3), panel_index(np.zeros((4, 1))))
    with pytest.raises(ValueError, match="1 infinite value"):
        check_panel_target(y.replace(0.3, np.inf), X.index)
    with pytest.raises(ValueError, match="Every return in y is missing"):
        check_panel_target(pd.Series(np.nan, index=X.index), X.index)
    with pytest.raises(ValueError, match="1 missing value"):
        check_panel_target(y, X.index, allow_nan=False)
    with pytest.raises(TypeError, match="y must be numeric"):
        check_panel_target(pd.Series(list("abcd"), index=X.index), X.index)


# --- align_next_period_returns ---------------------------------------------


def test_align_next_period_returns_monthly_periods():
    months = pd.period_range("2020-01", periods=4, freq="M")
    idx = pd.MultiIndex.from_product([["a", "b"], months], names=["permno", "date"])
    X = pd.DataFrame({"size": np.arange(8.0)}, index=idx)
    # b has no return in 2020-03: its 2020-02 row gets NaN, never April's return.
    r_idx = idx.drop(("b", months[2]))
    returns = pd.Series(np.arange(len(r_idx), dtype=float) / 100, index=r_idx)
    X0, r0 = X.copy(), returns.copy()
    X_out, y = align_next_period_returns(X, returns)
    pd.testing.assert_frame_equal(X, X0)
    pd.testing.assert_series_equal(returns, r0)
    assert X_out is not X and X_out.equals(X)
    assert y.index.equals(X.index) and y.name == "ret_next"
    expected = {
        ("a", months[0]): returns[("a", months[1])],
        ("a", months[1]): returns[("a", months[2])],
        ("a", months[2]): returns[("a", months[3])],
        ("a", months[3]): np.nan,  # last period
        ("b", months[0]): returns[("b", months[1])],
        ("b", months[1]): np.nan,  # next month missing
        ("b", months[2]): returns[("b", months[3])],
        ("b", months[3]): np.nan,
    }
    np.testing.assert_array_equal(y.to_numpy(), [expected[k] for k in X.index])
    # A calendar gap in a Period level is a gap: the next month, not the next row.
    X_gap = X.drop(index=months[1], level="date")
    _, y_gap = align_next_period_returns(X_gap, returns)
    assert y_gap[("a", months[0])] == returns[("a", months[1])]


def test_align_next_period_returns_integer_periods():
    idx = pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["entity", "time"])
    X = pd.DataFrame({"z": np.arange(6.0)}, index=idx)
    r_idx = idx.drop(("a", 3))
    returns = pd.DataFrame({"ret": [0.1, 0.2, 0.4, 0.5, 0.6]}, index=r_idx)
    _, y = align_next_period_returns(X, returns, name="r")
    np.testing.assert_array_equal(y.to_numpy(), [0.2, np.nan, np.nan, 0.5, 0.6, np.nan])
    assert y.name == "r"


def test_align_next_period_returns_errors():
    idx = pd.MultiIndex.from_product([["a"], [1, 2]], names=["entity", "time"])
    X = pd.DataFrame({"z": [1.0, 2.0]}, index=idx)
    with pytest.raises(
        TypeError, match="returns must have an \\(entity, time\\) MultiIndex"
    ):
        align_next_period_returns(X, pd.Series([0.1, 0.2]))
    with pytest.raises(TypeError, match="characteristics must have"):
        align_next_period_returns(
            X.reset_index(drop=True), pd.Series([0.1], index=idx[:1])
        )
    two = pd.DataFrame({"r1": [0.1, 0.2], "r2": [0.1, 0.2]}, index=idx)
    with pytest.raises(ValueError, match="one-column DataFrame; got 2 columns"):
        align_next_period_returns(X, two)
    p_idx = pd.MultiIndex.from_product(
        [["a"], pd.period_range("2020-01", periods=2, freq="M")],
        names=["entity", "time"],
    )
    with pytest.raises(ValueError, match="time levels differ in type"):
        align_next_period_returns(X, pd.Series([0.1, 0.2], index=p_idx))
