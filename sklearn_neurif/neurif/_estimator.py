"""NeurIFRegressor: the NeurIF model as a scikit-learn estimator."""

from __future__ import annotations

import os
import tempfile
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import Checkpoint, EarlyStopping, PassthroughScoring
from skorch.helper import predefined_split

from ..base import FactorModelMixin, FactorOutputs
from ..panel import PanelLayout, check_panel_frame, check_panel_target, panel_index
from ._attribution import as_frame, gradient_attribution, regression_attribution
from ._batching import MonthDataset, PanelBatcher, collate_months
from ._module import NeurIFModule
from ._net import LOSS_COMPONENTS, NeurIFNet

__all__ = ["NeurIFRegressor"]


class NeurIFRegressor(
    FactorModelMixin, RegressorMixin, TransformerMixin, BaseEstimator
):
    r"""Neural Instrumented Factorization: conditional latent factors with attention.

    Loadings are instrumented by the characteristics and corrected by a
    nonlinear deviation learned with temporal (per asset, over ``window``
    months) and spatial (assets <-> K factor tokens) attention:

    .. math::

        \beta_{i,t} = \Gamma' z_{i,t} + g(v_{i,t}), \qquad
        f_{t+1} = (B_t'B_t + \epsilon I)^{-1} B_t' r_{t+1}, \qquad
        \hat r_{i,t+1} = \beta_{i,t}'\lambda_{t+1},

    with :math:`\lambda_{t+1}` a head on the factor tokens of month ``t``.
    The loss (per batch of months) is

    .. math::

        \frac{\sum (r - \beta'f)^2}{\sum r^2}
        + w_{pred} \frac{\sum (r - \beta'\lambda)^2}{\sum r^2}
        + \lambda_{orth} \sum_{k \ne l} \rho_{kl}^2
        + \lambda_{dev} \frac{\sum \lVert g(v)\rVert^2}{\sum \lVert\beta\rVert^2}

    plus weight decay (see the model page ``docs/neurif.md``).

    Parameters
    ----------
    n_factors : int, default=5
        Number of latent factors K.
    window : int, default=12
        Months of characteristics seen per asset, the current one included.
    hidden_size : int, default=32
        Width d of the encoder and attention layers.
    n_heads : int, default=2
        Attention heads; ``hidden_size`` must be divisible by it.
    dropout : float, default=0.0
        Dropout rate.
    prediction_weight : float, default=1.0
        Weight of the predictive fit term (returns on :math:`\beta'\lambda`).
    orthogonality_penalty : float, default=0.1
        Weight of the sum of squared off-diagonal cross-sectional correlations
        of the loadings (averaged over months).
    deviation_penalty : float, default=1.0
        Weight of the share of the loadings' second moment due to the
        nonlinear deviation g. Large values give the restricted IPCA model.
    weight_decay : float, default=1e-4
        AdamW weight decay.
    intercept : bool, default=False
        Add :math:`\alpha_{i,t} = \Gamma_\alpha' z_{i,t}`.
    lr : float, default=1e-3
        Learning rate (AdamW).
    batch_months : int, default=8
        Months per optimisation step (the whole cross-section of each month).
    max_epochs : int, default=100
        Maximum passes over the training months.
    patience : int, default=10
        Early stopping: epochs without improvement of the validation loss.
    validation_fraction : float, default=0.2
        Share of the training periods (with returns), taken from the **end**
        of the sample, used for early stopping; the best weights are restored.
        0 disables validation and early stopping (``max_epochs`` epochs). With
        too few periods to hold out one, training runs without validation.
    ridge : float, default=1e-4
        :math:`\epsilon` of the realised-factor regression (also used by
        :meth:`get_factors`).
    device : str, default="cpu"
        torch device (e.g. ``"cuda"``).
    checkpoint_dir : str or path-like, default=None
        If given, skorch ``Checkpoint`` files are written to a fresh
        subdirectory of it per fit (``checkpoint_path_``), so parallel jobs
        never overwrite each other.
    warm_start : bool, default=False
        Continue training from the fitted weights on the next ``fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch order and dropout (torch's global
        RNG is left untouched).
    verbose : int, default=0
        1 prints skorch's per-epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the torch module.
    factors_ : DataFrame of shape (n_periods, n_factors)
        Realised factors on the training periods, labelled by as-of period.
    gamma_ : DataFrame of shape (n_characteristics, n_factors)
        The linear instrument map :math:`\Gamma`.
    history_ : DataFrame
        Per-epoch train/valid losses and their components.
    n_iter_ : int
        Epochs run (cumulative over warm starts).
    best_epoch_ : int or None
        Epoch whose weights were kept (None without validation).
    validation_periods_ : Index
        Periods used for validation.
    excluded_periods_ : Index
        Training periods without any return (kept as lagged history only).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    checkpoint_path_ : str or None

    Notes
    -----
    As-of timing: row ``(i, t)`` of ``X`` holds characteristics known at the
    end of ``t`` and ``y`` the return over ``t+1``; ``predict`` gives
    :math:`E_t[r_{i,t+1}]` using only characteristics up to ``t``.

    Prediction on later periods: the window of an early test month reaches
    into the training sample. The last ``window - 1`` training periods'
    characteristics are kept and prepended when ``X`` starts right after the
    training sample (the next monthly ``Period``, the next integer, or the
    next date at the training spacing). Otherwise (a gap, or overlapping
    periods) ``X`` is used alone and its first months have shorter
    histories. Either way one prediction is returned per input row, in input
    order. Assets new at prediction time simply have a shorter history.

    A plain array is one cross-section (a single period).

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> data = make_conditional_factor_panel(50, 24, 5, 2, random_state=0)
    >>> est = NeurIFRegressor(n_factors=2, window=3, max_epochs=2, random_state=0)
    >>> est.fit(data.X, data.y).predict(data.X).shape
    (1200,)
    """

    _parameter_constraints: dict = {
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "window": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "prediction_weight": [Interval(Real, 0, None, closed="left")],
        "orthogonality_penalty": [Interval(Real, 0, None, closed="left")],
        "deviation_penalty": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "intercept": ["boolean"],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_months": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "ridge": [Interval(Real, 0, None, closed="left")],
        "device": [str],
        "checkpoint_dir": [str, os.PathLike, None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_factors=5,
        window=12,
        hidden_size=32,
        n_heads=2,
        dropout=0.0,
        prediction_weight=1.0,
        orthogonality_penalty=0.1,
        deviation_penalty=1.0,
        weight_decay=1e-4,
        intercept=False,
        lr=1e-3,
        batch_months=8,
        max_epochs=100,
        patience=10,
        validation_fraction=0.2,
        ridge=1e-4,
        device="cpu",
        checkpoint_dir=None,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.n_factors = n_factors
        self.window = window
        self.hidden_size = hidden_size
        self.n_heads = n_heads
        self.dropout = dropout
        self.prediction_weight = prediction_weight
        self.orthogonality_penalty = orthogonality_penalty
        self.deviation_penalty = deviation_penalty
        self.weight_decay = weight_decay
        self.intercept = intercept
        self.lr = lr
        self.batch_months = batch_months
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.ridge = ridge
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.target_tags.required = True
        # A latent factor model of returns, not a curve fitter: a few epochs
        # on sklearn's toy data do not reach the R^2 the checks ask for.
        tags.regressor_tags.poor_score = True
        tags.non_deterministic = False
        return tags

    @property
    def _factor_ridge(self):
        return float(self.ridge)

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on a panel of characteristics and next-period returns.

        Parameters
        ----------
        X : DataFrame of shape (n_rows, n_characteristics)
            Characteristics with an ``(entity, time)`` MultiIndex (a plain
            array is one period). No NaN: impute first (e.g. with
            ``CrossSectionalRankScaler``).
        y : Series of shape (n_rows,)
            Excess return over ``t+1`` on ``X``'s index; NaN is masked.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Malformed panel, NaN/inf characteristics, y misaligned, ``window``
            longer than the number of periods, ``n_factors`` larger than the
            number of characteristics or than the assets with returns in a
            month, ``hidden_size`` not divisible by ``n_heads``.
        TypeError
            Non-numeric characteristics or returns.
        """
        warm = self.warm_start and hasattr(self, "net_")
        batcher, train, valid = self._prepare_fit(X, y, reset=not warm)
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        # Fork (and restore) the CPU RNG, and the CUDA RNGs when training there.
        cuda_devices = [] if str(self.device).startswith("cpu") else None
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            net = self._build_net(train, valid, batcher)
            net.initialize()
            if warm:
                self._copy_state(self.net_, net)
            else:
                _init_gamma(net.module_, batcher, train)
            net.partial_fit(MonthDataset(batcher, train))
        self._store_fit(net, batcher, valid, warm, X, y)
        return self

    def _prepare_fit(self, X, y, reset):
        check_panel_frame(X)
        index = panel_index(X)
        Z = validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
        r = check_panel_target(y, index)
        if self.hidden_size % self.n_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} must be divisible by n_heads={self.n_heads}."
            )
        n_chars = Z.shape[1]
        if self.n_factors > n_chars:
            raise ValueError(
                f"n_factors={self.n_factors} exceeds the number of characteristics: "
                f"X has {n_chars} feature(s); the instrument map Gamma (L x K) needs "
                "n_factors <= n_characteristics."
            )
        layout = PanelLayout(index)
        if self.window > layout.n_periods:
            raise ValueError(
                f"window={self.window} is longer than the {layout.n_periods} training "
                "period(s); reduce window or pass more periods."
            )
        batcher = PanelBatcher(Z, layout, self.window, returns=r)
        months = batcher.periods_with_returns()
        valid_counts = np.bincount(
            layout.time_pos[batcher.valid], minlength=layout.n_periods
        )[months]
        if valid_counts.min() < self.n_factors:
            worst = months[np.argmin(valid_counts)]
            raise ValueError(
                f"n_factors={self.n_factors} exceeds the {valid_counts.min()} asset(s) "
                f"with returns in period {layout.periods[worst]!r}; the cross-sectional "
                "factor regression needs at least n_factors assets per month."
            )
        self.excluded_periods_ = layout.periods[
            np.setdiff1d(np.arange(layout.n_periods), months)
        ]
        n_valid = int(np.floor(self.validation_fraction * len(months)))
        if n_valid >= len(months):
            n_valid = 0
        train, valid = months[: len(months) - n_valid], months[len(months) - n_valid :]
        return batcher, train, valid

    def _build_net(self, train, valid, batcher):
        has_valid = len(valid) > 0
        callbacks = [
            (f"train_{c}", PassthroughScoring(name=f"train_{c}", on_train=True))
            for c in LOSS_COMPONENTS
        ]
        if has_valid:
            callbacks += [
                (f"valid_{c}", PassthroughScoring(name=f"valid_{c}"))
                for c in LOSS_COMPONENTS
            ]
            # Guarded: skorch's EarlyStopping raises KeyError('valid_loss')
            # when there is no validation data.
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss", patience=self.patience, load_best=True
                    ),
                )
            )
        self.checkpoint_path_ = None
        if self.checkpoint_dir is not None:
            os.makedirs(self.checkpoint_dir, exist_ok=True)
            # A fresh directory per fit: parallel grid-search jobs never collide.
            self.checkpoint_path_ = tempfile.mkdtemp(
                prefix="neurif-", dir=os.fspath(self.checkpoint_dir)
            )
            callbacks.append(
                (
                    "checkpoint",
                    Checkpoint(
                        dirname=self.checkpoint_path_,
                        monitor="valid_loss_best" if has_valid else None,
                        load_best=False,
                    ),
                )
            )
        return NeurIFNet(
            NeurIFModule,
            criterion=torch.nn.MSELoss,
            prediction_weight=self.prediction_weight,
            orthogonality_penalty=self.orthogonality_penalty,
            deviation_penalty=self.deviation_penalty,
            module__n_characteristics=self.n_features_in_,
            module__n_factors=self.n_factors,
            module__window=self.window,
            module__hidden_size=self.hidden_size,
            module__n_heads=self.n_heads,
            module__dropout=self.dropout,
            module__ridge=self.ridge,
            module__intercept=self.intercept,
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_months,
            iterator_train__shuffle=True,
            iterator_train__collate_fn=collate_months,
            iterator_valid__collate_fn=collate_months,
            train_split=predefined_split(MonthDataset(batcher, valid))
            if has_valid
            else None,
            callbacks=callbacks,
            device=self.device,
            verbose=self.verbose,
        )

    def _copy_state(self, old, new):
        try:
            new.module_.load_state_dict(old.module_.state_dict())
        except RuntimeError as exc:
            raise ValueError(
                "warm_start=True needs the architecture of the fitted model "
                "(n_factors, window, hidden_size, n_heads, intercept, characteristics)."
            ) from exc
        new.optimizer_.load_state_dict(old.optimizer_.state_dict())
        for group in new.optimizer_.param_groups:
            group["lr"] = self.lr
            group["weight_decay"] = self.weight_decay

    def _store_fit(self, net, batcher, valid, warm, X, y):
        layout = batcher.layout
        self.net_ = net
        self.validation_periods_ = layout.periods[valid]
        rows = [
            {k: v for k, v in epoch.items() if k != "batches"} for epoch in net.history
        ]
        history = pd.DataFrame(rows)
        if warm and hasattr(self, "history_") and len(self.history_):
            history["epoch"] += int(self.history_["epoch"].max())
            history = pd.concat([self.history_, history], ignore_index=True)
        self.history_ = history.set_index("epoch", drop=False)
        self.n_iter_ = len(self.history_)
        self.n_epochs_ = self.n_iter_
        es = dict(net.callbacks_).get("early_stopping")
        self.best_epoch_ = None if es is None else int(es.best_epoch_)
        self._context = self._keep_context(batcher)
        self.gamma_ = pd.DataFrame(
            net.module_.gamma.weight.detach().cpu().numpy().T.astype(np.float64),
            index=self._feature_names(),
            columns=[f"factor_{k + 1}" for k in range(self.n_factors)],
        )
        # Realised factors of the training months from the training batcher
        # (no second validation, layout and lag table of the panel).
        beta, premia, alpha = self._run_module(batcher)
        self._fit_outputs = FactorOutputs(layout, beta, premia, alpha)
        try:
            self.factors_ = self.get_factors(X, y)
        finally:
            del self._fit_outputs

    def _feature_names(self):
        if hasattr(self, "feature_names_in_"):
            return list(map(str, self.feature_names_in_))
        return [f"x{j}" for j in range(self.n_features_in_)]

    def _keep_context(self, batcher):
        """Characteristics of the last window-1 training periods (for predict)."""
        layout = batcher.layout
        n_keep = self.window - 1
        first = layout.n_periods - n_keep
        rows = np.flatnonzero(layout.time_pos >= first) if n_keep else np.array([], int)
        return {
            "index": layout.index[rows],
            "Z": batcher.Z[rows].copy(),
            "periods": layout.periods,
        }

    # --------------------------------------------------------------- outputs
    def transform(self, X):
        """Loadings and conditional factor premia per row.

        Defined here (not only in the mixin) so that ``set_output`` wraps it.

        Parameters
        ----------
        X : DataFrame of shape (n_rows, n_characteristics)
            Characteristics panel (or one cross-section as an array).

        Returns
        -------
        ndarray or DataFrame of shape (n_rows, 2 * n_factors)
            ``loading_1..K`` then ``factor_1..K`` (premia known at ``t``).
        """
        return super().transform(X)

    def _panel_outputs(self, X) -> FactorOutputs:
        if getattr(self, "_fit_outputs", None) is not None:
            return self._fit_outputs  # only set while fit computes factors_
        check_is_fitted(self)
        check_panel_frame(X)
        index = panel_index(X)
        Z = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        layout = PanelLayout(index)
        full_index, full_Z, n_ctx = self._with_context(index, Z, layout)
        full = PanelLayout(full_index) if n_ctx else layout
        beta, premia, alpha = self._run_module(PanelBatcher(full_Z, full, self.window))
        keep = slice(n_ctx, None)
        return FactorOutputs(
            layout=layout,
            loadings=beta[keep],
            premia=premia[keep],
            alpha=None if alpha is None else alpha[keep],
        )

    def characteristic_attribution(self, X, method="gradient"):
        r"""How each factor's loadings depend on each characteristic.

        Parameters
        ----------
        X : DataFrame
            Characteristics panel (e.g. the training panel).
        method : {"gradient", "regression"}, default="gradient"
            ``"gradient"``: the average over asset-months of the derivative
            of the loading on the asset's own current characteristics,
            :math:`E[\partial\beta_{i,t,k}/\partial z_{i,t,l}]` (the factor
            tokens held fixed; for a purely linear model this is
            :math:`\Gamma`). ``"regression"``: slopes of a pooled OLS of the
            loadings on the characteristics (with a constant), the best
            linear summary of the full loadings.

        Returns
        -------
        DataFrame of shape (n_characteristics, n_factors)
            Rows are characteristics, columns ``factor_1..K``.

        Notes
        -----
        Compare with ``gamma_`` (the linear instrument map alone): the
        difference is the part of the attribution carried by the nonlinear
        deviation g(v). The gradient method costs about K backward passes
        over the panel, one month at a time.
        """
        if method not in ("gradient", "regression"):
            raise ValueError(
                f"method must be 'gradient' or 'regression'; got {method!r}."
            )
        check_is_fitted(self)
        if method == "regression":
            Z = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
            values = regression_attribution(self._panel_outputs(X).loadings, Z)
        else:
            check_panel_frame(X)
            index = panel_index(X)
            Z = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
            layout = PanelLayout(index)
            full_index, full_Z, n_ctx = self._with_context(index, Z, layout)
            full = PanelLayout(full_index) if n_ctx else layout
            batcher = PanelBatcher(full_Z, full, self.window)
            # The prepended context periods come first; attribute X's only.
            months = np.arange(full.n_periods - layout.n_periods, full.n_periods)
            values = gradient_attribution(self.net_, batcher, months)
        return as_frame(values, self._feature_names(), self.n_factors)

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

    def _run_module(self, batcher):
        n_rows, K = batcher.layout.n_rows, self.n_factors
        beta = np.zeros((n_rows, K))
        premia = np.zeros((n_rows, K))
        alpha = np.zeros(n_rows) if self.intercept else None
        months = np.arange(batcher.layout.n_periods)
        for start in range(0, len(months), self.batch_months):
            chunk = months[start : start + self.batch_months]
            out = self.net_.forward_months(batcher.batch(chunk))
            rows = batcher.rows_of(chunk)
            present = rows >= 0
            beta[rows[present]] = out["beta"].cpu().numpy()[present]
            p = out["premia"].cpu().numpy()  # (M, K)
            premia[rows[present]] = np.repeat(p[:, None, :], rows.shape[1], 1)[present]
            if alpha is not None:
                alpha[rows[present]] = out["alpha"].cpu().numpy()[present]
        return beta, premia, alpha


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


def _init_gamma(module, batcher, months):
    """Start Gamma at IPCA's warm start: top singular vectors of managed portfolios.

    x_t = Z_t' r_{t+1} / N_t (L characteristic-managed portfolio returns per
    month); the leading K left singular vectors of the L x T matrix
    [x_1 .. x_T] span the best linear instrumented factor space to first
    order. Costs one pass over the panel; training then refines it.
    """
    layout = batcher.layout
    in_train = np.isin(layout.time_pos, months) & batcher.valid
    # Sum of r * z per month as one sparse (T x rows) float32 product over the
    # whole panel: no copy of the characteristics, no float64 upcast.
    weights = np.where(in_train, batcher.returns, 0.0).astype(np.float32)
    summer = sparse.csr_array(
        (weights, (layout.time_pos, np.arange(layout.n_rows))),
        shape=(layout.n_periods, layout.n_rows),
    )
    portfolios = np.asarray(summer @ batcher.Z, dtype=np.float64)
    counts = np.bincount(layout.time_pos[in_train], minlength=layout.n_periods)
    portfolios = portfolios[counts > 0] / counts[counts > 0, None]
    left, _, _ = np.linalg.svd(portfolios.T, full_matrices=False)
    K = module.gamma.weight.shape[0]
    with torch.no_grad():
        module.gamma.weight.copy_(torch.as_tensor(left[:, :K].T, dtype=torch.float32))
