"""TransformerRegressor: signal recovery, causality, module maths, cost, sklearn API."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from sklearn_neurif.metrics import r2_predictive, r2_predictive_scorer
from sklearn_neurif.model_selection import PanelTimeSeriesSplit
from sklearn_neurif.preprocessing import CrossSectionalRankScaler
from sklearn_neurif.transformer import TransformerModule, TransformerRegressor
from sklearn_neurif.transformer._module import TemporalEncoder

FAST = dict(window=3, hidden_size=8, max_epochs=3, random_state=0)


def _lag_signal_panel(n_assets=80, n_periods=50, seed=0):
    """Returns driven by the change of c1 between t-2 and t-1.

    ``r_{i,t+1} = 0.5 (z_{i,t-1,1} - z_{i,t-2,1}) + e`` with characteristics
    i.i.d. over assets and months: the current month carries no information
    (a window=1 model cannot beat the zero forecast), a window of 3 months
    carries all of it (population predictive R^2 about 0.8).
    """
    rng = np.random.default_rng(seed)
    z = rng.uniform(-0.5, 0.5, size=(n_assets, n_periods, 3))
    signal = np.zeros((n_assets, n_periods))
    signal[:, 2:] = 0.5 * (z[:, 1:-1, 0] - z[:, :-2, 0])
    r = signal + 0.1 * rng.standard_normal((n_assets, n_periods))
    r[:, :2] = np.nan
    idx = pd.MultiIndex.from_product(
        [range(n_assets), range(n_periods)], names=["entity", "time"]
    )
    X = pd.DataFrame(z.reshape(-1, 3), index=idx, columns=["c1", "c2", "c3"])
    return X, pd.Series(r.reshape(-1), index=idx, name="ret"), signal.reshape(-1)


@pytest.fixture(scope="module")
def panel():
    X, y, _ = _lag_signal_panel(40, 30, seed=1)
    # Unbalanced: drop 10% of the rows (gaps and late entries in the windows).
    keep = np.random.default_rng(2).uniform(size=len(X)) > 0.1
    return X[keep], y[keep]


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "cross"])
def fitted(request, panel):
    X, y = panel
    est = TransformerRegressor(cross_sectional=request.param, **FAST).fit(X, y)
    # The head starts at zero; random head weights make every input matter.
    with torch.no_grad():
        torch.manual_seed(0)
        est.net_.module_.head.weight.normal_()
    return est


def _split(X, y, last_train):
    t = X.index.get_level_values("time")
    return X[t <= last_train], y[t <= last_train], X[t > last_train], y[t > last_train]


# ------------------------------------------------------------- what it learns
def test_history_window_carries_the_signal():
    X, y, signal = _lag_signal_panel()
    X_tr, y_tr, X_te, y_te = _split(X, y, 37)
    params = dict(hidden_size=16, lr=5e-3, max_epochs=25, random_state=0)
    scores = {
        w: TransformerRegressor(window=w, **params).fit(X_tr, y_tr).score(X_te, y_te)
        for w in (1, 3)
    }
    t = X.index.get_level_values("time")
    best = r2_predictive(y_te, signal[t > 37])  # the true conditional mean
    assert best > 0.7
    assert scores[3] > 0.6 * best
    assert scores[1] < 0.05
    assert scores[3] > scores[1] + 0.5


# ------------------------------------------------------------------ causality
def _perturbed(X, rows):
    X = X.copy()
    X.iloc[rows] = X.iloc[rows].to_numpy() + 1.0
    return X


def test_predictions_use_no_later_month(panel, fitted):
    X, _ = panel
    t = X.index.get_level_values("time").to_numpy()
    before = fitted.predict(X)
    after = fitted.predict(_perturbed(X, np.flatnonzero(t > 20)))
    np.testing.assert_allclose(after[t <= 20], before[t <= 20], rtol=1e-6, atol=1e-7)
    assert not np.allclose(after[t > 20], before[t > 20])


def test_predictions_use_the_window_and_nothing_older(panel, fitted):
    X, _ = panel
    t = X.index.get_level_values("time").to_numpy()
    before = fitted.predict(X)
    # window=3: month 20 sees months 18..20.
    inside = fitted.predict(_perturbed(X, np.flatnonzero(t == 19)))
    assert not np.allclose(inside[t == 20], before[t == 20])
    older = fitted.predict(_perturbed(X, np.flatnonzero(t == 17)))
    np.testing.assert_allclose(older[t == 20], before[t == 20], rtol=1e-6, atol=1e-7)


def test_only_the_cross_sectional_variant_looks_across_assets(panel, fitted):
    X, _ = panel
    entity = X.index.get_level_values("entity").to_numpy()
    t = X.index.get_level_values("time").to_numpy()
    before = fitted.predict(X)
    after = fitted.predict(_perturbed(X, np.flatnonzero((entity == 0) & (t == 20))))
    others = (entity != 0) & (t == 20)
    if fitted.cross_sectional:
        assert not np.allclose(after[others], before[others])
    else:
        np.testing.assert_allclose(after[others], before[others], rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------- module maths
def test_chunked_masked_encoder_equals_per_asset_reference():
    """Windows with gaps == running the encoder on the present months alone."""
    torch.manual_seed(0)
    d, H, W, U, B = 8, 2, 5, 40, 23
    enc = TemporalEncoder(d, H, n_layers=2, window=W, dropout=0.0).eval()
    h = torch.randn(U, d)
    lags = torch.randint(0, U, (B, W))
    lags[torch.rand(B, W) < 0.35] = -1
    lags[:, -1] = torch.randint(0, U, (B,))
    lags[0, :-1] = -1  # a window with the current month only
    lags[1:5] = torch.randint(0, U, (4, W))  # complete windows: the causal-only path
    enc.chunk_elements = 3 * W * d  # 3 windows a chunk, complete and not mixed
    with torch.no_grad():
        chunked = enc(h, lags)
        enc.chunk_elements = 1 << 30
        whole = enc(h, lags)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    # Independent computation: drop the missing months, keep the positions of
    # the present ones, plain causal attention, last output.
    reference = []
    for b in range(B):
        pos = torch.nonzero(lags[b] >= 0).flatten()
        x = (h[lags[b, pos]] + enc.position[pos])[None]
        causal = torch.nn.Transformer.generate_square_subsequent_mask(len(pos))
        with torch.no_grad():
            reference.append(enc.encoder(x, mask=causal)[0, -1])
    torch.testing.assert_close(chunked, torch.stack(reference), rtol=1e-5, atol=1e-5)


def test_module_skips_padding_and_gives_zero_there():
    torch.manual_seed(0)
    module = TransformerModule(4, window=2, hidden_size=8, cross_sectional=True)
    torch.nn.init.normal_(module.head.weight)
    z = torch.randn(6, 4)
    lags = torch.tensor([[[-1, 0], [0, 1], [-1, 2]], [[1, 3], [-1, 4], [-1, -1]]])
    out = module(z, lags)
    assert out["r_hat"][1, 2] == 0 and torch.isfinite(out["r_hat"]).all()
    assert out["present"].tolist() == [[True, True, True], [True, True, False]]


class _Cost(TorchDispatchMode):
    """Cost proxy of a forward pass: elements produced by every aten op, plus
    the query x key scores of every fused attention (which never materialises
    them, so their elements would otherwise go uncounted)."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if "scaled_dot_product" in str(func.overloadpacket):
            q, k = args[0], args[1]
            self.total += q.shape[:-1].numel() * k.shape[-2]
        self.total += sum(t.numel() for t in tree_flatten(out)[0] if torch.is_tensor(t))
        return out


def _cost(module, n_assets, months=2, window=3, L=4):
    z = torch.randn(months * n_assets * window, L)
    lags = torch.arange(months * n_assets * window).view(months, n_assets, window)
    with torch.no_grad(), _Cost() as cost:
        module(z, lags)
    return cost.total


class _FullCrossAttention(torch.nn.Module):
    """Quadratic reference: every asset attends to every asset of its month."""

    def __init__(self, module):
        super().__init__()
        self.inner = module
        self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, z, lags):
        u = self.inner(z, lags)["r_hat"][..., None].expand(-1, -1, 8)
        return self.attn(u, u, u, need_weights=False)[0]


@pytest.mark.parametrize("cross_sectional", [False, True])
def test_cost_is_linear_in_the_number_of_assets(cross_sectional):
    module = TransformerModule(
        4, window=3, hidden_size=8, cross_sectional=cross_sectional
    )
    ratio = _cost(module, 2000) / _cost(module, 500)
    assert 3.9 < ratio < 4.1
    # The counter does see a quadratic cross-sectional term when there is one.
    quadratic = _FullCrossAttention(module)
    assert _cost(quadratic, 2000) / _cost(quadratic, 500) > 6


# ------------------------------------------------------------------ estimator
def test_fit_attributes_and_no_transform(panel, fitted):
    X, _ = panel
    pred = fitted.predict(X)
    assert pred.shape == (len(X),) and pred.dtype == np.float64
    assert np.isfinite(pred).all()
    assert {"train_fit", "valid_fit", "train_loss", "valid_loss"} <= set(
        fitted.history_.columns
    )
    assert fitted.n_iter_ == 3 and fitted.best_epoch_ in (1, 2, 3)
    assert not hasattr(fitted, "transform")
    tags = fitted.__sklearn_tags__()
    assert tags.estimator_type == "regressor" and tags.transformer_tags is None


def test_row_order_does_not_matter(panel, fitted):
    X, _ = panel
    perm = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(
        fitted.predict(X.iloc[perm]), fitted.predict(X)[perm], rtol=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("cross_sectional", [False, True])
def test_deterministic_under_random_state(panel, cross_sectional):
    X, y = panel
    params = dict(FAST, cross_sectional=cross_sectional, dropout=0.1)
    state = torch.get_rng_state()
    a = TransformerRegressor(**params).fit(X, y).predict(X)
    b = TransformerRegressor(**params).fit(X, y).predict(X)
    c = TransformerRegressor(**{**params, "random_state": 1}).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert torch.equal(torch.get_rng_state(), state)


def test_pickle_round_trip(panel, fitted):
    X, _ = panel
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X), fitted.predict(X))


def test_predict_after_training_uses_the_training_window(panel):
    X, y = panel
    X_tr, y_tr, X_te, _ = _split(X, y, 21)
    est = TransformerRegressor(**FAST).fit(X_tr, y_tr)
    with torch.no_grad():
        est.net_.module_.head.weight.normal_(generator=torch.Generator().manual_seed(0))
    alone = est.predict(X_te)
    both = est.predict(pd.concat([X_tr, X_te]))[len(X_tr) :]
    np.testing.assert_allclose(alone, both, rtol=1e-5, atol=1e-7)
    # After a gap the test months have shorter histories: different forecasts.
    late = X_te.index.get_level_values("time") > 23
    gap = est.predict(X_te[late])
    assert not np.allclose(gap[:5], both[late][:5])


def test_pipeline_and_grid_search(panel):
    X, y = panel
    pipe = make_pipeline(CrossSectionalRankScaler(), TransformerRegressor(**FAST))
    assert pipe.fit(X, y).predict(X).shape == (len(X),)
    grid = GridSearchCV(
        pipe,
        {"transformerregressor__cross_sectional": [False, True]},
        cv=PanelTimeSeriesSplit(n_splits=2, test_size=5),
        scoring=r2_predictive_scorer,
    ).fit(X, y)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.predict(X).shape == (len(X),)


def test_r2_total_scorer_refuses_a_model_without_factors(panel, fitted):
    from sklearn_neurif.metrics import r2_total_scorer

    X, y = panel
    with pytest.raises(TypeError, match="predict_total"):
        r2_total_scorer(fitted, X, y)


def test_clone_keeps_parameters():
    est = TransformerRegressor(cross_sectional=True, n_inducing=4, n_layers=2)
    assert clone(est).get_params() == est.get_params()


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, match",
    [
        (
            dict(hidden_size=9, n_heads=2),
            "hidden_size=9 must be divisible by n_heads=2",
        ),
        (dict(n_layers=0), "n_layers"),
        (dict(n_inducing=0), "n_inducing"),
        (dict(dropout=1.0), "dropout"),
        (dict(cross_sectional="yes"), "cross_sectional"),
        (dict(lr=0.0), "lr"),
    ],
)
def test_bad_parameters_raise_before_training(panel, params, match):
    X, y = panel
    est = TransformerRegressor(**{**FAST, **params})
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not hasattr(est, "net_")


def test_bad_inputs_raise_before_training(panel):
    X, y = panel
    X_nan = X.copy()
    X_nan.iloc[3, 1] = np.nan
    with pytest.raises(ValueError, match="c2"):
        TransformerRegressor(**FAST).fit(X_nan, y)
    with pytest.raises(ValueError, match="not aligned"):
        TransformerRegressor(**FAST).fit(X, y.iloc[1:])
    with pytest.raises(ValueError, match="return in y is missing"):
        TransformerRegressor(**FAST).fit(X, y * np.nan)
    fitted = TransformerRegressor(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="c3"):
        fitted.predict(X[["c1", "c2"]])
