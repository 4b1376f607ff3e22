"""NeurIF's training step at two commits, in one process: time and agreement.

The module file ``sklearn_neurif/neurif/_module.py`` of ``--before`` (a git
revision of this repository) is loaded beside the current one; both modules
start from the same seed and train on the same batches of ``--months``
consecutive months of a synthetic panel (N assets, T months, L uniform
characteristics, 5% of rows missing; as ``neurif_scaling.py --step``), the
two steps of each batch timed one after the other so that the machine's
drift hits both alike. Printed: the losses of the first steps and the last,
each module's median step (forward, loss, backward and AdamW; batch
assembly excluded, it is shared), and the largest parameter difference
after the last step. Only the module file differs; the rest of the
package (batching, loss) is the current one.

Usage::

    python benchmarks/neurif_step_ab.py --before df87c37~1            # N=6000, T=60, 2 threads
    python benchmarks/neurif_step_ab.py --before HEAD~3 --n-assets 1000 --threads 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODULE = "sklearn_neurif/neurif/_module.py"


def module_at(revision: str) -> types.ModuleType:
    """``sklearn_neurif.neurif._module`` as it was at ``revision``."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{MODULE}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # Relative imports resolve against the installed package.
    source = source.replace("from ..", "from sklearn_neurif.")
    module = types.ModuleType(f"neurif_module_{revision}")
    exec(compile(source, f"{revision}:{MODULE}", "exec"), module.__dict__)
    return module


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare")
    parser.add_argument("--n-assets", type=int, default=6000)
    parser.add_argument("--n-periods", type=int, default=60)
    parser.add_argument("--chars", type=int, default=94)
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--months", type=int, default=8, help="months a step")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    from sklearn_neurif.neurif._module import NeurIFModule
    from sklearn_neurif.neurif._net import neurif_loss
    from sklearn_neurif.nn._batching import PanelBatcher
    from sklearn_neurif.panel import PanelLayout

    N, T, L, W = args.n_assets, args.n_periods, args.chars, args.window
    if T < W + args.months + args.steps:
        sys.exit(f"--n-periods must be at least {W + args.months + args.steps}.")
    rng = np.random.default_rng(0)
    index = pd.MultiIndex.from_product([np.arange(N), np.arange(T)])
    index = index[rng.random(N * T) > 0.05]
    Z = (rng.random((L, len(index)), dtype=np.float32) - 0.5).T  # column-major
    batcher = PanelBatcher(
        Z, PanelLayout(index), W, 0.1 * rng.standard_normal(len(index))
    )
    classes = {"before": module_at(args.before).NeurIFModule, "now": NeurIFModule}
    models = {}
    for name, cls in classes.items():
        torch.manual_seed(0)
        module = cls(L, 5, W)
        models[name] = (module, torch.optim.AdamW(module.parameters()))
    times = {name: [] for name in models}
    print(f"N={N}, T={T}, L={L}, W={W}, {args.months} months a step, "
          f"{args.threads} threads, before = {args.before}")  # fmt: skip
    for step in range(args.steps):
        batch = batcher.batch(np.arange(W + step, W + step + args.months))
        losses = {}
        for name, (module, opt) in models.items():
            start = time.perf_counter()
            loss, _ = neurif_loss(module(**batch), 1.0, 0.1, 1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times[name].append(time.perf_counter() - start)
            losses[name] = loss.item()
        if step < 3 or step == args.steps - 1:
            print(
                f"step {step}: loss "
                + ", ".join(f"{k} {v:.10f}" for k, v in losses.items())
            )
    for name, t in times.items():  # the first two steps warm up
        print(f"{name}: median step {np.median(t[2:]) * 1e3:.1f} ms")
    before = dict(models["before"][0].named_parameters())
    now = dict(models["now"][0].named_parameters())
    diff = max(float((before[k] - now[k]).detach().abs().max()) for k in before)
    print(f"largest parameter difference after {args.steps} steps: {diff:.2e}")


if __name__ == "__main__":
    main()
