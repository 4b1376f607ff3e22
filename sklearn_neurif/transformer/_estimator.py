"""TransformerRegressor: a transformer return predictor as a scikit-learn estimator."""

from __future__ import annotations

from numbers import Integral

from .._param_validation import Interval  # refuses booleans (n_factors=True)
from .._params import set_init_params
from ..nn._base import (
    ATTENTION_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    PanelNetRegressor,
    training_parameters_doc,
)
from ..panel._units import check_predictions
from ._module import TransformerModule
from ._net import TransformerNet

__all__ = ["TransformerRegressor"]


@training_parameters_doc
class TransformerRegressor(PanelNetRegressor):
    r"""Transformer over each asset's window of characteristics, predicting its next return.

    The return predictor family of the NeurIF paper's baselines: no factor
    structure, each asset-month's forecast is a function of the asset's own
    last ``window`` months of characteristics,

    .. math::

        h_{i,\tau} = W_e z_{i,\tau} + b_e, \qquad
        u_{i,t} = \mathrm{TransformerEncoder}_{\text{causal}}
            \big(h_{i,t-W+1} + p_1, \dots, h_{i,t} + p_W\big)_{W}, \qquad
        \hat r_{i,t+1} = w' u_{i,t} + b,

    trained on :math:`\sum (r - \hat r)^2 / \sum r^2` (1 - predictive
    R-squared of the batch) plus weight decay. With
    ``cross_sectional=True`` the states :math:`u_{i,t}` of the month's
    assets also attend to each other through ``n_inducing`` learned tokens
    (an induced set attention block) before the head, at a cost linear in
    the number of assets. See ``docs/transformer.md``.

    The model has no factors, so there is no ``transform``, ``factors_`` or
    ``predict_total``: it is a plain regressor (``predict`` and ``score``).

    Parameters
    ----------
    window : int, default=12
        Months of characteristics seen per asset, the current one included.
        Months before an asset's first one (or before the training sample)
        are masked, so a window longer than the training history is allowed.
    hidden_size : int, default=32
        Width d of the embedding and the encoder layers (feed-forward
        width ``2 d``).
    n_heads : int, default=2
        Attention heads; ``hidden_size`` must be divisible by it.
    n_layers : int, default=1
        Layers of the causal temporal encoder.
    dropout : float, default=0.0
        Dropout rate of the attention and feed-forward layers.
    cross_sectional : bool, default=False
        Add attention across the assets of each month through
        ``n_inducing`` learned tokens (tokens attend to the assets, assets
        attend back). Cost O(N m d) per month.
    n_inducing : int, default=8
        m, the number of inducing tokens (used with ``cross_sectional``).
    {training_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the torch module.
    history_ : DataFrame
        Per-epoch train/valid losses (``train_fit``/``valid_fit``: 1 minus the
        predictive R-squared of the epoch's batches, averaged).
    {training_attributes}

    Raises
    ------
    ValueError
        From ``fit``, before training: ``hidden_size`` not divisible by
        ``n_heads``, an out-of-range parameter, or a malformed panel.

    Notes
    -----
    As-of timing: row ``(i, t)`` of ``X`` holds characteristics known at the
    end of ``t`` and ``y`` the return over ``t+1``; ``predict`` gives a
    forecast of :math:`r_{i,t+1}` from the asset's characteristics of months
    ``t-W+1..t`` only (the causal mask and the window make later months
    irrelevant). Missing months of the window are masked out of the
    attention; the current month is always present.

    Prediction on later periods: when ``X`` starts right after the training
    sample, the last ``window - 1`` training periods are prepended as
    history, as for :class:`~sklearn_neurif.neurif.NeurIFRegressor`;
    otherwise the first months of ``X`` have shorter histories. One
    prediction is returned per input row, in input order.

    Without ``cross_sectional`` a row's prediction depends on its own asset
    only; with it, on the whole cross-section of its month.

    Examples
    --------
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> from sklearn_neurif.transformer import TransformerRegressor
    >>> data = make_conditional_factor_panel(50, 24, 5, 2, random_state=0)
    >>> est = TransformerRegressor(window=3, hidden_size=8, max_epochs=2, random_state=0)
    >>> est.fit(data.X, data.y).predict(data.X).shape
    (1200,)
    """

    _parameter_constraints: dict = {
        **TRAINING_CONSTRAINTS,
        **ATTENTION_CONSTRAINTS,
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "cross_sectional": ["boolean"],
        "n_inducing": [Interval(Integral, 1, None, closed="left")],
    }
    _net_class = TransformerNet
    _module_class = TransformerModule
    _checkpoint_prefix = "transformer-"

    def __init__(
        self,
        *,
        window=12,
        hidden_size=32,
        n_heads=2,
        n_layers=1,
        dropout=0.0,
        cross_sectional=False,
        n_inducing=8,
        weight_decay=1e-4,
        lr=1e-3,
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
    def _module_kwargs(self) -> dict:
        return {
            **self._params(
                "hidden_size",
                "n_heads",
                "n_layers",
                "dropout",
                "cross_sectional",
                "n_inducing",
            ),
            "window": self._history_window(),
        }

    # --------------------------------------------------------------- outputs
    def predict(self, X):
        """Forecast of each row's next-period return.

        Parameters
        ----------
        X : DataFrame of shape (n_rows, n_characteristics)
            Characteristics panel with an ``(entity, time)`` MultiIndex (a
            plain array is one period).

        Returns
        -------
        ndarray of shape (n_rows,)
            :math:`\\hat r_{i,t+1}` per row, in input order, from
            characteristics up to ``t`` only.

        Raises
        ------
        ValueError
            If a prediction is not finite (characteristics on another scale
            than in ``fit``), as for every return model of the package.
        """
        batcher, _, n_context = self._predict_batcher(X)
        r_hat = self._per_row_outputs(batcher, per_cell=("r_hat",))["r_hat"]
        return check_predictions(r_hat[n_context:])
