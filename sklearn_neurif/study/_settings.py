"""What the study fits and how: :class:`StudySettings` and its defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ._models import MODEL_SPECS

__all__ = ["DEFAULT_MODELS", "StudySettings", "study_settings"]

DEFAULT_MODELS = ("IPCA", "NeurIF", "CA2")


def _grids(quick=False) -> dict:
    return {n: s.quick_grid if quick else s.grid for n, s in MODEL_SPECS.items()}


def _params(quick=False) -> dict:
    return {
        n: dict(s.quick_params if quick else s.params) for n, s in MODEL_SPECS.items()
    }


@dataclass(frozen=True)
class StudySettings:
    """What the study fits and how (see :func:`study_settings` for defaults).

    Attributes
    ----------
    models : tuple of str
        Models compared, among ``IPCA``, ``NeurIF``, ``CA2`` (conditional
        autoencoder with two hidden layers) and ``Transformer``; IPCA is the
        benchmark of every Diebold-Mariano test and must be included.
    grids : dict
        Model -> numbers of factors tried inside each refit (several: a
        ``GridSearchCV`` on the refit's validation window; IPCA always
        goes through the search). The transformer has no factors.
    k_rule : {"total_r2", "predictive_r2"}, default="total_r2"
        How the search chooses K in each refit of a built-in model with
        several K: the highest pooled **total** R² on the validation window
        (realised factors; Kelly, Pruitt and Su's criterion), or the highest
        predictive R² there (the study's rule before issue 20). Total R² is
        the default because it was the most stable rule on the US panel and
        the long Ken French panel (the same K in every refit) and the rule
        that does not flip IPCA's US rank IC (docs/study.md, "Choosing
        IPCA's K"). Your own searches (``estimators=``) keep their scoring.
    k_sensitivity : bool, default=True
        For every built-in model with several K, refit every K of its grid
        on the whole window (2G fits per refit instead of G + 1 for a grid
        of G) and report the headline metrics at each fixed K over the same
        test months (:attr:`StudyResult.k_sensitivity`, the report's
        sensitivity line).
    params : dict
        Model -> parameters of every fit of its estimator (besides
        ``n_factors``, ``random_state``, ``device``). NeurIF's default
        caps its training at 12 epochs (patience 3) to hold the run budget;
        the report states the cap.
    neurif_seeds : int
        NeurIF seeds averaged per refit (a
        :class:`~sklearn_neurif.SeedEnsembleRegressor` when above 1).
    refit_every : int
        Test months per refit of the walk-forward.
    validation_periods : int
        Validation months at the end of each expanding training window: K
        is chosen there, and the nets stop early there.
    min_train_years : int
        The first test month is the first January with at least this many
        years of months with returns before it.
    n_portfolios : int or None
        Quantile portfolios of the sorts (None: 10, or 5 with fewer than 100
        assets a month).
    costs_bp : tuple of float
        One-way trading costs (basis points) of the net long-short returns.
    max_entities : int or None
        Random subsample of entities (seeded) to make the run cheap.
    max_periods : int or None
        Keep only the last ``max_periods`` months of the panel.
    kps_n_boot : int
        Bootstrap draws of each Kelly-Pruitt-Su test of IPCA on the last
        refit's window (:math:`W_\\alpha` and :math:`W_{\\beta,l}` for every
        characteristic; 0 skips them). 300 draws (a p-value's Monte Carlo
        standard error at most 0.03) took 38 s on the US panel (10 tests,
        K = 4; docs/study.md), a small share of the run.
    """

    models: tuple = DEFAULT_MODELS
    grids: dict = field(default_factory=_grids)
    k_rule: str = "total_r2"
    k_sensitivity: bool = True
    params: dict = field(default_factory=_params)
    neurif_seeds: int = 1
    refit_every: int = 12
    validation_periods: int = 12
    min_train_years: int = 3
    n_portfolios: int | None = None
    costs_bp: tuple = (10.0, 25.0)
    max_entities: int | None = None
    max_periods: int | None = None
    kps_n_boot: int = 300


def study_settings(quick: bool = False, **changes) -> StudySettings:
    """Default settings of the study, or of its ``--quick`` variant.

    ``quick`` changes exactly: a random subsample of 800 entities (seeded)
    when the panel has more, the last 240 months when it has more, IPCA K in
    (1, 2, 3) instead of 1..6, NeurIF window 6 and at most 3 epochs (patience
    1), CA2 K (2,) with at most 5 epochs (patience 2), the transformer at
    most 3 epochs (patience 1), a refit every 24 months instead of 12, and
    19 bootstrap draws of the IPCA tests instead of 300.
    """
    settings = StudySettings()
    if quick:
        settings = replace(
            settings,
            grids=_grids(quick=True),
            params=_params(quick=True),
            refit_every=24,
            max_entities=800,
            max_periods=240,
            kps_n_boot=19,
        )
    return replace(settings, **changes)
