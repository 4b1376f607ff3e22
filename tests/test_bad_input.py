"""Bad input: every kind gets a clear error (or warning) before any training.

Each case below is one kind of bad input an adversarial user could pass to
an estimator, tool, scorer or metric. The test asserts the exception (or
warning) type and that the message names the problem. An autouse fixture
records every training step (an epoch of a panel net, IPCA's alternating
least squares): for the error cases nothing may have trained when the error
is raised. The cases are cheap: tiny panels, one epoch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_neurif import (
    ConditionalAutoencoderRegressor,
    IPCARegressor,
    NeurIFRegressor,
    TransformerRegressor,
)
from sklearn_neurif.ensemble import SeedEnsembleRegressor
from sklearn_neurif.inference import (
    clark_west,
    diebold_mariano,
    monthly_r2,
    spanning_regression,
)
from sklearn_neurif.metrics import (
    mae,
    r2_predictive,
    r2_predictive_scorer,
    r2_total,
    r2_total_scorer,
    rank_ic,
    rmse,
)
from sklearn_neurif.model_selection import (
    PanelTimeSeriesSplit,
    temporal_train_test_split,
)
from sklearn_neurif.panel import (
    PanelDataWarning,
    align_next_period_returns,
    panel_index,
)
from sklearn_neurif.panel._periods import months_from_fields
from sklearn_neurif.portfolio import PortfolioSorter, sort_on_factor_model
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

N_ASSETS, N_MONTHS = 10, 8
MONTHS = pd.period_range("2020-01", periods=N_MONTHS, freq="M")


def _panel(seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [range(N_ASSETS), MONTHS], names=["entity", "time"]
    )
    X = pd.DataFrame(
        rng.uniform(-1, 1, (len(idx), 3)), index=idx, columns=["c1", "c2", "c3"]
    )
    y = pd.Series(0.02 * X["c1"] + rng.normal(0, 0.05, len(idx)), index=idx, name="ret")
    return X, y


X0, Y0 = _panel()


def _ipca():
    return IPCARegressor(n_factors=1)


def _neurif():
    return NeurIFRegressor(
        n_factors=1, window=2, hidden_size=4, max_epochs=1, random_state=0
    )


def _ca():
    return ConditionalAutoencoderRegressor(n_factors=1, max_epochs=1, random_state=0)


def _transformer():
    return TransformerRegressor(window=2, hidden_size=4, max_epochs=1, random_state=0)


ESTIMATORS = {
    "ipca": _ipca,
    "neurif": _neurif,
    "ca": _ca,
    "transformer": _transformer,
}


@pytest.fixture(autouse=True)
def trained(monkeypatch):
    """Record every training step (a net's epoch, IPCA's ALS)."""
    from sklearn_neurif.nn._base import PanelNet

    calls = []
    epoch = PanelNet.run_single_epoch
    als = IPCARegressor._alternating_least_squares

    def record_epoch(self, *args, **kwargs):
        calls.append("epoch")
        return epoch(self, *args, **kwargs)

    def record_als(self, *args, **kwargs):
        calls.append("als")
        return als(self, *args, **kwargs)

    monkeypatch.setattr(PanelNet, "run_single_epoch", record_epoch)
    monkeypatch.setattr(IPCARegressor, "_alternating_least_squares", record_als)
    return calls


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_recorder_sees_training(name, trained):
    # The recorder must see a valid fit train, or "nothing trained" proves nothing.
    ESTIMATORS[name]().fit(X0, Y0)
    # NeurIF starts at IPCA's solution (init="ipca"), so it runs ALS first.
    expected = {"ipca": {"als"}, "neurif": {"als", "epoch"}}.get(name, {"epoch"})
    assert trained and set(trained) == expected


def _with_index(X, index):
    out = X.copy()
    out.index = index
    return out


def _time_relabelled(obj, labels):
    """``obj`` with its time level replaced by ``labels`` (one per month)."""
    mapping = dict(zip(MONTHS, labels, strict=True))
    idx = obj.index
    new = pd.MultiIndex.from_arrays(
        [idx.get_level_values(0), [mapping[t] for t in idx.get_level_values(1)]],
        names=idx.names,
    )
    return _with_index(obj, new)


def _swapped(obj):
    return obj.swaplevel()


def _daily_y():
    """Daily returns over X0's eight months."""
    days = pd.date_range("2020-01-01", "2020-08-31")
    idx = pd.MultiIndex.from_product([range(N_ASSETS), days], names=["entity", "time"])
    return pd.Series(0.001, index=idx)


def _fitted_ipca():
    return IPCARegressor(n_factors=1).fit(X0, Y0)


# ---------------------------------------------------------------- the cases
# (id, exception or warning type, regex the message must match, call)
X_CASES = [
    (
        "three-level index",
        ValueError,
        "two-level MultiIndex",
        lambda est: est.fit(X0.assign(g=1).set_index("g", append=True), Y0),
    ),
    (
        "missing entity key",
        ValueError,
        "missing entity key",
        lambda est: est.fit(
            _with_index(
                X0,
                pd.MultiIndex.from_arrays(
                    [
                        [np.nan] + list(X0.index.get_level_values(0)[1:]),
                        X0.index.get_level_values(1),
                    ],
                    names=["entity", "time"],
                ),
            ),
            Y0,
        ),
    ),
    (
        "duplicated (entity, time)",
        ValueError,
        "duplicated \\(entity, time\\)",
        lambda est: est.fit(pd.concat([X0, X0.iloc[:1]]), pd.concat([Y0, Y0.iloc[:1]])),
    ),
    (
        "(time, entity) by names",
        ValueError,
        "looks like \\(time, entity\\).*swaplevel",
        lambda est: est.fit(_swapped(X0), _swapped(Y0)),
    ),
    (
        "(time, entity) unnamed, Period first",
        ValueError,
        "looks like \\(time, entity\\)",
        lambda est: est.fit(
            _swapped(X0).rename_axis([None, None]),
            _swapped(Y0).rename_axis([None, None]),
        ),
    ),
    (
        "string month labels 2020-1..2020-8",
        ValueError,
        "time level.*sorted as text.*to_monthly_periods",
        lambda est: est.fit(
            _time_relabelled(X0, [f"2020-{m}" for m in range(1, 9)]),
            _time_relabelled(Y0, [f"2020-{m}" for m in range(1, 9)]),
        ),
    ),
    (
        "string month labels Jan 2020",
        ValueError,
        "time level.*str labels.*'Apr 2020'.*never sorted as text",
        lambda est: est.fit(
            _time_relabelled(X0, [t.strftime("%b %Y") for t in MONTHS]),
            _time_relabelled(Y0, [t.strftime("%b %Y") for t in MONTHS]),
        ),
    ),
    (
        "float time labels",
        ValueError,
        "time level.*float64",
        lambda est: est.fit(
            _time_relabelled(X0, [2020.0 + m / 12 for m in range(8)]),
            _time_relabelled(Y0, [2020.0 + m / 12 for m in range(8)]),
        ),
    ),
    (
        "boolean time labels",
        ValueError,
        "time level.*bool",
        lambda est: est.fit(
            _time_relabelled(X0, [m % 2 == 0 for m in range(8)]).iloc[:20],
            _time_relabelled(Y0, [m % 2 == 0 for m in range(8)]).iloc[:20],
        ),
    ),
    (
        "NaN characteristic",
        ValueError,
        "NaN.*c2",
        lambda est: est.fit(X0.assign(c2=X0["c2"].where(X0["c2"] > -0.9)), Y0),
    ),
    (
        "infinite characteristic",
        ValueError,
        "infinite.*c3",
        lambda est: est.fit(
            X0.assign(c3=X0["c3"].replace(X0["c3"].iloc[4], np.inf)), Y0
        ),
    ),
    (
        "text column",
        TypeError,
        "non-numeric column.*c1",
        lambda est: est.fit(X0.assign(c1="a"), Y0),
    ),
    (
        "numbers stored as strings",
        TypeError,
        "numeric.*c1",
        lambda est: est.fit(X0.assign(c1=X0["c1"].astype(str)), Y0),
    ),
    (
        "category column",
        TypeError,
        "non-numeric column.*c2",
        lambda est: est.fit(X0.assign(c2=pd.Categorical(X0["c2"] > 0)), Y0),
    ),
    (
        "datetime column",
        TypeError,
        "non-numeric column.*c3",
        lambda est: est.fit(X0.assign(c3=pd.Timestamp("2020-01-01")), Y0),
    ),
    (
        "complex column",
        TypeError,
        "non-numeric column.*c1",
        lambda est: est.fit(X0.assign(c1=X0["c1"] + 1j), Y0),
    ),
    (
        "duplicated column names",
        ValueError,
        "column name\\(s\\) \\['c1'\\] appear more than once",
        lambda est: est.fit(X0.set_axis(["c1", "c1", "c3"], axis=1), Y0),
    ),
    (
        "no characteristic column",
        ValueError,
        "X has no characteristic column",
        lambda est: est.fit(X0[[]], Y0),
    ),
    (
        "characteristic of 1e30",
        ValueError,
        "c2.*beyond 1e\\+(15|03).*CrossSectionalRankScaler",
        lambda est: est.fit(X0.assign(c2=X0["c2"] * 1e30), Y0),
    ),
    (
        "one cell of 1e160",
        ValueError,
        "c1.*beyond 1e\\+(15|03)",
        lambda est: est.fit(
            X0.assign(c1=X0["c1"].replace(X0["c1"].iloc[7], 1e160)), Y0
        ),
    ),
]

Y_CASES = [
    (
        "y with its index reset (paired by position)",
        ValueError,
        "never by position",
        lambda est: est.fit(X0.sort_index(level="time"), Y0.reset_index(drop=True)),
    ),
    (
        "y as a NumPy array with a panel X",
        ValueError,
        "never by position",
        lambda est: est.fit(X0, Y0.to_numpy()),
    ),
    (
        "y missing rows",
        ValueError,
        "not aligned.*3 \\(entity, time\\) row\\(s\\) of X missing from y",
        lambda est: est.fit(X0, Y0.iloc[3:]),
    ),
    (
        "y with extra rows",
        ValueError,
        "not aligned.*1 row\\(s\\) of y not in X",
        lambda est: est.fit(
            X0,
            pd.concat(
                [
                    Y0,
                    pd.Series(
                        [0.01], index=pd.MultiIndex.from_tuples([(99, MONTHS[0])])
                    ),
                ]
            ),
        ),
    ),
    (
        "y with other entities",
        ValueError,
        "not aligned",
        lambda est: est.fit(
            X0,
            _with_index(
                Y0,
                pd.MultiIndex.from_arrays(
                    [Y0.index.get_level_values(0) + 100, Y0.index.get_level_values(1)],
                    names=["entity", "time"],
                ),
            ),
        ),
    ),
    (
        "daily returns for monthly X",
        ValueError,
        "looks like daily returns",
        lambda est: est.fit(
            _time_relabelled(X0, MONTHS.to_timestamp()),
            _daily_y(),
        ),
    ),
    (
        "daily returns for monthly Period X",
        ValueError,
        "differ in type.*looks like daily returns",
        lambda est: est.fit(
            X0,
            _daily_y(),
        ),
    ),
    (
        "y on a plain DatetimeIndex",
        ValueError,
        "DatetimeIndex without one.*never by position",
        lambda est: est.fit(
            X0, pd.Series(0.01, index=pd.date_range("2020-01-01", periods=len(X0)))
        ),
    ),
    (
        "panel y with a plain X",
        ValueError,
        "y has an \\(entity, time\\) MultiIndex but X does not",
        lambda est: est.fit(X0.to_numpy(), Y0),
    ),
    (
        "y time level of another type",
        ValueError,
        "time levels differ in type",
        lambda est: est.fit(X0, _time_relabelled(Y0, list(range(8)))),
    ),
    (
        "boolean y",
        TypeError,
        "y must be numeric returns; got booleans",
        lambda est: est.fit(X0, Y0 > 0),
    ),
    (
        "y as text",
        TypeError,
        "y must be numeric.*stored as text",
        lambda est: est.fit(X0, Y0.astype(str)),
    ),
    (
        "infinite y",
        ValueError,
        "y contains 1 infinite",
        lambda est: est.fit(X0, Y0.replace(Y0.iloc[5], np.inf)),
    ),
    (
        "every y missing",
        ValueError,
        "Every return in y is missing",
        lambda est: est.fit(X0, Y0 * np.nan),
    ),
    (
        "y with two columns",
        ValueError,
        "y must be one column",
        lambda est: est.fit(X0, pd.DataFrame({"a": Y0, "b": Y0})),
    ),
    (
        "duplicated (entity, time) rows in y only",
        ValueError,
        "^y: The panel index has 1 duplicated \\(entity, time\\)",
        lambda est: est.fit(X0, pd.concat([Y0, Y0.iloc[:1]])),
    ),
    (
        "y is None",
        ValueError,
        "requires y to be passed",
        lambda est: est.fit(X0, None),
    ),
]

PARAM_CASES = [
    ("n_factors=True", "ipca", {"n_factors": True}, "n_factors"),
    ("n_factors=True", "neurif", {"n_factors": True}, "n_factors"),
    ("n_factors=True", "ca", {"n_factors": True}, "n_factors"),
    ("max_iter=True", "ipca", {"max_iter": True}, "max_iter"),
    ("n_factors=1.0", "ipca", {"n_factors": 1.0}, "n_factors"),
    ("window=0", "neurif", {"window": 0}, "window"),
    ("window=True", "transformer", {"window": True}, "window"),
    ("lr=True", "neurif", {"lr": True}, "lr"),
    ("max_epochs=True", "ca", {"max_epochs": True}, "max_epochs"),
    ("n_jobs=True", "ipca", {"n_jobs": True}, "n_jobs.*int in the range"),
    ("n_jobs=0", "ipca", {"n_jobs": 0}, "n_jobs"),
]


def _estimator_cases(cases, names):
    return [
        pytest.param(name, exc, match, call, id=f"{name}: {case_id}")
        for case_id, exc, match, call in cases
        for name in names
    ]


# The nets share one fit path: a few kinds on CA and the transformer show it.
NETS_TOO = {
    "y with its index reset (paired by position)",
    "boolean y",
    "string month labels 2020-1..2020-8",
    "characteristic of 1e30",
    "(time, entity) by names",
    "numbers stored as strings",
}


# What only the panel nets refuse (IPCA warns): they cannot train on it.
NET_CASES = [
    (
        "market cap in dollars (the nets refuse beyond 1e3)",
        ValueError,
        "c2 \\(max \\|x\\| .*e\\+09\\)\\] hold values beyond 1e\\+03.*cannot train",
        lambda est: est.fit(X0.assign(c2=(X0["c2"] + 2) * 1e9), Y0),
    ),
    (
        "characteristic of 5e3",
        ValueError,
        "c1.*beyond 1e\\+03.*CrossSectionalRankScaler",
        lambda est: est.fit(X0.assign(c1=X0["c1"] * 5e3), Y0),
    ),
]


@pytest.mark.parametrize(
    ("name", "exc", "match", "call"),
    _estimator_cases(X_CASES + Y_CASES, ["ipca", "neurif"])
    + _estimator_cases(
        [c for c in X_CASES + Y_CASES if c[0] in NETS_TOO], ["ca", "transformer"]
    )
    + _estimator_cases(NET_CASES, ["neurif", "ca", "transformer"]),
)
def test_estimator_bad_input(name, exc, match, call, trained):
    with pytest.raises(exc, match=match):
        call(ESTIMATORS[name]())
    assert trained == [], "training started before the error"


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [pytest.param(n, p, m, id=f"{n}: {i}") for i, n, p, m in PARAM_CASES],
)
def test_bad_parameters(name, params, match, trained):
    with pytest.raises(InvalidParameterError, match=match):
        ESTIMATORS[name]().set_params(**params).fit(X0, Y0)
    assert trained == []


# ------------------------------------------------------------ tools and metrics
def _factors(n=60, seed=1):
    rng = np.random.default_rng(seed)
    t = pd.period_range("2010-01", periods=n, freq="M")
    return pd.DataFrame({"Mkt-RF": rng.normal(0.005, 0.04, n)}, index=t)


F0 = _factors()
R0 = pd.Series(
    0.001 + 1.1 * F0["Mkt-RF"] + np.random.default_rng(2).normal(0, 0.01, 60),
    index=F0.index,
    name="p",
)


def _q5_file(tmp_path, month):
    path = tmp_path / "q5.csv"
    frame = pd.DataFrame(
        {"year": [2020, 2020], "month": [12, month]}
        | {c: [0.1, 0.2] for c in ["R_F", "R_MKT", "R_ME", "R_IA", "R_ROE", "R_EG"]}
    )
    frame.to_csv(path, index=False)
    return path


def _sorter_frame(**columns):
    return X0[["c1"]].rename(columns={"c1": "signal"}).assign(**columns)


TOOL_CASES = [
    (
        "sorter: every weight negative",
        ValueError,
        "80 a weight that is missing, zero or negative",
        lambda: PortfolioSorter(2, signal="signal", weights="w").fit(
            _sorter_frame(w=-1.0), Y0
        ),
    ),
    (
        "rank_ic: constant predictions",
        ValueError,
        "in 8 period\\(s\\) with at least 3 assets the predictions or the returns "
        "are constant",
        lambda: rank_ic(Y0, Y0 * 0 + 1.0),
    ),
    (
        "ipca: a redundant column is named",
        ValueError,
        "linearly dependent.*among \\['c1', 'c3'\\]",
        lambda: _ipca().fit(X0.assign(c3=-2 * X0["c1"]), Y0),
    ),
    # parameters of the tools: booleans are not counts
    (
        "scaler n_jobs=True",
        ValueError,
        "n_jobs",
        lambda: CrossSectionalRankScaler(n_jobs=True).fit(X0),
    ),
    (
        "seed ensemble n_jobs=True",
        ValueError,
        "n_jobs",
        lambda: SeedEnsembleRegressor(_ipca(), n_jobs=True).fit(X0, Y0),
    ),
    (
        "seed ensemble n_estimators=True",
        ValueError,
        "n_estimators",
        lambda: SeedEnsembleRegressor(_ipca(), n_estimators=True).fit(X0, Y0),
    ),
    # metrics: alignment, non-finite predictions, weights, types
    (
        "r2 with y_pred on other labels",
        ValueError,
        "not aligned",
        lambda: r2_predictive(Y0, Y0.iloc[1:]),
    ),
    (
        "r2 with a Series of other index labels",
        ValueError,
        "different index labels",
        lambda: r2_predictive(
            pd.Series([0.1, 0.2]), pd.Series([0.1, 0.2], index=[5, 6])
        ),
    ),
    (
        "r2 with infinite predictions",
        ValueError,
        "y_pred contains 1 infinite",
        lambda: r2_predictive(Y0, Y0.replace(Y0.iloc[2], np.inf)),
    ),
    (
        "r2 with NaN predictions",
        ValueError,
        "y_pred contains 1 NaN",
        lambda: r2_total(Y0, Y0.replace(Y0.iloc[2], np.nan)),
    ),
    (
        "rmse with infinite y_true",
        ValueError,
        "y_true contains 1 infinite",
        lambda: rmse(Y0.replace(Y0.iloc[2], np.inf), Y0),
    ),
    (
        "negative sample_weight",
        ValueError,
        "sample_weight has 1 negative",
        lambda: r2_predictive(Y0, Y0 * 0.5, sample_weight=np.r_[-1.0, np.ones(79)]),
    ),
    (
        "NaN sample_weight",
        ValueError,
        "sample_weight has 1 NaN",
        lambda: mae(Y0, Y0 * 0.5, sample_weight=np.r_[np.nan, np.ones(79)]),
    ),
    (
        "sample_weight of the wrong length",
        ValueError,
        "sample_weight has 3 entries",
        lambda: rmse(Y0, Y0 * 0.5, sample_weight=np.ones(3)),
    ),
    (
        "all-zero sample_weight",
        ValueError,
        "Every sample_weight is zero",
        lambda: rmse(Y0, Y0 * 0.5, sample_weight=np.zeros(80)),
    ),
    (
        "text sample_weight",
        TypeError,
        "sample_weight must be numeric",
        lambda: rmse(Y0, Y0 * 0.5, sample_weight=np.array(["1"] * 80)),
    ),
    (
        "boolean y_true in a metric",
        TypeError,
        "y_true must be numeric.*booleans",
        lambda: r2_predictive(Y0 > 0, Y0),
    ),
    (
        "text y_pred in a metric",
        TypeError,
        "y_pred must be numeric",
        lambda: rmse([0.1, 0.2], ["0.1", "0.2"]),
    ),
    (
        "rank_ic min_assets=0",
        ValueError,
        "min_assets must be an integer >= 2",
        lambda: rank_ic(Y0, Y0, min_assets=0),
    ),
    (
        "rank_ic min_assets=True",
        ValueError,
        "min_assets must be an integer >= 2",
        lambda: rank_ic(Y0, Y0, min_assets=True),
    ),
    (
        "rank_ic infinite prediction",
        ValueError,
        "y_pred contains 1 infinite",
        lambda: rank_ic(Y0, Y0.replace(Y0.iloc[3], -np.inf)),
    ),
    (
        "rank_ic misaligned prediction",
        ValueError,
        "not aligned",
        lambda: rank_ic(Y0, Y0.iloc[2:]),
    ),
    (
        "rank_ic periods as strings",
        ValueError,
        "period labels of periods are str.*sorted as text",
        lambda: rank_ic(
            Y0.to_numpy(),
            Y0.to_numpy(),
            periods=[f"2020-{t.month}" for t in Y0.index.get_level_values(1)],
        ),
    ),
    # score and scorers: y matched to X by index
    (
        "score with an unindexed y",
        ValueError,
        "never by position",
        lambda: _fitted_ipca().score(X0, Y0.reset_index(drop=True)),
    ),
    (
        "score with y missing rows",
        ValueError,
        "not aligned",
        lambda: _fitted_ipca().score(X0, Y0.iloc[5:]),
    ),
    (
        "score with negative sample_weight",
        ValueError,
        "negative",
        lambda: _fitted_ipca().score(X0, Y0, sample_weight=-np.ones(80)),
    ),
    (
        "predictive scorer with a NumPy y",
        ValueError,
        "never by position",
        lambda: r2_predictive_scorer(_fitted_ipca(), X0, Y0.to_numpy()),
    ),
    (
        "total scorer with y missing rows",
        ValueError,
        "not aligned",
        lambda: r2_total_scorer(_fitted_ipca(), X0, Y0.iloc[1:]),
    ),
    (
        "predict with string months",
        ValueError,
        "time level.*str",
        lambda: _fitted_ipca().predict(
            _time_relabelled(X0, [f"2020-{m}" for m in range(1, 9)])
        ),
    ),
    (
        "predict with numbers stored as strings",
        TypeError,
        "numeric.*c2",
        lambda: _fitted_ipca().predict(X0.assign(c2=X0["c2"].astype(str))),
    ),
    (
        "Pipeline whose first step drops the index",
        ValueError,
        "MultiIndex but X does not.*set_output",
        lambda: make_pipeline(StandardScaler(), _ipca()).fit(X0, Y0),
    ),
    # spanning regression
    (
        "spanning nw_lags=-1",
        ValueError,
        "nw_lags must be a non-negative integer",
        lambda: spanning_regression(R0, F0, nw_lags=-1),
    ),
    (
        "spanning nw_lags=True",
        ValueError,
        "nw_lags must be a non-negative integer",
        lambda: spanning_regression(R0, F0, nw_lags=True),
    ),
    (
        "spanning inner join with no common month",
        ValueError,
        "no period in common",
        lambda: spanning_regression(
            R0, _factors().set_axis(F0.index + 120), join="inner"
        ),
    ),
    (
        "spanning missing='drop' leaving no period",
        ValueError,
        "leaves no period",
        lambda: spanning_regression(
            pd.DataFrame(
                {
                    "a": R0.where(np.arange(60) % 2 == 0),
                    "b": R0.where(np.arange(60) % 2 == 1),
                }
            ),
            F0,
            missing="drop",
        ),
    ),
    (
        "spanning on string period labels",
        ValueError,
        "period labels of the test-asset returns.*sorted as text",
        lambda: spanning_regression(
            R0.set_axis(R0.index.astype(str)), F0.set_axis(F0.index.astype(str))
        ),
    ),
    (
        "spanning returns as text",
        TypeError,
        "non-numeric column.*p",
        lambda: spanning_regression(R0.astype(str), F0),
    ),
    # forecast comparisons
    (
        "diebold_mariano with boolean returns",
        TypeError,
        "y must be numeric returns; got booleans",
        lambda: diebold_mariano(Y0 > 0, Y0 * 0.5, Y0 * 0.2),
    ),
    (
        "clark_west on string months",
        ValueError,
        "time level.*sorted as text",
        lambda: clark_west(
            _time_relabelled(Y0, [f"2020-{m}" for m in range(1, 9)]), 0.0, Y0.to_numpy()
        ),
    ),
    (
        "monthly_r2 with every return missing",
        ValueError,
        "Every return in y is missing",
        lambda: monthly_r2(Y0 * np.nan, Y0),
    ),
    # portfolio sorts
    (
        "yes/no breakpoint column",
        ValueError,
        "breakpoint flag 'nyse' must be boolean.*'(yes|no)'",
        lambda: PortfolioSorter(2, signal="signal", breakpoints="nyse").fit(
            _sorter_frame(nyse=np.where(X0["c2"] > 0, "yes", "no")), Y0
        ),
    ),
    (
        "breakpoint column of 1/2",
        ValueError,
        "must be boolean \\(or 0/1\\).*2",
        lambda: PortfolioSorter(2, signal="signal", breakpoints="nyse").fit(
            _sorter_frame(nyse=np.where(X0["c2"] > 0, 1, 2)), Y0
        ),
    ),
    (
        "signal stored as text",
        TypeError,
        "non-numeric column.*signal",
        lambda: PortfolioSorter(2, signal="signal").fit(
            _sorter_frame().astype(str), Y0
        ),
    ),
    (
        "sorter with an unindexed y",
        ValueError,
        "never by position",
        lambda: PortfolioSorter(2, signal="signal").fit(_sorter_frame(), Y0.to_numpy()),
    ),
    (
        "sorter n_portfolios=True",
        ValueError,
        "n_portfolios must be an integer",
        lambda: PortfolioSorter(True, signal="signal").fit(_sorter_frame(), Y0),
    ),
    (
        "sorter nw_lags=-1",
        ValueError,
        "nw_lags must be a non-negative integer",
        lambda: PortfolioSorter(2, signal="signal", nw_lags=-1).fit(
            _sorter_frame(), Y0
        ),
    ),
    (
        "sort_on_factor_model weights on other rows",
        ValueError,
        "weights is not aligned",
        lambda: sort_on_factor_model(
            _fitted_ipca(), X0, Y0, n_portfolios=2, weights=X0["c1"].abs().iloc[4:]
        ),
    ),
    (
        "sort_on_factor_model yes/no breakpoints",
        ValueError,
        "must be boolean",
        lambda: sort_on_factor_model(
            _fitted_ipca(),
            X0,
            Y0,
            n_portfolios=2,
            breakpoints=pd.Series("yes", index=X0.index),
        ),
    ),
    # period helpers, loaders, splitters, scaler
    (
        "months_from_fields month 13",
        ValueError,
        "month 13.*1-12",
        lambda: months_from_fields([2020], [13]),
    ),
    (
        "months_from_fields month 0",
        ValueError,
        "month 0.*1-12",
        lambda: months_from_fields([2020], [0]),
    ),
    (
        "splitter on string months",
        ValueError,
        "time level.*sorted as text",
        lambda: list(
            PanelTimeSeriesSplit(2).split(
                _time_relabelled(X0, [f"2020-{m}" for m in range(1, 9)])
            )
        ),
    ),
    (
        "splitter on (time, entity)",
        ValueError,
        "looks like \\(time, entity\\)",
        lambda: list(PanelTimeSeriesSplit(2).split(_swapped(X0))),
    ),
    (
        "splitter groups as strings",
        ValueError,
        "period labels of groups are str.*sorted as text",
        lambda: list(
            PanelTimeSeriesSplit(2).split(
                X0.to_numpy(),
                groups=[f"2020-{t.month}" for t in X0.index.get_level_values(1)],
            )
        ),
    ),
    (
        "temporal split test_size=True",
        InvalidParameterError,
        "test_size",
        lambda: temporal_train_test_split(X0, Y0, test_size=True),
    ),
    (
        "rank scaler on (time, entity)",
        ValueError,
        "looks like \\(time, entity\\)",
        lambda: CrossSectionalRankScaler().fit_transform(_swapped(X0)),
    ),
    (
        "rank scaler on float months",
        ValueError,
        "time level.*float64",
        lambda: CrossSectionalRankScaler().fit_transform(
            _time_relabelled(X0, [float(m) for m in range(8)])
        ),
    ),
    (
        "align_next_period_returns on string months",
        ValueError,
        "time level.*str",
        lambda: align_next_period_returns(
            _time_relabelled(X0, [f"2020-{m}" for m in range(1, 9)]),
            _time_relabelled(Y0, [f"2020-{m}" for m in range(1, 9)]),
        ),
    ),
]


@pytest.mark.parametrize(
    ("exc", "match", "call"),
    [pytest.param(e, m, c, id=i) for i, e, m, c in TOOL_CASES],
)
def test_tool_bad_input(exc, match, call, trained):
    with pytest.raises(exc, match=match):
        call()
    # Only the fitted IPCA of the scorer cases trains (once, before the call).
    assert "epoch" not in trained


@pytest.mark.parametrize("month", [13, 0])
def test_q5_loader_refuses_invalid_month(tmp_path, month):
    from sklearn_neurif.datasets import load_q5_factors

    with pytest.raises(ValueError, match=f"month {month}.*1-12"):
        load_q5_factors(_q5_file(tmp_path, month))
    assert load_q5_factors(_q5_file(tmp_path, 11)).index[0] == pd.Period("2020-12", "M")


# ---------------------------------------------------------------- warnings
WARNING_CASES = [
    (
        "ipca: unscaled characteristic (market cap in dollars)",
        "c2 \\(max \\|x\\| .*e\\+09\\).*CrossSectionalRankScaler",
        lambda: _ipca().fit(X0.assign(c2=(X0["c2"] + 2) * 1e9), Y0),
    ),
    (
        "scaler: a column missing in every row",
        "\\['c2'\\] are missing in every row.*Drop them",
        lambda: CrossSectionalRankScaler().fit(X0.assign(c2=np.nan)),
    ),
    (
        "ipca: returns in percent",
        "y: the returns look like percent.*to_decimal_returns",
        lambda: _ipca().fit(X0, Y0 * 100),
    ),
    (
        "neurif: returns in percent",
        "look like percent",
        lambda: _neurif().fit(X0, Y0 * 100),
    ),
    (
        "sorter: returns in percent",
        "look like percent",
        lambda: PortfolioSorter(2, signal="signal").fit(_sorter_frame(), Y0 * 100),
    ),
    (
        "spanning: test-asset returns in percent",
        "Test-asset returns: the returns look like percent",
        lambda: spanning_regression(R0 * 100, F0),
    ),
    (
        "spanning: factors in percent",
        "Factors: the returns look like percent",
        lambda: spanning_regression(R0, F0 * 100),
    ),
]


@pytest.mark.parametrize(
    ("match", "call"), [pytest.param(m, c, id=i) for i, m, c in WARNING_CASES]
)
def test_bad_input_warns(match, call):
    with pytest.warns(PanelDataWarning, match=match):
        call()


def test_number_of_kinds():
    kinds = (
        len(X_CASES)
        + len(Y_CASES)
        + len(NET_CASES)
        + len(PARAM_CASES)
        + len(TOOL_CASES)
        + len(WARNING_CASES)
        + 1  # the q5 loader
        + len(STANDALONE_KINDS)
    )
    assert kinds >= 60


#: Kinds tested by their own functions below (each asserts its answer).
STANDALONE_KINDS = (
    "predict on dollar-scale characteristics after a fit on ranks",
    "non-finite predictions of a net",
    "a linear solve failing inside torch during training",
    "levels swapped against fit's names",
    "levels renamed against fit's names",
    "levels swapped against fit's names (scaler)",
    "plain X to sort_on_factor_model and the long-short scorers",
    "numbers held as objects, and objects mixing numbers with booleans",
    "temporal_train_test_split with a reordered y",
    "temporal_train_test_split with y on periods X lacks",
    "time labels of another type than in fit (nets)",
)


# ------------------------------------------- what the checks must not break
def _yyyymm(obj, start="2020-09"):
    """``obj`` with months as YYYYMM integers, crossing a year boundary."""
    months = pd.period_range(start, periods=N_MONTHS, freq="M")
    return _time_relabelled(obj, [t.year * 100 + t.month for t in months])


def _periods(obj, start="2020-09"):
    return _time_relabelled(obj, pd.period_range(start, periods=N_MONTHS, freq="M"))


def test_yyyymm_integers_are_months():
    index = panel_index(_yyyymm(X0))
    assert isinstance(index.levels[-1], pd.PeriodIndex)
    ours = IPCARegressor(n_factors=1).fit(_yyyymm(X0), _yyyymm(Y0))
    ref = IPCARegressor(n_factors=1).fit(_periods(X0), _periods(Y0))
    np.testing.assert_allclose(ours.gamma_, ref.gamma_)
    assert ours.factors_.index.equals(ref.factors_.index)
    # 0..T-1 and years stay integers.
    plain = _time_relabelled(X0, list(range(8)))
    assert panel_index(plain).levels[-1].dtype.kind == "i"


def test_yyyymm_history_prepended_across_a_year_boundary():
    # Train to 202012, predict 202101: 202101 - 202012 is 89 as integers, one
    # month as YYYYMM; the window must reach back into December.
    est = _neurif().fit(_yyyymm(X0, "2020-05"), _yyyymm(Y0, "2020-05"))
    ref = _neurif().fit(_periods(X0, "2020-05"), _periods(Y0, "2020-05"))
    new = X0.xs(MONTHS[0], level="time", drop_level=False)
    new_int = _time_relabelled_one(new, 202101)
    new_per = _time_relabelled_one(new, pd.Period("2021-01", "M"))
    assert est._predict_batcher(new_int)[2] > 0  # training history prepended
    np.testing.assert_allclose(est.predict(new_int), ref.predict(new_per), rtol=1e-6)


def _time_relabelled_one(obj, label):
    idx = pd.MultiIndex.from_arrays(
        [obj.index.get_level_values(0), [label] * len(obj)], names=obj.index.names
    )
    return _with_index(obj, idx)


def test_splitter_groups_with_yyyymm_panel():
    X = _yyyymm(X0)
    groups = X.index.get_level_values("time")
    with_groups = list(PanelTimeSeriesSplit(2).split(X, groups=groups))
    without = list(PanelTimeSeriesSplit(2).split(X))
    for (a, b), (c, d) in zip(with_groups, without, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    # As plain groups, YYYYMM integers are months too: 202101 follows 202012.
    plain = list(PanelTimeSeriesSplit(2).split(X.to_numpy(), groups=groups))
    np.testing.assert_array_equal(plain[-1][1], without[-1][1])


def test_align_next_period_returns_across_a_year_boundary():
    X, y = align_next_period_returns(_yyyymm(X0), _yyyymm(Y0))
    assert X.index.equals(_yyyymm(X0).index)  # the caller's labels are kept
    assert y.loc[(0, 202012)] == Y0.loc[(0, MONTHS[4])]  # 202012 -> 202101


@pytest.mark.parametrize("name", ["ipca", "neurif", "ca", "transformer"])
def test_reordered_y_scores_the_same(name):
    est = ESTIMATORS[name]().fit(X0, Y0)
    assert est.score(X0, Y0.iloc[::-1]) == pytest.approx(est.score(X0, Y0))
    assert r2_predictive_scorer(est, X0, Y0.sample(frac=1, random_state=0)) == (
        pytest.approx(est.score(X0, Y0))
    )


def test_time_level_of_objects_is_read_by_type():
    entity = X0.index.get_level_values(0)
    months = X0.index.get_level_values(1)
    for labels in [months, months.month]:  # Periods, then integers
        time = pd.Index(list(labels), dtype=object)
        idx = pd.MultiIndex.from_arrays([entity, time], names=["entity", "time"])
        assert idx.levels[-1].dtype == object
        level = panel_index(X0.set_axis(idx)).levels[-1]
        assert isinstance(level, pd.PeriodIndex) or level.dtype.kind == "i"
    text = pd.Index([str(t) for t in months], dtype=object)
    idx = pd.MultiIndex.from_arrays([entity, text], names=["entity", "time"])
    with pytest.raises(ValueError, match="sorted as text"):
        panel_index(X0.set_axis(idx))


def test_fit_pairs_returns_by_index():
    shuffled = X0.sort_index(level="time")
    a = IPCARegressor(n_factors=1).fit(shuffled, Y0)
    b = IPCARegressor(n_factors=1).fit(X0, Y0)
    np.testing.assert_allclose(a.gamma_, b.gamma_, atol=1e-10)


def test_metrics_align_two_series():
    pred = Y0 * 0.5 + 0.001
    assert r2_predictive(Y0, Y0.iloc[::-1]) == 1.0
    assert rmse(Y0, pred.iloc[::-1]) == pytest.approx(rmse(Y0, pred))
    assert rank_ic(Y0, pred.iloc[::-1]).mean == pytest.approx(rank_ic(Y0, pred).mean)


def test_rank_ic_refuses_nan_predictions_like_r2():
    # Issue 17: rank_ic dropped NaN predictions silently where r2_predictive
    # refuses them; both now refuse (one path: aligned_pair).
    pred = pd.Series(np.random.default_rng(3).normal(size=len(Y0)), index=Y0.index)
    gappy = pred.copy()
    gappy.iloc[::3] = np.nan
    for metric in (rank_ic, r2_predictive):
        with pytest.raises(ValueError, match=r"y_pred contains 27 NaN value\(s\)"):
            metric(Y0, gappy)
    # Missing returns are still masked: only the prediction must exist.
    holes = Y0.copy()
    holes.iloc[::3] = np.nan
    keep = holes.notna()
    pd.testing.assert_series_equal(
        rank_ic(holes, pred).series, rank_ic(Y0[keep], pred[keep]).series
    )


def test_parameter_constraints_still_take_numpy_integers():
    est = IPCARegressor(n_factors=np.int64(1), max_iter=np.int32(50)).fit(X0, Y0)
    assert est.gamma_.shape == (3, 1)


def test_spanning_regression_sorts_periods():
    # Newey-West counts neighbouring rows: a shuffled sample is put in order.
    perm = np.random.default_rng(0).permutation(len(R0))
    ours = spanning_regression(R0.iloc[perm], F0.iloc[perm], nw_lags=3)
    ref = spanning_regression(R0, F0, nw_lags=3)
    pd.testing.assert_frame_equal(ours.tstats, ref.tstats)


def test_breakpoint_flags_boolean_or_0_1():
    frame = _sorter_frame(nyse=X0["c2"] > 0)
    ref = PortfolioSorter(2, signal="signal", breakpoints="nyse").fit(frame, Y0)
    for flag in [frame["nyse"].astype("boolean"), frame["nyse"].astype(int)]:
        res = PortfolioSorter(2, signal="signal", breakpoints="nyse").fit(
            frame.assign(nyse=flag), Y0
        )
        pd.testing.assert_frame_equal(res.returns_, ref.returns_)


def test_portfolio_sorter_plain_array_is_one_cross_section():
    month = X0.xs(MONTHS[0], level="time", drop_level=False)
    ret = Y0.xs(MONTHS[0], level="time", drop_level=False)
    panel = PortfolioSorter(2).fit(month[["c1"]], ret).result_
    plain = PortfolioSorter(2).fit(month[["c1"]].to_numpy(), ret.to_numpy()).result_
    np.testing.assert_allclose(plain.returns.to_numpy(), panel.returns.to_numpy())
    # A plain array's first column is the signal; array in, array out.
    two = np.column_stack([month["c1"], month["c2"]])
    out = PortfolioSorter(2).fit(two, ret.to_numpy())
    np.testing.assert_allclose(out.result_.returns.to_numpy(), panel.returns.to_numpy())
    assert out.transform(two).shape == (N_ASSETS, 1)
    # A panel with several columns still needs the signal named.
    with pytest.raises(ValueError, match="name the signal column"):
        PortfolioSorter(2).fit(month[["c1", "c2"]], ret)
    with pytest.raises(ValueError, match="2D array"):
        PortfolioSorter(2).fit(month["c1"].to_numpy(), ret.to_numpy())


def test_walk_forward_pairs_returns_by_index():
    from sklearn_neurif.model_selection import walk_forward_predict

    kwargs = dict(test_start=MONTHS[5], refit_every=2)
    ours = walk_forward_predict(_ipca(), X0, Y0.iloc[::-1], **kwargs)
    ref = walk_forward_predict(_ipca(), X0, Y0, **kwargs)
    pd.testing.assert_series_equal(ours.predictions, ref.predictions)
    pd.testing.assert_series_equal(ours.y, ref.y)
    with pytest.raises(ValueError, match="never by position"):
        walk_forward_predict(_ipca(), X0, Y0.to_numpy(), **kwargs)


# ------------------------------------- non-finite predictions, torch failures
def _fitted(name):
    return ESTIMATORS[name]().fit(X0, Y0)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_predict_refuses_absurd_predictions(name):
    # Fitted on ranks, asked about dollar-scale characteristics: the nets
    # refuse the scale itself, IPCA (which warns) the predictions it gives.
    est = _fitted(name)
    match = "not finite or exceed" if name == "ipca" else "c1.*beyond 1e\\+03"
    with pytest.raises(ValueError, match=match):
        est.predict(X0 * 1e12)


@pytest.mark.parametrize("name", ["neurif", "ca", "transformer"])
def test_nets_refuse_nan_predictions(name, monkeypatch):
    est = _fitted(name)
    # NeurIF's default premia are the training factor means (premia="mean"),
    # so a NaN must come through its loadings.
    key = {"transformer": "r_hat", "neurif": "beta"}.get(name, "premia")
    forward = est.net_.forward_months

    def nan_output(batch):
        out = dict(forward(batch))
        out[key] = out[key] * float("nan")
        return out

    monkeypatch.setattr(est.net_, "forward_months", nan_output)
    match = f"{len(X0)} of {len(X0)} prediction\\(s\\) are not finite; the largest"
    with pytest.raises(ValueError, match=match):
        est.predict(X0)


@pytest.mark.parametrize("name", ["neurif", "ca", "transformer"])
def test_torch_linalg_failure_is_a_clear_error(name):
    import torch
    from skorch.callbacks import Callback

    class Singular(Callback):
        def on_batch_begin(self, net, **kwargs):
            raise torch.linalg.LinAlgError("The solver failed (singular).")

    est = _fitted(name)
    before = est.predict(X0)
    with pytest.raises(ValueError, match="linear solve.*CrossSectionalRankScaler"):
        est.set_params(callbacks=[Singular()]).fit(X0, Y0)
    np.testing.assert_array_equal(est.predict(X0), before)  # fit is atomic


# ------------------------------------------ level names remembered from fit
def _named(obj, names):
    return obj.rename_axis(names)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_level_names_from_fit_are_checked(name, trained):
    # Names outside the known entity/time lists and integer periods: nothing
    # but fit's names tells a swapped index from a right one.
    names = ["isin", "month_end"]
    X = _named(_time_relabelled(X0, list(range(8))), names)
    y = _named(_time_relabelled(Y0, list(range(8))), names)
    est = ESTIMATORS[name]().fit(X, y)
    before = est.predict(X)
    del trained[:]
    swapped = X.swaplevel().sort_index()
    calls = [est.predict, lambda X_: est.score(X_, y.reindex(X_.index))]
    if hasattr(est, "transform"):
        calls.append(est.transform)
    for call in calls:
        with pytest.raises(ValueError, match="levels are swapped.*swaplevel"):
            call(swapped)
        with pytest.raises(ValueError, match="fitted on \\['isin', 'month_end'\\]"):
            call(_named(X, ["firm_id", "month_end"]))
    if name != "ipca":  # a warm start continues the fitted model: same names
        renamed = ["firm_id", "month_end"]
        with pytest.raises(ValueError, match="fitted on \\['isin', 'month_end'\\]"):
            est.set_params(warm_start=True).fit(_named(X, renamed), _named(y, renamed))
    assert trained == []
    # Unnamed levels are not compared; the same names predict as before.
    np.testing.assert_allclose(est.predict(X.rename_axis([None, None])), before)


def test_scaler_checks_level_names_from_fit():
    X = _named(_time_relabelled(X0, list(range(8))), ["isin", "month_end"])
    scaler = CrossSectionalRankScaler().fit(X)
    with pytest.raises(ValueError, match="levels are swapped"):
        scaler.transform(X.swaplevel().sort_index())


def test_factor_sorts_and_scorers_read_a_plain_x_as_one_cross_section():
    # As PortfolioSorter: a plain X is one period, y pairs by position; the
    # numbers equal those of the same month given as a panel.
    from sklearn_neurif.portfolio import make_long_short_scorer

    scorer = make_long_short_scorer("mean", n_portfolios=2)
    est = IPCARegressor(n_factors=1).fit(X0, Y0)
    month = X0.xs(MONTHS[3], level="time", drop_level=False)
    ret = Y0.xs(MONTHS[3], level="time", drop_level=False)
    flat = month.reset_index(drop=True)  # keeps the feature names
    panel = sort_on_factor_model(est, month, ret, n_portfolios=2).summary()
    plain = sort_on_factor_model(est, flat, ret.to_numpy(), n_portfolios=2).summary()
    np.testing.assert_allclose(plain.to_numpy(float), panel.to_numpy(float))
    mean = scorer(est, flat, ret.to_numpy())
    assert np.isfinite(mean)
    assert mean == pytest.approx(scorer(est, month, ret))
    assert mean == pytest.approx(panel.loc["predicted", "mean"])
    # A plain X with a panel y is still refused (no silent pairing).
    with pytest.raises(ValueError, match="MultiIndex but X does not"):
        scorer(est, flat, ret)


@pytest.mark.parametrize("name", ["ipca", "neurif"])
def test_numbers_held_as_objects_are_numbers(name):
    # After a concat or a transpose, floats may sit in object columns: read
    # as the numbers they are (as a NumPy array of number objects is); text
    # stays refused (the "numbers stored as strings" cases).
    expected = ESTIMATORS[name]().fit(X0, Y0).predict(X0)
    est = ESTIMATORS[name]().fit(X0.astype(object), Y0.astype(object))
    np.testing.assert_allclose(est.predict(X0.astype(object)), expected)
    with pytest.raises(TypeError, match="non-numeric column.*c2"):
        # floats and booleans mixed in one object column: not numbers
        est.predict(X0.astype(object).assign(c2=X0["c2"].where(X0["c2"] > 0, True)))


def test_temporal_split_of_a_reordered_y_keeps_its_periods():
    # y in another row order is split by its own time level: positions of X
    # used to put the last months' returns in the training sample.
    X_tr, X_te, y_tr, y_te = temporal_train_test_split(X0, Y0.iloc[::-1], test_size=2)
    assert set(y_tr.index) == set(X_tr.index) and set(y_te.index) == set(X_te.index)
    assert y_tr.index.get_level_values("time").max() == MONTHS[5]
    pd.testing.assert_series_equal(y_tr.sort_index(), Y0.loc[X_tr.index].sort_index())
    with pytest.raises(ValueError, match="periods that the first panel lacks"):
        temporal_train_test_split(X0, _time_relabelled(Y0, MONTHS + 12))


@pytest.mark.parametrize("name", ["neurif", "transformer"])
def test_time_labels_of_another_type_than_in_fit(name):
    # A net would drop its training history without a word (it prepends the
    # last months only to periods that follow them). IPCA, cross-sectional,
    # predicts periods of any type (tests/test_ipca.py).
    est = ESTIMATORS[name]().fit(X0, Y0)
    stamps = _time_relabelled(X0, MONTHS.to_timestamp())
    with pytest.raises(ValueError, match="datetime labels.*fitted on period\\[M\\]"):
        est.predict(stamps)
    # Storage details are not a type: datetimes in us or ns, ints of any size.
    est.fit(stamps, _time_relabelled(Y0, MONTHS.to_timestamp()))
    est.predict(_time_relabelled(X0, MONTHS.to_timestamp().as_unit("s")))


# ------------------------------ walk_forward_predict (issue 17)
# The last block without returns, refit errors named, YYYYMM periods, row-wise
# CV objects, holes and one-period training windows, n_jobs and warm_start.
def _wf_walk(estimator=None, X=X0, y=Y0, **kwargs):
    from sklearn_neurif.model_selection import walk_forward_predict

    kwargs = {"test_start": MONTHS[5], "refit_every": 1, **kwargs}
    return walk_forward_predict(estimator or _ipca(), X, y, **kwargs)


def test_walk_forward_last_block_without_returns_is_not_scored():
    # align_next_period_returns leaves the last month without a return.
    y = Y0.where(Y0.index.get_level_values("time") != MONTHS[-1])
    seen = []
    res = _wf_walk(y=y, on_refit=seen.append)
    assert [r.refit for r in seen] == [1, 2, 3]
    assert res.predictions[res.test_mask].notna().all()  # predicted...
    last = res.refits.iloc[-1]
    assert np.isnan(last.R2_predictive) and np.isnan(last.R2_total)  # ...not scored
    assert res.refits.R2_total.iloc[:-1].notna().all()
    assert res.factors.loc[MONTHS[-1]].isna().all()


class _WfFailsLate(IPCARegressor):
    """IPCA that fails once its training window passes six months."""

    def fit(self, X, y):
        if X.index.get_level_values(-1).nunique() > 6:
            raise ValueError("singular design")
        return super().fit(X, y)


def test_walk_forward_error_names_the_refit_and_keeps_finished_refits():
    seen = []
    with pytest.raises(
        ValueError,
        match=r"Walk-forward refit 3/3 \(training 2020-01 to 2020-07, test "
        r"2020-08 to 2020-08\): singular design",
    ):
        _wf_walk(_WfFailsLate(n_factors=1), on_refit=seen.append)
    # The refits that finished were handed over before the failure.
    assert [r.refit for r in seen] == [1, 2]
    assert all(r.predictions.notna().all() for r in seen)
    assert str(seen[-1].periods.test_start) == "2020-07"


def _wf_yyyymm(obj):
    return _time_relabelled(obj, [m.year * 100 + m.month for m in MONTHS])


@pytest.mark.parametrize("start", [202006, "2020-06", "202006", pd.Period("2020-06")])
def test_walk_forward_yyyymm_panel_takes_its_own_labels(start):
    res = _wf_walk(X=_wf_yyyymm(X0), y=_wf_yyyymm(Y0), test_start=start)
    assert str(res.refits.test_start.iloc[0]) == "2020-06"
    assert res.test_mask.sum() == 3 * N_ASSETS
    assert res.predictions[res.test_mask].notna().all()


def test_walk_forward_string_start_on_integer_periods_refused(trained):
    X, y = _time_relabelled(X0, list(range(8))), _time_relabelled(Y0, list(range(8)))
    with pytest.raises(ValueError, match="test_start='5' is not an integer.*integers"):
        _wf_walk(X=X, y=y, test_start="5")
    with pytest.raises(ValueError, match="cannot be read as a period of the panel"):
        _wf_walk(test_start="not a month")
    assert trained == []


@pytest.mark.parametrize("cv", ["kfold", "shuffled", "timeseries", "ridgecv"])
def test_walk_forward_refuses_row_wise_cv_objects(cv, trained):
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GridSearchCV, KFold, TimeSeriesSplit

    splitter = {
        "kfold": KFold(3),
        "shuffled": KFold(3, shuffle=True, random_state=0),
        "timeseries": TimeSeriesSplit(3),
        "ridgecv": KFold(3),
    }[cv]
    if cv == "ridgecv":
        est, owner = RidgeCV(cv=splitter), r"RidgeCV \(cv\)"
    else:
        est = GridSearchCV(_ipca(), {"n_factors": [1, 2]}, cv=splitter)
        owner = "The GridSearchCV"
    with pytest.raises(ValueError, match=f"{owner} has cv=.*a row-wise splitter"):
        _wf_walk(est)
    assert trained == []
    # A period splitter passes (and validation_periods replaces any cv).
    search = GridSearchCV(_ipca(), {"n_factors": [1]}, cv=PanelTimeSeriesSplit(2))
    assert _wf_walk(search, refit_every=3).predictions.notna().any()
    est = GridSearchCV(_ipca(), {"n_factors": [1]}, cv=KFold(3))
    assert _wf_walk(est, validation_periods=2, refit_every=3).predictions.notna().any()


def test_walk_forward_warns_of_a_missing_month():
    keep = X0.index.get_level_values("time") != MONTHS[2]
    with pytest.warns(PanelDataWarning, match=r"1 period\(s\).*absent.*2020-03"):
        _wf_walk(X=X0[keep], y=Y0[keep], refit_every=3)


def _wf_ipca_search():
    from sklearn.model_selection import GridSearchCV

    return GridSearchCV(_ipca(), {"n_factors": [1]})


def test_walk_forward_warns_of_one_training_period():
    with pytest.warns(PanelDataWarning, match="leaves one training period .2020-01."):
        _wf_walk(_wf_ipca_search(), test_start=MONTHS[3], validation_periods=2)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_jobs": 0}, ValueError, "n_jobs=0 runs nothing"),
        ({"n_jobs": True}, TypeError, "n_jobs must be None or a non-zero integer"),
        ({"n_jobs": "2"}, TypeError, "n_jobs must be None or a non-zero integer"),
        ({"n_jobs": 1.5}, TypeError, r"got 1.5 \(float\)"),
        ({"warm_start": "yes"}, TypeError, "warm_start must be True or False"),
        ({"on_refit": "print"}, TypeError, "on_refit must be None or a callable"),
    ],
)
def test_walk_forward_bad_options(kwargs, error, match, trained):
    with pytest.raises(error, match=match):
        _wf_walk(**kwargs)
    assert trained == []


# ------------------------------------------- NeurIFRegressorCV (issue 17)
def _neurif_cv(**kwargs):
    from sklearn_neurif.neurif import NeurIFRegressorCV

    return NeurIFRegressorCV(_neurif(), **{"deviation_penalties": [1e4, 0.0], **kwargs})


# The splitter checks both CV estimators share (model_selection/_cv_path.py).
CV_SPLIT_CASES = [
    ("empty cv", ValueError, "cv=\\[\\] yielded no split", dict(cv=[])),
    (
        "KFold",
        ValueError,
        "cv=KFold.*splits rows, not months.*PanelTimeSeriesSplit",
        dict(cv="KFold"),
    ),
    (
        "shuffled KFold",
        ValueError,
        "cv=KFold.*shuffle=True.*splits rows, not months",
        dict(cv="KFold-shuffle"),
    ),
    (
        "TimeSeriesSplit",
        ValueError,
        "cv=TimeSeriesSplit.*splits rows, not months",
        dict(cv="TimeSeriesSplit"),
    ),
    (
        "row-wise splits as an iterable",
        ValueError,
        "cv split 0 puts rows of \\d+ month\\(s\\) in both the training and the "
        "validation rows",
        dict(cv="KFold-rows"),
    ),
]

NEURIF_CV_CASES = [
    (
        "penalties as strings",
        TypeError,
        "deviation_penalties must be a flat sequence.*'a' is not a number",
        dict(deviation_penalties=["a", "b"]),
    ),
    (
        "ragged penalties",
        TypeError,
        "deviation_penalties must be a flat sequence.*\\[1.0, 2.0\\] is not a number",
        dict(deviation_penalties=[[1.0, 2.0], [3.0]]),
    ),
    (
        "penalties as a dict",
        TypeError,
        "deviation_penalties must be a flat sequence.*\\(a dict\\)",
        dict(deviation_penalties={"low": 0.0, "high": 1.0}),
    ),
    (
        "penalties as booleans",
        TypeError,
        "deviation_penalties must be a flat sequence.*True is not a number",
        dict(deviation_penalties=[True, False]),
    ),
    (
        "negative penalty",
        ValueError,
        "deviation_penalties must be a flat sequence of finite non-negative",
        dict(deviation_penalties=[1.0, -1.0]),
    ),
    *CV_SPLIT_CASES,
    ("boolean cv", InvalidParameterError, "'cv' parameter.*Got True", dict(cv=True)),
    (
        "estimator class, not instance",
        TypeError,
        "estimator must be a NeurIFRegressor.*the class NeurIFRegressor \\(pass an "
        "instance\\)",
        dict(estimator=NeurIFRegressor),
    ),
    (
        "estimator of another model",
        TypeError,
        "estimator must be a NeurIFRegressor.*got IPCARegressor",
        dict(estimator=IPCARegressor(n_factors=1)),
    ),
]


def _cv_object(name):
    from sklearn.model_selection import KFold, TimeSeriesSplit

    return {
        "KFold": KFold(3),
        "KFold-shuffle": KFold(3, shuffle=True, random_state=0),
        "TimeSeriesSplit": TimeSeriesSplit(3),
        "KFold-rows": list(KFold(3, shuffle=True, random_state=0).split(X0)),
    }.get(name, name)


@pytest.mark.parametrize("cv", [None, 2])
def test_neurif_cv_pairs_a_shuffled_y_by_index(cv):
    shuffled = Y0.sample(frac=1, random_state=0)
    a = _neurif_cv(cv=cv, random_state=0).fit(X0, Y0)
    b = _neurif_cv(cv=cv, random_state=0).fit(X0, shuffled)
    np.testing.assert_allclose(
        a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"]
    )
    np.testing.assert_allclose(a.predict(X0), b.predict(X0))


# =============================================================================
# Issue 17: forecasts paired by label, the evaluation of
# searches and ensembles, frames without a MultiIndex, scale, periods, tools.
# Each case: one kind, its exception type and a message naming the problem.
# =============================================================================
from sklearn_neurif import evaluate_factor_model  # noqa: E402
from sklearn_neurif.inference import anomaly_test, newey_west_mean  # noqa: E402

RNG17 = np.random.default_rng(17)
P17 = pd.Series(RNG17.normal(0, 0.02, len(Y0)), index=Y0.index, name="pred")
# Integer entities and periods: a swapped index shares labels with y's.
INT_IDX = pd.MultiIndex.from_product([range(12), range(30)], names=["entity", "time"])
Y_INT = pd.Series(RNG17.normal(0, 0.1, len(INT_IDX)), index=INT_IDX)
P_INT = pd.Series(RNG17.normal(0, 0.02, len(INT_IDX)), index=INT_IDX)


def _unnamed_swapped(obj):
    return obj.swaplevel().rename_axis([None, None])


def _ids_as_columns(X):
    """X with its entity and YYYYMM month left as ordinary columns."""
    out = X.reset_index()
    out["time"] = out["time"].dt.year * 100 + out["time"].dt.month
    return out


def _yyyymm_with_typo(obj):
    """``obj`` on YYYYMM integers with one impossible month (202013)."""
    labels = [202001, 202002, 202003, 202004, 202005, 202006, 202007, 202013]
    return _time_relabelled(obj, labels)


class _PredictMustNotRun:
    """A fitted model stand-in: inputs must be refused before predict runs."""

    n_factors = 1

    def predict(self, X):
        raise AssertionError("predict ran before the inputs were checked")

    transform = predict


def _common_periods_none():
    later = F0.set_axis(F0.index + 120)
    return anomaly_test(R0.to_frame(), later, join="inner")


ISSUE17_VALID_CASES = [
    # finding 2: forecasts with (time, entity) levels were paired silently
    (
        "diebold_mariano: forecast on (time, entity) levels",
        ValueError,
        r"pred2: The panel index looks like \(time, entity\)",
        lambda: diebold_mariano(Y0, 0.0, P17.swaplevel()),
    ),
    (
        "clark_west: forecast on (time, entity) levels",
        ValueError,
        r"pred_large: The panel index looks like \(time, entity\)",
        lambda: clark_west(Y0, 0.0, P17.swaplevel()),
    ),
    (
        "monthly_r2: forecast on (time, entity) levels",
        ValueError,
        r"pred: The panel index looks like \(time, entity\)",
        lambda: monthly_r2(Y0, P17.swaplevel()),
    ),
    (
        "diebold_mariano: unnamed integer levels swapped",
        ValueError,
        r"pred2's index looks like \(time, entity\).*swaplevel",
        lambda: diebold_mariano(Y_INT, 0.0, _unnamed_swapped(P_INT)),
    ),
    (
        "clark_west: unnamed integer levels swapped",
        ValueError,
        r"pred_small's index looks like \(time, entity\)",
        lambda: clark_west(Y_INT, _unnamed_swapped(P_INT), 0.0),
    ),
    (
        "diebold_mariano: forecast levels named otherwise than y's",
        ValueError,
        r"pred1's index levels are \['permno', 'date'\] but y's are "
        r"\['entity', 'time'\].*rename_axis",
        lambda: diebold_mariano(Y0, P17.rename_axis(["permno", "date"]), 0.0),
    ),
    (
        "diebold_mariano: forecast on timestamps, y on Periods",
        ValueError,
        r"pred2's time level holds datetime64\[.s\] labels but y's period\[M\]",
        lambda: diebold_mariano(Y0, 0.0, _time_relabelled(P17, MONTHS.to_timestamp())),
    ),
    (
        "diebold_mariano: forecast Series without a MultiIndex",
        ValueError,
        "pred2 is a Series indexed by RangeIndex.*never by position",
        lambda: diebold_mariano(Y0, 0.0, P17.reset_index(drop=True)),
    ),
    # finding 8: forecast types
    (
        "diebold_mariano: boolean forecast Series",
        TypeError,
        r"pred2 must be numeric returns; got booleans",
        lambda: diebold_mariano(Y0, 0.0, P17 > 0),
    ),
    (
        "clark_west: boolean forecast array",
        TypeError,
        r"pred_large must be numeric returns; got booleans",
        lambda: clark_west(Y0, 0.0, (P17 > 0).to_numpy()),
    ),
    (
        "diebold_mariano: a boolean as the constant forecast",
        TypeError,
        "pred1 must be a forecast of returns; got the boolean True",
        lambda: diebold_mariano(Y0, np.True_, P17),
    ),
    (
        "diebold_mariano: numbers stored as text (array)",
        TypeError,
        "pred2 must be numeric returns; got dtype .*stored as text are refused",
        lambda: diebold_mariano(Y0, 0.0, P17.astype(str).to_numpy()),
    ),
    (
        "monthly_r2: numbers stored as text (Series)",
        TypeError,
        "pred must be numeric returns; got dtype .*stored as text are refused",
        lambda: monthly_r2(Y0, P17.astype(str)),
    ),
    (
        "diebold_mariano(y, 'x', P2)",
        TypeError,
        "pred1 must be a Series, an array or a number of forecast returns; got 'x'",
        lambda: diebold_mariano(Y0, "x", P17),
    ),
    (
        "diebold_mariano: None as a forecast",
        TypeError,
        "pred2 must be a Series, an array or a number of forecast returns; got None",
        lambda: diebold_mariano(Y0, 0.0, None),
    ),
    (
        "evaluate_factor_model(nw_lags=-1)",
        ValueError,
        "nw_lags must be a non-negative integer or None; got -1",
        lambda: evaluate_factor_model(_fitted_ipca(), X0, Y0, nw_lags=-1),
    ),
    (
        "evaluate_factor_model(periods_per_year=0)",
        ValueError,
        "periods_per_year must be a positive integer; got 0",
        lambda: evaluate_factor_model(_fitted_ipca(), X0, Y0, periods_per_year=0),
    ),
    (
        "evaluate_factor_model(None, ...)",
        TypeError,
        "estimator must be a fitted return model with predict.*got NoneType",
        lambda: evaluate_factor_model(None, X0, Y0),
    ),
    (
        "newey_west_mean(lags=-1)",
        ValueError,
        "Newey-West lags must be None or an integer >= 0; got -1",
        lambda: newey_west_mean(R0.to_numpy(), -1),
    ),
    (
        "newey_west_mean(lags=True)",
        ValueError,
        "Newey-West lags must be None or an integer >= 0; got True",
        lambda: newey_west_mean(R0.to_numpy(), True),
    ),
    # finding 11: entity and time left as ordinary columns (one path: panel_index)
    *[
        (
            f"{name}: entity and YYYYMM month as columns, no MultiIndex",
            ValueError,
            r"X has no \(entity, time\) MultiIndex, and its column\(s\) "
            r"\['entity', 'time'\] name an entity or a period.*set_index",
            lambda name=name: ESTIMATORS[name]().fit(
                _ids_as_columns(X0), Y0.to_numpy()
            ),
        )
        for name in ("ipca", "ca", "transformer", "neurif")
    ],
    (
        "scaler: entity and month as columns, no MultiIndex",
        ValueError,
        r"column\(s\) \['entity', 'time'\] name an entity or a period",
        lambda: CrossSectionalRankScaler().fit(_ids_as_columns(X0)),
    ),
    (
        "scaler: a frame indexed by date alone",
        ValueError,
        r"its index and column\(s\) \['time'\] name an entity or a period",
        lambda: CrossSectionalRankScaler().fit(X0.reset_index(level=0, drop=True)),
    ),
    (
        "sorter: RangeIndex frame with permno and date columns",
        ValueError,
        r"column\(s\) \['permno', 'date'\] name an entity or a period",
        lambda: PortfolioSorter(2, signal="signal").fit(
            _sorter_frame()
            .rename_axis(["permno", "date"])
            .reset_index()
            .assign(date=lambda d: d["date"].dt.year * 100 + d["date"].dt.month),
            Y0.to_numpy(),
        ),
    ),
    (
        "ipca: dollar-scale characteristic next to a constant (numerically collinear)",
        ValueError,
        r"\['c2'\] are far from the scale.*scale problem, not redundant columns",
        lambda: IPCARegressor(n_factors=1, add_constant=True).fit(
            X0.assign(c2=1e13 + X0["c2"] * 100), Y0
        ),
    ),
    (
        "PanelTimeSeriesSplit.split_periods: YYYYMM groups with month 13",
        ValueError,
        r"groups are six-digit integers that read as YYYYMM months except 1 with "
        r"no such month \(e\.g\. \[202013\]\)",
        lambda: PanelTimeSeriesSplit(2).split_periods(
            X0.to_numpy(), groups=_yyyymm_with_typo(Y0).index.get_level_values(1)
        ),
    ),
    (
        "ipca: panel on YYYYMM integers with one impossible month",
        ValueError,
        r"time level of the panel index holds six-digit integers .*\[202013\]",
        lambda: _ipca().fit(_yyyymm_with_typo(X0), _yyyymm_with_typo(Y0)),
    ),
    (
        "rank_ic: NaN predictions (refused as by r2_predictive)",
        ValueError,
        r"y_pred contains 8 NaN value\(s\)",
        lambda: rank_ic(Y0, P17.where(P17.index.get_level_values(0) != 3)),
    ),
    (
        "sort_on_factor_model: weights on other rows (before predict)",
        ValueError,
        r"weights is not aligned with X: 8 \(entity, time\) row\(s\) of X missing",
        lambda: sort_on_factor_model(
            _PredictMustNotRun(), X0, Y0, weights=(X0["c1"] + 2).iloc[8:]
        ),
    ),
    (
        "sort_on_factor_model: weights as an array for a panel (before predict)",
        ValueError,
        "weights is a ndarray without one: weights is paired with X by index",
        lambda: sort_on_factor_model(
            _PredictMustNotRun(), X0, Y0, weights=(X0["c1"] + 2).to_numpy()
        ),
    ),
    (
        "spanning_regression(periods_per_year=0)",
        ValueError,
        "periods_per_year .* must be a positive integer; got 0",
        lambda: spanning_regression(R0, F0, periods_per_year=0),
    ),
    (
        "spanning_regression(periods_per_year=True)",
        ValueError,
        "periods_per_year .* must be a positive integer; got True",
        lambda: spanning_regression(R0, F0, periods_per_year=True),
    ),
    (
        "anomaly_test: no period common to test assets and factors",
        ValueError,
        "The test assets and the factors have no period in common",
        _common_periods_none,
    ),
    (
        "anomaly_test: a test asset without any return",
        ValueError,
        r"Test asset\(s\) \['empty'\] have no return in any of the 60 period",
        lambda: anomaly_test(R0.to_frame().assign(empty=np.nan), F0),
    ),
    (
        "anomaly_test: missing='drop' leaving no period",
        ValueError,
        "missing='drop' leaves no period",
        lambda: anomaly_test(
            R0.to_frame().assign(
                q=R0.where(np.arange(60) % 2 == 0), r=R0.where(np.arange(60) % 2 == 1)
            ),
            F0,
        ),
    ),
]


@pytest.mark.parametrize(
    ("exc", "match", "call"),
    [pytest.param(e, m, c, id=i) for i, e, m, c in ISSUE17_VALID_CASES],
)
def test_issue17_bad_input(exc, match, call, trained):
    before = len(trained)  # _fitted_ipca() trains before the call is made
    with pytest.raises(exc, match=match):
        call()
    assert "epoch" not in trained[before:]


def test_issue17_forecasts_aligned_by_label_and_object_numbers_read():
    # The same forecast shuffled, on object dtype, or as y's row-order array
    # gives the same test; rows of y without a forecast are left out, counted.
    ref = diebold_mariano(Y0, 0.0, P17)
    for pred in (
        P17.sample(frac=1, random_state=0),
        P17.astype(object),
        P17.to_numpy(),
        P17.to_numpy().astype(object),
    ):
        assert diebold_mariano(Y0, 0.0, pred).stat == pytest.approx(ref.stat)
    partial = diebold_mariano(Y0, 0.0, P17.iloc[10:])
    assert partial.n_rows_dropped == 10 and partial.n_rows == len(Y0) - 10
    pd.testing.assert_series_equal(
        monthly_r2(Y0, P17.swaplevel().swaplevel()), monthly_r2(Y0, P17)
    )


def test_issue17_evaluate_unwraps_a_fitted_search():
    # finding 6: r2_total was NaN ("has no realised factors") for a search.
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        make_pipeline(CrossSectionalRankScaler(), IPCARegressor()),
        {"ipcaregressor__n_factors": [1, 2]},
        cv=PanelTimeSeriesSplit(2),
    ).fit(X0, Y0)
    ev = evaluate_factor_model(search, X0, Y0)
    best = evaluate_factor_model(search.best_estimator_, X0, Y0)
    assert np.isfinite(ev.r2_total) and ev.notes == ()
    assert (ev.r2_total, ev.r2_predictive) == (best.r2_total, best.r2_predictive)
    assert ev.name == "IPCARegressor"


def test_issue17_seed_ensemble_of_a_deterministic_model_warns():
    # finding 8: Ridge has a random_state, but its default solver ignores it.
    from sklearn.linear_model import Ridge

    with pytest.warns(
        UserWarning,
        match="members of the SeedEnsembleRegressor of "
        "Ridge are identical: their random_state does not change",
    ):
        SeedEnsembleRegressor(Ridge(), n_estimators=3).fit(X0, Y0)


def test_issue17_seed_ensemble_of_a_pipeline_keeps_the_factor_outputs():
    # finding 9: a Pipeline member lost factors_, get_factors and predict_total.
    pipe = make_pipeline(CrossSectionalRankScaler(), _ca())
    ens = SeedEnsembleRegressor(pipe, n_estimators=2, random_state=0).fit(X0, Y0)
    assert ens.factors_.columns.tolist() == [(1, "factor_1"), (2, "factor_1")]
    assert ens.get_factors(X0, Y0).shape == (N_MONTHS, 2)
    members = [m.predict(X0) for m in ens.estimators_]
    totals = [m[-1].predict_total(m[:-1].transform(X0), Y0) for m in ens.estimators_]
    np.testing.assert_allclose(ens.predict_total(X0, Y0), np.mean(totals, axis=0))
    np.testing.assert_allclose(ens.predict(X0), np.mean(members, axis=0))
    ev = evaluate_factor_model(ens, X0, Y0)
    assert np.isfinite(ev.r2_total) and ev.notes == ()


def test_issue17_ipca_on_dollar_scale_columns_names_the_scale(trained):
    # Three market caps in dollars and a constant: ALS itself failed with
    # numpy's "Matrix is not positive definite"; the error names the scale.
    X = X0 * 1e12 + 5e12
    with pytest.raises(
        ValueError,
        match=r"\['c1', 'c2', 'c3'\] are far from the "
        "scale.*CrossSectionalRankScaler",
    ):
        IPCARegressor(n_factors=3, add_constant=True).fit(X, Y0)


def test_issue17_total_loss_portfolio_warns_and_explains_turnover():
    # finding 11: -100% returns gave NaN turnover and numpy's RuntimeWarning.
    X = _sorter_frame()
    y = Y0.copy()
    loser = X["signal"].groupby(level="time").idxmin()[MONTHS[2]]
    y.loc[loser] = -1.0  # the bottom portfolio of 10 assets and 10 deciles
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = PortfolioSorter(10, signal="signal").fit(X, y).result_
    messages = [str(w.message) for w in caught]
    assert [w.category for w in caught] == [PanelDataWarning], messages
    assert (
        "1 portfolio return(s) are -100% or below (e.g. P1 in 2020-03)" in (messages[0])
        and "turnover in the next period is NaN" in messages[0]
    )
    assert np.isnan(result.turnover.loc[MONTHS[3], "P1"])
    assert result.turnover.loc[MONTHS[4] :, "P1"].notna().all()


ISSUE17_VALID_STANDALONE = (
    "forecasts on object dtype / shuffled / arrays read (valid input kept)",
    "evaluate_factor_model on a fitted GridSearchCV of a Pipeline",
    "SeedEnsembleRegressor of a model whose seed changes nothing",
    "SeedEnsembleRegressor of a Pipeline ending in a factor model",
    "IPCA on dollar-scale columns failing inside ALS",
    "a portfolio losing 100%: warning and explained NaN turnover",
)


def test_issue17_valid_number_of_kinds():
    assert len(ISSUE17_VALID_CASES) + len(ISSUE17_VALID_STANDALONE) >= 30


# =============================================================================
# IPCARegressorCV (issue 17): y paired by index, whole-month splits, the
# path's parameters refused before any training.
# =============================================================================
def _ipca_cv(**kwargs):
    from sklearn_neurif.ipca import IPCARegressorCV

    return IPCARegressorCV(**{"alphas": [1e-4, 0.0], **kwargs})


IPCA_CV_CASES = [
    (
        "alphas as strings",
        TypeError,
        "alphas must be a flat sequence.*'a' is not a number",
        dict(alphas=["a", "b"]),
    ),
    (
        "ragged alphas",
        TypeError,
        "alphas must be a flat sequence.*\\[1.0, 2.0\\] is not a number",
        dict(alphas=[[1.0, 2.0], [3.0]]),
    ),
    (
        "alphas as a dict",
        TypeError,
        "alphas must be a flat sequence.*\\(a dict\\)",
        dict(alphas={"low": 0.0, "high": 1.0}),
    ),
    (
        "alphas as booleans",
        TypeError,
        "alphas must be a flat sequence.*True is not a number",
        dict(alphas=[True, False]),
    ),
    (
        "negative alpha",
        ValueError,
        "alphas must be a flat sequence of finite non-negative numbers",
        dict(alphas=[1e-4, -1.0]),
    ),
    (
        "NaN alpha",
        ValueError,
        "alphas must be a flat sequence of finite non-negative numbers",
        dict(alphas=[float("nan")]),
    ),
    ("empty alphas", ValueError, "alphas must be a flat sequence", dict(alphas=[])),
    (
        "empty n_factors",
        ValueError,
        "n_factors must be an int >= 0 or a non-empty list of them; got \\[\\]",
        dict(n_factors=[]),
    ),
    (
        "fractional n_factors",
        ValueError,
        "n_factors must be an int >= 0 or a non-empty list of them; got \\[1.5\\]",
        dict(n_factors=[1.5]),
    ),
    *CV_SPLIT_CASES,
    (
        "validation fraction leaving no training month",
        ValueError,
        "validation_fraction=0.95 leaves no training period \\(8 periods",
        dict(validation_fraction=0.95),
    ),
    (
        "estimator class, not instance",
        TypeError,
        "estimator must be an IPCARegressor.*the class IPCARegressor \\(pass an "
        "instance\\)",
        dict(estimator=IPCARegressor),
    ),
    (
        "estimator of another model",
        TypeError,
        "estimator must be an IPCARegressor.*got NeurIFRegressor",
        dict(estimator=NeurIFRegressor(n_factors=1)),
    ),
]


# Both CV estimators (NeurIFRegressorCV above, IPCARegressorCV here) share
# their checks (model_selection/_cv_path.py, base.ChosenModelMixin): one test
# body runs every case against its estimator.
CV_ESTIMATORS = {"NeurIFRegressorCV": _neurif_cv, "IPCARegressorCV": _ipca_cv}
CV_CASES = [
    (f"{name}-{case[0]}", CV_ESTIMATORS[name], *case[1:])
    for name, cases in [
        ("NeurIFRegressorCV", NEURIF_CV_CASES),
        ("IPCARegressorCV", IPCA_CV_CASES),
    ]
    for case in cases
]


@pytest.mark.parametrize(
    "make, error, match, kwargs",
    [case[1:] for case in CV_CASES],
    ids=[case[0] for case in CV_CASES],
)
def test_cv_estimator_bad_parameters(make, error, match, kwargs, trained):
    if isinstance(kwargs.get("cv"), str):
        kwargs = dict(kwargs, cv=_cv_object(kwargs["cv"]))
    est = make(**{k: v for k, v in kwargs.items() if k != "estimator"})
    if "estimator" in kwargs:
        est.set_params(estimator=kwargs["estimator"])
    with pytest.raises(error, match=match):
        est.fit(X0, Y0)
    assert not trained


@pytest.mark.parametrize("make", CV_ESTIMATORS.values(), ids=CV_ESTIMATORS)
def test_cv_estimator_y_missing_rows(make, trained):
    with pytest.raises(
        ValueError, match="40 \\(entity, time\\) row\\(s\\) of X missing"
    ):
        make().fit(X0, Y0.iloc[:-40])
    assert not trained


@pytest.mark.parametrize("make", CV_ESTIMATORS.values(), ids=CV_ESTIMATORS)
def test_cv_estimator_y_without_index(make, trained):
    with pytest.raises(ValueError, match="paired with X by index, never by position"):
        make().fit(X0, Y0.to_numpy())
    assert not trained


@pytest.mark.parametrize("cv", [None, 2, PanelTimeSeriesSplit(2)])
def test_ipca_cv_pairs_a_shuffled_y_by_index(cv):
    shuffled = Y0.sample(frac=1, random_state=0)
    a = _ipca_cv(cv=cv).fit(X0, Y0)
    b = _ipca_cv(cv=cv).fit(X0, shuffled)
    assert np.isfinite(a.cv_results_["mean_test_score"]).all()
    np.testing.assert_allclose(
        a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"]
    )
    assert a.best_params_ == b.best_params_
    np.testing.assert_allclose(a.predict(X0), b.predict(X0))


def test_ipca_cv_single_period_warns_and_keeps_the_first_pair():
    month = X0.index.get_level_values("time") == MONTHS[0]
    with pytest.warns(UserWarning, match="single period with returns.*no validation"):
        est = _ipca_cv().fit(X0[month], Y0[month])
    # alpha=1e-4 zeroes the factor on this month's 10 assets: the path's
    # next step (0) is the first pair that fits.
    assert est.best_params_ == {"n_factors": 1, "alpha": 0.0}
    assert np.isnan(est.cv_results_["mean_test_score"]).all()
    with pytest.warns(UserWarning, match="single period"):
        small = _ipca_cv(alphas=[1e-8, 0.0]).fit(X0[month], Y0[month])
    assert small.alpha_ == 1e-8
    np.testing.assert_allclose(
        small.predict(X0[month]),
        IPCARegressor(1, alpha=1e-8).fit(X0[month], Y0[month]).predict(X0[month]),
    )
