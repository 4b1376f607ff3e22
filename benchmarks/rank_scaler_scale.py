"""Time and peak memory of CrossSectionalRankScaler at CRSP scale.

Synthetic panel: 6,000 assets x 480 months x 94 characteristics (2.88 M rows,
float64, 5% of cells missing). Prints the wall time of ``fit_transform`` and
the peak resident memory of the process (which includes the 2.2 GB input and
the 2.2 GB output).

Usage: python benchmarks/rank_scaler_scale.py [n_assets n_periods n_features n_jobs]
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np
import pandas as pd

from sklearn_neurif.preprocessing import CrossSectionalRankScaler


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


def main(
    n_assets: int = 6000, n_periods: int = 480, n_features: int = 94, n_jobs: int = 1
) -> None:
    rng = np.random.default_rng(0)
    n_rows = n_assets * n_periods
    index = pd.MultiIndex.from_product(
        [np.arange(n_assets), pd.period_range("1980-01", periods=n_periods, freq="M")],
        names=["permno", "date"],
    )
    # One float64 block (as read from a file), filled column by column so
    # that building the input leaves no large temporaries.
    values = np.empty((n_features, n_rows)).T
    for j in range(n_features):
        values[:, j] = rng.standard_normal(n_rows)
        values[rng.random(n_rows) < 0.05, j] = np.nan
    X = pd.DataFrame(values, index=index, copy=False)
    X.columns = [f"c{j}" for j in range(n_features)]
    del values
    before = _rss_gb()
    print(
        f"panel: {n_rows:,} rows x {n_features} columns, {X.memory_usage().sum() / 1e9:.2f} GB"
    )
    print(f"peak RSS after building the input: {before:.2f} GB")
    start, cpu_start = time.perf_counter(), time.process_time()
    out = CrossSectionalRankScaler(n_jobs=n_jobs).fit_transform(X)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    # CPU time is the figure to trust on a machine shared with other jobs.
    print(f"fit_transform (n_jobs={n_jobs}): {elapsed:.1f} s wall, {cpu:.1f} s CPU")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    print(
        f"peak RSS of the process: {_rss_gb():.2f} GB (input + output = "
        f"{2 * X.memory_usage().sum() / 1e9:.2f} GB)"
    )
    assert out.shape == X.shape and float(np.abs(out.to_numpy()).max()) <= 0.5


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
