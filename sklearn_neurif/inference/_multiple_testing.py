"""Multiple-testing correction of a family of p-values (Holm 1979)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["holm"]


def holm(pvalues):
    r"""Holm's step-down adjusted p-values of a family of tests.

    With the :math:`m` p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`,
    the adjusted p-value of the :math:`k`-th smallest is

    .. math::

        \tilde p_{(k)} = \min\Big(1,\ \max_{j \le k}\,(m - j + 1)\, p_{(j)}\Big),

    so that rejecting every test with :math:`\tilde p \le \alpha` controls
    the family-wise error rate at :math:`\alpha` under any dependence
    between the tests (Holm 1979). It is uniformly more powerful than
    Bonferroni's :math:`\min(1, m p)`. The same numbers as statsmodels'
    ``multipletests(pvalues, method="holm")[1]``, without the dependency.

    Parameters
    ----------
    pvalues : array-like or Series of float in [0, 1]
        The family's p-values. NaN entries (tests that could not be run)
        stay NaN and do not count in :math:`m`.

    Returns
    -------
    ndarray or Series
        Adjusted p-values in the input's order (a Series keeps its index).

    Raises
    ------
    ValueError
        If a p-value is outside [0, 1], or the input is not one-dimensional.
    TypeError
        If the p-values are not numbers (booleans included).

    Examples
    --------
    >>> from sklearn_neurif.inference import holm
    >>> holm([0.01, 0.04, 0.03, 0.2]).round(4).tolist()
    [0.04, 0.09, 0.09, 0.2]
    """
    values = np.asarray(pvalues)
    if values.dtype.kind not in "fiu":
        raise TypeError(
            f"pvalues must be numbers; got dtype {values.dtype} ({values.ravel()[:3]!r}...)."
        )
    values = values.astype(np.float64)
    if values.ndim != 1:
        raise ValueError(f"pvalues must be one-dimensional; got shape {values.shape}.")
    finite = ~np.isnan(values)
    if ((values[finite] < 0) | (values[finite] > 1)).any():
        raise ValueError(f"pvalues must be in [0, 1]; got {values[finite].tolist()}.")
    adjusted = np.full(values.shape, np.nan)
    idx = np.flatnonzero(finite)
    order = idx[np.argsort(values[idx], kind="stable")]
    m = len(order)
    steps = (m - np.arange(m)) * values[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    if isinstance(pvalues, pd.Series):
        return pd.Series(adjusted, index=pvalues.index, name=pvalues.name)
    return adjusted
