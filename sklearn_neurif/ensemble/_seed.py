"""SeedEnsembleRegressor: the average of one model fitted with several seeds."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods
from sklearn.utils._tags import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from .._docstrings import fill_doc
from .._param_validation import N_JOBS_CONSTRAINT, Interval  # refuses booleans
from .._warnings import warn_at_caller
from ..base import PredictiveScoreMixin
from ..metrics._scorers import resolve_final_step
from ..panel import is_panel

__all__ = ["SeedEnsembleRegressor"]


def _members_have(method):
    """``available_if`` condition: the wrapped estimator has ``method``."""

    def check(self):
        getattr(_final_step(self._member()), method)  # AttributeError hides it
        return True

    return check


class SeedEnsembleRegressor(PredictiveScoreMixin, RegressorMixin, BaseEstimator):
    r"""Average of a return model fitted with ``n_estimators`` different seeds.

    Each member is a clone of ``estimator`` whose random state (every
    parameter named ``random_state`` or ending in ``__random_state``, e.g.
    the model step of a Pipeline) is set to a seed drawn from
    ``random_state``; the members are fitted on the same data and
    :meth:`predict` is the mean of their predictions,
    :math:`\hat r = \frac1M \sum_m \hat r^{(m)}`, as Gu, Kelly and Xiu (2020,
    2021) average their neural networks over seeds.

    Parameters
    ----------
    estimator : estimator object, default=None
        A return model with ``fit`` and ``predict`` and a ``random_state``
        parameter (directly or in a step of a Pipeline). None means
        ``NeurIFRegressor()``, the package's model.
    n_estimators : int, default=5
        Number of members M.
    random_state : int, RandomState instance or None, default=None
        Draws the members' seeds (``seeds_``).
    n_jobs : int, default=None
        Members fitted in parallel by joblib (None: one after the other, so
        bad input raises before the first member trains; -1: all cores).

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members.
    seeds_ : ndarray of int of shape (n_estimators,)
        The seed of each member.
    factors_ : DataFrame
        With factor-model members only: the members' training factors side
        by side, columns a MultiIndex ``(member, factor)`` with members
        numbered from 1.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        As the members'.

    Notes
    -----
    Only predictions are averaged. A factor model's factors are identified
    up to a rotation (and the order and sign of the factors), which differs
    from seed to seed, so averaging the members' loadings or factors would
    mix unrelated columns. The factor outputs are therefore given per
    member: :meth:`transform` concatenates the members' columns with the
    prefix ``member_m__`` (``member_1__loading_1`` ...), ``factors_`` and
    :meth:`get_factors` have ``(member, factor)`` columns, and
    :meth:`predict_total` is the mean of the members' fitted returns. For a
    factor model ``predict`` equals the mean over members of the sum of
    their ``loading_k * factor_k`` columns of :meth:`transform` (plus their
    alphas).

    A first member whose ``fit`` is interrupted re-raises
    ``KeyboardInterrupt``; the ensemble is then left as it was before
    ``fit`` (its attributes change only when every member is fitted).

    Examples
    --------
    >>> from sklearn_neurif import ConditionalAutoencoderRegressor
    >>> from sklearn_neurif.datasets import make_conditional_factor_panel
    >>> data = make_conditional_factor_panel(50, 24, 5, 2, random_state=0)
    >>> ca = ConditionalAutoencoderRegressor(n_factors=2, max_epochs=2)
    >>> ens = SeedEnsembleRegressor(ca, n_estimators=3, random_state=0)
    >>> ens.fit(data.X, data.y).predict(data.X).shape
    (1200,)
    >>> ens.factors_.columns[:3].tolist()
    [(1, 'factor_1'), (1, 'factor_2'), (2, 'factor_1')]
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": N_JOBS_CONSTRAINT,
    }

    def __init__(
        self, estimator=None, *, n_estimators=5, random_state=None, n_jobs=None
    ):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _member(self):
        """The estimator whose seeded clones are the members."""
        if self.estimator is None:
            from ..neurif import NeurIFRegressor  # torch; imported when used

            return NeurIFRegressor()
        return self.estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self._member())
        tags.input_tags = inner.input_tags
        tags.target_tags = inner.target_tags
        tags.transformer_tags = inner.transformer_tags  # None without transform
        tags.regressor_tags.poor_score = inner.regressor_tags is not None and (
            inner.regressor_tags.poor_score
        )
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit ``n_estimators`` seeded clones of ``estimator`` on ``(X, y)``.

        Parameters
        ----------
        X, y
            Passed to each member's ``fit`` as they are: whatever
            ``estimator`` accepts (for the package's models, the
            characteristics panel and next-period returns on its index).

        Returns
        -------
        self : SeedEnsembleRegressor
            With ``estimators_`` (the fitted members) and ``seeds_``.

        Raises
        ------
        ValueError
            ``estimator`` has no ``random_state`` parameter (its clones would
            all be the same model), or any error of the members' ``fit``.
        """
        member = self._member()
        names = _seed_parameters(member)
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_estimators)
        members = [
            clone(member).set_params(**{n: int(s) for n in names}) for s in seeds
        ]
        members = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_member)(m, X, y) for m in members
        )
        self.estimators_ = members
        self.seeds_ = seeds
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(members[0], attr):
                setattr(self, attr, getattr(members[0], attr))
            elif hasattr(self, attr):
                delattr(self, attr)
        _warn_if_identical(members, X)
        finals = [_final_step(m) for m in members]
        if hasattr(finals[0], "factors_"):
            self.factors_ = _by_member([m.factors_ for m in finals])
        elif hasattr(self, "factors_"):
            del self.factors_
        return self

    @fill_doc
    def predict(self, X):
        """Mean of the members' predictions.

        {params_panel_X}

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        check_is_fitted(self)
        return np.mean([m.predict(X) for m in self.estimators_], axis=0)

    @available_if(_members_have("predict_total"))
    @fill_doc
    def predict_total(self, X, y):
        """Mean of the members' fitted returns with realised factors.

        {params_panel_X_y}

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        check_is_fitted(self)
        return np.mean(
            [final.predict_total(Xt, y) for final, Xt in self._finals(X)], axis=0
        )

    @available_if(_members_have("get_factors"))
    @fill_doc
    def get_factors(self, X, y) -> pd.DataFrame:
        """Each member's realised factors, side by side (never averaged).

        {params_panel_X_y}

        Returns
        -------
        DataFrame of shape (n_periods, n_estimators * n_factors)
            Columns a MultiIndex ``(member, factor)``, members from 1.
        """
        check_is_fitted(self)
        return _by_member([final.get_factors(Xt, y) for final, Xt in self._finals(X)])

    def _finals(self, X):
        """Each member's final step with ``X`` through its earlier steps."""
        return [resolve_final_step(m, X) for m in self.estimators_]

    @available_if(_members_have("transform"))
    @fill_doc
    def transform(self, X):
        """The members' ``transform`` columns side by side (never averaged).

        {params_panel_X}

        Returns
        -------
        ndarray or DataFrame of shape (n_rows, n_estimators * n_outputs)
            Member 1's columns, then member 2's..., named
            ``member_m__<name>``; a DataFrame on ``X``'s index when ``X`` is
            a panel.
        """
        check_is_fitted(self)
        parts = [np.asarray(m.transform(X)) for m in self.estimators_]
        values = np.hstack(parts)
        if is_panel(X):
            return pd.DataFrame(
                values, index=X.index, columns=self.get_feature_names_out()
            )
        return values

    @available_if(_members_have("transform"))
    @fill_doc
    def fit_transform(self, X, y):
        """Fit the members, then :meth:`transform` ``X``.

        {params_panel_X}
        y : Series of shape (n_rows,)
            Next-period returns.

        Returns
        -------
        ndarray or DataFrame of shape (n_rows, n_estimators * n_outputs)
        """
        return self.fit(X, y).transform(X)

    @available_if(_members_have("transform"))
    def get_feature_names_out(self, input_features=None):
        """Names of the :meth:`transform` columns.

        Parameters
        ----------
        input_features : array-like of str, optional
            Checked against ``feature_names_in_``.

        Returns
        -------
        ndarray of str
            ``member_m__<member column>``, member-major.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        names = [
            f"member_{j + 1}__{name}"
            for j, m in enumerate(self.estimators_)
            for name in m.get_feature_names_out()
        ]
        return np.asarray(names, dtype=object)


def _seed_parameters(estimator) -> list[str]:
    """Names of ``estimator``'s random-state parameters (nested ones included)."""
    names = [
        name
        for name in estimator.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    ]
    if not names:
        raise ValueError(
            f"{type(estimator).__name__} has no random_state parameter: its "
            "clones would all be the same model, so a seed ensemble of it "
            "averages nothing."
        )
    return names


def _final_step(estimator):
    """The model at the end of a Pipeline (the estimator itself otherwise)."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator


def _warn_if_identical(members, X) -> None:
    """Warn when the seeds changed nothing: the first two members predict alike.

    A ``random_state`` parameter need not make a fit random (Ridge's is used
    only by its stochastic solvers): the clones are then one model, and the
    ensemble averages nothing.
    """
    if len(members) < 2:
        return
    first, second = (np.asarray(m.predict(X)) for m in members[:2])
    if np.array_equal(first, second, equal_nan=True):
        warn_at_caller(
            f"The members of the SeedEnsembleRegressor of "
            f"{type(_final_step(members[0])).__name__} are identical: their "
            "random_state does not change the fit (e.g. a deterministic solver), so "
            "the members are one model and the ensemble averages nothing. Use a "
            "model whose fit depends on its seed, or the model alone.",
            UserWarning,
        )


def _fit_member(member, X, y):
    return member.fit(X, y)


def _by_member(frames) -> pd.DataFrame:
    """Frames of equal columns side by side under a (member, column) MultiIndex."""
    return pd.concat(
        frames, axis=1, keys=range(1, len(frames) + 1), names=["member", "factor"]
    )
