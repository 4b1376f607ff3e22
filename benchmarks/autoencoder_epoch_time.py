"""Seconds per epoch of ConditionalAutoencoderRegressor (CA0-CA3).

Panel: ``make_conditional_factor_panel(N, T, L, 5, loadings="nonlinear")``,
by default N=2000, T=120, L=94 (240,000 rows). Each model trains for
``--epochs`` epochs without validation (``validation_fraction=0``) and the
mean of skorch's per-epoch duration (``dur``) is printed with the wall time
of ``fit`` (which adds validation of the panel, the batcher and the factors
of the training months). The 1-minute load average is printed first:
figures on a shared machine are upper bounds.

Usage::

    python benchmarks/autoencoder_epoch_time.py --threads 2
    python benchmarks/autoencoder_epoch_time.py --layers 0 2 --n 6000 --t 120
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from sklearn_neurif.autoencoder import ConditionalAutoencoderRegressor
from sklearn_neurif.datasets import make_conditional_factor_panel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--t", type=int, default=120)
    parser.add_argument("--l", type=int, default=94)
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = make_conditional_factor_panel(
        args.n, args.t, args.l, 5, loadings="nonlinear", random_state=0
    )
    X = data.X.astype("float32")
    print(
        f"N={args.n} T={args.t} L={args.l} rows={len(X)} "
        f"torch threads={torch.get_num_threads()} load={os.getloadavg()[0]:.2f}"
    )
    for layers in args.layers:
        est = ConditionalAutoencoderRegressor(
            n_factors=5,
            n_hidden_layers=layers,
            max_epochs=args.epochs,
            validation_fraction=0,
            random_state=0,
        )
        start = time.perf_counter()
        est.fit(X, data.y)
        wall = time.perf_counter() - start
        per_epoch = est.history_["dur"].mean()
        print(
            f"CA{layers}: {per_epoch:.2f} s/epoch, fit {wall:.1f} s ({args.epochs} epochs)"
        )


if __name__ == "__main__":
    main()
