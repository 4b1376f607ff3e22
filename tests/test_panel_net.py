"""Behaviour shared by every torch panel model (sklearn_neurif.nn._base).

Size checks, keyword-only parameters documented once, the ``callbacks``
escape hatch, interrupts (re-raised) and atomic fits.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from sklearn_neurif import (
    ConditionalAutoencoderRegressor,
    NeurIFRegressor,
    TransformerRegressor,
)
from sklearn_neurif.base import FactorModelMixin
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.nn._base import (
    TRAINING_ATTRIBUTES_DOC,
    TRAINING_CONSTRAINTS,
    TRAINING_PARAMETERS_DOC,
)


@pytest.fixture(scope="module")
def thin_month_panel():
    """A panel whose period 5 has returns for only 2 assets."""
    data = make_conditional_factor_panel(30, 12, 5, 2, random_state=0)
    y = data.y.copy()
    time = data.X.index.get_level_values("time")
    entity = data.X.index.get_level_values("entity")
    y[np.asarray((time == 5) & (entity >= entity.unique()[2]))] = np.nan
    return data.X, y


@pytest.mark.parametrize(
    "model",
    [
        NeurIFRegressor(n_factors=3, window=2, max_epochs=1),
        ConditionalAutoencoderRegressor(n_factors=3, max_epochs=1),
    ],
    ids=["NeurIF", "CA"],
)
def test_factor_models_need_n_factors_assets_with_returns_each_month(
    thin_month_panel, model
):
    X, y = thin_month_panel
    with pytest.raises(ValueError, match=r"n_factors=3 exceeds the 2 asset\(s\).*5"):
        model.fit(X, y)
    model.set_params(n_factors=2).fit(X, y)  # 2 assets suffice for K=2


def test_models_without_factors_are_not_limited(thin_month_panel):
    X, y = thin_month_panel
    TransformerRegressor(window=2, max_epochs=1, random_state=0).fit(X, y)


# ---------------------------------------------------------------- hygiene
MODELS = {
    "NeurIF": NeurIFRegressor(n_factors=2, window=2, max_epochs=4, random_state=0),
    "CA": ConditionalAutoencoderRegressor(n_factors=2, max_epochs=4, random_state=0),
    "transformer": TransformerRegressor(window=2, max_epochs=4, random_state=0),
}
CLASSES = [NeurIFRegressor, ConditionalAutoencoderRegressor, TransformerRegressor]


class EpochRecorder(Callback):
    """Records the epochs it sees; raises ``exc`` at epoch ``at``, if given."""

    def __init__(self, at=None, exc=None):
        self.at = at
        self.exc = exc

    def initialize(self):
        self.epochs_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_.append(net.history[-1, "epoch"])
        if self.at is not None and len(self.epochs_) == self.at:
            raise self.exc


@pytest.fixture(scope="module")
def panel():
    data = make_conditional_factor_panel(30, 12, 5, 2, random_state=1)
    return data.X, data.y


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_init_is_keyword_only_but_n_factors(cls):
    # The factor models take n_factors as their only positional parameter,
    # as IPCARegressor(3) does (docs/conventions.md); nothing else is.
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == (["n_factors"] if "n_factors" in cls().get_params() else [])
    if positional:
        assert cls(3).n_factors == 3
        with pytest.raises(TypeError, match="positional"):
            cls(3, 12)
    else:
        with pytest.raises(TypeError, match="positional"):
            cls(3)


def test_every_factor_model_takes_n_factors_positionally():
    from sklearn_neurif import IPCARegressor

    for cls in (IPCARegressor, NeurIFRegressor, ConditionalAutoencoderRegressor):
        assert cls(3).get_params()["n_factors"] == 3


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_training_parameters_are_documented_once_for_all(cls):
    doc = cls.__doc__
    assert "{training_parameters}" not in doc
    # The shared text, with the model's own weight_decay, lr and patience defaults.
    est, shared = cls(), TRAINING_PARAMETERS_DOC
    for name in ("weight_decay", "lr", "patience"):
        shared = shared.replace("{" + name + "}", repr(getattr(est, name)))
    assert shared in doc
    for name in TRAINING_CONSTRAINTS:
        assert doc.count(f"\n    {name} : ") == 1, name
    assert "{training_attributes}" not in doc and TRAINING_ATTRIBUTES_DOC in doc


@pytest.mark.parametrize(
    "model",
    [
        NeurIFRegressor(n_factors=2, window=13, max_epochs=2, random_state=0),
        NeurIFRegressor(
            n_factors=2,
            window=13,
            temporal_attention=False,
            max_epochs=2,
            random_state=0,
        ),
        TransformerRegressor(window=13, max_epochs=2, random_state=0),
    ],
    ids=["NeurIF", "NeurIF-no-temporal", "transformer"],
)
def test_a_window_longer_than_the_history_is_masked(panel, model):
    # 13 > the 12 training months: the months before the sample are masked as
    # for a new asset, so a month predicts the same from the whole panel as
    # from its own history alone.
    X, y = panel
    pred = clone(model).fit(X, y).predict(X)
    est = clone(model).fit(X, y)
    np.testing.assert_array_equal(est.predict(X), pred)
    time = X.index.get_level_values("time")
    for month in (time.min(), 6):
        upto = np.asarray(time <= month)
        np.testing.assert_allclose(
            est.predict(X[upto])[np.asarray(time[upto] == month)],
            pred[np.asarray(time == month)],
            rtol=1e-5,
            atol=1e-8,
        )


def test_transform_is_wrapped_once():
    # set_output wraps every transform defined in a class body; the models
    # inherit the mixin's instead of redefining it.
    for cls in (NeurIFRegressor, ConditionalAutoencoderRegressor):
        assert "transform" not in vars(cls)
        assert cls.transform is FactorModelMixin.transform


@pytest.mark.parametrize("name", MODELS)
def test_callbacks_are_handed_to_the_net(panel, name):
    X, y = panel
    recorder = EpochRecorder()
    est = clone(MODELS[name]).set_params(callbacks=[recorder]).fit(X, y)
    assert recorder.epochs_ == list(range(1, est.n_iter_ + 1))
    assert est.n_iter_ == 4
    # Named pairs work too; the package's own callbacks stay in place.
    named = clone(MODELS[name]).set_params(callbacks=[("rec", EpochRecorder())])
    named.fit(X, y)
    callbacks = dict(named.net_.callbacks_)
    assert callbacks["rec"].epochs_ == [1, 2, 3, 4]
    assert "early_stopping" in callbacks


def test_callbacks_must_be_a_list():
    with pytest.raises(ValueError, match="callbacks"):
        NeurIFRegressor(callbacks="print").fit(np.ones((3, 2)), np.ones(3))


def test_epochs_are_n_iter_only(panel):
    # No deprecated alias (nothing has been released): n_epochs_ is gone.
    X, y = panel
    est = clone(MODELS["transformer"]).set_params(max_epochs=2).fit(X, y)
    assert est.n_iter_ == 2
    assert not hasattr(est, "n_epochs_")


# ------------------------------------------------- interrupts, atomic fit
def _after_epoch(n, exc):
    return [EpochRecorder(at=n, exc=exc)]


@pytest.mark.parametrize("name", MODELS)
def test_a_first_fit_interrupted_keeps_the_best_weights_and_says_so(panel, name):
    X, y = panel
    est = clone(MODELS[name]).set_params(callbacks=_after_epoch(2, KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt, match="interrupted_=True"):
        est.fit(X, y)
    assert est.interrupted_ and est.n_iter_ == 2
    # The kept weights are the best epoch's: those of an uninterrupted fit
    # stopped there (same seed, same batches).
    reference = clone(MODELS[name]).set_params(max_epochs=est.best_epoch_).fit(X, y)
    assert not reference.interrupted_
    np.testing.assert_allclose(est.predict(X), reference.predict(X), rtol=1e-6)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError("boom")])
def test_a_failed_or_interrupted_refit_leaves_the_old_model(panel, name, exc, tmp_path):
    X, y = panel
    est = clone(MODELS[name]).fit(X, y)
    before = est.predict(X)
    state = {k: v for k, v in vars(est).items() if k.endswith("_")}
    # A refit on 3 characteristics (and a checkpoint directory) failing at
    # epoch 2: the old 5-characteristic model must survive intact.
    X3 = X.iloc[:, :3]
    est.set_params(callbacks=_after_epoch(2, exc), checkpoint_dir=tmp_path)
    with pytest.raises(type(exc) if isinstance(exc, Exception) else exc):
        est.fit(X3, y)
    assert est.n_features_in_ == 5
    assert {k: v for k, v in vars(est).items() if k.endswith("_")} == state
    np.testing.assert_array_equal(est.predict(X), before)
    assert list(tmp_path.iterdir()) == []  # the failed fit's directory is gone


@pytest.mark.parametrize("name", MODELS)
def test_a_refit_keeps_only_the_last_checkpoints(panel, name, tmp_path):
    X, y = panel
    est = clone(MODELS[name]).set_params(checkpoint_dir=tmp_path)
    first = est.fit(X, y).checkpoint_path_
    other = clone(est).fit(X, y).checkpoint_path_  # another estimator's
    second = est.fit(X, y).checkpoint_path_
    assert second != first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.rsplit("/", 1)[-1] for p in (second, other)
    )
    assert "params.pt" in {p.name for p in (tmp_path / second).iterdir()}
    # Without checkpoint_dir on the refit, the last fit's folder goes too.
    est.set_params(checkpoint_dir=None).fit(X, y)
    assert est.checkpoint_path_ is None
    assert [p.name for p in tmp_path.iterdir()] == [other.rsplit("/", 1)[-1]]


@pytest.mark.parametrize("name", MODELS)
def test_a_failed_first_fit_leaves_the_estimator_unfitted(panel, name):
    X, y = panel
    est = clone(MODELS[name]).set_params(callbacks=_after_epoch(1, ValueError("x")))
    with pytest.raises(ValueError, match="x"):
        est.fit(X, y)
    assert not [k for k in vars(est) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_early_stopping_is_not_an_interrupt(panel):
    X, y = panel
    est = NeurIFRegressor(
        n_factors=2, window=2, max_epochs=50, patience=1, lr=0.5, random_state=0
    ).fit(X, y)
    assert est.n_iter_ < 50 and not est.interrupted_
