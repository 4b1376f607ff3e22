"""Deprecated aliases of renamed result attributes (see docs/conventions.md)."""

from __future__ import annotations

import warnings


def renamed_attribute(new: str, old: str, removed_in: str = "0.3"):
    """A read-only property ``old`` that warns and returns ``self.<new>``.

    Parameters
    ----------
    new : str
        The attribute's current name.
    old : str
        The former, documented name kept as an alias.
    removed_in : str, default="0.3"
        Version in which the alias goes away.

    Returns
    -------
    property
    """

    def getter(self):
        warnings.warn(
            f"{type(self).__name__}.{old} is deprecated and will be removed in "
            f"{removed_in}; use {type(self).__name__}.{new}.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(self, new)

    getter.__doc__ = f"Deprecated alias of ``{new}`` (removed in {removed_in})."
    return property(getter)
