"""The panel as every model of the study sees it: :class:`PreparedPanel`.

:func:`prepare_panel` subsamples the loaded data (``--quick``), masks the
returns of warm-up months, rank-scales the characteristics (plus a constant
instrument), and computes the walk-forward schedule once: every model, table
and test below reads the same frozen object.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..model_selection import WalkForwardSplit
from ..panel import as_of_to_return_period
from ..preprocessing import CrossSectionalRankScaler

__all__ = ["PreparedPanel", "prepare_panel"]


@dataclass(frozen=True, eq=False)
class PreparedPanel:
    """The study's panel, prepared once.

    Attributes
    ----------
    source : StudyData
        The loaded data (name, notes, factor sets, default split).
    X : DataFrame
        Raw characteristics after the subsample (sorts on characteristics).
    features : DataFrame
        What the models fit: ``X`` rank-scaled per month into [-0.5, 0.5],
        missing cells at the median (0), plus the constant ``const``.
    y : Series
        Returns over ``t+1`` on ``X``'s rows, warm-up months masked.
    sizes : Series or None
        Market capitalisation at ``t`` (value weights).
    scaler : CrossSectionalRankScaler
        The fitted scaler (imputation counts for the report).
    warmup : tuple of str
        Months whose returns are masked (a characteristic missing for all).
    schedule : dict
        ``test_start``, ``refit_every``, ``validation_periods`` of
        :func:`~sklearn_neurif.model_selection.walk_forward_predict`.
    refit_periods : DataFrame
        The schedule's :meth:`~sklearn_neurif.model_selection.WalkForwardSplit.split_periods`.
    n_portfolios : int
        Quantile portfolios of the sorts.
    n_assets : float
        Median assets per month.
    """

    source: object
    X: pd.DataFrame
    features: pd.DataFrame
    y: pd.Series
    sizes: pd.Series | None
    scaler: CrossSectionalRankScaler
    warmup: tuple
    schedule: dict
    refit_periods: pd.DataFrame
    n_portfolios: int
    n_assets: float

    @property
    def time_of(self) -> pd.Index:
        """The as-of month of each row."""
        return self.X.index.get_level_values(-1)

    @cached_property
    def test_periods(self) -> pd.PeriodIndex:
        """Every as-of month from the first test month to the last."""
        first = self.refit_periods.test_start.iloc[0]
        last = self.refit_periods.test_end.iloc[-1]
        return pd.period_range(first, last, freq=first.freq)

    @cached_property
    def test_rows(self) -> np.ndarray:
        """Boolean mask of the rows of the test months."""
        return np.asarray(self.time_of.isin(self.test_periods))

    @cached_property
    def test_months_earned(self) -> pd.PeriodIndex:
        """The months the test returns are earned (as-of + 1)."""
        return as_of_to_return_period(pd.Series(0, index=self.test_periods)).index

    @cached_property
    def n_train_rows(self) -> list:
        """Rows up to each refit's training end (the progress bar's weights)."""
        return [int((self.time_of <= e).sum()) for e in self.refit_periods.train_end]

    @cached_property
    def n_train_months(self) -> list:
        """Months up to each refit's training end (the progress bar's weights)."""
        months = self.time_of.unique()
        return [int((months <= e).sum()) for e in self.refit_periods.train_end]

    @property
    def refit_windows(self) -> list:
        """``(n_train_rows, n_train_months)`` of each refit: what a refit costs."""
        return list(zip(self.n_train_rows, self.n_train_months, strict=True))

    @property
    def test_weights(self) -> pd.Series | None:
        """Value weights of the test rows (None: equal weights only)."""
        return None if self.sizes is None else self.sizes[self.test_rows]


def prepare_panel(src, settings, *, seed, train_end=None, valid_end=None):
    """Subsample, mask warm-up months, scale, and schedule the walk-forward.

    Returns
    -------
    PreparedPanel
    """
    X, y, sizes = _subsample(src, settings.max_entities, settings.max_periods, seed)
    y, warmup = _mask_warmup(X, y)
    schedule = _schedule(X, y, src, settings, train_end, valid_end)
    scaler = CrossSectionalRankScaler()
    # KPS include a constant among the instruments: rank-scaled
    # characteristics are centred each month, so without it no loading can
    # carry the common (market-like) exposure every asset shares.
    features = scaler.fit_transform(X).assign(const=1.0)
    n_assets = float(X.groupby(level=-1).size().median())
    return PreparedPanel(
        source=src,
        X=X,
        features=features,
        y=y,
        sizes=sizes,
        scaler=scaler,
        warmup=tuple(warmup),
        schedule=schedule,
        refit_periods=WalkForwardSplit(**schedule).split_periods(features),
        n_portfolios=settings.n_portfolios or (10 if n_assets >= 100 else 5),
        n_assets=n_assets,
    )


def _mask_warmup(X, y):
    """Mask the returns of months where a characteristic is missing for all.

    Such a month (e.g. the US panel's first 11, before a year of return
    history gives momentum, volatility and beta) has an all-zero column after
    the median imputation, so its managed portfolios are rank deficient and
    IPCA's alternating least squares can diverge (seen: K=4 did not converge
    in 10,000 iterations, a factor mean of 39, here and with the ipca
    package). Their returns are left out of estimation and evaluation;
    their characteristics stay in the panel (NeurIF history).
    """
    time_of = X.index.get_level_values(-1)
    empty = X.notna().groupby(time_of).sum().eq(0).any(axis=1)
    months = empty.index[empty.to_numpy()]
    if len(months) == 0:
        return y, []
    return y.where(~np.asarray(time_of.isin(months))), [str(m) for m in months]


def _subsample(src, max_entities, max_periods, seed):
    X, y, sizes = src.X, src.y, src.sizes
    time_of = X.index.get_level_values(-1)
    periods = time_of.unique().sort_values()
    if max_periods is not None and len(periods) > max_periods:
        keep = np.asarray(time_of.isin(periods[-max_periods:]))
        X, y, sizes = X[keep], y[keep], None if sizes is None else sizes[keep]
    entities = X.index.get_level_values(0)
    unique = entities.unique()
    if max_entities is None or len(unique) <= max_entities:
        return X, y, sizes
    keep = np.random.default_rng(seed).choice(len(unique), max_entities, replace=False)
    mask = np.asarray(entities.isin(unique[np.sort(keep)]))
    return X[mask], y[mask], None if sizes is None else sizes[mask]


def _split(X, y, default_split, train_end, valid_end) -> dict:
    time_of = X.index.get_level_values(-1)
    periods = time_of[np.asarray(y.notna())].unique().sort_values()
    all_periods = time_of.unique().sort_values()
    ends = (train_end, valid_end)
    if (train_end is None) != (valid_end is None):  # as the CLI: never ignored
        raise ValueError(
            f"train_end={train_end!r} and valid_end={valid_end!r}: give both ends "
            "of the split, or neither for the default split."
        )
    if ends == (None, None) and default_split is not None:
        ends = default_split
    if None in ends:
        n = len(periods)
        ends = (periods[int(0.6 * n) - 1], periods[int(0.8 * n) - 1])
    t_end, v_end = (pd.Period(e, freq="M") if isinstance(e, str) else e for e in ends)
    if v_end <= t_end:
        raise ValueError(f"valid_end {v_end} must come after train_end {t_end}.")
    parts = {
        "train": all_periods[all_periods <= t_end],
        "valid": all_periods[(all_periods > t_end) & (all_periods <= v_end)],
        "test": all_periods[all_periods > v_end],
    }
    for name, p in parts.items():
        if len(p.intersection(periods)) == 0:
            raise ValueError(
                f"The {name} sample (ends {t_end}, {v_end}) has no month with returns; "
                f"the panel's months with returns run {periods[0]} to {periods[-1]}."
            )
    return {"periods": parts}


def _schedule(X, y, src, settings, train_end, valid_end) -> dict:
    """Walk-forward schedule: first test month, refits, validation window."""
    time_of = X.index.get_level_values(-1)
    with_return = time_of[np.asarray(y.notna())].unique().sort_values()
    if train_end is not None or valid_end is not None:
        # Both ends given (the CLI checks): the first window's split.
        parts = _split(X, y, src.default_split, train_end, valid_end)["periods"]
        test_start, n_val = parts["test"][0], len(parts["valid"])
    else:
        # A source may ask for more history (ten years for the 60-year
        # Ken French panel); the settings' minimum holds otherwise.
        years = max(settings.min_train_years, src.get("min_train_years") or 0)
        need = 12 * years
        if len(with_return) <= need + 1:
            raise ValueError(
                f"The panel has {len(with_return)} months with returns; the "
                f"walk-forward needs more than {need + 1} ({years} "
                "years of training history and a test month)."
            )
        start = with_return[need]
        freq = getattr(start, "freqstr", "")
        if freq.startswith("M") and start.month != 1:
            # The first January after that history.
            start = pd.Period(year=start.year + 1, month=1, freq=start.freq)
        if start > with_return[-1]:
            start = with_return[need]
        test_start, n_val = start, settings.validation_periods
    return {
        "test_start": test_start,
        "refit_every": settings.refit_every,
        "validation_periods": n_val,
    }
