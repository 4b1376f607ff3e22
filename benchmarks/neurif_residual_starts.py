"""How good is NeurIF's start of g off IPCA's saddle, before any training?

The residual start (``deviation_init="residual"``) puts IPCA's step on the
start's residuals into the last factor's row of g's output layer, using g's
random hidden features; ``n_deviation_starts`` tries several draws of that
hidden layer and keeps the one that fits the validation months best. The
quadratic start (``deviation_init="quadratic"``) takes that step in the
second-order terms of the characteristics and warms g up to carry it. This
script measures the start alone: for each design, seed and start, NeurIF is
fitted for one epoch with a learning rate of 1e-12 (so the weights stay at
the start) and scored on the test months.

Columns: the scale chosen (0: IPCA's start kept), the validation months'
total R^2 of epoch 1 and the test total R^2, both minus those of IPCA's
start (NeurIF with a zero g, Gamma fitted on the months before validation),
in points; ``start_test`` that start's test total R^2 minus IPCA's fitted on
all training months, and ``gap`` the oracle's minus IPCA's.
``fit_s`` is the time of that one-epoch fit (the start included).

Usage (300 assets, 120 months, the first 90 for training, by default)::

    python benchmarks/neurif_residual_starts.py --designs pure_abs --seeds 0 1 2
    python benchmarks/neurif_residual_starts.py --draws 1 4 16 --inits residual
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from sklearn_neurif import IPCARegressor, NeurIFRegressor
from sklearn_neurif.datasets import make_design_family_panel
from sklearn_neurif.metrics import r2_total


def start_configs(draws, inits):
    """name -> NeurIF parameters of the start."""
    configs = {}
    if "residual" in inits:
        configs.update(
            {
                f"residual x{n}": dict(deviation_init="residual", n_deviation_starts=n)
                for n in draws
            }
        )
    if "quadratic" in inits:
        configs["quadratic"] = dict(deviation_init="quadratic")
    return configs


def start_scores(design, seed, configs, sizes, n_train):
    data = make_design_family_panel(design, **sizes, random_state=seed)
    train = np.asarray(data.X.index.get_level_values("time") < n_train)
    X, y = data.X[train], data.y[train]
    Xte, yte = data.X[~train], data.y[~train]
    ipca = IPCARegressor(n_factors=3).fit(X, y)
    ipca_test = r2_total(yte, ipca.predict_total(Xte, yte))
    oracle = r2_total(yte, data.oracle_fit[~train])
    rows = []
    start = dict(n_factors=3, lr=1e-12, max_epochs=1, random_state=seed)
    # IPCA's start as NeurIF sees it (fitted on the months before validation).
    zero = NeurIFRegressor(deviation_init=0.0, **start).fit(X, y)
    zero_valid = 1 - zero.history_["valid_fit"].iloc[0]
    zero_test = r2_total(yte, zero.predict_total(Xte, yte))
    for name, params in configs.items():
        tic = time.perf_counter()
        est = NeurIFRegressor(**params, **start).fit(X, y)
        seconds = time.perf_counter() - tic
        rows.append(
            {
                "design": design,
                "seed": seed,
                "start": name,
                "scale": est.deviation_start_scale_,
                "valid": 100 * (1 - est.history_["valid_fit"].iloc[0] - zero_valid),
                "test": 100 * (r2_total(yte, est.predict_total(Xte, yte)) - zero_test),
                "start_test": 100 * (zero_test - ipca_test),
                "gap": 100 * (oracle - ipca_test),
                "fit_s": seconds,
            }
        )
        print(" ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--designs", nargs="+", default=["pure_interaction", "pure_abs"]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--draws", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--inits", nargs="+", default=["residual", "quadratic"], help="starts"
    )
    parser.add_argument("--n-entities", type=int, default=300)
    parser.add_argument("--n-periods", type=int, default=120)
    parser.add_argument("--train", type=int, default=90)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sizes = dict(n_entities=args.n_entities, n_periods=args.n_periods)
    rows = []
    for design in args.designs:
        for seed in args.seeds:
            configs = start_configs(args.draws, args.inits)
            rows += start_scores(design, seed, configs, sizes, args.train)
    table = pd.DataFrame(rows)
    print(table.round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
