"""NeurIF vs IPCA on simulated panels: total and predictive R^2, in and out of sample.

Panels from ``make_conditional_factor_panel`` with linear and nonlinear
loadings, factor means of 0.02 a month (a real predictive signal), the first
75% of periods for training and the rest for testing. In-sample predictive
R^2 uses each model's premia (by default the training means of the realised
factors); out-of-sample total R^2 uses the realised factors of the test
months (``predict_total``). ``cancorr_min`` is the smallest canonical
correlation between the learned and the true factors on the training months.

Usage::

    python benchmarks/neurif_vs_ipca.py            # the settings of the tests
    python benchmarks/neurif_vs_ipca.py --large    # N=1000, T=240, L=20, K=5, W=12
    python benchmarks/neurif_vs_ipca.py --defaults # every model at its defaults, with CA2

``--defaults`` fits NeurIF and CA2 as a user meets them (only ``n_factors``
and ``random_state`` set): a check of the defaults on a simulation that was
not used to choose them (they were tuned on ``make_design_family_panel``).

One torch thread by default (``--threads 0`` for torch's default): on a
machine shared with other jobs that is several times faster.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from sklearn_neurif import (
    ConditionalAutoencoderRegressor,
    IPCARegressor,
    evaluate_factor_model,
)
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.neurif import NeurIFRegressor


def canonical_correlations(A, B):
    qa, _ = np.linalg.qr(A - A.mean(0))
    qb, _ = np.linalg.qr(B - B.mean(0))
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def evaluate(design, n, t_total, n_chars, k, params, seed, with_ca=False):
    data = make_conditional_factor_panel(
        n, t_total, n_chars, k, loadings=design, factor_means=0.02, random_state=seed
    )
    X, y = data.X, data.y
    t = X.index.get_level_values("time")
    n_train = int(0.75 * t_total)
    parts = {"in": t < n_train, "out": t >= n_train}
    models = {
        "IPCA": IPCARegressor(n_factors=k),
        "NeurIF": NeurIFRegressor(n_factors=k, random_state=0, **params),
    }
    if with_ca:
        models["CA2"] = ConditionalAutoencoderRegressor(n_factors=k, random_state=0)
    rows = []
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(X[parts["in"]], y[parts["in"]])
        row = {"design": design, "model": name, "fit_s": time.perf_counter() - start}
        for part, rows_ in parts.items():
            ev = evaluate_factor_model(model, X[rows_], y[rows_])
            row[f"total_R2_{part}"] = ev.r2_total
            row[f"pred_R2_{part}"] = ev.r2_predictive
        row["cancorr_min"] = canonical_correlations(
            model.factors_.to_numpy(), data.factors.to_numpy()[:n_train]
        ).min()
        row["iters"] = getattr(model, "n_iter_", np.nan)  # ALS iterations / epochs
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--defaults", action="store_true", help="models' defaults")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: torch's default)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.large:
        settings = {
            "linear": (1000, 240, 20, 5),
            "nonlinear": (1000, 240, 20, 5),
        }
        params, seed = dict(window=12, max_epochs=100, lr=3e-3), 1
    else:  # the settings of tests/test_neurif_simulation.py
        settings = {"linear": (300, 120, 10, 3), "nonlinear": (200, 120, 10, 3)}
        params, seed = dict(window=3, max_epochs=60, lr=3e-3), 0
    if args.defaults:
        params = {}
    rows = []
    for design, (n, t_total, n_chars, k) in settings.items():
        print(f"{design}: N={n}, T={t_total}, L={n_chars}, K={k}, {params}", flush=True)
        rows += evaluate(design, n, t_total, n_chars, k, params, seed, args.defaults)
    table = pd.DataFrame(rows).set_index(["design", "model"])
    print(table.to_string(float_format="{:.4f}".format))


if __name__ == "__main__":
    main()
