"""Estimators for ``neurif run --estimator NAME=study_estimators:FUNCTION``.

Run from this folder (the module must be importable), e.g. NeurIF at the K
IPCA chooses on the long Ken French panel (6), with the study's own NeurIF
settings otherwise (window 12, at most 12 epochs, patience 3, seed 0)::

    cd benchmarks
    python -m sklearn_neurif run --data french --data-home ../../shared/data/kenfrench \\
        --models IPCA --estimator NeurIF6=study_estimators:neurif_k6

``docs/study.md`` ("What the cap costs") records the figures.
"""

from sklearn_neurif import NeurIFRegressor


def neurif_k6():
    """The study's capped NeurIF with six factors (IPCA's K on the long panel)."""
    return NeurIFRegressor(
        n_factors=6, window=12, max_epochs=12, patience=3, random_state=0, verbose=0
    )
