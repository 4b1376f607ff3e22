"""Storing ``__init__`` arguments, the one thing scikit-learn lets it do."""

from __future__ import annotations


def set_init_params(estimator, arguments: dict) -> None:
    """Set each ``__init__`` parameter of ``estimator`` from ``arguments``.

    Estimators keep explicit signatures (``get_params`` reads them) and call
    ``set_init_params(self, locals())`` instead of one ``self.name = name``
    line per parameter. Exactly the signature's parameters are stored,
    unchanged, so scikit-learn's ``check_no_attributes_set_in_init`` and
    ``check_parameters_default_constructible`` hold.

    Parameters
    ----------
    estimator : object
        The estimator (or cross-validation splitter) being constructed.
    arguments : dict
        ``locals()`` of its ``__init__`` (``self`` is ignored).
    """
    # locals() at the top of __init__ holds exactly the parameters of that
    # __init__ (plus the implicit ``__class__`` cell when it calls super()).
    # Reading them from there, not from type(estimator).__init__, keeps a
    # subclass whose own __init__ forwards to this one (NeurIFRegressorCV)
    # correct.
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
