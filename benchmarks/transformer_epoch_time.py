"""Seconds per epoch: TransformerRegressor (plain, cross-sectional) vs NeurIFRegressor.

Same simulated panel (``make_conditional_factor_panel``, N assets x T months
x L characteristics), same width, heads and window for every model,
``validation_fraction=0``. The models are fitted in turn, ``--rounds`` times
(``--epochs`` epochs each), so that load from other jobs hits them alike;
reported: skorch's per-epoch ``dur`` (min and median over all epochs), the
machine's load average before and after, and the NeurIF / plain transformer
ratio of the minima (issue 6 asks for at most 1.5).

Usage::

    python benchmarks/transformer_epoch_time.py            # N=2000, T=120, L=94, W=12
    python benchmarks/transformer_epoch_time.py --n 500 --epochs 2
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--t", type=int, default=120)
    parser.add_argument("--l", type=int, default=94)
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--n-heads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from sklearn_neurif.datasets import make_conditional_factor_panel
    from sklearn_neurif.neurif import NeurIFRegressor
    from sklearn_neurif.transformer import TransformerRegressor

    data = make_conditional_factor_panel(args.n, args.t, args.l, 3, random_state=0)
    common = dict(
        window=args.window,
        hidden_size=args.hidden_size,
        n_heads=args.n_heads,
        max_epochs=args.epochs,
        validation_fraction=0.0,
        random_state=0,
    )
    models = {
        "Transformer": dict(cross_sectional=False),
        "Transformer (cross-sectional)": dict(cross_sectional=True),
        "NeurIF": None,
    }
    print(f"load before: {os.getloadavg()}  threads={args.threads}  {vars(args)}")
    durations = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, extra in models.items():
            if extra is None:
                est = NeurIFRegressor(n_factors=3, **common)
            else:
                est = TransformerRegressor(**extra, **common)
            est.fit(data.X, data.y)
            durations[name] += list(est.history_["dur"])
    for name, dur in durations.items():
        print(
            f"{name:32s} s/epoch min {np.min(dur):7.2f}  median {np.median(dur):7.2f}  "
            f"({len(dur)} epochs)"
        )
    print(f"load after: {os.getloadavg()}")
    ratio = np.min(durations["NeurIF"]) / np.min(durations["Transformer"])
    print(f"NeurIF / plain Transformer (min s/epoch): {ratio:.2f}")


if __name__ == "__main__":
    main()
