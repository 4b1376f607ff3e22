"""PEP 562 lazy attributes, so that importing a package does not import torch.

``import sklearn_neurif`` (and the statistics subpackages, IPCA, the
``neurif --help`` command) must stay torch-free: the neural estimators are
imported on first access to their name.
"""

from __future__ import annotations

import importlib


def lazy_attributes(package: str, names: dict[str, str]):
    """Return ``(__getattr__, __dir__)`` for a package with lazy attributes.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict of str to str
        Attribute name -> module (relative to ``package``) that defines it.

    Returns
    -------
    getattr_ : callable
        Module-level ``__getattr__`` importing the defining module on first use.
    dir_ : callable
        Module-level ``__dir__`` listing the lazy names too.
    """

    def __getattr__(name):
        try:
            module = names[name]
        except KeyError:
            raise AttributeError(
                f"module {package!r} has no attribute {name!r}"
            ) from None
        value = getattr(importlib.import_module(module, package), name)
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value  # later lookups skip __getattr__
        return value

    def __dir__():
        globals_ = importlib.import_module(package).__dict__
        return sorted(set(globals_) | set(names))

    return __getattr__, __dir__
