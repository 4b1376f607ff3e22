"""Parameter constraints shared by the estimators (``_parameter_constraints``).

scikit-learn's constraint objects, with the package's stricter reading of
numbers: a flag is never a count.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval as _SklearnInterval

__all__ = ["N_JOBS_CONSTRAINT", "Interval"]


class Interval(_SklearnInterval):
    """scikit-learn's ``Interval`` constraint, refusing booleans.

    ``bool`` is a subclass of ``int`` in Python, so scikit-learn's
    ``Interval(Integral, 1, None)`` accepts ``True`` as ``1``; a flag passed
    where a count is expected (``n_factors=True``) is a user error. Every
    estimator of the package declares its numeric parameters with this class.
    """

    def is_satisfied_by(self, val):
        if isinstance(val, bool | np.bool_):
            return False
        return super().is_satisfied_by(val)


#: Constraint of every ``n_jobs`` parameter: a non-zero integer (joblib's
#: reading, -1 for all cores) or None. ``n_jobs=True`` is refused (a flag is
#: not a count), and so is 0, which joblib rejects only once work has started.
N_JOBS_CONSTRAINT = [
    Interval(Integral, 1, None, closed="left"),
    Interval(Integral, None, -1, closed="right"),
    None,
]
