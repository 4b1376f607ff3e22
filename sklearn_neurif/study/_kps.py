"""Kelly, Pruitt and Su's (2019) bootstrap tests of the study's IPCA.

On the last refit's training window only: each refit has its own window and
its own K, and the tests cost ``(L + 2) * n_boot`` warm-started ALS refits
per window, so the study runs them once, on the longest window, the one the
last test months were predicted from. :math:`W_\\alpha` is run on an
``intercept=True`` refit with the K chosen for that window;
:math:`W_{\\beta,l}` for every characteristic (the constant included) on the
restricted model, the last refit itself.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from ..inference import ipca_alpha_test, ipca_instrument_significance

__all__ = ["ipca_tests", "kps_random_states"]


def kps_random_states(seed) -> tuple:
    """Independent generators of W_alpha and of the W_beta table from ``seed``."""
    alpha, beta = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(alpha), np.random.default_rng(beta)


def last_window(panel, run):
    """Rows of the last refit's training window: ``(X, y, refit row)``.

    The windows expand from the panel's first month, as in the walk-forward
    (:func:`~sklearn_neurif.model_selection.walk_forward_predict`).
    """
    last = run.refits.iloc[-1]
    time = panel.time_of
    rows = np.asarray((time >= last.train_start) & (time <= last.train_end))
    return panel.features[rows], panel.y[rows], last


def ipca_tests(panel, runs, n_boot, seed, n_jobs=None) -> dict:
    """W_alpha and the W_beta table of the study's IPCA on its last window.

    Parameters
    ----------
    panel : PreparedPanel
    runs : dict
        Model name -> :class:`~sklearn_neurif.study._walk.ModelRun`.
    n_boot : int
        Bootstrap draws of each test (0: the tests are skipped).
    seed : int
        The study's seed (see :func:`kps_random_states`).
    n_jobs : int, optional
        Workers of the bootstrap draws (the results do not depend on it).

    Returns
    -------
    dict
        ``skipped`` (None, or why no test was run), ``n_boot``, ``window``
        (first and last as-of month, months, K), ``alpha`` (one-row DataFrame
        ``stat``, ``pvalue``, ``n_boot``) and ``instruments`` (one row per
        characteristic).
    """
    if "IPCA" not in runs:
        return {"skipped": "IPCA is not among the models.", "n_boot": 0}
    if not n_boot:
        return {"skipped": "kps_n_boot=0 in the settings.", "n_boot": 0}
    run = runs["IPCA"]
    X, y, last = last_window(panel, run)
    restricted = run.last_estimator
    unrestricted = clone(restricted).set_params(intercept=True).fit(X, y)
    alpha_rng, beta_rng = kps_random_states(seed)
    options = {"n_boot": int(n_boot), "progress": False, "n_jobs": n_jobs}
    alpha = ipca_alpha_test(unrestricted, X, y, random_state=alpha_rng, **options)
    table = ipca_instrument_significance(
        restricted, X, y, random_state=beta_rng, **options
    )
    return {
        "skipped": None,
        "n_boot": int(n_boot),
        "window": {
            "first": str(last.train_start),
            "last": str(last.train_end),
            "n_periods": int(len(restricted.factors_)),
            "K": int(restricted.n_factors),
            "refit": int(last.refit),
        },
        "alpha": alpha.summary(),
        "instruments": table,
    }
