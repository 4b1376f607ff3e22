"""Seconds per epoch: TransformerRegressor (plain, cross-sectional) vs NeurIFRegressor.

Same simulated panel (``make_conditional_factor_panel``, N assets x T months
x L characteristics), same width, heads and window for every model,
``validation_fraction=0`` and ``max_epochs`` epochs; reported: skorch's
per-epoch ``dur`` (mean and min over the epochs after the first), the
machine's load average before and after, and the NeurIF / plain transformer
ratio (issue 6 asks for at most 1.5).

Usage::

    python benchmarks/transformer_epoch_time.py            # N=2000, T=120, L=94, W=12
    python benchmarks/transformer_epoch_time.py --n 500 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--t", type=int, default=120)
    parser.add_argument("--l", type=int, default=94)
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--n-heads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
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
        "Transformer": TransformerRegressor(**common),
        "Transformer (cross-sectional)": TransformerRegressor(
            cross_sectional=True, **common
        ),
        "NeurIF": NeurIFRegressor(n_factors=3, **common),
    }
    print(f"load before: {os.getloadavg()}  threads={args.threads}  {vars(args)}")
    mean = {}
    for name, est in models.items():
        start = time.perf_counter()
        est.fit(data.X, data.y)
        fit_s = time.perf_counter() - start
        dur = est.history_["dur"].to_numpy()
        later = dur[1:] if len(dur) > 1 else dur
        mean[name] = later.mean()
        print(
            f"{name:32s} s/epoch mean {later.mean():7.2f}  min {later.min():7.2f}  "
            f"first {dur[0]:7.2f}  fit {fit_s:7.1f} s"
        )
    print(f"load after: {os.getloadavg()}")
    print(f"NeurIF / plain Transformer: {mean['NeurIF'] / mean['Transformer']:.2f}")


if __name__ == "__main__":
    main()
