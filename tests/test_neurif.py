"""NeurIFRegressor: module maths, panel handling, sklearn API, persistence."""

from __future__ import annotations

import copy
import math
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.neurif import NeurIFRegressor
from sklearn_neurif.neurif._module import LastPositionAttention, NeurIFModule
from sklearn_neurif.neurif._net import NeurIFNet, orthogonality

FAST = dict(n_factors=2, window=3, hidden_size=8, max_epochs=3, random_state=0)


@pytest.fixture(scope="module")
def panel():
    data = make_conditional_factor_panel(
        40, 30, 5, 2, missing_fraction=0.1, factor_means=0.02, random_state=0
    )
    return data.X, data.y


@pytest.fixture(scope="module")
def fitted(panel):
    X, y = panel
    return NeurIFRegressor(**FAST).fit(X, y)


def _split(X, y, last_train):
    t = X.index.get_level_values("time")
    return X[t <= last_train], y[t <= last_train], X[t > last_train], y[t > last_train]


# ----------------------------------------------------------------- module maths
def test_last_position_attention_equals_full_causal_attention():
    """One query at the last position == causal self-attention over explicit windows."""
    torch.manual_seed(0)
    d, H, W, U = 8, 2, 4, 30
    att = LastPositionAttention(d, H, W, dropout=0.0)
    h = torch.randn(U, d)
    lags = torch.randint(0, U, (3, 5, W))
    lags[torch.rand(3, 5, W) < 0.3] = -1
    lags[..., -1] = torch.randint(0, U, (3, 5))
    h_cur, ctx = att(h, lags)
    # Independent computation: materialise each window (W copies), run full
    # causal multi-head attention, keep the last position.
    x = h[lags.clamp(min=0)] + att.position  # (M, n, W, d)
    q = att.query(x)
    kv = att.key_value(x)
    k, v = kv[..., :d], kv[..., d:]
    dh = d // H
    q, k, v = (t.reshape(15, W, H, dh).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
    causal = torch.ones(W, W, dtype=torch.bool).tril()
    keep = causal & (lags.reshape(15, 1, 1, W) >= 0)
    scores = scores.masked_fill(~keep, float("-inf"))
    out = torch.softmax(scores, -1) @ v  # (15, H, W, dh)
    last = out[:, :, -1, :].reshape(3, 5, d)
    torch.testing.assert_close(ctx, att.out(last), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_cur, x[..., -1, :])


def test_realised_factors_are_masked_ridge_regression():
    rng = np.random.default_rng(0)
    module = NeurIFModule(4, 3, 2, hidden_size=8, ridge=0.05)
    beta = torch.tensor(rng.standard_normal((2, 10, 3)), dtype=torch.float64)
    ret = torch.tensor(rng.standard_normal((2, 10)), dtype=torch.float64)
    mask = torch.tensor(rng.uniform(size=(2, 10)) > 0.3)
    f = module.realised_factors(beta, ret, mask).numpy()
    for m in range(2):
        keep = mask[m].numpy()
        B, r = beta[m].numpy()[keep], ret[m].numpy()[keep]
        expected = np.linalg.solve(B.T @ B + 0.05 * np.eye(3), B.T @ r)
        np.testing.assert_allclose(f[m], expected, rtol=1e-10)


def test_orthogonality_penalty_is_squared_off_diagonal_correlation():
    rng = np.random.default_rng(1)
    beta = rng.standard_normal((1, 50, 3))
    present = np.ones((1, 50), dtype=bool)
    present[0, 40:] = False
    corr = np.corrcoef(beta[0, :40].T)
    expected = (corr**2).sum() - 3
    got = orthogonality(torch.tensor(beta), torch.tensor(present))
    assert float(got) == pytest.approx(expected, rel=1e-8)


# ------------------------------------------------------------------ fit/predict
def test_outputs_shapes_and_names(panel, fitted):
    X, y = panel
    est = fitted
    pred = est.predict(X)
    assert pred.shape == (len(X),) and np.isfinite(pred).all()
    Xt = est.transform(X)
    assert list(Xt.columns) == ["loading_1", "loading_2", "factor_1", "factor_2"]
    assert Xt.index.equals(X.index)
    # Premia are common to a period.
    assert Xt.groupby(level="time")["factor_1"].nunique().max() == 1
    np.testing.assert_allclose(
        pred, (Xt.iloc[:, :2].to_numpy() * Xt.iloc[:, 2:].to_numpy()).sum(1)
    )
    assert est.factors_.shape == (30, 2)
    assert list(est.gamma_.index) == list(X.columns)
    assert est.gamma_.shape == (5, 2)
    assert {"train_loss", "valid_loss", "train_fit", "valid_dev"} <= set(
        est.history_.columns
    )
    assert est.n_iter_ == len(est.history_) <= 3
    assert isinstance(est.net_, NeurIFNet)


def test_factors_match_numpy_ridge_regression_of_returns_on_loadings(panel, fitted):
    X, y = panel
    loadings = fitted.transform(X).iloc[:, :2]
    for t in [0, 17, 29]:
        rows = (X.index.get_level_values("time") == t) & y.notna().to_numpy()
        B, r = loadings[rows].to_numpy(), y[rows].to_numpy()
        f = np.linalg.solve(B.T @ B + fitted.ridge * np.eye(2), B.T @ r)
        np.testing.assert_allclose(fitted.factors_.loc[t].to_numpy(), f, rtol=1e-6)


def test_row_order_does_not_matter(panel, fitted):
    X, _ = panel
    perm = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(
        fitted.predict(X.iloc[perm]), fitted.predict(X)[perm], rtol=1e-5, atol=1e-8
    )


def test_deterministic_and_global_rng_untouched(panel):
    X, y = panel
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002
    a = NeurIFRegressor(**FAST).fit(X, y).predict(X)
    b = NeurIFRegressor(**FAST).fit(X, y).predict(X)
    c = NeurIFRegressor(**{**FAST, "random_state": 1}).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002


def test_predict_after_training_uses_the_training_window(panel):
    X, y = panel
    X_tr, y_tr, X_te, _ = _split(X, y, 21)
    est = NeurIFRegressor(**FAST).fit(X_tr, y_tr)
    alone = est.predict(X_te)
    both = est.predict(pd.concat([X_tr, X_te]))[len(X_tr) :]
    np.testing.assert_allclose(alone, both, rtol=1e-5, atol=1e-7)
    # With a gap the training months are not the test months' history.
    gap = X_te[X_te.index.get_level_values("time") > 23]
    no_context = est.predict(gap)
    with_history = est.predict(pd.concat([X_tr, X_te]))[
        len(X_tr) + np.flatnonzero(X_te.index.get_level_values("time") > 23)
    ]
    assert not np.allclose(no_context, with_history)


def test_new_assets_and_period_index():
    data = make_conditional_factor_panel(30, 20, 4, 2, entry_exit=True, random_state=3)
    X, y = data.X.copy(), data.y.copy()
    periods = pd.period_range("2000-01", periods=20, freq="M")
    idx = pd.MultiIndex.from_arrays(
        [X.index.get_level_values(0), periods[X.index.get_level_values(1)]],
        names=["permno", "month"],
    )
    X.index, y.index = idx, idx
    t = idx.get_level_values(1)
    est = NeurIFRegressor(**FAST).fit(X[t < "2001-04"], y[t < "2001-04"])
    X_new = X[t >= "2001-04"].rename(index={0: 999}, level=0)
    pred = est.predict(X_new)
    assert pred.shape == (len(X_new),) and np.isfinite(pred).all()
    assert est.factors_.index[0] == periods[0]


def test_all_nan_return_months_are_excluded_not_dropped(panel):
    X, y = panel
    y = y.copy()
    y[y.index.get_level_values("time") == 29] = np.nan
    est = NeurIFRegressor(**FAST).fit(X, y)
    assert list(est.excluded_periods_) == [29]
    assert est.predict(X).shape == (len(X),)
    assert est.factors_.loc[29].isna().all()


def test_integer_characteristics_are_accepted(panel):
    X, y = panel
    Xi = (X * 10).round().astype(np.int64)
    est = NeurIFRegressor(**FAST).fit(Xi, y)
    assert est.predict(Xi).dtype == np.float64


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_factors=6), r"n_factors=6 exceeds .* 5 feature\(s\)"),
        (dict(hidden_size=9, n_heads=2), "divisible"),
        (dict(lr=0.0), "lr"),
        (dict(validation_fraction=1.0), "validation_fraction"),
    ],
)
def test_bad_parameters(panel, params, match):
    X, y = panel
    est = NeurIFRegressor(**{**FAST, **params})
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "net_")


def test_bad_inputs_raise_before_training(panel):
    X, y = panel
    X_nan = X.copy()
    X_nan.iloc[3, 1] = np.nan
    with pytest.raises(ValueError, match="c2"):
        NeurIFRegressor(**FAST).fit(X_nan, y)
    X_obj = X.assign(c1=X["c1"].astype(str))
    with pytest.raises(TypeError, match="c1"):
        NeurIFRegressor(**FAST).fit(X_obj, y)
    with pytest.raises(ValueError, match="not aligned"):
        NeurIFRegressor(**FAST).fit(X, y.iloc[1:])
    dup = pd.concat([X, X.iloc[:1]])
    with pytest.raises(ValueError, match="duplicated"):
        NeurIFRegressor(**FAST).fit(dup, pd.concat([y, y.iloc[:1]]))
    few = y.copy()
    few[(few.index.get_level_values("time") == 4)] = np.nan
    few[
        (few.index.get_level_values("time") == 4) & (few.index.get_level_values(0) == 0)
    ] = 0.01
    with pytest.raises(ValueError, match="exceeds the 1 asset"):
        NeurIFRegressor(**FAST).fit(X, few)
    with pytest.raises(ValueError, match="missing"):
        NeurIFRegressor(**FAST).fit(X, y * np.nan)


def test_inputs_not_mutated(panel):
    X, y = panel
    X0, y0 = X.copy(), y.copy()
    est = NeurIFRegressor(**FAST).fit(X, y)
    est.predict(X)
    est.transform(X)
    pd.testing.assert_frame_equal(X, X0)
    pd.testing.assert_series_equal(y, y0)


# ------------------------------------------------------------------ training
def test_validation_on_last_periods_and_best_weights(panel):
    X, y = panel
    est = NeurIFRegressor(**{**FAST, "max_epochs": 6, "patience": 2}).fit(X, y)
    assert list(est.validation_periods_) == list(range(24, 30))
    # Early stopping monitors the validation fit term (1 - total R^2) ...
    assert est.best_epoch_ == _kept_epoch(est.history_["valid_fit"])
    # ... or, on request, the whole penalised validation loss.
    params = {**FAST, "max_epochs": 6, "patience": 2, "validation_criterion": "loss"}
    est = NeurIFRegressor(**params).fit(X, y)
    assert est.best_epoch_ == _kept_epoch(est.history_["valid_loss"])


def _kept_epoch(monitored, threshold=1e-4):
    """skorch EarlyStopping's rule: better only below (1 - threshold) x best."""
    best, kept = np.inf, None
    for epoch, value in monitored.items():
        if value < best * (1 - threshold):
            best, kept = value, int(epoch)
    return kept


def test_residual_start_of_the_deviation(panel):
    X, y = panel
    est = NeurIFRegressor(**{**FAST, "max_epochs": 1}).fit(X, y)
    assert est.deviation_start_scale_ in (0.0, 0.1, 0.3, 1.0)
    zero = NeurIFRegressor(**{**FAST, "max_epochs": 1, "deviation_init": 0.0})
    assert zero.fit(X, y).deviation_start_scale_ is None


def _start_module_and_batcher(panel, seed=0):
    from sklearn_neurif.neurif._module import NeurIFModule
    from sklearn_neurif.nn._batching import PanelBatcher
    from sklearn_neurif.panel import PanelLayout, panel_index

    X, y = panel
    torch.manual_seed(seed)
    module = NeurIFModule(X.shape[1], 2, window=3, hidden_size=8, n_heads=2)
    batcher = PanelBatcher(
        X.to_numpy(np.float32), PanelLayout(panel_index(X)), 3, y.to_numpy()
    )
    return module, batcher, batcher.periods_with_returns()


@pytest.mark.parametrize("seed", [1, 2])
def test_several_residual_starts_keep_the_best_draw(panel, seed):
    """A fresh draw of g's hidden layer is kept when its start fits better.

    With these seeds a fresh draw's start fits the validation months better
    than the module's own (measured; with seeds 0 and 3 no start beat
    IPCA's and the module was left unchanged).
    """
    from sklearn_neurif.neurif._residual_start import start_deviation_on_residuals

    module, batcher, months = _start_module_and_batcher(panel, seed)
    first = copy.deepcopy(module)
    one = start_deviation_on_residuals(first, batcher, months[:20], months[20:])
    torch.manual_seed(seed)
    many = start_deviation_on_residuals(
        module, batcher, months[:20], months[20:], n_draws=6
    )
    assert one.draw == 0 and 0 < many.draw < 6
    assert many.sse < one.sse
    # The hidden layer is the module's own unless a fresh draw won; the
    # output layer's last row is set only when a scale > 0 won.
    same_hidden = torch.equal(first.deviation[0].weight, module.deviation[0].weight)
    assert same_hidden == (many.draw == 0)
    assert bool(module.deviation[-1].weight[-1].any()) == (many.scale > 0)
    # The start kept is the one scored: recompute its validation SSE.
    assert many.sse == pytest.approx(
        _validation_sse(module, batcher, months[20:]), rel=1e-4
    )


def _validation_sse(module, batcher, months):
    """SSE of each month's returns on the module's loadings (ridge regression)."""
    sse = 0.0
    with torch.no_grad():
        module.eval()
        for m in months:
            batch = batcher.batch(np.array([m]))
            out = module(batch["z"], batch["lags"])
            keep = batch["ret_mask"][0].numpy()
            b = out["beta"][0].double().numpy()[keep]
            r = batch["ret"][0].double().numpy()[keep]
            f = np.linalg.solve(b.T @ b + module.ridge * np.eye(b.shape[1]), b.T @ r)
            sse += float(((r - b @ f) ** 2).sum())
    return sse


def test_n_deviation_starts_reaches_the_fit(panel):
    X, y = panel
    params = {**FAST, "max_epochs": 1, "n_deviation_starts": 4}
    est = NeurIFRegressor(**params).fit(X, y)
    assert est.deviation_start_scale_ in (0.0, 0.1, 0.3, 1.0)
    with pytest.raises(ValueError, match="n_deviation_starts"):
        NeurIFRegressor(**{**params, "n_deviation_starts": 0}).fit(X, y)


@pytest.mark.parametrize("value", [0.0, 0.3, "residual"])
def test_deviation_init_sets_the_output_layer(panel, value):
    from sklearn_neurif.neurif._estimator import _init_deviation
    from sklearn_neurif.neurif._module import NeurIFModule
    from sklearn_neurif.neurif._residual_start import start_deviation_on_residuals

    module = NeurIFModule(panel[0].shape[1], 2, window=3, hidden_size=8, n_heads=2)
    assert not module.deviation[-1].weight.any()
    if value == "residual":
        from sklearn_neurif.nn._batching import PanelBatcher
        from sklearn_neurif.panel import PanelLayout, panel_index

        X, y = panel
        batcher = PanelBatcher(
            X.to_numpy(np.float32), PanelLayout(panel_index(X)), 3, y.to_numpy()
        )
        months = batcher.periods_with_returns()
        start = start_deviation_on_residuals(module, batcher, months[:20], months[20:])
        weight = module.deviation[-1].weight.detach()
        # Only the last factor's row moves, and only when a scale > 0 won.
        assert not weight[:-1].any()
        assert bool(weight[-1].any()) == (start.scale > 0)
    elif value:
        _init_deviation(module, value)
        assert 0 < module.deviation[-1].weight.std() < value
    assert not module.deviation[-1].bias.any()


def test_no_validation_runs_all_epochs(panel):
    X, y = panel
    est = NeurIFRegressor(**{**FAST, "validation_fraction": 0.0}).fit(X, y)
    assert est.n_iter_ == 3 and est.best_epoch_ is None
    assert "valid_loss" not in est.history_.columns


def test_warm_start_continues(panel):
    X, y = panel
    est = NeurIFRegressor(**{**FAST, "validation_fraction": 0.0}).fit(X, y)
    before = est.predict(X)
    est.set_params(warm_start=True, lr=1e-9)
    est.fit(X, y)
    assert est.n_iter_ == 6 and list(est.history_["epoch"]) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(est.predict(X), before, rtol=1e-4, atol=1e-6)
    cold = clone(est).set_params(warm_start=False).fit(X, y)
    assert not np.allclose(cold.predict(X), before, rtol=1e-4, atol=1e-6)


def test_keyboard_interrupt_leaves_a_usable_model(panel, monkeypatch):
    X, y = panel

    def interrupt(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(NeurIFNet, "on_epoch_end", interrupt)
    est = NeurIFRegressor(**{**FAST, "max_epochs": 10})
    # Re-raised (skorch swallows it), after keeping the weights so far.
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    assert est.n_iter_ == 2 and est.interrupted_
    assert np.isfinite(est.predict(X)).all()


def test_checkpoints_do_not_collide(panel, tmp_path):
    X, y = panel
    a = NeurIFRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    b = NeurIFRegressor(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    assert a.checkpoint_path_ != b.checkpoint_path_
    for est in (a, b):
        files = {p.name for p in (tmp_path / est.checkpoint_path_).iterdir()}
        assert "params.pt" in files


def test_verbose_prints_epochs_and_silent_by_default(panel, capsys):
    X, y = panel
    NeurIFRegressor(**FAST).fit(X, y)
    assert capsys.readouterr().out == ""
    NeurIFRegressor(**FAST, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "epoch" in out and "valid_loss" in out and len(out.splitlines()) >= 5


# ------------------------------------------------------------------ sklearn API
def test_pickle_and_joblib_round_trip(panel, fitted, tmp_path):
    X, _ = panel
    expected = fitted.predict(X)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(fitted)).predict(X), expected
    )
    joblib.dump(fitted, tmp_path / "m.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "m.joblib").predict(X), expected
    )


def test_clone_and_set_params_reach_the_net(panel):
    X, y = panel
    est = NeurIFRegressor(**FAST)
    c = clone(est).set_params(
        max_epochs=2, lr=5e-3, batch_months=4, deviation_penalty=3.0
    )
    assert c.get_params()["max_epochs"] == 2 and est.max_epochs == 3
    c.fit(X, y)
    assert c.net_.max_epochs == 2 and c.net_.lr == 5e-3 and c.net_.batch_size == 4
    assert c.net_.deviation_penalty == 3.0
    assert c.n_iter_ == 2


def test_set_output_pandas(panel, fitted):
    X, y = panel
    arr = X[X.index.get_level_values("time") == 0].to_numpy()
    est = (
        clone(fitted).set_params(window=1).fit(arr, y[: len(arr)].fillna(0).to_numpy())
    )
    est.set_output(transform="pandas")
    out = est.transform(arr)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["loading_1", "loading_2", "factor_1", "factor_2"]
    fitted_pd = clone(fitted).set_output(transform="pandas").fit(X, y)
    assert fitted_pd.transform(X).index.equals(X.index)


def test_pipeline_and_grid_search(panel):
    pytest.importorskip("sklearn_neurif.preprocessing")
    from sklearn_neurif.metrics import r2_total_scorer
    from sklearn_neurif.model_selection import PanelTimeSeriesSplit
    from sklearn_neurif.preprocessing import CrossSectionalRankScaler

    X, y = panel
    pipe = make_pipeline(CrossSectionalRankScaler(), NeurIFRegressor(**FAST))
    pred = pipe.fit(X, y).predict(X)
    assert pred.shape == (len(X),)
    grid = GridSearchCV(
        pipe,
        {
            "neurifregressor__n_factors": [1, 2],
            "neurifregressor__deviation_penalty": [0.1, 1.0],
        },
        cv=PanelTimeSeriesSplit(n_splits=2, test_size=5),
        scoring=r2_total_scorer,
    ).fit(X, y)
    assert len(grid.cv_results_["mean_test_score"]) == 4
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


def test_sklearn_tags():
    tags = NeurIFRegressor().__sklearn_tags__()
    assert tags.regressor_tags.poor_score and not tags.non_deterministic
    assert tags.estimator_type == "regressor" and tags.transformer_tags is not None


def test_attribution_of_a_linear_model_is_gamma(panel):
    X, y = panel
    # With g(v) = 0 (its last layer starts at zero and a huge deviation
    # penalty keeps it there), loadings are Gamma'z: both attributions are Gamma.
    est = NeurIFRegressor(**{**FAST, "deviation_penalty": 1e6, "lr": 1e-12}).fit(X, y)
    est.net_.module_.deviation[-1].weight.data.zero_()
    est.net_.module_.deviation[-1].bias.data.zero_()
    grad = est.characteristic_attribution(X, method="gradient")
    reg = est.characteristic_attribution(X, method="regression")
    assert grad.shape == (5, 2) and list(grad.index) == list(X.columns)
    np.testing.assert_allclose(
        grad.to_numpy(),
        est.net_.module_.gamma.weight.detach().numpy().T,
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(reg.to_numpy(), grad.to_numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="method"):
        est.characteristic_attribution(X, method="shap")


def test_gradient_attribution_matches_finite_differences(panel, fitted):
    X, _ = panel
    rows = X.index.get_level_values("time") == 5
    grad = fitted.characteristic_attribution(X[rows], method="gradient")
    # Own derivative with F_t fixed is not directly observable; the full
    # derivative of one asset's loading differs from it only through F_t,
    # which one asset moves by O(1/N): compare the average to finite differences.
    eps = 1e-2
    base = fitted.transform(X[rows]).iloc[:, :2].to_numpy()
    fd = np.zeros((5, 2))
    Xr = X[rows]
    for col in range(5):
        diffs = []
        for i in range(len(Xr)):
            Xi = Xr.copy()
            Xi.iloc[i, col] += eps
            diffs.append((fitted.transform(Xi).iloc[i, :2].to_numpy() - base[i]) / eps)
        fd[col] = np.mean(diffs, axis=0)
    np.testing.assert_allclose(grad.to_numpy(), fd, atol=0.05 * np.abs(fd).max())


# -------------------------------------------------------------------- ablations
#: The former training defaults, under which these tests were written: the
#: switches are tested on the premia head (spatial attention feeds it) and
#: with a deviation that moves in 3 epochs (from IPCA's solution and with
#: the predictive term off it barely does, and the premia are then constant).
SWITCHES = dict(init="svd", premia="head", prediction_weight=1.0, deviation_penalty=1.0)


def _perturb(X, rows):
    X2 = X.copy()
    X2.iloc[rows] = X2.iloc[rows].to_numpy() + 1.0
    return X2


@pytest.mark.parametrize("temporal", [True, False])
def test_temporal_attention_switch(panel, temporal):
    """Without temporal attention a month's outputs ignore earlier months."""
    X, y = panel
    est = NeurIFRegressor(**FAST, **SWITCHES, temporal_attention=temporal).fit(X, y)
    t = X.index.get_level_values("time")
    last, before = t.max(), np.sort(t.unique())[-2]
    X2 = _perturb(X, np.flatnonzero(t == before))
    changed = np.abs(est.transform(X2) - est.transform(X))[t == last].to_numpy().max()
    if temporal:
        assert changed > 1e-4
    else:
        assert changed < 1e-6
        assert est.net_.module_.temporal_attention is False


@pytest.mark.parametrize("spatial", [True, False])
def test_spatial_attention_switch(panel, spatial):
    """Without spatial attention premia are constant and assets do not interact."""
    X, y = panel
    est = NeurIFRegressor(**FAST, **SWITCHES, spatial_attention=spatial).fit(X, y)
    out = est.transform(X)
    premia = out[[c for c in out.columns if c.startswith("factor_")]].to_numpy()
    spread = premia.max(axis=0) - premia.min(axis=0)
    t = X.index.get_level_values("time")
    month = t == t.max()
    other, own = np.flatnonzero(month)[1:], np.flatnonzero(month)[0]
    moved = np.abs(est.transform(_perturb(X, other)).iloc[own] - out.iloc[own]).max()
    if spatial:
        assert spread.max() > 1e-6 and moved > 1e-6
    else:
        assert spread.max() < 1e-6 and moved < 1e-6


def test_pickle_does_not_hold_the_training_panel():
    """The fitted model keeps weights and the last window-1 periods, not the panel."""
    data = make_conditional_factor_panel(300, 40, 20, 2, random_state=0)
    est = NeurIFRegressor(**FAST).fit(data.X, data.y)  # validation_fraction=0.2
    panel_bytes = data.X.to_numpy(dtype=np.float32).nbytes
    assert len(pickle.dumps(est)) < 0.25 * panel_bytes


def test_gamma_alpha_is_the_intercept_map(panel):
    X, y = panel
    est = NeurIFRegressor(**{**FAST, "intercept": True}).fit(X, y)
    weight = est.net_.module_.gamma_alpha.weight.detach().numpy()[0]
    np.testing.assert_allclose(est.gamma_alpha_.to_numpy(), weight)
    assert list(est.gamma_alpha_.index) == list(X.columns)
    # predict = alpha + beta'lambda with alpha = z' Gamma_alpha.
    out = est.transform(X)
    k = est.n_factors
    systematic = (out.iloc[:, :k].to_numpy() * out.iloc[:, k:].to_numpy()).sum(1)
    alpha = X.to_numpy() @ est.gamma_alpha_.to_numpy()
    np.testing.assert_allclose(est.predict(X), systematic + alpha, atol=1e-6)
    assert NeurIFRegressor(**FAST).fit(X, y).gamma_alpha_ is None


def test_ipca_start_is_ipca_fitted_on_the_training_months(monkeypatch):
    """init="ipca": Gamma and the premia constant start at IPCA's fit on the
    months NeurIF trains on (its validation months left out), computed from
    the batcher's float32 panel without a copy of the training rows."""
    from sklearn_neurif import IPCARegressor

    data = make_conditional_factor_panel(
        80, 30, 4, 2, missing_fraction=0.2, random_state=3
    )
    starts = {}
    original = NeurIFRegressor._initialize_module

    def spy(self, module, batcher, months):
        original(self, module, batcher, months)
        starts["months"] = batcher.layout.periods[months]
        starts["gamma"] = module.gamma.weight.detach().numpy().T.copy()
        starts["premia"] = module.premia_const.detach().numpy().copy()

    monkeypatch.setattr(NeurIFRegressor, "_initialize_module", spy)
    NeurIFRegressor(**FAST).fit(data.X, data.y)
    keep = np.asarray(data.X.index.get_level_values("time").isin(starts["months"]))
    assert 0 < keep.mean() < 1  # the validation months are left out
    ipca = IPCARegressor(n_factors=2).fit(data.X[keep], data.y[keep])
    np.testing.assert_allclose(starts["gamma"], ipca.gamma_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        starts["premia"], ipca.factors_.mean(), rtol=1e-4, atol=1e-6
    )


# ---------------------------------------------------------- quadratic start
def test_quadratic_basis_terms():
    from sklearn_neurif.neurif._residual_start import QuadraticBasis

    rng = np.random.default_rng(0)
    z = np.column_stack([rng.uniform(-0.5, 0.5, (200, 4)), np.ones(200)])
    basis = QuadraticBasis.fit([z[:100], z[100:]], torch.zeros(2, 5))
    terms = basis(z)
    # Products and squares of the 4 non-constant columns, standardised.
    assert terms.shape == (200, 10)
    assert 4 not in basis.left and 4 not in basis.right
    np.testing.assert_allclose(terms.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(terms.std(axis=0), 1)
    np.testing.assert_allclose(
        terms[:, 1], (z[:, 0] * z[:, 1] - basis.mean[1]) / basis.sd[1]
    )
    as_torch = basis(torch.as_tensor(z, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(as_torch, terms)


def test_quadratic_loading_is_the_basis_times_the_row():
    """The quadratic form equals the standardised terms times the row."""
    from sklearn_neurif.neurif._residual_start import QuadraticBasis

    rng = np.random.default_rng(1)
    z = np.column_stack([rng.uniform(-0.5, 0.5, (300, 6)), np.ones(300)])
    basis = QuadraticBasis.fit([z[:150], z[150:]], torch.zeros(2, 7))
    row = rng.standard_normal(len(basis.left))
    as_torch = torch.as_tensor(z, dtype=torch.float64)
    np.testing.assert_allclose(
        basis.loading(row)(as_torch).numpy(), basis(z) @ row, atol=1e-10
    )


def test_quadratic_basis_keeps_the_characteristics_gamma_loads_on(monkeypatch):
    from sklearn_neurif.neurif import _residual_start

    monkeypatch.setattr(_residual_start, "MAX_TERMS", 3)  # 2 characteristics
    z = np.random.default_rng(0).uniform(-0.5, 0.5, (50, 4))
    gamma = torch.tensor([[0.1, 2.0, 0.0, 1.0], [0.0, 0.0, 0.1, 0.0]])
    basis = _residual_start.QuadraticBasis.fit([z], gamma)
    assert set(basis.left) | set(basis.right) == {1, 3}


def _pure_interaction_start():
    from sklearn_neurif.datasets import make_design_family_panel

    data = make_design_family_panel(
        "pure_interaction",
        n_entities=150,
        n_periods=50,
        n_characteristics=6,
        random_state=1,
    )
    params = dict(n_factors=3, max_epochs=1, lr=1e-12, random_state=0)
    est = NeurIFRegressor(deviation_init="quadratic", **params).fit(data.X, data.y)
    linear = data.X.to_numpy() @ est.gamma_.to_numpy()
    deviation = est.transform(data.X).to_numpy()[:, :3] - linear
    return est, deviation, data.nonlinear_loadings.to_numpy()


def test_quadratic_start_carries_the_missing_loading():
    """The warmed-up g holds the interaction IPCA's start lacks (lr ~ 0: the start)."""
    est, deviation, true = _pure_interaction_start()
    assert est.deviation_start_scale_ > 0
    assert abs(np.corrcoef(deviation[:, 2], true[:, 2])[0, 1]) > 0.5
    # the other factors' deviations stay at zero
    assert np.abs(deviation[:, :2]).max() < 1e-4


def test_spread_keeps_at_most_the_cap_evenly():
    from sklearn_neurif.neurif._residual_start import _spread

    np.testing.assert_array_equal(_spread(np.arange(5), 10), np.arange(5))
    months = _spread(np.arange(100, 580), 120)
    assert len(months) == 120 and len(np.unique(months)) == 120
    assert months[0] == 100 and months[-1] == 579
    assert np.ptp(np.diff(months)) <= 1  # evenly spaced


def test_quadratic_start_on_a_subset_of_months_still_finds_the_loading(monkeypatch):
    """With the month cap below the panel's months the start still works."""
    from sklearn_neurif.neurif import _residual_start

    monkeypatch.setattr(_residual_start, "MAX_START_MONTHS", 15)
    est, deviation, true = _pure_interaction_start()
    assert est.deviation_start_scale_ > 0
    assert abs(np.corrcoef(deviation[:, 2], true[:, 2])[0, 1]) > 0.5


def test_quadratic_start_keeps_ipca_when_no_scale_helps(monkeypatch, panel):
    from sklearn_neurif.neurif import _residual_start

    module, batcher, months = _start_module_and_batcher(panel)
    before = copy.deepcopy(module.state_dict())
    monkeypatch.setattr(_residual_start, "SCALES", (0.0,))
    start = _residual_start.start_deviation_quadratic(
        module, batcher, months[:20], months[20:]
    )
    assert start.scale == 0.0
    for name, value in module.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_quadratic_direction_is_a_factor_the_start_lacks():
    """Removing the start's factors finds the loading of a new factor.

    The residuals hold a large term along the start's own first factor and a
    smaller one with a factor of its own: the plain residual SVD finds the
    first, the quadratic start's (``new_factor``) the second.
    """
    from sklearn_neurif.neurif._residual_start import _Month, _residual_direction

    rng = np.random.default_rng(0)
    a, c = np.eye(4)[0], np.eye(4)[1]
    months = []
    for _ in range(80):
        beta = rng.normal(size=(300, 2))
        h = rng.normal(size=(300, 4))
        f, g = rng.normal(size=2), rng.normal()
        ret = beta @ f + 3 * (h @ a) * f[0] + (h @ c) * g
        ret += 0.1 * rng.normal(size=300)
        months.append(_Month(v=None, z=h, beta=beta, ret=ret))

    def features(month):
        return month.z

    plain = _residual_direction(months, features, 1e-4)
    new = _residual_direction(months, features, 1e-4, new_factor=True)
    assert abs(plain @ a) > 0.9
    assert abs(new @ c) > 0.9
