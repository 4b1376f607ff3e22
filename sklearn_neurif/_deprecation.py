"""Deprecated aliases of renamed attributes (estimators and result objects).

The one place for them: the estimators' renamed fitted attributes and the
result objects' renamed statistics (docs/conventions.md) both use
:class:`DeprecatedAlias`. This module imports nothing from the package, so
every layer can use it.
"""

from __future__ import annotations

import warnings

__all__ = ["DeprecatedAlias"]


class DeprecatedAlias:
    """Read-only old name of a renamed attribute, warning ``FutureWarning``.

    ``premia_ = DeprecatedAlias("factor_premia_")`` in a class body makes
    ``est.premia_`` return ``est.factor_premia_`` (through ``convert`` if
    given) with a warning; unfitted, it raises AttributeError like the new
    name, so ``hasattr`` and ``check_is_fitted`` are unaffected. Result
    objects keep their former attribute names the same way
    (``tvalues = DeprecatedAlias("tstat")``).

    Parameters
    ----------
    new : str
        The attribute's current name.
    convert : callable, optional
        Applied to the value before it is returned (the old type).
    """

    def __init__(self, new: str, convert=None):
        self.new = new
        self.convert = convert

    def __set_name__(self, owner, name):
        self.old = name
        self.__doc__ = f"Deprecated alias of ``{self.new}``."

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        value = getattr(obj, self.new)  # AttributeError when not fitted
        warnings.warn(
            f"{self.old} is deprecated and will be removed; use {self.new}.",
            FutureWarning,
            stacklevel=2,
        )
        return value if self.convert is None else self.convert(value)
