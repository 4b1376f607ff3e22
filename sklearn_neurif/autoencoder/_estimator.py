"""ConditionalAutoencoderRegressor: Gu, Kelly and Xiu (2021) as a scikit-learn estimator."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import TransformerMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ..base import FactorModelMixin, FactorOutputs
from ..nn._base import TRAINING_CONSTRAINTS, PanelNetRegressor
from ..nn._batching import PanelBatcher
from ..panel import check_panel_target
from ._module import ConditionalAutoencoderModule
from ._net import AutoencoderNet

__all__ = ["ConditionalAutoencoderRegressor", "GKX_HIDDEN_SIZES"]

#: Hidden widths of the beta network in GKX: CA1 = (32,), CA2 = (32, 16),
#: CA3 = (32, 16, 8); CA0 has none (linear loadings).
GKX_HIDDEN_SIZES = (32, 16, 8)

# Attributes of a single fit and of an ensemble fit; a new fit drops the other.
_SINGLE_ATTRS = ("net_", "_context", "checkpoint_path_")
_ENSEMBLE_ATTRS = ("estimators_", "ensemble_seeds_")


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
        monthly stock returns).
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
    n_ensemble : int, default=1
        Number of members fitted with different seeds (drawn from
        ``random_state``); outputs are averaged over members as in GKX (see
        Notes).
    weight_decay : float, default=0.0
        AdamW weight decay (GKX regularise with l1 only).
    lr : float, default=1e-3
        Learning rate (Adam).
    batch_months : int, default=8
        Months per optimisation step (the whole cross-section of each month).
    max_epochs : int, default=100
        Maximum passes over the training months.
    patience : int, default=10
        Early stopping: epochs without improvement of the validation fit.
    validation_fraction : float, default=0.2
        Share of the training periods (with returns), taken from the **end**
        of the sample, used for early stopping (the best weights are
        restored). 0 disables validation.
    device : str, default="cpu"
        torch device.
    checkpoint_dir : str or path-like, default=None
        If given, skorch ``Checkpoint`` files go to a fresh subdirectory per
        fit (per member).
    warm_start : bool, default=False
        Continue training from the fitted weights (of each member).
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batch order and dropout (torch's global RNG is
        left untouched).
    verbose : int, default=0
        1 prints skorch's per-epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net (``n_ensemble=1``); ``net_.module_`` is the module.
    estimators_ : list of ConditionalAutoencoderRegressor
        The fitted members (``n_ensemble > 1`` only), each with
        ``n_ensemble=1`` and ``random_state=ensemble_seeds_[m]``.
    ensemble_seeds_ : ndarray of int
        Seeds of the members (``n_ensemble > 1`` only).
    factors_ : DataFrame of shape (n_periods, n_factors * n_ensemble)
        Factors of the factor network on the fitted periods, labelled by the
        as-of period ``t`` (NaN for a period without returns).
    premia_ : ndarray of shape (n_factors * n_ensemble,)
        :math:`\lambda`: mean of ``factors_`` over its non-missing periods.
    history_ : DataFrame
        Per-epoch losses (``train_fit``, ``train_l1``, ``valid_fit``...);
        with an ensemble, the members' histories stacked with a ``member``
        column.
    n_iter_ : int or ndarray of int
        Epochs run (per member with an ensemble).
    best_epoch_ : int, None or list
        Epoch whose weights were kept (per member with an ensemble).
    validation_periods_ : Index
    excluded_periods_ : Index
        Training periods without any return.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    checkpoint_path_ : str or None

    Notes
    -----
    As-of timing: row ``(i, t)`` of ``X`` holds :math:`z_{i,t}`, known at the
    end of ``t``, and ``y`` holds :math:`r_{i,t+1}`. The loadings use month
    ``t``'s characteristics only; the managed portfolios :math:`x_{t+1}` and
    factors :math:`f_{t+1}` use ``t``'s characteristics and ``t+1``'s returns
    and are labelled ``t`` (like ``y``). ``predict`` uses no return after
    the training sample: :math:`\lambda` is a training mean.

    Realised factors (``factors_``, :meth:`get_factors`,
    :meth:`predict_total`) come from the model's own factor network applied
    to the managed portfolios of ``(X, y)``, not from a cross-sectional
    regression on the loadings (the package's default for IPCA and NeurIF).

    Ensembles (``n_ensemble = M > 1``): member ``m`` is a full fit with
    ``random_state=ensemble_seeds_[m]``. A member's factors are identified
    only up to rotation, so loadings are not averaged; instead the ensemble is
    reported as the factor model with the KM stacked factors whose
    prediction is the members' average: ``transform`` gives the loadings of
    every member divided by M (columns ``loading_k_member_m``) then their
    premia (``factor_k_member_m``); ``factors_`` and :meth:`get_factors`
    stack the members' factors (``factor_k_member_m``). Hence
    ``predict = mean_m beta_m' lambda_m`` (GKX's ensemble forecast) and
    ``predict_total = mean_m beta_m' f_m``.

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
        "n_ensemble": [Interval(Integral, 1, None, closed="left")],
    }
    _net_class = AutoencoderNet
    _module_class = ConditionalAutoencoderModule
    _checkpoint_prefix = "autoencoder-"

    def __init__(
        self,
        n_factors=5,
        n_hidden_layers=2,
        hidden_sizes=None,
        batch_norm=True,
        dropout=0.0,
        l1_penalty=1e-4,
        ridge=1e-4,
        add_constant=False,
        n_ensemble=1,
        weight_decay=0.0,
        lr=1e-3,
        batch_months=8,
        max_epochs=100,
        patience=10,
        validation_fraction=0.2,
        device="cpu",
        checkpoint_dir=None,
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.n_factors = n_factors
        self.n_hidden_layers = n_hidden_layers
        self.hidden_sizes = hidden_sizes
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.l1_penalty = l1_penalty
        self.ridge = ridge
        self.add_constant = add_constant
        self.n_ensemble = n_ensemble
        self.weight_decay = weight_decay
        self.lr = lr
        self.batch_months = batch_months
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

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
            Malformed panel, NaN/inf characteristics, y misaligned or without
            returns, ``n_factors`` above the number of characteristics or the
            assets with returns in a month, bad ``hidden_sizes``.
        TypeError
            Non-numeric characteristics or returns.
        """
        if self.n_ensemble == 1:
            _drop(self, _ENSEMBLE_ATTRS)
            return super().fit(X, y)
        return self._fit_ensemble(X, y)

    def _fit_ensemble(self, X, y):
        warm = (
            self.warm_start
            and hasattr(self, "estimators_")
            and len(self.estimators_) == self.n_ensemble
        )
        if warm:
            seeds = self.ensemble_seeds_
            shared = {
                k: v
                for k, v in self.get_params().items()
                if k not in ("n_ensemble", "random_state")
            }
            members = [m.set_params(**shared) for m in self.estimators_]
        else:
            rng = check_random_state(self.random_state)
            seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_ensemble)
            members = [
                clone(self).set_params(n_ensemble=1, random_state=int(s)) for s in seeds
            ]
        # Members are fitted one after the other: the first validates the
        # data (bad input raises before any training).
        for member in members:
            member.fit(X, y)
        _drop(self, _SINGLE_ATTRS)
        self.estimators_ = members
        self.ensemble_seeds_ = np.asarray(seeds)
        self._summarise_members()
        return self

    def _summarise_members(self):
        first = self.estimators_[0]
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(first, attr):
                setattr(self, attr, getattr(first, attr))
            elif hasattr(self, attr):
                delattr(self, attr)
        self.validation_periods_ = first.validation_periods_
        self.excluded_periods_ = first.excluded_periods_
        self.factors_ = self._stack_factors([m.factors_ for m in self.estimators_])
        self.premia_ = np.concatenate([m.premia_ for m in self.estimators_])
        self.history_ = pd.concat(
            [m.history_.assign(member=j) for j, m in enumerate(self.estimators_)],
            ignore_index=True,
        )
        self.n_iter_ = np.array([m.n_iter_ for m in self.estimators_])
        self.n_epochs_ = self.n_iter_
        self.best_epoch_ = [m.best_epoch_ for m in self.estimators_]

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
        n_portfolios = n_characteristics + int(self.add_constant)
        if self.n_factors > n_portfolios:
            raise ValueError(
                f"n_factors={self.n_factors} exceeds the number of characteristics: "
                f"X has {n_characteristics} feature(s) (add_constant="
                f"{self.add_constant}); the factor network maps the "
                f"{n_portfolios} managed portfolios to K factors, so n_factors "
                "<= n_characteristics + add_constant."
            )

    def _module_kwargs(self) -> dict:
        return {
            "n_factors": self.n_factors,
            "hidden_sizes": self._hidden_sizes(),
            "batch_norm": self.batch_norm,
            "dropout": self.dropout,
            "ridge": self.ridge,
            "add_constant": self.add_constant,
        }

    def _net_kwargs(self) -> dict:
        return {
            "l1_penalty": self.l1_penalty,
            # GKX train with Adam; the base's AdamW with weight_decay=0 is Adam.
        }

    def _after_fit(self, batcher, X, y):
        # Factors of the training months from the training batcher (no second
        # validation of the panel).
        out = self._row_outputs(batcher)
        self.factors_ = _factor_frame(batcher, out["factors"], self.n_factors)
        self.premia_ = np.nanmean(self.factors_.to_numpy(), axis=0)
        with torch.no_grad():
            self.net_.module_.premia.copy_(
                torch.as_tensor(self.premia_, dtype=torch.float32)
            )

    # --------------------------------------------------------------- outputs
    def transform(self, X):
        """Loadings and factor premia per row.

        Defined here (not only in the mixin) so that ``set_output`` wraps it.

        Parameters
        ----------
        X : DataFrame of shape (n_rows, n_characteristics)
            Characteristics panel (or one cross-section as an array).

        Returns
        -------
        ndarray or DataFrame of shape (n_rows, 2 * n_factors * n_ensemble)
            ``loading_1..K`` then ``factor_1..K`` (the premia
            :math:`\\lambda`, the same in every period); with an ensemble,
            every member's loadings divided by ``n_ensemble`` then every
            member's premia (see the class Notes).
        """
        return super().transform(X)

    def get_feature_names_out(self, input_features=None):
        """Names of the ``transform`` columns.

        Parameters
        ----------
        input_features : array-like of str, optional
            Checked against ``feature_names_in_``.

        Returns
        -------
        ndarray of str
            ``loading_1..K``, ``factor_1..K``; with an ensemble
            ``loading_k_member_m`` then ``factor_k_member_m`` (member-major).
        """
        if not hasattr(self, "estimators_"):
            return super().get_feature_names_out(input_features)
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        names = [
            f"{kind}_{k + 1}_member_{m + 1}"
            for kind in ("loading", "factor")
            for m in range(len(self.estimators_))
            for k in range(self.n_factors)
        ]
        return np.asarray(names, dtype=object)

    def get_factors(self, X, y) -> pd.DataFrame:
        r"""Factors of the factor network on the managed portfolios of ``(X, y)``.

        :math:`f_{t+1} = W (Z_t'Z_t + \epsilon I)^{-1} Z_t' r_{t+1}` per period,
        over the assets with a return (the model's own factor definition, the
        one it was trained with).

        Parameters
        ----------
        X : DataFrame
            Characteristics panel.
        y : Series
            Next-period returns on ``X``'s index.

        Returns
        -------
        DataFrame of shape (n_periods, n_factors * n_ensemble)
            Labelled by the as-of period ``t`` (the factors are realised over
            ``t+1``); NaN for a period without returns. With an ensemble,
            the members' factors side by side (``factor_k_member_m``).
        """
        if hasattr(self, "estimators_"):
            return self._stack_factors([m.get_factors(X, y) for m in self.estimators_])
        return self._realised(X, y)[0]

    def predict_total(self, X, y):
        r"""Fitted returns :math:`\beta_{i,t}' f_{t+1}` with the factors of :meth:`get_factors`.

        These enter the total R-squared. With an ensemble, the mean over
        members of :math:`\beta_m' f_m`.

        Parameters
        ----------
        X : DataFrame
            Characteristics panel.
        y : Series
            Next-period returns on ``X``'s index.

        Returns
        -------
        ndarray of shape (n_rows,)
            0 in periods without any return.
        """
        if hasattr(self, "estimators_"):
            return np.mean([m.predict_total(X, y) for m in self.estimators_], axis=0)
        factors, out, layout = self._realised(X, y)
        f = layout.per_period(factors.to_numpy())
        return np.nan_to_num(np.einsum("nk,nk->n", out["beta"], f), nan=0.0)

    def _panel_outputs(self, X) -> FactorOutputs:
        if hasattr(self, "estimators_"):
            parts = [m._panel_outputs(X) for m in self.estimators_]
            M = len(parts)
            return FactorOutputs(
                layout=parts[0].layout,
                loadings=np.hstack([p.loadings for p in parts]) / M,
                premia=np.hstack([p.premia for p in parts]),
            )
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

    def _stack_factors(self, frames):
        out = pd.concat(frames, axis=1)
        out.columns = [
            f"factor_{k + 1}_member_{m + 1}"
            for m in range(len(frames))
            for k in range(self.n_factors)
        ]
        return out


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
        columns=[f"factor_{k + 1}" for k in range(n_factors)],
    )


def _drop(estimator, attrs):
    for attr in attrs:
        if hasattr(estimator, attr):
            delattr(estimator, attr)
