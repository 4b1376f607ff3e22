"""Tests of CrossSectionalRankScaler: ranks by hand, imputation, containers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn import config_context
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from sklearn_neurif.preprocessing import CrossSectionalRankScaler, ImputationReport


def _panel(values, entities, times, columns=("a", "b")):
    index = pd.MultiIndex.from_arrays([entities, times], names=["entity", "time"])
    return pd.DataFrame(
        np.asarray(values, dtype=float), index=index, columns=list(columns)
    )


@pytest.fixture
def tiny():
    """Two periods; period 1 has ties and a NaN, period 2 one valid value in b."""
    nan = np.nan
    values = [
        # period 1: a = [4, 1, 1, nan, 7], b = [2, 2, 2, 5, 1]
        [4.0, 2.0],
        [1.0, 2.0],
        [1.0, 2.0],
        [nan, 5.0],
        [7.0, 1.0],
        # period 2: a = [3, 1, 2], b = [nan, 9, nan]
        [3.0, nan],
        [1.0, 9.0],
        [2.0, nan],
    ]
    entities = ["v", "w", "x", "y", "z", "v", "w", "x"]
    times = [1, 1, 1, 1, 1, 2, 2, 2]
    return _panel(values, entities, times)


def test_ranks_by_hand(tiny):
    out = CrossSectionalRankScaler().fit_transform(tiny)
    # Period 1, a: valid [4, 1, 1, 7] -> average ranks [3, 1.5, 1.5, 4], n=4;
    # (r - 1) / 3 - 0.5. The NaN row gets the median, 0.
    a1 = [2 / 3 - 0.5, 0.5 / 3 - 0.5, 0.5 / 3 - 0.5, 0.0, 0.5]
    # Period 1, b: [2, 2, 2, 5, 1] -> ranks [3, 3, 3, 5, 1], n=5; (r - 1) / 4 - 0.5.
    b1 = [0.0, 0.0, 0.0, 0.5, -0.5]
    # Period 2, a: [3, 1, 2] -> [0.5, -0.5, 0]; b: one valid value -> 0, NaNs -> 0.
    a2 = [0.5, -0.5, 0.0]
    b2 = [0.0, 0.0, 0.0]
    np.testing.assert_allclose(out["a"].to_numpy(), a1 + a2, atol=1e-15)
    np.testing.assert_allclose(out["b"].to_numpy(), b1 + b2, atol=1e-15)


def test_missing_keep_leaves_nan(tiny):
    out = CrossSectionalRankScaler(missing="keep").fit_transform(tiny)
    np.testing.assert_array_equal(np.isnan(out.to_numpy()), np.isnan(tiny.to_numpy()))
    # Non-missing cells are scaled exactly as with median imputation.
    med = CrossSectionalRankScaler().fit_transform(tiny)
    ok = ~np.isnan(tiny.to_numpy())
    np.testing.assert_array_equal(out.to_numpy()[ok], med.to_numpy()[ok])


def test_imputation_counts(tiny):
    scaler = CrossSectionalRankScaler().fit(tiny)
    assert scaler.n_imputed_ == 3
    np.testing.assert_array_equal(scaler.n_imputed_per_feature_, [1, 2])
    report = scaler.imputation_report(tiny)
    assert isinstance(report, ImputationReport)
    assert report.n_imputed == 3 and report.n_cells == 16
    assert report.share == pytest.approx(3 / 16)
    expected = pd.DataFrame({"a": [1, 0], "b": [0, 2]}, index=pd.Index([1, 2]))
    pd.testing.assert_frame_equal(
        report.per_period, expected, check_names=False, check_dtype=False
    )
    table = report.summary()
    assert table.loc["total", "n_imputed"] == 3
    assert table.loc["b", "share"] == pytest.approx(2 / 8)
    keep = CrossSectionalRankScaler(missing="keep").fit(tiny)
    assert keep.n_imputed_ == 0 and keep.imputation_report(tiny).n_imputed == 0


def test_all_missing_column_in_a_period_is_zero_and_counted():
    nan = np.nan
    X = _panel(
        [[nan, 1.0], [nan, 2.0], [3.0, 3.0], [1.0, 4.0]],
        ["p", "q", "p", "q"],
        [1, 1, 2, 2],
    )
    scaler = CrossSectionalRankScaler()
    out = scaler.fit_transform(X)
    np.testing.assert_array_equal(out["a"].to_numpy(), [0.0, 0.0, 0.5, -0.5])
    assert scaler.n_imputed_ == 2
    assert scaler.imputation_report(X).per_period.loc[1, "a"] == 2


def test_transform_does_not_change_the_estimator(tiny):
    scaler = CrossSectionalRankScaler().fit(tiny)
    before = {k: np.copy(v) for k, v in vars(scaler).items()}
    scaler.transform(tiny.iloc[:5])
    scaler.imputation_report(tiny.iloc[:5])
    assert vars(scaler).keys() == before.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(getattr(scaler, key), value)


def _brute_force(X: pd.DataFrame) -> np.ndarray:
    """Independent per-period formula with scipy's rankdata."""
    out = np.zeros(X.shape)
    times = X.index.get_level_values(-1)
    for t in np.unique(times):
        rows = np.flatnonzero(times == t)
        for j in range(X.shape[1]):
            x = X.to_numpy()[rows, j]
            ok = ~np.isnan(x)
            n = ok.sum()
            if n > 1:
                out[rows[ok], j] = (rankdata(x[ok]) - 1) / (n - 1) - 0.5
    return out


@st.composite
def unbalanced_panels(draw):
    n_entities = draw(st.integers(1, 8))
    n_periods = draw(st.integers(1, 5))
    n_features = draw(st.integers(1, 3))
    present = draw(
        st.lists(
            st.booleans(),
            min_size=n_entities * n_periods,
            max_size=n_entities * n_periods,
        )
    )
    keys = [
        (e, t)
        for (e, t), p in zip(
            [(e, t) for e in range(n_entities) for t in range(n_periods)],
            present,
            strict=True,
        )
        if p
    ]
    if not keys:
        keys = [(0, 0)]
    n_rows = len(keys)
    # Small integer values make ties frequent; NaN marks a missing cell.
    cells = draw(
        st.lists(
            st.one_of(st.integers(-3, 3).map(float), st.just(np.nan)),
            min_size=n_rows * n_features,
            max_size=n_rows * n_features,
        )
    )
    perm = draw(st.permutations(range(n_rows)))
    keys = [keys[i] for i in perm]
    index = pd.MultiIndex.from_tuples(keys, names=["entity", "time"])
    values = np.array(cells).reshape(n_rows, n_features)
    return pd.DataFrame(
        values, index=index, columns=[f"c{j}" for j in range(n_features)]
    )


@settings(max_examples=60, deadline=None)
@given(unbalanced_panels())
def test_matches_brute_force_on_random_panels(X):
    original = X.copy()
    # Every column ranked (a random column can be constant within periods).
    out = CrossSectionalRankScaler(constant_columns="rank").fit_transform(X)
    np.testing.assert_allclose(out.to_numpy(), _brute_force(X), atol=1e-12)
    assert out.index.equals(X.index) and list(out.columns) == list(X.columns)
    assert np.abs(out.to_numpy()).max() <= 0.5
    pd.testing.assert_frame_equal(X, original)


def test_matches_pandas_groupby_rank_and_is_uniform():
    rng = np.random.default_rng(0)
    n_entities, n_periods = 50, 12
    index = pd.MultiIndex.from_product(
        [
            np.arange(n_entities),
            pd.period_range("2000-01", periods=n_periods, freq="M"),
        ],
        names=["permno", "date"],
    )
    X = pd.DataFrame(rng.standard_normal((len(index), 4)), index=index)
    X.columns = ["size", "bm", "mom", "vol"]
    X = X.sample(frac=0.8, random_state=1)  # unbalanced and shuffled
    out = CrossSectionalRankScaler().fit_transform(X)
    by_period = X.groupby(level="date")
    expected = (by_period.rank(method="average") - 1).div(
        by_period.transform("count") - 1
    ) - 0.5
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), atol=1e-12)
    # Continuous data, no ties: each period's values are evenly spaced on [-0.5, 0.5].
    for _, block in out.groupby(level="date"):
        n = len(block)
        for col in block:
            np.testing.assert_allclose(
                np.sort(block[col].to_numpy()), np.linspace(-0.5, 0.5, n), atol=1e-12
            )


def test_median_maps_to_zero_and_row_order_is_irrelevant(tiny):
    X = _panel([[5.0, 1.0], [2.0, 9.0], [7.0, 3.0]], ["a", "b", "c"], [1, 1, 1])
    out = CrossSectionalRankScaler().fit_transform(X)
    assert out.loc[("a", 1), "a"] == 0.0 and out.loc[("c", 1), "b"] == 0.0
    shuffled = tiny.iloc[[7, 2, 5, 0, 3, 1, 6, 4]]
    a = CrossSectionalRankScaler().fit_transform(tiny)
    b = CrossSectionalRankScaler().fit_transform(shuffled)
    pd.testing.assert_frame_equal(b, a.loc[shuffled.index])


def test_array_is_one_period_and_gives_ndarray(tiny):
    values = tiny.to_numpy()
    out = CrossSectionalRankScaler().fit_transform(values)
    assert isinstance(out, np.ndarray)
    single = tiny.copy()
    single.index = pd.MultiIndex.from_arrays(
        [np.arange(len(tiny)), np.zeros(len(tiny), dtype=int)], names=["entity", "time"]
    )
    np.testing.assert_array_equal(out, CrossSectionalRankScaler().fit_transform(single))
    assert (
        CrossSectionalRankScaler().fit_transform(values.astype(np.float32)).dtype
        == np.float32
    )


def test_output_containers(tiny):
    scaler = CrossSectionalRankScaler()
    # Panel -> DataFrame on the same MultiIndex under the default config.
    out = scaler.fit_transform(tiny)
    assert isinstance(out, pd.DataFrame) and out.index.equals(tiny.index)
    np.testing.assert_array_equal(scaler.get_feature_names_out(), ["a", "b"])
    pandas_out = (
        CrossSectionalRankScaler().set_output(transform="pandas").fit_transform(tiny)
    )
    pd.testing.assert_frame_equal(pandas_out, out)
    with config_context(transform_output="pandas"):
        flat = tiny.reset_index(drop=True)
        framed = CrossSectionalRankScaler().fit_transform(flat)
    assert isinstance(framed, pd.DataFrame) and list(framed.columns) == ["a", "b"]
    arr = CrossSectionalRankScaler().fit(tiny.to_numpy())
    np.testing.assert_array_equal(arr.get_feature_names_out(), ["x0", "x1"])


def test_stateless_transform_and_feature_check(tiny):
    other = tiny * 3.0 + 1.0
    fitted = CrossSectionalRankScaler().fit(other)
    pd.testing.assert_frame_equal(
        fitted.transform(tiny), CrossSectionalRankScaler().transform(tiny)
    )
    with pytest.raises(ValueError, match="feature names should match"):
        fitted.transform(tiny[["a"]])
    with pytest.raises(ValueError, match="X has 1 features"):
        CrossSectionalRankScaler().fit(tiny.to_numpy()).transform(
            tiny.to_numpy()[:, :1]
        )


def test_n_jobs_gives_the_same_result(tiny):
    rng = np.random.default_rng(3)
    X = tiny.assign(c=rng.standard_normal(len(tiny)), d=rng.standard_normal(len(tiny)))
    one = CrossSectionalRankScaler(n_jobs=1).fit_transform(X)
    two = CrossSectionalRankScaler(n_jobs=2).fit_transform(X)
    pd.testing.assert_frame_equal(one, two)


def test_pipeline_keeps_the_panel_index(tiny):
    y = pd.Series(np.arange(len(tiny), dtype=float), index=tiny.index)
    pipe = make_pipeline(CrossSectionalRankScaler(), Ridge(alpha=1.0)).fit(tiny, y)
    scaled = pipe[:-1].transform(tiny)
    assert scaled.index.equals(tiny.index)
    np.testing.assert_allclose(pipe.predict(tiny), pipe[-1].predict(scaled))


def test_input_not_mutated(tiny):
    original = tiny.copy()
    values = tiny.to_numpy().copy()
    CrossSectionalRankScaler().fit_transform(tiny)
    CrossSectionalRankScaler().fit_transform(values)
    pd.testing.assert_frame_equal(tiny, original)
    np.testing.assert_array_equal(values, original.to_numpy())


def test_errors_name_the_problem(tiny):
    bad = tiny.copy()
    bad["industry"] = "tech"
    with pytest.raises(TypeError, match=r"non-numeric column\(s\): \['industry'\]"):
        CrossSectionalRankScaler().fit(bad)
    inf = tiny.copy()
    inf.iloc[0, 1] = np.inf
    with pytest.raises(ValueError, match=r"infinite values in column\(s\) \['b'\]"):
        CrossSectionalRankScaler().fit(inf)
    with pytest.raises(ValueError, match=r"infinite values in column\(s\) \['x1'\]"):
        CrossSectionalRankScaler().transform(inf.to_numpy())
    dup = tiny.iloc[[0, 0, 1]]
    with pytest.raises(ValueError, match="duplicated"):
        CrossSectionalRankScaler().fit(dup)
    with pytest.raises(ValueError, match="missing"):
        CrossSectionalRankScaler(missing="mean").fit(tiny)


# ------------------------------------- columns constant within each period
def _with_constants(tiny):
    """``tiny`` plus ``const`` (1 everywhere) and a macro variable per period."""
    periods = tiny.index.get_level_values("time")
    macro = np.where(periods == periods[0], 0.03, -0.01)
    return tiny.assign(const=1.0, macro=macro)


def test_constant_columns_pass_through_by_default(tiny):
    X = _with_constants(tiny)
    scaler = CrossSectionalRankScaler().fit(X)
    out = scaler.transform(X)
    np.testing.assert_array_equal(scaler.constant_features_, [False, False, True, True])
    pd.testing.assert_series_equal(out["const"], X["const"])
    pd.testing.assert_series_equal(out["macro"], X["macro"])
    # The other columns are ranked as without the constant ones.
    expected = CrossSectionalRankScaler().fit_transform(tiny)
    pd.testing.assert_frame_equal(out[["a", "b"]], expected)
    # Unfitted (stateless), transform finds them in its input.
    pd.testing.assert_frame_equal(CrossSectionalRankScaler().transform(X), out)


def test_constant_columns_rank_maps_them_to_zero(tiny):
    out = CrossSectionalRankScaler(constant_columns="rank").fit_transform(
        _with_constants(tiny)
    )
    assert (out[["const", "macro"]] == 0.0).all().all()


def test_missing_cell_of_a_constant_column_takes_its_period_value(tiny):
    X = _with_constants(tiny)
    X.iloc[0, X.columns.get_loc("macro")] = np.nan
    out = CrossSectionalRankScaler().fit_transform(X)
    assert out["macro"].iloc[0] == 0.03
    kept = CrossSectionalRankScaler(missing="keep").fit_transform(X)
    assert np.isnan(kept["macro"].iloc[0])


def test_a_single_row_is_not_a_constant_column():
    # One value per period is no evidence of a period-level variable: it
    # keeps the documented map to 0.
    out = CrossSectionalRankScaler().fit_transform(np.array([[3.0, 1.0]]))
    np.testing.assert_array_equal(out, [[0.0, 0.0]])


def test_constant_columns_parameter_is_checked(tiny):
    with pytest.raises(ValueError, match="constant_columns"):
        CrossSectionalRankScaler(constant_columns="keep").fit(tiny)
