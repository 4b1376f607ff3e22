"""ConditionalAutoencoderRegressor: Gu, Kelly and Xiu (2021) as a scikit-learn estimator."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._docstrings import fill_doc
from .._param_validation import Interval  # refuses booleans (n_factors=True)
from .._params import set_init_params
from ..base import FactorModelMixin, FactorOutputs, factor_names
from ..nn._base import (
    TRAINING_CONSTRAINTS,
    PanelNetRegressor,
    training_parameters_doc,
)
from ..nn._batching import PanelBatcher
from ..panel import check_panel_target
from ._module import ConditionalAutoencoderModule
from ._net import AutoencoderNet

__all__ = ["ConditionalAutoencoderRegressor", "GKX_HIDDEN_SIZES"]

#: Hidden widths of the beta network in GKX: CA1 = (32,), CA2 = (32, 16),
#: CA3 = (32, 16, 8); CA0 has none (linear loadings).
GKX_HIDDEN_SIZES = (32, 16, 8)


@training_parameters_doc
class ConditionalAutoencoderRegressor(
    FactorModelMixin, TransformerMixin, PanelNetRegressor
):
    r"""Conditional autoencoder asset pricing model (Gu, Kelly and Xiu 2021).

    Loadings are a neural network of the asset's characteristics and the
    factors a linear map of the month's characteristic-managed portfolios:

    .. math::

        \beta_{i,t} = g(z_{i,t}), \qquad
        x_{t+1} = (Z_t'Z_t + \epsilon I)^{-1} Z_t' r_{t+1}, \qquad
        f_{t+1} = W x_{t+1}, \qquad
        r_{i,t+1} = \beta_{i,t}' f_{t+1} + e_{i,t+1}.

    ``g`` (the beta network) has ``n_hidden_layers`` ReLU layers of widths
    32, 16, 8 (GKX's CA1-CA3; CA0 with none is linear, the IPCA-like
    model), each with batch normalisation before the activation. ``W``
    (K x L, the factor network) is linear. The loss per batch of months is

    .. math::

        \frac{\sum (r - \beta'f)^2}{\sum r^2} + \lambda_1 \sum |w|

    over observed returns, the l1 sum over the weights of every linear layer
    (biases and batch-norm parameters excluded). Predictions use the factor
    premia :math:`\lambda`, the mean of the factors over the fitted periods:
    :math:`\hat r_{i,t+1} = \beta_{i,t}'\lambda`. See ``docs/autoencoder.md``.
    GKX's ensemble of seeds is
    ``SeedEnsembleRegressor(ConditionalAutoencoderRegressor(...))``.

    Parameters
    ----------
    n_factors : int, default=5
        Number of latent factors K (at most the number of characteristics).
    n_hidden_layers : int, default=2
        0 to 3: CA0 (linear), CA1 (32), CA2 (32, 16), CA3 (32, 16, 8).
        Ignored when ``hidden_sizes`` is given.
    hidden_sizes : tuple of int, default=None
        Widths of the beta network's hidden layers, overriding
        ``n_hidden_layers`` (``()`` is CA0).
    batch_norm : bool, default=True
        Batch normalisation before each hidden activation, with statistics
        over the present asset-months of the batch (padding excluded); at
        predict time the running statistics are used.
    dropout : float, default=0.0
        Dropout after each hidden activation.
    l1_penalty : float, default=1e-4
        :math:`\lambda_1`, weight of the l1 norm of the weights (GKX's
        lasso). The fit term is scale free (1 - R^2 of the batch), so the
        value does not depend on the units of returns; GKX's :math:`\lambda`
        on a mean-squared-error loss corresponds to
        :math:`\lambda / \overline{r^2}` here (about :math:`50\lambda` for
        monthly stock returns). ``weight_decay`` defaults to 0 here: GKX
        regularise with the l1 penalty only.
    ridge : float, default=1e-4
        :math:`\epsilon` of the managed-portfolio solve (absolute; the diagonal
        of :math:`Z_t'Z_t` is about :math:`N_t/12` for rank-scaled
        characteristics).
    add_constant : bool, default=False
        Add a constant characteristic, as ``IPCARegressor(add_constant=True)``:
        a bias on the beta network's output layer and a column of ones in the
        managed-portfolio regression (L + 1 portfolios). Rank-scaled
        characteristics have cross-sectional mean zero, so without it no
        managed portfolio carries the market's average return and no factor
        can play the market: use it on real returns. Off by default, as in
        ``IPCARegressor``.
    realised_factors : {"network", "regression"}, default="regression"
        How the realised factors of :meth:`get_factors`, :meth:`predict_total`
        and ``factors_`` are computed (the total R²; ``predict`` and
        ``factor_premia_`` do not depend on it). ``"regression"``:
        per period, the cross-sectional OLS of returns on the model's
        loadings, the rule ``IPCARegressor`` and ``NeurIFRegressor`` use, so
        that total R² compares the loadings of the three models on the same
        footing. ``"network"`` (GKX's definition): the factor network on the
        managed portfolios, the factors the model was trained with. Training
        is the same either way. On the design family the regression factors
        gave CA2 about 0.3 points more out-of-sample total R² on average
        (``docs/autoencoder.md``, "Defaults"); ``realised_factors="network",
        lr=1e-3`` restores the former defaults (GKX's factor definition).
    {training_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the module.
    factors_ : DataFrame of shape (n_periods, n_factors)
        Realised factors of the fitted periods by the rule
        ``realised_factors`` names (by default the cross-sectional regression
        on the loadings), labelled by the as-of period ``t`` (NaN for a
        period without returns).
    factor_premia_ : Series of shape (n_factors,)
        :math:`\lambda`: mean of the factor network's factors over the
        fitted periods with returns (GKX's premia), under either
        ``realised_factors`` (so it equals ``factors_.mean()`` only with
        ``"network"``); the name ``IPCARegressor`` uses.
    history_ : DataFrame
        Per-epoch losses (``train_fit``, ``train_l1``, ``valid_fit``...).
    {training_attributes}

    Notes
    -----
    As-of timing: row ``(i, t)`` of ``X`` holds :math:`z_{i,t}`, known at the
    end of ``t``, and ``y`` holds :math:`r_{i,t+1}`. The loadings use month
    ``t``'s characteristics only; the managed portfolios :math:`x_{t+1}` and
    factors :math:`f_{t+1}` use ``t``'s characteristics and ``t+1``'s returns
    and are labelled ``t`` (like ``y``). ``predict`` uses no return after
    the training sample: :math:`\lambda` is a training mean.

    Realised factors (``factors_``, :meth:`get_factors`,
    :meth:`predict_total`) are by default the cross-sectional regression of
    returns on the loadings (the rule of IPCA and NeurIF);
    ``realised_factors="network"`` gives GKX's: the model's own factor network
    applied to the managed portfolios of ``(X, y)``.

    A plain array is one cross-section (a single period).

    References
    ----------
    Gu, S., Kelly, B., Xiu, D. (2021). Autoencoder asset pricing models.
    Journal of Econometrics 222(1), 429-450.

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> data = make_conditional_factor_panel(50, 24, 5, 2, random_state=0)
    >>> est = ConditionalAutoencoderRegressor(n_factors=2, max_epochs=2, random_state=0)
    >>> est.fit(data.X, data.y).predict(data.X).shape
    (1200,)
    >>> est.factors_.shape
    (24, 2)
    """

    _parameter_constraints: dict = {
        **TRAINING_CONSTRAINTS,
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "n_hidden_layers": [Interval(Integral, 0, 3, closed="both")],
        "hidden_sizes": [None, tuple, list],
        "batch_norm": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "l1_penalty": [Interval(Real, 0, None, closed="left")],
        "ridge": [Interval(Real, 0, None, closed="left")],
        "add_constant": ["boolean"],
        "realised_factors": [StrOptions({"network", "regression"})],
    }
    _net_class = AutoencoderNet
    _module_class = ConditionalAutoencoderModule
    _checkpoint_prefix = "autoencoder-"
    _max_factors_reason = (
        "the factor network maps the L + add_constant managed portfolios to K "
        "factors, so n_factors <= n_characteristics + add_constant"
    )

    def __init__(
        self,
        n_factors=5,
        *,
        n_hidden_layers=2,
        hidden_sizes=None,
        batch_norm=True,
        dropout=0.0,
        l1_penalty=1e-4,
        ridge=1e-4,
        add_constant=False,
        realised_factors="regression",
        weight_decay=0.0,
        lr=3e-3,
        batch_months=8,
        max_epochs=100,
        patience=10,
        validation_fraction=0.2,
        device="cpu",
        checkpoint_dir=None,
        warm_start=False,
        callbacks=None,
        random_state=None,
        verbose=0,
    ):
        set_init_params(self, locals())

    # ----------------------------------------------------------------- hooks
    def _hidden_sizes(self) -> tuple:
        if self.hidden_sizes is None:
            return GKX_HIDDEN_SIZES[: self.n_hidden_layers]
        return tuple(self.hidden_sizes)

    def _history_window(self) -> int:
        return 1  # the loadings use the current month's characteristics only

    def _check_fit_params(self, n_characteristics):
        sizes = self._hidden_sizes()
        if not all(isinstance(h, Integral) and h >= 1 for h in sizes):
            raise ValueError(
                f"hidden_sizes must be positive integers; got {self.hidden_sizes!r}."
            )

    def _max_factors(self, n_characteristics) -> int:
        return n_characteristics + int(self.add_constant)

    def _module_kwargs(self) -> dict:
        return {
            **self._params(
                "n_factors", "batch_norm", "dropout", "ridge", "add_constant"
            ),
            "hidden_sizes": self._hidden_sizes(),
        }

    def _net_kwargs(self) -> dict:
        # GKX train with Adam; the base's AdamW with weight_decay=0 is Adam.
        return self._params("l1_penalty")

    def _after_fit(self, batcher, X, y):
        # Factors of the training months from the training batcher (no second
        # validation of the panel). The rule is kept with the fit, so that a
        # later set_params does not mix two rules in one model.
        self._realised_rule = self.realised_factors
        out = self._row_outputs(batcher)
        network = _factor_frame(batcher, out["factors"], self.n_factors)
        # GKX's premia: the mean of the factors the model was trained with,
        # under either rule. The regression rule's premia lowered CA2's
        # predictive R2 on the real panel (docs/autoencoder.md, "Defaults").
        self.factor_premia_ = network.mean().rename("premium")
        self.factors_ = network
        if self._realised_rule == "regression":
            loadings = FactorOutputs(batcher.layout, out["beta"], out["premia"])
            self.factors_ = self._realised_factors(X, y, out=loadings)[0]
        with torch.no_grad():
            self.net_.module_.premia.copy_(
                torch.tensor(self.factor_premia_.to_numpy(), dtype=torch.float32)
            )

    # --------------------------------------------------------------- outputs
    @fill_doc
    def get_factors(self, X, y) -> pd.DataFrame:
        r"""Realised factors of ``(X, y)``, by the rule ``realised_factors`` names.

        ``"network"``: the factor network on the managed portfolios,
        :math:`f_{t+1} = W (Z_t'Z_t + \epsilon I)^{-1} Z_t' r_{t+1}` per period,
        over the assets with a return (the model's own factor definition, the
        one it was trained with). ``"regression"``: the cross-sectional OLS of
        the period's returns on the loadings, as for IPCA.

        {params_panel_X_y}

        Returns
        -------
        DataFrame of shape (n_periods, n_factors)
            Labelled by the as-of period ``t`` (the factors are realised over
            ``t+1``); NaN for a period without returns.
        """
        check_is_fitted(self)
        if self._realised_rule == "regression":
            return super().get_factors(X, y)
        return self._realised(X, y)[0]

    @fill_doc
    def predict_total(self, X, y):
        r"""Fitted returns :math:`\beta_{i,t}' f_{t+1}` with the factors of :meth:`get_factors`.

        These enter the total R-squared.

        {params_panel_X_y}

        Returns
        -------
        ndarray of shape (n_rows,)
            0 in periods without any return.
        """
        check_is_fitted(self)
        if self._realised_rule == "regression":
            return super().predict_total(X, y)
        factors, out, layout = self._realised(X, y)
        f = layout.per_period(factors.to_numpy())
        return np.nan_to_num(np.einsum("nk,nk->n", out["beta"], f), nan=0.0)

    def _panel_outputs(self, X) -> FactorOutputs:
        batcher, layout, _ = self._predict_batcher(X)  # window 1: no context
        out = self._row_outputs(batcher, with_factors=False)
        return FactorOutputs(layout=layout, loadings=out["beta"], premia=out["premia"])

    def _realised(self, X, y):
        batcher, layout, _ = self._predict_batcher(X)
        r = check_panel_target(y, layout.index)
        batcher = PanelBatcher(batcher.Z, layout, 1, returns=r)
        out = self._row_outputs(batcher)
        return _factor_frame(batcher, out["factors"], self.n_factors), out, layout

    def _row_outputs(self, batcher, with_factors=True):
        per_month = ("premia", "factors") if with_factors else ("premia",)
        return self._per_row_outputs(batcher, per_cell=("beta",), per_month=per_month)


def _factor_frame(batcher, row_factors, n_factors) -> pd.DataFrame:
    """Per-period factors from their per-row copies; NaN without returns."""
    layout = batcher.layout
    factors = np.full((layout.n_periods, n_factors), np.nan)
    factors[layout.time_pos] = row_factors
    has_returns = np.zeros(layout.n_periods, dtype=bool)
    has_returns[layout.time_pos[batcher.valid]] = True
    factors[~has_returns] = np.nan
    return pd.DataFrame(
        factors,
        index=pd.Index(layout.periods, name="time"),
        columns=factor_names(n_factors),
    )
