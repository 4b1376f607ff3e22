"""NeurIFRegressor: the NeurIF model as a scikit-learn estimator."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._param_validation import Interval  # refuses booleans (n_factors=True)
from .._params import set_init_params
from .._warnings import warn_at_caller
from ..base import FactorModelMixin, FactorOutputs, factor_names
from ..nn._base import (
    ATTENTION_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    PanelNetRegressor,
    training_parameters_doc,
)
from ..nn._batching import MonthBlockLoader
from ..panel._managed import managed_portfolios
from ._attribution import as_frame, gradient_attribution, regression_attribution
from ._module import NeurIFModule
from ._net import NeurIFNet
from ._residual_start import start_deviation_on_residuals, start_deviation_quadratic

__all__ = ["NeurIFRegressor"]


@training_parameters_doc
class NeurIFRegressor(FactorModelMixin, TransformerMixin, PanelNetRegressor):
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
        Months before an asset's first one (or before the training sample)
        are masked, so a window longer than the training history is allowed.
    hidden_size : int, default=32
        Width d of the encoder and attention layers.
    n_heads : int, default=2
        Attention heads; ``hidden_size`` must be divisible by it.
    dropout : float, default=0.0
        Dropout rate.
    prediction_weight : float, default=0.0
        Weight of the predictive fit term (returns on :math:`\beta'\lambda`),
        which trains the premia head. 0 by default: at realistic
        signal-to-noise that term is ~1 (mostly noise), its gradient and its
        noise in the validation loss slowed and stopped the learning of the
        loadings (docs/neurif_tuning.md); use ``premia="head"`` with a
        positive weight for conditional premia.
    orthogonality_penalty : float, default=0.1
        Weight of the sum of squared off-diagonal cross-sectional correlations
        of the loadings (averaged over months).
    deviation_penalty : float, default=0.0
        Weight of the share of the loadings' second moment due to the
        nonlinear deviation g. Large values give the restricted IPCA model.
        0 by default: training starts at IPCA's solution (``init="ipca"``)
        and early stopping on validation months already keeps the deviation
        small where it does not pay; :class:`NeurIFRegressorCV` chooses the
        penalty on validation months.
    intercept : bool, default=False
        Add :math:`\alpha_{i,t} = \Gamma_\alpha' z_{i,t}`.
    temporal_attention : bool, default=True
        False removes the temporal attention (an ablation): each asset-month
        is encoded from its current characteristics only and ``window`` is
        not used.
    spatial_attention : bool, default=True
        False removes the factor-token attention (an ablation): the premia
        are constant over months and an asset's loadings do not depend on
        the other assets of its month.
    ridge : float, default=1e-4
        :math:`\epsilon` of the realised-factor regression (also used by
        :meth:`get_factors`).
    init : {"ipca", "svd"}, default="ipca"
        Start of :math:`\Gamma` (the deviation g and the premia head start at
        zero either way). ``"ipca"``: IPCA's fitted :math:`\Gamma` on the
        training months (restricted, no intercept) and the premia constant at
        the mean of IPCA's factors, so training starts *at* the IPCA model.
        ``"svd"``: the top singular vectors of the managed portfolios (IPCA's
        own warm start) and premia at zero (also used with fewer training
        periods than ``n_factors``, where IPCA is not identified).
    premia : {"head", "mean"}, default="mean"
        Factor premia :math:`\lambda_{t+1}` of ``predict`` and ``transform``:
        ``"head"``, the conditional premia head on the factor tokens of month
        ``t``; ``"mean"``, IPCA's rule, the training mean of the realised
        factors (``factor_means_``), the same for every month (the default:
        on the design family it matched IPCA's predictive R² where the head
        lost 0.1-0.2 points). Training is the same either way.
    mixed_precision : bool, default=False
        Run the network under ``torch.autocast`` in bfloat16 (meant for
        GPUs). The temporal attention, the realised-factor regression, the
        loss and the outputs stay float32. Predictions differ from a float32
        fit's by the rounding of bfloat16 (docs/training.md).
    deviation_init : {"quadratic", "residual"} or float, default="quadratic"
        Start of the deviation g. ``"quadratic"``: IPCA's step on the
        start's residuals in the standardised products and squares of the
        current characteristics (the second-order terms of a loading; with
        more than 44 characteristics, those of the 44 with the largest rows
        of IPCA's Gamma): the leading right singular vector of the managed
        portfolios of the residuals, once what the start's own factors
        explain over months is removed, gives a loading for a factor the
        start lacks, at the scale in {0, 0.1, 0.3, 1} x the last factor's
        loading sd that fits the validation months best (0 keeps the start
        exactly; ``deviation_start_scale_``); then 5 epochs train all of g
        (not Gamma nor the premia) to output it as the last factor's
        deviation, kept only if the result fits the validation months
        better than IPCA's start. Cost: about 2 epochs.
        ``"residual"``: the same step on g's random hidden features instead,
        whose leading singular vector becomes the last factor's row of g's
        output layer (no warm-up). A float ``s > 0``: random output weights of sd
        ``s / sqrt(hidden_size)``; ``0``: zero (the former default). From a
        zero output layer a factor without a linear part sat on a saddle of
        the loss at IPCA's start and was never learned; the residual start
        left it on 2 of 6 held-out fits, the quadratic one on 6 of 6
        (docs/neurif_tuning.md, issue 19).
    n_deviation_starts : int, default=1
        With ``deviation_init="residual"``, the number of draws of g's
        hidden layer tried: each gets its residual start and the draw whose
        start fits the validation months best is kept (the first draw is
        the network's own initialisation; forward passes only, no
        training). The residual start searches the span of g's random
        hidden features; more draws make it likelier that one holds the
        missing loading (measured: it did not, docs/neurif_tuning.md).
        Ignored otherwise.
    validation_criterion : {"total_r2", "loss"}, default="total_r2"
        What early stopping monitors on the validation months: the fit
        term (1 - total R²), or the whole penalised loss. The
        orthogonality term's epoch-to-epoch noise in the loss was as large
        as the fit changes early stopping must detect (docs/neurif_tuning.md).
    {training_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the torch module.
    factors_ : DataFrame of shape (n_periods, n_factors)
        Realised factors on the training periods, labelled by as-of period.
    gamma_ : DataFrame of shape (n_characteristics, n_factors)
        The linear instrument map :math:`\Gamma`.
    gamma_alpha_ : Series of shape (n_characteristics,) or None
        The intercept map :math:`\Gamma_\alpha` (``intercept=True``), None
        otherwise (as ``IPCARegressor``).
    factor_means_ : ndarray of shape (n_factors,)
        Mean of ``factors_`` over every period passed to ``fit``, the
        early-stopping validation months included, as ``IPCARegressor``
        fitted on the same ``X`` computes its premia (the premia with
        ``premia="mean"``). The IPCA start (``init="ipca"``) uses the
        training months only.
    history_ : DataFrame
        Per-epoch train/valid losses and their components.
    deviation_start_scale_ : float or None
        With ``deviation_init="quadratic"`` or ``"residual"``, the scale
        chosen for the start of g (0: IPCA's start kept); None otherwise or
        after a warm start.
    {training_attributes}

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
    >>> est.fit(data.X, data.y).factors_.shape  # one row of factors per month
    (24, 2)
    >>> est.predict(data.X).shape
    (1200,)
    """

    _parameter_constraints: dict = {
        **TRAINING_CONSTRAINTS,
        **ATTENTION_CONSTRAINTS,
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "prediction_weight": [Interval(Real, 0, None, closed="left")],
        "orthogonality_penalty": [Interval(Real, 0, None, closed="left")],
        "deviation_penalty": [Interval(Real, 0, None, closed="left")],
        "intercept": ["boolean"],
        "temporal_attention": ["boolean"],
        "spatial_attention": ["boolean"],
        "ridge": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"ipca", "svd"})],
        "premia": [StrOptions({"head", "mean"})],
        "mixed_precision": ["boolean"],
        "deviation_init": [
            Interval(Real, 0, None, closed="left"),
            StrOptions({"residual", "quadratic"}),
        ],
        "n_deviation_starts": [Interval(Integral, 1, None, closed="left")],
        "validation_criterion": [StrOptions({"loss", "total_r2"})],
    }
    _net_class = NeurIFNet
    _module_class = NeurIFModule
    _checkpoint_prefix = "neurif-"
    # Blocks of consecutive months: docs/training.md, "Batches are months".
    _train_loader = MonthBlockLoader

    def __init__(
        self,
        n_factors=5,
        *,
        window=12,
        hidden_size=32,
        n_heads=2,
        dropout=0.0,
        prediction_weight=0.0,
        orthogonality_penalty=0.1,
        deviation_penalty=0.0,
        intercept=False,
        temporal_attention=True,
        spatial_attention=True,
        ridge=1e-4,
        weight_decay=1e-4,
        lr=1e-3,
        batch_months=8,
        max_epochs=100,
        patience=20,
        validation_fraction=0.2,
        init="ipca",
        premia="mean",
        mixed_precision=False,
        deviation_init="quadratic",
        n_deviation_starts=1,
        validation_criterion="total_r2",
        device="cpu",
        checkpoint_dir=None,
        warm_start=False,
        callbacks=None,
        random_state=None,
        verbose=0,
    ):
        set_init_params(self, locals())

    @property
    def _factor_ridge(self):
        return float(self.ridge)

    # ----------------------------------------------------------------- hooks
    def _history_window(self) -> int:
        # Without temporal attention only the current month is used.
        return int(self.window) if self.temporal_attention else 1

    def _module_kwargs(self) -> dict:
        return {
            **self._params(
                "n_factors",
                "hidden_size",
                "n_heads",
                "dropout",
                "ridge",
                "intercept",
                "temporal_attention",
                "spatial_attention",
            ),
            "window": self._history_window(),
        }

    def _net_kwargs(self) -> dict:
        return self._params(
            "prediction_weight",
            "orthogonality_penalty",
            "deviation_penalty",
            "mixed_precision",
        )

    def _initialize_module(self, module, batcher, months):
        # IPCA identifies K factors only from at least K periods; a single
        # cross-section (a plain array) gets the SVD start.
        if self.init == "ipca" and len(months) >= max(self.n_factors, 2):
            _init_at_ipca(module, batcher, months, self._feature_names())
        else:
            _init_gamma(module, batcher, months)
        self._start_scale = None
        if self.deviation_init == "residual":
            valid = np.setdiff1d(batcher.periods_with_returns(), months)
            start = start_deviation_on_residuals(
                module,
                batcher,
                months,
                valid,
                int(self.batch_months),
                n_draws=int(self.n_deviation_starts),
            )
            self._start_scale = start.scale
        elif self.deviation_init == "quadratic":
            valid = np.setdiff1d(batcher.periods_with_returns(), months)
            start = start_deviation_quadratic(
                module, batcher, months, valid, int(self.batch_months)
            )
            self._start_scale = start.scale
        elif self.deviation_init > 0:
            _init_deviation(module, self.deviation_init)

    def _callbacks(self, has_valid, checkpoint_path):
        callbacks = super()._callbacks(has_valid, checkpoint_path)
        if self.validation_criterion == "total_r2":
            # valid_fit is 1 - the validation months' total R^2: the penalties
            # (and their noise) no longer decide which epoch is kept.
            # The user's callbacks may be bare objects, not (name, callback).
            named = (c for c in callbacks if isinstance(c, tuple))
            for name, callback in named:
                if name == "early_stopping":
                    callback.monitor = "valid_fit"
                elif name == "checkpoint":
                    callback.monitor = "valid_fit_best"
        return callbacks

    def _after_fit(self, batcher, X, y):
        self.deviation_start_scale_ = getattr(self, "_start_scale", None)
        self._start_scale = None
        module = self.net_.module_
        names = self._feature_names()
        self.gamma_ = pd.DataFrame(
            _as_float64(module.gamma.weight).T,
            index=names,
            columns=factor_names(self.n_factors),
        )
        self.gamma_alpha_ = None
        if module.gamma_alpha is not None:
            self.gamma_alpha_ = pd.Series(
                _as_float64(module.gamma_alpha.weight)[0],
                index=names,
                name="alpha",
            )
        # Realised factors of the training months from the training batcher
        # (no second validation, layout and lag table of the panel).
        out = self._outputs(batcher, batcher.layout, 0)
        self.factors_ = self._realised_factors(X, y, out=out)[0]
        # IPCA's rule: the premia are the training mean of the realised factors.
        self.factor_means_ = self.factors_.mean().to_numpy()

    # --------------------------------------------------------------- outputs
    def _panel_outputs(self, X) -> FactorOutputs:
        return self._outputs(*self._predict_batcher(X))

    def _outputs(self, batcher, layout, n_context) -> FactorOutputs:
        out = self._per_row_outputs(
            batcher, per_cell=("beta", "alpha"), per_month=("premia",)
        )
        keep = slice(n_context, None)
        if self.premia == "mean" and hasattr(self, "factor_means_"):
            out["premia"] = np.broadcast_to(self.factor_means_, out["premia"].shape)
        alpha = out.get("alpha")
        return FactorOutputs(
            layout=layout,
            loadings=out["beta"][keep],
            premia=out["premia"][keep],
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
            batcher, layout, _ = self._predict_batcher(X)
            full = batcher.layout
            # The prepended context periods come first; attribute X's only.
            months = np.arange(full.n_periods - layout.n_periods, full.n_periods)
            values = gradient_attribution(self.net_, batcher, months)
        return as_frame(values, self._feature_names(), self.n_factors)


def _start_columns(pooled, n_factors, feature_names):
    """Columns of a full-rank IPCA start (all of them, usually); None if < K.

    The rank is IPCA's own test (the correlation form of the pooled Z'Z);
    QR with column pivoting keeps a maximal independent set of columns.
    """
    from scipy.linalg import qr

    scale = np.sqrt(np.diag(pooled))
    scale = np.where(scale > 0, scale, 1.0)
    corr = pooled / np.outer(scale, scale)
    rank = np.linalg.matrix_rank(corr, hermitian=True)
    if rank == len(corr):
        return np.arange(len(corr))
    keep = np.sort(qr(corr, pivoting=True)[2][:rank])
    dropped = [str(feature_names[j]) for j in np.setdiff1d(np.arange(len(corr)), keep)]
    what = f"the characteristics are linearly dependent (Z'Z has rank {rank} < {len(corr)})"
    if rank < n_factors:
        warn_at_caller(
            f"NeurIF's IPCA start: {what}, fewer independent columns than "
            f"n_factors={n_factors}; training starts from the SVD start instead."
        )
        return None
    warn_at_caller(
        f"NeurIF's IPCA start: {what}; IPCA's Gamma is fitted without {dropped} "
        "(their rows start at 0) and training uses every column. Drop the "
        "redundant column(s) to silence this."
    )
    return keep


def _as_float64(weight):
    return weight.detach().cpu().numpy().astype(np.float64)


def _init_gamma(module, batcher, months):
    """Start Gamma at IPCA's warm start: top singular vectors of managed portfolios.

    x_t = Z_t' r_{t+1} / N_t (L characteristic-managed portfolio returns per
    month); the leading K left singular vectors of the L x T matrix
    [x_1 .. x_T] span the best linear instrumented factor space to first
    order. Costs one pass over the panel; training then refines it.
    """
    layout = batcher.layout
    in_train = np.isin(layout.time_pos, months) & batcher.valid
    _, sums, counts = managed_portfolios(
        batcher.Z,
        np.where(in_train, batcher.returns, np.nan),
        layout,
        second_moments=False,
    )
    portfolios = sums[counts > 0] / counts[counts > 0, None]  # averages
    left, _, _ = np.linalg.svd(portfolios.T, full_matrices=False)
    K = module.gamma.weight.shape[0]
    with torch.no_grad():
        module.gamma.weight.copy_(torch.as_tensor(left[:, :K].T, dtype=torch.float32))


def _init_deviation(module, scale):
    """Start g's output layer off zero: weights N(0, (scale / sqrt(d))^2).

    With a zero output layer the deviation's gradient reaches only that
    layer, and for a factor the linear start lacks it averages to zero over
    months (docs/neurif_tuning.md): a small random start breaks the tie.
    """
    layer = module.deviation[-1]
    d = layer.weight.shape[1]
    with torch.no_grad():  # torch's RNG is seeded by the fit (random_state)
        layer.weight.copy_(torch.randn(layer.weight.shape) * (scale / d**0.5))


def _init_at_ipca(module, batcher, months, feature_names):
    """Start at IPCA's solution: its Gamma, and its mean factors as premia.

    Linearly dependent characteristics (e.g. a constant column next to
    ``const``) leave IPCA's Gamma unidentified, not NeurIF's training: the
    start then drops the dependent columns from IPCA only (their rows of
    Gamma start at 0; training uses every column), with a warning, or takes
    the SVD start when fewer independent columns than factors remain.

    Measured on the design family (docs/neurif_tuning.md): from the SVD warm
    start, gradient descent had not reached IPCA's fit when early stopping
    ended training on small panels, so the linear null lost to IPCA and the
    large-penalty end did not nest it. IPCA's alternating least squares
    costs O(T L^2 K^2) per iteration, small next to one epoch. It runs on
    the managed-portfolio moments of the batcher's own float32 panel: no
    second copy of the training rows (at CRSP scale that copy, upcast to
    float64, was 2 GB).
    """
    from ..ipca import IPCARegressor  # torch-free; imported where needed

    layout = batcher.layout
    in_train = np.isin(layout.time_pos, months) & batcher.valid
    returns = np.where(in_train, batcher.returns, np.nan)
    K = module.gamma.weight.shape[0]
    W, x, n_obs = managed_portfolios(batcher.Z, returns, layout)
    keep = _start_columns(W.sum(axis=0), K, feature_names)
    if keep is None:  # fewer independent columns than factors
        _init_gamma(module, batcher, months)
        return
    ipca = IPCARegressor(n_factors=K)
    ipca.n_features_in_ = len(keep)
    ipca.feature_names_in_ = np.asarray(feature_names, dtype=object)[keep]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ipca._fit_moments(W[:, keep][:, :, keep], x[:, keep], n_obs, layout)
    for warning in caught:  # IPCA's warnings, told as the start's
        warn_at_caller(f"NeurIF's IPCA start: {warning.message}", warning.category)
    gamma = np.zeros((len(feature_names), K), dtype=np.float32)
    gamma[keep] = np.asarray(ipca.gamma_, dtype=np.float32)
    with torch.no_grad():
        module.gamma.weight.copy_(torch.as_tensor(gamma.T))
        premia = np.asarray(ipca.factors_.mean(), dtype=np.float32)
        module.premia_const.copy_(torch.as_tensor(premia))
