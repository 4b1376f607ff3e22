"""KPS's two bootstrap tables for IPCA on the US stock panel.

W_alpha (Gamma_alpha = 0) for K = 1..6 and W_beta,l (instrument significance)
for every characteristic and the constant, on the panel of
``load_us_stock_panel`` from 2011-12 (the first month where every
characteristic exists; before it momentum, volatility and beta are missing
for every stock) to its last month with a next-month return, rank-scaled
with ``CrossSectionalRankScaler`` plus a constant instrument.

    python benchmarks/ipca_kps_tests_us.py                # 1000 draws per test
    python benchmarks/ipca_kps_tests_us.py --draws 200    # quicker
"""

from __future__ import annotations

import argparse
import subprocess
import time

import numpy as np
import pandas as pd

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import load_us_stock_panel
from sklearn_neurif.inference import ipca_alpha_test, ipca_instrument_significance
from sklearn_neurif.preprocessing import CrossSectionalRankScaler


def us_panel():
    data = load_us_stock_panel()
    keep = np.asarray(data.X.index.get_level_values(-1) >= pd.Period("2011-12", "M"))
    X = CrossSectionalRankScaler().fit_transform(data.X[keep])
    return X, data.y[keep]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument(
        "--alpha-factors", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6]
    )
    parser.add_argument("--beta-factors", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    print(
        "uptime:",
        subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    )
    start = time.perf_counter()
    X, y = us_panel()
    periods = X.index.get_level_values(-1)
    print(
        f"panel: {len(X):,} rows, {periods.nunique()} months "
        f"({periods.min()}..{periods.max()}), {X.shape[1]} characteristics + const; "
        f"{args.draws} draws per test"
    )
    rows = []
    for K in args.alpha_factors:
        est = IPCARegressor(K, add_constant=True, intercept=True).fit(X, y)
        res = ipca_alpha_test(
            est, X, y, n_boot=args.draws, random_state=K, progress=False
        )
        rows.append((K, res.stat, res.pvalue, res.n_unconverged))
    table = pd.DataFrame(rows, columns=["K", "W_alpha", "pvalue", "unconverged"])
    print("\nW_alpha (unrestricted model, Gamma_alpha = 0):")
    print(table.to_markdown(index=False, floatfmt=".4g"))
    for K in args.beta_factors:
        est = IPCARegressor(K, add_constant=True).fit(X, y)
        table = ipca_instrument_significance(
            est, X, y, n_boot=args.draws, random_state=100 + K, progress=False
        )
        print(f"\nW_beta,l (restricted model, K={K}):")
        print(table.to_markdown(floatfmt=".4g"))
    print(f"\nwall time {time.perf_counter() - start:.0f} s")
    print(
        "uptime:",
        subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    )


if __name__ == "__main__":
    main()
