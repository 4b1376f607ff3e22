"""Result objects of the inference tools (numbers as attributes, ``summary()``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "NeweyWestMeanResult",
    "SpanningResult",
    "AnomalyTestResult",
    "AnomalyComparison",
    "CrossSectionalR2Result",
    "GRSResult",
]


@dataclass(frozen=True)
class NeweyWestMeanResult:
    """Mean of a time series and its Newey-West test of a zero mean.

    Returned by :func:`~sklearn_neurif.inference.newey_west_mean`.

    Attributes
    ----------
    mean : float
        Mean of the non-missing observations (NaN without any).
    std_error : float
        Newey-West (Bartlett kernel, no small-sample correction) standard
        error of the mean; NaN with fewer than two observations or zero
        variance.
    stat : float
        t-statistic ``mean / std_error`` (NaN where ``std_error`` is).
    pvalue : float
        Two-sided normal p-value of ``stat``.
    nw_lags : int
        Lags used.
    n_periods : int
        Non-missing observations.
    """

    mean: float
    std_error: float
    stat: float
    pvalue: float
    nw_lags: int
    n_periods: int


@dataclass(frozen=True, repr=False)
class SpanningResult:
    """Time-series regressions of test assets on a factor set.

    Attributes
    ----------
    params : DataFrame (n_assets, 1 + n_factors)
        Column ``alpha`` then one beta per factor.
    tstats, pvalues : DataFrame
        Newey-West t-statistics and two-sided normal p-values, same layout.
    r2 : Series
        Centred R-squared of each regression.
    n_periods, nw_lags : Series
        Periods used and Newey-West lags, per asset.
    periods : Index
        Periods of the sample (after alignment).
    periods_per_year : int
        Used for :attr:`alpha_annual`.
    n_periods_unmatched : int
        Test-asset periods without factor data dropped (``join="inner"``).
    n_periods_missing_returns : int
        Periods dropped because a test-asset return was missing
        (``missing="drop"``).
    """

    params: pd.DataFrame
    tstats: pd.DataFrame
    pvalues: pd.DataFrame
    r2: pd.Series
    n_periods: pd.Series
    nw_lags: pd.Series
    periods: pd.Index
    periods_per_year: int = 12
    n_periods_unmatched: int = 0
    n_periods_missing_returns: int = 0

    @property
    def alpha(self) -> pd.Series:
        """Monthly (per-period) alphas."""
        return self.params["alpha"].rename("alpha")

    @property
    def alpha_annual(self) -> pd.Series:
        """Alphas times ``periods_per_year``."""
        return (self.params["alpha"] * self.periods_per_year).rename("alpha_annual")

    @property
    def alpha_tstat(self) -> pd.Series:
        """Newey-West t-statistics of the alphas."""
        return self.tstats["alpha"].rename("t_alpha")

    @property
    def betas(self) -> pd.DataFrame:
        """Factor loadings (assets x factors)."""
        return self.params.drop(columns="alpha")

    def summary(self) -> pd.DataFrame:
        """One row per test asset: alpha, annualised alpha, t(alpha), betas, R2, T."""
        out = pd.DataFrame(
            {
                "alpha": self.alpha,
                "alpha_annual": self.alpha_annual,
                "t_alpha": self.alpha_tstat,
                "p_alpha": self.pvalues["alpha"],
            }
        )
        for col in self.betas.columns:
            out[f"beta_{col}"] = self.params[col]
            out[f"t_{col}"] = self.tstats[col]
        out["R2"] = self.r2
        out["n_periods"] = self.n_periods
        return out

    def __repr__(self) -> str:
        return (
            f"SpanningResult(n_assets={len(self.params)}, factors={list(self.betas.columns)}, "
            f"periods={len(self.periods)})"
        )


@dataclass(frozen=True, repr=False)
class AnomalyTestResult:
    """Test assets against one factor set (common sample of periods).

    Attributes
    ----------
    name : str
        Label of the factor set.
    factors : list of str
        Factor columns.
    alpha, tstats, r2 : Series
        Per test asset: alpha, Newey-West t-statistic, time-series R-squared.
    mean_abs_alpha, rms_alpha : float
        Mean absolute and root mean squared alpha.
    n_t196, n_t3 : int
        Number of alphas with ``|t| > 1.96`` and ``|t| > 3``.
    grs_stat, grs_pvalue : float
        Gibbons-Ross-Shanken (1989) F statistic and its ``F(M, T-M-K)``
        p-value.
    avg_r2 : float
        Average time-series R-squared.
    cs_r2 : float
        Share of the cross-section of mean returns the factor betas explain,
        ``1 - sum(alpha^2) / sum(mean_return^2)`` (uncentred).
    cs_r2_ols : float
        Centred R-squared of the cross-sectional OLS of mean returns on the
        betas' implied means ``b_m' mean(f)``.
    n_periods, n_assets, n_factors : int
    nw_lags : int
    grs_unavailable : str or None
        Why the GRS test is undefined (``grs_stat`` and ``grs_pvalue`` are then
        NaN), e.g. ``T <= M + K``; None when it was computed.
    """

    name: str
    factors: list
    alpha: pd.Series
    tstats: pd.Series
    r2: pd.Series
    grs_stat: float
    grs_pvalue: float
    cs_r2: float
    cs_r2_ols: float
    n_periods: int
    nw_lags: int
    betas: pd.DataFrame = field(default=None)
    grs_unavailable: str | None = None

    @property
    def n_assets(self) -> int:
        return len(self.alpha)

    @property
    def n_factors(self) -> int:
        return len(self.factors)

    @property
    def mean_abs_alpha(self) -> float:
        return float(np.mean(np.abs(self.alpha)))

    @property
    def rms_alpha(self) -> float:
        return float(np.sqrt(np.mean(self.alpha**2)))

    @property
    def n_t196(self) -> int:
        return int((np.abs(self.tstats) > 1.96).sum())

    @property
    def n_t3(self) -> int:
        return int((np.abs(self.tstats) > 3).sum())

    @property
    def avg_r2(self) -> float:
        return float(self.r2.mean())

    @property
    def statistics(self) -> pd.Series:
        """The summary statistics as a Series (one row of the comparison).

        A ``GRS_unavailable`` row, with the reason, is added when the GRS
        test is undefined.
        """
        unavailable = (
            {}
            if self.grs_unavailable is None
            else {"GRS_unavailable": self.grs_unavailable}
        )
        return pd.Series(
            {
                "n_factors": self.n_factors,
                "n_assets": self.n_assets,
                "n_periods": self.n_periods,
                "mean_abs_alpha": self.mean_abs_alpha,
                "rms_alpha": self.rms_alpha,
                "n_abs_t>1.96": self.n_t196,
                "n_abs_t>3": self.n_t3,
                "GRS_F": self.grs_stat,
                "GRS_pvalue": self.grs_pvalue,
                **unavailable,
                "avg_R2": self.avg_r2,
                "cs_R2": self.cs_r2,
                "cs_R2_ols": self.cs_r2_ols,
            },
            name=self.name,
            dtype=object,
        )

    def summary(self) -> pd.DataFrame:
        """One row per test asset: alpha, t-statistic, R-squared."""
        return pd.DataFrame(
            {"alpha": self.alpha, "t_alpha": self.tstats, "R2": self.r2}
        )

    def __repr__(self) -> str:
        grs = (
            "GRS unavailable"
            if self.grs_unavailable is not None
            else f"GRS F={self.grs_stat:.3f} (p={self.grs_pvalue:.3g})"
        )
        return (
            f"AnomalyTestResult({self.name!r}, {grs}, "
            f"mean|alpha|={self.mean_abs_alpha:.5f}, "
            f"|t|>1.96: {self.n_t196}/{self.n_assets})"
        )


@dataclass(frozen=True, repr=False)
class AnomalyComparison:
    """Side-by-side anomaly tests of several factor sets on the same periods.

    Attributes
    ----------
    results : dict of str -> AnomalyTestResult
    periods : Index
        The common sample.
    n_periods_unmatched : int
        Test-asset periods dropped for lack of factor data (``join="inner"``).
    n_periods_missing_returns : int
        Periods dropped because a test-asset return was missing.
    dropped_periods : Index
        Those periods.
    """

    results: dict
    periods: pd.Index
    n_periods_unmatched: int = 0
    n_periods_missing_returns: int = 0
    dropped_periods: pd.Index = field(default_factory=lambda: pd.Index([]))

    def __getitem__(self, name) -> AnomalyTestResult:
        return self.results[name]

    def summary(self) -> pd.DataFrame:
        """One row per factor set, the statistics as columns.

        With a ``GRS_unavailable`` column (the reason) when the GRS test is
        undefined for some set.
        """
        rows = [r.statistics for r in self.results.values()]
        columns = max(rows, key=len).index  # the one with GRS_unavailable, if any
        table = pd.DataFrame(rows).reindex(columns=columns)
        return table.rename_axis("factor_set")

    @property
    def alphas(self) -> pd.DataFrame:
        """Alphas of every test asset (rows) under each factor set (columns)."""
        return pd.DataFrame({k: r.alpha for k, r in self.results.items()})

    @property
    def tstats(self) -> pd.DataFrame:
        """Newey-West t-statistics of the alphas, same layout as :attr:`alphas`."""
        return pd.DataFrame({k: r.tstats for k, r in self.results.items()})

    def __repr__(self) -> str:
        return (
            f"AnomalyComparison(sets={list(self.results)}, periods={len(self.periods)})"
        )


@dataclass(frozen=True, repr=False)
class CrossSectionalR2Result:
    """How much of the test assets' mean returns the predictions explain.

    Attributes
    ----------
    mean_returns, mean_predicted : Series
        Time-series means per test asset.
    r2 : float
        Uncentred ``1 - sum((rbar - pbar)^2) / sum(rbar^2)``: predictions taken
        at face value (no intercept, slope one), the convention of the
        package's other R-squared metrics.
    r2_ols : float
        Centred R-squared of the OLS of ``rbar`` on ``pbar`` with intercept.
    intercept, slope : float
        Coefficients of that OLS.
    """

    mean_returns: pd.Series
    mean_predicted: pd.Series
    r2: float
    r2_ols: float
    intercept: float
    slope: float

    def summary(self) -> pd.DataFrame:
        """Mean returns, mean predictions and their gap per test asset."""
        return pd.DataFrame(
            {
                "mean_return": self.mean_returns,
                "mean_predicted": self.mean_predicted,
                "gap": self.mean_returns - self.mean_predicted,
            }
        )

    def __repr__(self) -> str:
        return (
            f"CrossSectionalR2Result(r2={self.r2:.4f}, r2_ols={self.r2_ols:.4f}, "
            f"slope={self.slope:.3f})"
        )


@dataclass(frozen=True, repr=False)
class GRSResult:
    """Gibbons-Ross-Shanken (1989) test that all alphas are zero.

    Attributes
    ----------
    stat : float
        The GRS F statistic.
    pvalue : float
        ``P(F(df1, df2) > stat)``.
    df1, df2 : int
        ``M`` and ``T - M - K``.
    wald : float
        The asymptotic Wald statistic ``T a' S^-1 a / (1 + m' W^-1 m)``
        (chi-squared with ``M`` degrees of freedom under the null); the
        F statistic is ``wald * (T - M - K) / (M T)``.
    """

    stat: float
    pvalue: float
    df1: int
    df2: int
    wald: float

    def summary(self) -> pd.DataFrame:
        """The statistics as a one-row table."""
        return pd.DataFrame(
            [[self.stat, self.pvalue, self.df1, self.df2, self.wald]],
            columns=["GRS_F", "pvalue", "df1", "df2", "wald"],
        )

    def __repr__(self) -> str:
        return (
            f"GRSResult(F={self.stat:.4f}, p={self.pvalue:.4g}, "
            f"df=({self.df1}, {self.df2}))"
        )
