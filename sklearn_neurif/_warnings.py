"""Warnings that point at the user's line, however deep they are raised."""

from __future__ import annotations

import sys
import warnings

#: Modules whose frames are skipped: the package and the libraries it calls
#: through (scikit-learn's fit wrapper, skorch's training loop).
_INTERNAL = ("sklearn_neurif", "sklearn", "skorch", "torch", "joblib")


def warn_at_caller(message, category=UserWarning):
    """Issue a warning attributed to the first frame outside the package.

    ``stacklevel`` cannot be fixed where a warning is raised under a fit
    loop of varying depth (a NeurIF fit inside a grid search or an
    ensemble); this walks the stack instead.

    Parameters
    ----------
    message : str
        The warning's text.
    category : type of Warning, default=UserWarning
        The warning's class.
    """
    frame, level = sys._getframe(1), 2
    while frame is not None and _is_internal(frame):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _is_internal(frame) -> bool:
    name = frame.f_globals.get("__name__", "")
    return name.split(".")[0] in _INTERNAL
