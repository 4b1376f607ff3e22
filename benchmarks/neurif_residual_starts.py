"""How good is NeurIF's residual start, against the number of draws of g's hidden layer?

The residual start (``deviation_init="residual"``) puts IPCA's step on the
start's residuals into the last factor's row of g's output layer, using g's
random hidden features; ``n_deviation_starts`` tries several draws of that
hidden layer and keeps the one that fits the validation months best. This
script measures the start alone, before any training: for each design, seed
and number of draws, NeurIF is fitted for one epoch with a learning rate of
1e-12 (so the weights stay at the start) and scored on the test months.

Columns: the scale chosen (0: IPCA's start kept), the validation months'
total R^2 of epoch 1 and the test total R^2, both minus those of IPCA's
start (NeurIF with a zero g, Gamma fitted on the months before validation),
in points; ``start_test`` that start's test total R^2 minus IPCA's fitted on
all training months, and ``gap`` the oracle's minus IPCA's.
Forward passes and one epoch per row: seconds on a 300-asset panel.

Usage::

    python benchmarks/neurif_residual_starts.py --designs pure_abs --seeds 0 1 2 \
        --draws 1 4 16 --n-entities 300 --n-periods 120 --train 90
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

from sklearn_neurif import IPCARegressor, NeurIFRegressor
from sklearn_neurif.datasets import make_design_family_panel
from sklearn_neurif.metrics import r2_total


def start_scores(design, seed, draws, sizes, n_train):
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
    for n in draws:
        est = NeurIFRegressor(n_deviation_starts=n, **start).fit(X, y)
        rows.append(
            {
                "design": design,
                "seed": seed,
                "draws": n,
                "scale": est.deviation_start_scale_,
                "valid": 100 * (1 - est.history_["valid_fit"].iloc[0] - zero_valid),
                "test": 100 * (r2_total(yte, est.predict_total(Xte, yte)) - zero_test),
                "start_test": 100 * (zero_test - ipca_test),
                "gap": 100 * (oracle - ipca_test),
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
    parser.add_argument("--n-entities", type=int, default=300)
    parser.add_argument("--n-periods", type=int, default=120)
    parser.add_argument("--train", type=int, default=90)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sizes = dict(n_entities=args.n_entities, n_periods=args.n_periods)
    rows = []
    for design in args.designs:
        for seed in args.seeds:
            rows += start_scores(design, seed, args.draws, sizes, args.train)
    table = pd.DataFrame(rows)
    print(table.round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
