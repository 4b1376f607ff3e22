"""Shared plumbing of the package's skorch-based panel models.

NeurIF, the conditional autoencoder and the transformer baselines train the
same way: month batches of a long panel (:class:`PanelBatcher`), a validation
split taken from the last training months, early stopping with the best
weights restored, per-fit checkpoint directories, ``warm_start``, seeding
that leaves torch's global RNG untouched, and a prediction path that
prepends the last ``window - 1`` training months. That is written once here;
a model supplies its torch module, its loss and what it stores after fit
through the ``_*`` hooks of :class:`PanelNetRegressor` and the
``compute_loss`` hook of :class:`PanelNet` (skorch's ``get_*`` extension
style). The one override of skorch's training is :meth:`PanelNet.partial_fit`,
which tells a user's interrupt (Ctrl-C) from early stopping instead of
swallowing both.

``fit`` is atomic: the fitted attributes change only when it succeeds. A
failed fit leaves the estimator as it was; an interrupted one re-raises
``KeyboardInterrupt`` after leaving a refit's previous model in place, or a
first fit's best weights so far with ``interrupted_ = True``.
"""

from __future__ import annotations

import copy
import inspect
import os
import shutil
import tempfile
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNet
from skorch.callbacks import Checkpoint, EarlyStopping, PassthroughScoring
from skorch.dataset import get_len
from skorch.helper import predefined_split

from .._docstrings import fill_doc
from .._param_validation import Interval  # refuses booleans (n_factors=True)
from ..base import PredictiveScoreMixin, check_n_factors
from ..panel import (
    PanelLayout,
    check_characteristic_scale,
    check_panel_frame,
    check_panel_target,
    panel_index,
)
from ..panel._index import check_index_names
from ..panel._units import UNSCALED_MAX_ABS
from ._batching import MonthDataset, PanelBatcher, collate_months
from ._device import check_device

__all__ = [
    "PanelNet",
    "PanelNetRegressor",
    "check_heads",
    "masked_sse",
    "training_parameters_doc",
]


def check_heads(hidden_size, n_heads):
    """Raise ValueError unless ``hidden_size`` is divisible by ``n_heads``."""
    if hidden_size % n_heads:
        raise ValueError(
            f"hidden_size={hidden_size} must be divisible by n_heads={n_heads}."
        )


def masked_sse(ret, fitted, mask):
    """Sum of squared errors over the cells where ``mask`` is True."""
    w = mask.to(ret.dtype)
    return (((ret - fitted) * w) ** 2).sum()


def return_scale(ret, mask):
    """Sum of squared returns of a batch: the denominator of 1 - R^2 losses."""
    return ((ret * mask.to(ret.dtype)) ** 2).sum().clamp(min=1e-12)


class PanelNet(NeuralNet):
    """skorch ``NeuralNet`` over month batches whose loss has named parts.

    Subclasses set ``loss_components`` and implement
    ``compute_loss(y_pred) -> (loss, {name: tensor})``; each part is
    recorded per batch in the history as ``train_<name>``/``valid_<name>``.
    The module receives the batch dict as keyword arguments (returns
    included) and returns a dict.
    """

    loss_components: tuple[str, ...] = ()
    #: Run the module under ``torch.autocast`` (bfloat16); set by the
    #: estimators that offer ``mixed_precision``.
    mixed_precision = False

    def compute_loss(self, out):  # pragma: no cover - abstract
        raise NotImplementedError

    def _autocast(self):
        """``torch.autocast`` to bfloat16 when ``mixed_precision``, else a no-op."""
        device_type = torch.device(self.device).type
        return torch.autocast(
            device_type, dtype=torch.bfloat16, enabled=bool(self.mixed_precision)
        )

    def infer(self, x, **fit_params):
        with self._autocast():
            return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss, parts = self.compute_loss(y_pred)
        prefix = "train" if training else "valid"
        for name, value in parts.items():
            self.history.record_batch(f"{prefix}_{name}", float(value.detach()))
        return loss

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        # As skorch's, except that the batch size is the number of months: the
        # batch dict holds tensors of different leading sizes (distinct
        # asset-months vs months), which skorch's get_len rejects.
        if iterator is None:
            return
        batch_count = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            self.history.record_batch(prefix + "_loss", step["loss"].item())
            self.history.record_batch(prefix + "_batch_size", get_len(batch[1]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
            batch_count += 1
        self.history.record(prefix + "_batch_count", batch_count)

    def partial_fit(self, X, y=None, **fit_params):
        """As skorch's, but an interrupt is remembered, not swallowed.

        skorch catches every ``KeyboardInterrupt`` of its fit loop, the one
        its ``EarlyStopping`` raises to stop and a user's Ctrl-C alike. Here
        early stopping raises :class:`_StopTraining` instead, and any other
        ``KeyboardInterrupt`` (Ctrl-C, or a callback raising it) ends the
        loop with ``interrupted_ = True``; ``on_train_end`` runs either way,
        so the best weights are restored. The estimator re-raises.
        """
        if not self.initialized_:
            self.initialize()
        self.interrupted_ = False
        self.notify("on_train_begin", X=X, y=y)
        try:
            self.fit_loop(X, y, _routing_method="partial_fit", **fit_params)
        except _StopTraining:
            pass
        except KeyboardInterrupt:
            self.interrupted_ = True
        self.notify("on_train_end", X=X, y=y)
        return self

    @torch.no_grad()
    def forward_months(self, batch):
        """Module outputs of one batch dict in eval mode (no gradient)."""
        self.module_.eval()
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with self._autocast():
            return self.module_(**batch)


def _train(net, dataset):
    """``net.partial_fit``, with a torch linear-algebra failure made clear.

    The factor regressions solve small linear systems per month; they can
    fail only on degenerate data that the checks before training did not
    catch (characteristics are already refused beyond 1e3).
    """
    try:
        net.partial_fit(dataset)
    except torch.linalg.LinAlgError as exc:
        raise ValueError(
            "Training failed in a linear solve of the model (a singular "
            f"matrix: {str(exc).splitlines()[0]}). The usual cause is "
            "characteristics that are not scaled or are (nearly) collinear "
            "within a month: rank them into [-1, 1] each period with "
            "sklearn_neurif.preprocessing.CrossSectionalRankScaler and drop "
            "duplicated columns."
        ) from exc


class _StopTraining(Exception):
    """Early stopping's end of training (skorch raises KeyboardInterrupt)."""


class _EarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping`` raising :class:`_StopTraining` to stop."""

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            # skorch's way to stop; an interrupt arriving elsewhere stays one.
            if self.misses_ == self.patience:
                raise _StopTraining from None
            raise


#: Docs of the training parameters shared by every PanelNetRegressor, inserted
#: in each estimator's docstring by :func:`training_parameters_doc`.
TRAINING_PARAMETERS_DOC = """\
    weight_decay : float, default={weight_decay}
        AdamW weight decay.
    lr : float, default={lr}
        Learning rate (AdamW).
    batch_months : int, default=8
        Months per optimisation step (the whole cross-section of each month).
    max_epochs : int, default=100
        Maximum passes over the training months.
    patience : int, default={patience}
        Early stopping: epochs without improvement of the validation loss.
    validation_fraction : float, default=0.2
        Share of the training periods (with returns), taken from the **end**
        of the sample, used for early stopping; the best weights are restored.
        0 disables validation and early stopping (``max_epochs`` epochs). With
        too few periods to hold out one, training runs without validation.
    device : str, default="cpu"
        torch device (e.g. ``"cuda"``).
    checkpoint_dir : str or path-like, default=None
        If given, skorch ``Checkpoint`` files are written to a fresh
        subdirectory of it per fit (``checkpoint_path_``), so parallel jobs
        never overwrite each other. A successful refit removes the previous
        fit's subdirectory: an estimator keeps its last fit's checkpoints.
    warm_start : bool, default=False
        Continue training from the fitted weights on the next ``fit``.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks (instances or ``(name, callback)`` pairs)
        handed to the ``NeuralNet`` after the package's own (loss parts,
        early stopping, checkpoint): the supported way to observe or steer
        training. A callback raising ``KeyboardInterrupt`` interrupts ``fit``
        as Ctrl-C does (see Notes of ``fit``).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch order and dropout (torch's global
        RNG is left untouched).
    verbose : int, default=0
        1 prints skorch's per-epoch table.
"""

#: Docs of the fitted attributes every PanelNetRegressor sets.
TRAINING_ATTRIBUTES_DOC = """\
    n_iter_ : int
        Epochs run (cumulative over warm starts).
    best_epoch_ : int or None
        Epoch whose weights were kept (None without validation).
    interrupted_ : bool
        True when the first ``fit`` was interrupted and kept the best
        weights so far (see ``fit``); False after a completed fit.
    validation_periods_ : Index
        Periods used for validation.
    excluded_periods_ : Index
        Training periods without any return (kept as lagged history only).
    n_features_in_ : int
        Number of characteristics.
    feature_names_in_ : ndarray of str
        Characteristic names (when ``X`` is a DataFrame).
    checkpoint_path_ : str or None
        This fit's checkpoint directory (with ``checkpoint_dir``), else None.
"""

#: Lines of an estimator docstring replaced by the shared docs.
_DOC_MARKERS = {
    "    {training_parameters}\n": TRAINING_PARAMETERS_DOC,
    "    {training_attributes}\n": TRAINING_ATTRIBUTES_DOC,
}


def training_parameters_doc(cls):
    """Class decorator: insert the shared parameter and attribute docs in ``cls.__doc__``.

    The estimator's docstring holds the lines ``{training_parameters}`` (in
    Parameters) and ``{training_attributes}`` (in Attributes) where the
    shared entries go; the defaults of ``weight_decay``, ``lr`` and
    ``patience`` (the ones that differ between models) are read from the
    estimator's signature.
    """
    if cls.__doc__:  # None under python -OO
        signature = inspect.signature(cls.__init__).parameters
        doc = cls.__doc__
        for marker, text in _DOC_MARKERS.items():
            if marker not in doc:
                raise RuntimeError(
                    f"{cls.__name__}'s docstring lacks {marker.strip()}."
                )
            for name in ("weight_decay", "lr", "patience"):
                text = text.replace("{" + name + "}", repr(signature[name].default))
            doc = doc.replace(marker, text)
        cls.__doc__ = doc
    return cls


#: Parameter constraints shared by every PanelNetRegressor.
TRAINING_CONSTRAINTS: dict = {
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "batch_months": [Interval(Integral, 1, None, closed="left")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "patience": [Interval(Integral, 1, None, closed="left")],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "device": [str],
    "checkpoint_dir": [str, os.PathLike, None],
    "warm_start": ["boolean"],
    "callbacks": [list, tuple, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

#: Constraints of the attention models' shared parameters (NeurIF, transformer).
ATTENTION_CONSTRAINTS: dict = {
    "window": [Interval(Integral, 1, None, closed="left")],
    "hidden_size": [Interval(Integral, 1, None, closed="left")],
    "n_heads": [Interval(Integral, 1, None, closed="left")],
    "dropout": [Interval(Real, 0, 1, closed="left")],
}


class PanelNetRegressor(PredictiveScoreMixin, RegressorMixin, BaseEstimator):
    """Base class of the skorch-based panel regressors (not public).

    Subclasses define a keyword-only ``__init__`` with the parameters of
    ``TRAINING_CONSTRAINTS`` (documented once, in
    :data:`TRAINING_PARAMETERS_DOC`, and inserted by
    :func:`training_parameters_doc`) plus their own, and implement:

    - ``_net_class``: a :class:`PanelNet` subclass;
    - ``_module_class`` and ``_module_kwargs()``: the torch module and its
      keyword arguments (``n_characteristics`` is added here);
    - ``_net_kwargs()`` (optional): extra net-level keyword arguments;
    - ``_check_fit_params(n_characteristics)`` (optional): parameter
      checks against the data, before training;
    - ``_max_factors(n_characteristics)`` (factor models): the largest
      ``n_factors`` the data allows;
    - ``_initialize_module(module, batcher, months)`` (optional): a data
      dependent start (called on a fresh fit, not on a warm start);
    - ``_after_fit(batcher, X, y)`` (optional): fitted attributes.

    ``_history_window()`` (default: the ``window`` parameter, or 1 for a
    model without one) is the number of months of history each batch
    carries, the current one included; a window longer than the training
    history is masked like the short history of a new asset. A factor model
    (one with an ``n_factors`` parameter) needs at least ``n_factors`` assets
    with returns in every training month and at most ``_max_factors``
    factors; a model with ``n_heads`` needs ``hidden_size`` divisible by it.
    Both are checked here, for all of them.
    """

    _net_class = PanelNet
    _module_class = None
    #: Prefix of the per-fit checkpoint directories.
    _checkpoint_prefix = "panelnet-"
    #: skorch ``iterator_train``: a plain DataLoader shuffles single months;
    #: :class:`MonthBlockLoader` shuffles blocks of consecutive months (each
    #: asset-month encoded about once a step instead of ``window`` times).
    _train_loader = torch.utils.data.DataLoader
    #: Why n_factors is bounded by _max_factors (ends the error message).
    _max_factors_reason = "the instrument map Gamma (L x K) needs n_factors <= L"

    # ---------------------------------------------------------------- hooks
    def _module_kwargs(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _net_kwargs(self) -> dict:
        return {}

    def _params(self, *names) -> dict:
        """``{name: self.name}`` for parameters handed on unchanged.

        ``_module_kwargs`` and ``_net_kwargs`` mostly forward parameters of
        the same name to the torch module or the net.
        """
        return {name: getattr(self, name) for name in names}

    def _check_fit_params(self, n_characteristics):
        return None

    def _max_factors(self, n_characteristics) -> int:
        return n_characteristics

    def _initialize_module(self, module, batcher, months):
        return None

    def _after_fit(self, batcher, X, y):
        return None

    def _history_window(self) -> int:
        return int(getattr(self, "window", 1))

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.target_tags.required = True
        # Return models, not curve fitters: a few epochs on sklearn's toy
        # data do not reach the R^2 the checks ask for.
        tags.regressor_tags.poor_score = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    @fill_doc
    def fit(self, X, y):
        """Train on a panel of characteristics and next-period returns.

        {params_fit_panel_X}
            No NaN: impute first (e.g. with ``CrossSectionalRankScaler``).
        y : Series of shape (n_rows,)
            Excess return over ``t+1`` on ``X``'s index; NaN is masked.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Malformed panel, NaN/inf characteristics, y misaligned, a
            ``device`` that is not a torch device or not available here, or
            a model-specific size check (see the class docstring).
        TypeError
            Non-numeric characteristics or returns.
        KeyboardInterrupt
            Training was interrupted (see Notes).

        Notes
        -----
        ``fit`` is atomic: the fitted attributes change only when it
        succeeds; an error (bad input, a failure during training) leaves a
        fitted estimator with its previous model, an unfitted one unfitted.

        An interrupt (Ctrl-C, or a callback raising ``KeyboardInterrupt``)
        stops training and is re-raised, never swallowed as skorch does. A
        refit leaves the previous model in place. A first fit keeps the
        best weights so far (those of the lowest validation loss; without
        validation, the weights when interrupted) as a usable model with
        ``interrupted_ = True``; a completed fit has ``interrupted_ = False``.
        """
        previous = _fitted_state(self)
        try:
            interrupted = self._fit(X, y)
        except BaseException:
            _restore_state(self, previous)
            raise
        if interrupted:
            if previous:
                # The interrupted model is not kept, nor its checkpoints.
                if self.checkpoint_path_ is not None:
                    shutil.rmtree(self.checkpoint_path_, ignore_errors=True)
                _restore_state(self, previous)
            raise KeyboardInterrupt(
                f"{type(self).__name__}.fit was interrupted; "
                + (
                    "the previous model is kept."
                    if previous
                    else "the best weights so far are kept (interrupted_=True)."
                )
            )
        self._remove_checkpoints(previous.get("checkpoint_path_"))
        return self

    def _remove_checkpoints(self, path):
        """Delete a previous fit's checkpoint directory after a successful refit.

        The estimator keeps only its last fit's checkpoints, so a loop of
        refits does not fill ``checkpoint_dir``. Only a directory this class
        created (its prefix) is removed, never the one of the current fit.
        """
        if path is None or path == self.checkpoint_path_:
            return
        if os.path.basename(os.fspath(path)).startswith(self._checkpoint_prefix):
            shutil.rmtree(path, ignore_errors=True)

    def _fit(self, X, y):
        """Train and set the fitted attributes; True if interrupted."""
        device = check_device(self.device)  # before any data work
        warm = self.warm_start and hasattr(self, "net_")
        batcher, train, valid = self._prepare_fit(X, y, reset=not warm)
        batcher.to(device)  # a GPU gets the characteristics once
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        checkpoint_path = self._checkpoint_path()
        try:
            # Fork (and restore) the CPU RNG, and the CUDA RNGs when training there.
            cuda_devices = None if device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda_devices):
                torch.manual_seed(seed)
                net = self._build_net(train, valid, batcher, checkpoint_path)
                net.initialize()
                if warm:
                    self._copy_state(self.net_, net)
                else:
                    self._initialize_module(net.module_, batcher, train)
                _train(net, MonthDataset(batcher, train))
            self._store_fit(net, batcher, valid, warm)
            self.checkpoint_path_ = checkpoint_path
            self._after_fit(batcher, X, y)
        except BaseException:
            if checkpoint_path is not None:  # this fit's own directory
                shutil.rmtree(checkpoint_path, ignore_errors=True)
            raise
        return net.interrupted_

    def _prepare_fit(self, X, y, reset):
        index = panel_index(X)  # structure first: ids/dates as columns refused
        check_panel_frame(X)
        check_index_names(self, X, reset=reset, time_type=True)
        Z = validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
        self._check_scale(Z)
        r = check_panel_target(y, index)
        layout = PanelLayout(index)
        batcher = PanelBatcher(Z, layout, self._history_window(), returns=r)
        months = batcher.periods_with_returns()
        if len(months) == 0:
            raise ValueError("y has no observed return: nothing to train on.")
        self._check_sizes(Z.shape[1], batcher, months)
        n_valid = int(np.floor(self.validation_fraction * len(months)))
        if n_valid >= len(months):
            n_valid = 0
        train, valid = months[: len(months) - n_valid], months[len(months) - n_valid :]
        return batcher, train, valid

    def _check_scale(self, Z):
        """Refuse characteristics the nets cannot train on (fit and predict).

        Measured on a simulated panel (docs/validation.md): with one column
        up to 3e2 NeurIF still finds the signal, from 1e3 it loses it, from
        1e4 it predicts monthly returns above 100%, and from 1e6 its factor
        regression fails inside torch (a singular matrix); the conditional
        autoencoder and the transformer learn nothing. IPCA, whose fit is
        scale-equivariant, only warns.
        """
        check_characteristic_scale(
            Z,
            getattr(self, "feature_names_in_", None),
            max_abs=UNSCALED_MAX_ABS,
            reason=f"the panel nets ({type(self).__name__}) cannot train on "
            "unscaled characteristics (they lose the signal, then fail)",
        )

    def _check_sizes(self, n_characteristics, batcher, months):
        """Size parameters against the data, before training."""
        if hasattr(self, "n_heads"):
            check_heads(self.hidden_size, self.n_heads)
        self._check_fit_params(n_characteristics)
        n_factors = getattr(self, "n_factors", None)
        if n_factors is None:
            return
        layout = batcher.layout
        valid_counts = np.bincount(
            layout.time_pos[batcher.valid], minlength=layout.n_periods
        )[months]
        check_n_factors(
            n_factors,
            n_characteristics,
            valid_counts,
            layout.periods[months],
            limit=self._max_factors(n_characteristics),
            reason=self._max_factors_reason,
        )

    def _checkpoint_path(self):
        if self.checkpoint_dir is None:
            return None
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        # A fresh directory per fit: parallel grid-search jobs never collide.
        return tempfile.mkdtemp(
            prefix=self._checkpoint_prefix, dir=os.fspath(self.checkpoint_dir)
        )

    def _callbacks(self, has_valid, checkpoint_path):
        names = self._net_class.loss_components
        callbacks = [
            (f"train_{c}", PassthroughScoring(name=f"train_{c}", on_train=True))
            for c in names
        ]
        if has_valid:
            callbacks += [
                (f"valid_{c}", PassthroughScoring(name=f"valid_{c}")) for c in names
            ]
            # Guarded: skorch's EarlyStopping raises KeyError('valid_loss')
            # when there is no validation data.
            callbacks.append(
                (
                    "early_stopping",
                    _EarlyStopping(
                        monitor="valid_loss", patience=self.patience, load_best=True
                    ),
                )
            )
        if checkpoint_path is not None:
            callbacks.append(
                (
                    "checkpoint",
                    Checkpoint(
                        dirname=checkpoint_path,
                        monitor="valid_loss_best" if has_valid else None,
                        load_best=False,
                    ),
                )
            )
        return callbacks + list(self.callbacks or [])

    def _build_net(self, train, valid, batcher, checkpoint_path):
        has_valid = len(valid) > 0
        module_kwargs = {
            f"module__{k}": v
            for k, v in {
                "n_characteristics": self.n_features_in_,
                **self._module_kwargs(),
            }.items()
        }
        return self._net_class(
            self._module_class,
            criterion=torch.nn.MSELoss,  # unused: the loss is compute_loss
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_months,
            iterator_train=self._train_loader,
            iterator_train__shuffle=True,
            iterator_train__collate_fn=collate_months,
            iterator_valid__collate_fn=collate_months,
            train_split=predefined_split(MonthDataset(batcher, valid))
            if has_valid
            else None,
            callbacks=self._callbacks(has_valid, checkpoint_path),
            device=self.device,
            verbose=self.verbose,
            **module_kwargs,
            **self._net_kwargs(),
        )

    def _copy_state(self, old, new):
        try:
            new.module_.load_state_dict(old.module_.state_dict())
        except RuntimeError as exc:
            raise ValueError(
                "warm_start=True needs the architecture of the fitted model "
                "(the same size parameters and characteristics)."
            ) from exc
        # A copy: torch may share the moment tensors, and the new optimizer
        # updates them in place; a failed warm refit must leave the old intact.
        new.optimizer_.load_state_dict(copy.deepcopy(old.optimizer_.state_dict()))
        for group in new.optimizer_.param_groups:
            group["lr"] = self.lr
            group["weight_decay"] = self.weight_decay

    def _store_fit(self, net, batcher, valid, warm):
        layout = batcher.layout
        # The validation split holds the training batcher, i.e. the whole
        # panel (1.1 GB at CRSP scale): not kept in the fitted model, so a
        # pickle holds the weights and the predict context only.
        net.train_split = None
        self.net_ = net
        self.validation_periods_ = layout.periods[valid]
        self.excluded_periods_ = layout.periods[
            np.setdiff1d(np.arange(layout.n_periods), batcher.periods_with_returns())
        ]
        rows = [
            {k: v for k, v in epoch.items() if k != "batches"} for epoch in net.history
        ]
        history = pd.DataFrame(rows)
        if warm and hasattr(self, "history_") and len(self.history_):
            history["epoch"] += int(self.history_["epoch"].max())
            history = pd.concat([self.history_, history], ignore_index=True)
        self.history_ = history.set_index("epoch", drop=False)
        self.n_iter_ = len(self.history_)
        es = dict(net.callbacks_).get("early_stopping")
        self.best_epoch_ = None if es is None else int(es.best_epoch_)
        self.interrupted_ = bool(net.interrupted_)
        self._context = self._keep_context(batcher)

    def _feature_names(self):
        if hasattr(self, "feature_names_in_"):
            return list(map(str, self.feature_names_in_))
        return [f"x{j}" for j in range(self.n_features_in_)]

    # ------------------------------------------------------------ prediction
    def _keep_context(self, batcher):
        """Characteristics of the last window-1 training periods (for predict)."""
        layout = batcher.layout
        n_keep = batcher.window - 1
        first = layout.n_periods - n_keep
        rows = np.flatnonzero(layout.time_pos >= first) if n_keep else np.array([], int)
        return {
            "index": layout.index[rows],
            "Z": batcher.Z[rows].copy(),
            "periods": layout.periods,
        }

    def _predict_batcher(self, X):
        """Validated batcher of ``X`` with the training context prepended.

        Returns
        -------
        batcher : PanelBatcher
        layout : PanelLayout
            Layout of ``X`` alone.
        n_context : int
            Number of prepended context rows (the first rows of the batcher).
        """
        check_is_fitted(self)
        index = panel_index(X)  # structure first: ids/dates as columns refused
        check_panel_frame(X)
        check_index_names(self, X, reset=False, time_type=True)
        Z = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        self._check_scale(Z)
        layout = PanelLayout(index)
        full_index, full_Z, n_ctx = self._with_context(index, Z, layout)
        full = PanelLayout(full_index) if n_ctx else layout
        batcher = PanelBatcher(full_Z, full, self._history_window())
        return batcher.to(self.net_.device), layout, n_ctx

    def _with_context(self, index, Z, layout):
        ctx = self._context
        if len(ctx["index"]) == 0 or not _follows(ctx["periods"], layout.periods):
            return index, Z, 0
        try:
            full_index = ctx["index"].append(index)
        except (TypeError, ValueError):
            return index, Z, 0
        full_Z = np.vstack([ctx["Z"], np.asarray(Z, dtype=np.float32)])
        return full_index, full_Z, len(ctx["index"])

    #: Asset-months per forward pass without gradients (predict, transform,
    #: the factors after fit): consecutive months share their windows, so a
    #: chunk of M months encodes M + window - 1 months; more months than
    #: ``batch_months`` a pass cut that overhead (19/8 -> 43/32 at N=6,000,
    #: W=12) at a bounded memory (~130k cells, some 100 MB at L=94).
    inference_cells = 1 << 17

    def _inference_months(self, batcher) -> int:
        """Months per forward pass of :meth:`_per_row_outputs` (>= batch_months)."""
        widest = max(int(batcher.layout.counts.max()), 1)
        return max(int(self.batch_months), self.inference_cells // widest)

    def _per_row_outputs(self, batcher, per_cell=(), per_month=()):
        """Module outputs mapped back to the batcher's rows.

        Parameters
        ----------
        batcher : PanelBatcher
        per_cell : tuple of str
            Output keys of shape (M, n, ...) (one value per asset-month).
        per_month : tuple of str
            Output keys of shape (M, ...) (one value per month, repeated
            over the month's rows).

        Returns
        -------
        dict of str to ndarray of shape (n_rows, ...)
            Keys whose output is None are left out.
        """
        n_rows = batcher.layout.n_rows
        results = {}
        months = np.arange(batcher.layout.n_periods)
        step = self._inference_months(batcher)
        for start in range(0, len(months), step):
            chunk = months[start : start + step]
            out = self.net_.forward_months(batcher.batch(chunk))
            rows = batcher.rows_of(chunk)
            present = rows >= 0
            month_of_cell = np.broadcast_to(np.arange(len(chunk))[:, None], rows.shape)[
                present
            ]
            for key in (*per_cell, *per_month):
                if out.get(key) is None:
                    continue
                value = out[key].detach().cpu().numpy().astype(np.float64)
                value = value[present] if key in per_cell else value[month_of_cell]
                if key not in results:
                    results[key] = np.zeros((n_rows, *value.shape[1:]))
                results[key][rows[present]] = value
        return results


def _follows(train_periods: pd.Index, periods: pd.Index) -> bool:
    """Whether ``periods`` start right after the training periods."""
    last, first = train_periods[-1], periods[0]
    try:
        if isinstance(train_periods, pd.PeriodIndex):
            return first == last + 1
        if pd.api.types.is_integer_dtype(train_periods.dtype):
            step = (
                np.diff(np.asarray(train_periods)).min()
                if len(train_periods) > 1
                else 1
            )
            return first - last == step
        if pd.api.types.is_datetime64_any_dtype(train_periods.dtype):
            if len(train_periods) < 2:
                return False
            step = np.median(np.diff(train_periods.asi8))
            gap = pd.Timestamp(first).value - pd.Timestamp(last).value
            return 0 < gap <= 1.5 * step
    except (TypeError, ValueError):
        return False
    return False


def _is_fitted_attr(name: str) -> bool:
    # scikit-learn's rule (trailing underscore) plus the private predict context.
    return (name.endswith("_") and not name.startswith("__")) or name == "_context"


def _fitted_state(estimator) -> dict:
    """The fitted attributes of ``estimator`` (empty when not fitted)."""
    return {k: v for k, v in vars(estimator).items() if _is_fitted_attr(k)}


def _restore_state(estimator, state):
    """Put back the fitted attributes of ``state``, dropping any others."""
    for name in [k for k in vars(estimator) if _is_fitted_attr(k)]:
        delattr(estimator, name)
    vars(estimator).update(state)
