"""Shared outputs of conditional factor models (IPCA, NeurIF, ...).

A factor model computes, for each ``(entity, time)`` row, the loadings
:math:`\\beta_{i,t}` and the conditional factor premia :math:`\\lambda_{t+1}`
known at ``t`` (plus an optional alpha). Everything users call on top of
those (``predict``, ``transform``, ``get_factors``, ``predict_total``,
``score``) is defined once here, so every model answers the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import TransformerMixin, clone
from sklearn.utils._tags import get_tags
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._docstrings import fill_doc
from .metrics import r2_predictive
from .panel import PanelLayout, check_panel_target, is_panel, panel_index
from .panel._units import check_predictions

__all__ = [
    "ChosenModelMixin",
    "FactorModelMixin",
    "FactorOutputs",
    "PredictiveScoreMixin",
    "check_n_factors",
    "factor_names",
]


def factor_names(n_factors: int, prefix: str = "factor") -> list[str]:
    """Column names ``<prefix>_1`` to ``<prefix>_K`` of a factor model's outputs.

    Parameters
    ----------
    n_factors : int
        Number of factors K.
    prefix : str, default="factor"
        ``"factor"`` for factors, premia and Gamma columns, ``"loading"`` for
        loadings.

    Returns
    -------
    list of str
    """
    return [f"{prefix}_{k + 1}" for k in range(int(n_factors))]


def check_n_factors(
    n_factors,
    n_features,
    counts=None,
    periods=None,
    *,
    limit=None,
    intercept=False,
    reason=None,
):
    """Raise ValueError if the factors are not identified by the data's size.

    The one size check of every factor model (IPCA, NeurIF, CA), before
    training: the K factors (plus an intercept factor) need at least as
    many characteristic directions, and every period's factors need at
    least K assets with returns.

    Parameters
    ----------
    n_factors : int
        Number of factors K.
    n_features : int
        Number of characteristics (columns of ``X``).
    counts : array-like of int, default=None
        Assets with returns per period checked (not checked if None).
    periods : array-like, default=None
        Labels of those periods (for the message).
    limit : int, default=None
        Largest K the model admits (e.g. ``L + add_constant``);
        ``n_features`` if None.
    intercept : bool, default=False
        Whether an intercept factor needs a characteristic direction too.
    reason : str, default=None
        Why ``limit`` bounds K; ends the first message.

    Raises
    ------
    ValueError
        Naming ``n_factors`` and the feature count, or the period with the
        fewest assets with returns when some have fewer than ``n_factors``.
    """
    limit = n_features if limit is None else limit
    k_eff = n_factors + int(intercept)
    if k_eff > limit:
        extra = " plus the intercept" if intercept else ""
        raise ValueError(
            f"n_factors={n_factors}{extra} exceeds the number of characteristics: "
            f"X has {n_features} feature(s); "
            + (reason or f"{k_eff} are needed, reduce n_factors or add some")
            + "."
        )
    if counts is None:
        return
    counts = np.asarray(counts)
    few = np.flatnonzero(counts < n_factors)
    if len(few):
        t = few[np.argmin(counts[few])]  # the worst period
        raise ValueError(
            f"{len(few)} period(s) have fewer assets with returns than "
            f"n_factors={n_factors}: n_factors={n_factors} exceeds the "
            f"{int(counts[t])} asset(s) with returns in period {periods[t]}. "
            "A period's factors need at least n_factors assets with returns: "
            "drop those periods or reduce n_factors."
        )


@dataclass(frozen=True)
class FactorOutputs:
    """Per-row outputs of a factor model for one panel.

    Attributes
    ----------
    layout : PanelLayout
        Row map of the panel.
    loadings : ndarray of shape (n_rows, n_factors)
        :math:`\\beta_{i,t}`.
    premia : ndarray of shape (n_rows, n_factors)
        Conditional factor premia :math:`\\lambda_{t+1}` known at ``t``
        (equal for all rows of a period).
    alpha : ndarray of shape (n_rows,) or None
        Intercept :math:`\\alpha_{i,t}`, or None for a restricted model.
    """

    layout: PanelLayout
    loadings: np.ndarray
    premia: np.ndarray
    alpha: np.ndarray | None = None


class PredictiveScoreMixin:
    """``score`` as the uncentred predictive R-squared, for return models."""

    def score(self, X, y, sample_weight=None) -> float:
        """Predictive R-squared (uncentred) of :meth:`predict` on ``X``.

        This replaces scikit-learn's centred R-squared: for returns the
        benchmark is a zero forecast (Gu, Kelly and Xiu 2020). Missing
        returns are left out.

        Parameters
        ----------
        X : DataFrame
            Characteristics panel.
        y : Series
            Next-period returns on ``X``'s ``(entity, time)`` rows, in any
            order (matched by index).
        sample_weight : array-like of shape (n_rows,), optional
            Row weights, in ``X``'s row order; finite and non-negative.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If ``y`` does not have ``X``'s rows, or the predictions are not
            finite.
        """
        # y is matched to X's rows by index (check_panel_target), so a
        # reordered y scores the same and a y with other rows is refused.
        y = check_panel_target(y, panel_index(X), check_units=False)
        return r2_predictive(y, self.predict(X), sample_weight=sample_weight)


class FactorModelMixin(TransformerMixin, PredictiveScoreMixin):
    """Mixin giving factor models the package's common interface.

    Subclasses implement ``_panel_outputs(X) -> FactorOutputs`` (validating
    ``X`` and checking that the model is fitted) and set ``n_factors``.
    Optionally ``_factor_ridge`` (a float >= 0) stabilises the
    cross-sectional regression of :meth:`get_factors`.

    The mixin is a ``TransformerMixin``, so scikit-learn's ``set_output``
    wraps the ``transform`` defined here (it wraps each method defined in a
    class body): subclasses must not redefine ``transform``, or its output
    is wrapped twice.

    Output rule: a panel in (a DataFrame with an ``(entity, time)``
    MultiIndex) gives a DataFrame out on the same index, even under the
    default ``set_output`` configuration, so that a Pipeline keeps the period
    of every row; a plain array in gives an array out.
    """

    _factor_ridge = 0.0

    def _panel_outputs(self, X) -> FactorOutputs:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, X):
        r"""Expected returns :math:`\hat r_{i,t+1} = \alpha_{i,t} + \beta_{i,t}'\lambda_{t+1}`.

        Parameters
        ----------
        X : DataFrame of shape (n_rows, n_characteristics)
            Characteristics panel (``(entity, time)`` MultiIndex) or one
            cross-section as an array.

        Returns
        -------
        ndarray of shape (n_rows,)
            One prediction per input row, in input order (no row dropped).

        Raises
        ------
        ValueError
            If a prediction is not finite, or (IPCA, a linear model) exceeds
            10 times the root mean square of the training returns.
            Conditional means vary less than the returns themselves
            (:math:`\operatorname{Var} E[r|z] \le \operatorname{Var} r`), so
            such values mean characteristics on another scale than in
            ``fit`` (or a degenerate fit), not an expected return.
        """
        out = self._panel_outputs(X)
        pred = np.einsum("nk,nk->n", out.loadings, out.premia)
        if out.alpha is not None:
            pred = pred + out.alpha
        return check_predictions(pred, getattr(self, "_return_rms_", np.inf))

    @fill_doc
    def transform(self, X):
        """Loadings and conditional factor premia per row.

        {params_panel_X}

        Returns
        -------
        ndarray or DataFrame of shape (n_rows, 2 * n_factors)
            Columns ``loading_1..K`` then ``factor_1..K`` (the premia of the
            row's period, known at ``t``). A DataFrame on ``X``'s MultiIndex
            when ``X`` is a panel.
        """
        out = self._panel_outputs(X)
        values = np.hstack([out.loadings, out.premia])
        if is_panel(X):
            return pd.DataFrame(
                values, index=X.index, columns=self.get_feature_names_out()
            )
        return values

    def get_feature_names_out(self, input_features=None):
        """Names of the ``transform`` columns.

        Parameters
        ----------
        input_features : array-like of str, optional
            Checked against ``feature_names_in_`` (scikit-learn's rule); the
            output names do not depend on it.

        Returns
        -------
        ndarray of str
            ``loading_1..K`` followed by ``factor_1..K``.
        """
        check_is_fitted(self)
        k = int(self.n_factors)
        _check_feature_names_in(self, input_features)
        names = factor_names(k, "loading") + factor_names(k)
        return np.asarray(names, dtype=object)

    @fill_doc
    def get_factors(self, X, y) -> pd.DataFrame:
        r"""Realised factors of any periods with returns.

        Per period, a cross-sectional regression of returns (less alpha) on
        the model's loadings:
        :math:`\hat f_{t+1} = (B_t'B_t + \epsilon I)^{-1} B_t'(r_{t+1} - \alpha_t)`,
        with :math:`\epsilon` the model's ridge (0 for IPCA). Assets with a
        missing return are left out of their period's regression.

        {params_panel_X_y}

        Returns
        -------
        DataFrame of shape (n_periods, n_factors)
            Labelled by the as-of period ``t``; the factors are realised over
            ``t+1``. A period with no returns gets NaN.
        """
        return self._realised_factors(X, y)[0]

    def predict_total(self, X, y):
        r"""Fitted returns :math:`\alpha_{i,t} + \beta_{i,t}'\hat f_{t+1}` with realised factors.

        These enter the total R-squared. Parameters are as for
        :meth:`get_factors`.

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        factors, out = self._realised_factors(X, y)
        fitted = np.einsum(
            "nk,nk->n", out.loadings, out.layout.per_period(factors.to_numpy())
        )
        if out.alpha is not None:
            fitted = fitted + out.alpha
        return np.nan_to_num(fitted, nan=0.0)

    def _realised_factors(self, X, y, out=None):
        # ``out``: the panel outputs of X when already computed (during fit,
        # where y was checked already: no second percent warning).
        check_units = out is None
        if out is None:
            out = self._panel_outputs(X)
        layout = out.layout
        r = check_panel_target(y, layout.index, check_units=check_units)
        if out.alpha is not None:
            r = r - out.alpha
        B = layout.to_dense(out.loadings, fill_value=0.0)  # (T, N, K)
        R = layout.to_dense(r, fill_value=np.nan)  # (T, N)
        valid = ~np.isnan(R)
        B = B * valid[..., None]
        R = np.where(valid, R, 0.0)
        k = B.shape[-1]
        BtB = np.einsum("tnk,tnl->tkl", B, B) + self._factor_ridge * np.eye(k)
        Btr = np.einsum("tnk,tn->tk", B, R)
        # pinv handles periods with fewer assets than factors (minimum-norm solution).
        factors = np.einsum("tkl,tl->tk", np.linalg.pinv(BtB, hermitian=True), Btr)
        factors[~valid.any(axis=1)] = np.nan
        frame = pd.DataFrame(
            factors,
            index=pd.Index(layout.periods, name="time"),
            columns=factor_names(k),
        )
        return frame, out


class ChosenModelMixin:
    """Delegation of a ``*CV`` factor model to the model it chose.

    A cross-validated factor model (:class:`~sklearn_neurif.ipca.IPCARegressorCV`,
    :class:`~sklearn_neurif.neurif.NeurIFRegressorCV`) answers as its
    ``best_estimator_`` does, in the idiom of scikit-learn's ``*CV``
    estimators; its input, target and regressor tags are those of
    ``estimator`` (of a default ``_estimator_class()`` when ``estimator`` is
    None or of another class). Put it before :class:`FactorModelMixin` in the
    bases.
    """

    #: The model class the CV estimator tunes (set by each subclass).
    _estimator_class: type

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator
        if not isinstance(inner, self._estimator_class):
            inner = self._estimator_class()
        inner = get_tags(inner)
        tags.input_tags = inner.input_tags
        tags.target_tags = inner.target_tags
        tags.regressor_tags = inner.regressor_tags
        tags.non_deterministic = inner.non_deterministic
        return tags

    def _clone_estimator(self, role):
        """A clone of ``estimator``, a default ``_estimator_class()`` if None.

        ``role`` completes the TypeError raised for any other estimator:
        "estimator must be <role>; got <what>.".
        """
        if self.estimator is None:
            return self._estimator_class()
        if isinstance(self.estimator, self._estimator_class):
            return clone(self.estimator)
        what = type(self.estimator).__name__
        if isinstance(self.estimator, type):
            what = f"the class {self.estimator.__name__} (pass an instance)"
        raise TypeError(f"estimator must be {role}; got {what}.")

    @staticmethod
    def _target_on_rows(X, y):
        """``y`` paired with ``X``'s rows by index (a Series on a panel)."""
        r = check_panel_target(y, panel_index(X), check_units=False)
        if is_panel(X):
            return pd.Series(r, index=X.index, name=getattr(y, "name", None))
        return r

    def _adopt_fitted(self, names):
        """Copy the fitted attributes ``names`` of ``best_estimator_``.

        One the chosen model lacks (``feature_names_in_`` without named
        columns) is removed, so that no earlier fit's value is left behind.
        """
        for name in names:
            if hasattr(self.best_estimator_, name):
                setattr(self, name, getattr(self.best_estimator_, name))
            elif hasattr(self, name):
                delattr(self, name)

    def _panel_outputs(self, X):
        check_is_fitted(self)
        return self.best_estimator_._panel_outputs(X)

    def predict(self, X):
        """Expected returns of the chosen model, ``best_estimator_.predict(X)``.

        Parameters and returns are as for :meth:`FactorModelMixin.predict`.
        """
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    def get_feature_names_out(self, input_features=None):
        """Names of the ``transform`` columns, ``best_estimator_``'s.

        ``input_features`` (array-like of str, optional) is checked against
        ``feature_names_in_``; an ndarray of str is returned.
        """
        check_is_fitted(self)
        return self.best_estimator_.get_feature_names_out(input_features)
