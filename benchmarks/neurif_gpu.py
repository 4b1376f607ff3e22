"""NeurIF on a GPU: a CRSP-scale epoch and the whole-US-panel fit (issue 18).

Runs only where ``torch.cuda.is_available()``; otherwise prints why and
exits with status 0 (nothing to measure on a CPU-only machine).

1. CRSP scale: the synthetic panel of ``neurif_scaling.py`` (N=6,000
   assets x T=480 months x L=94 characteristics, ``window=12``, K=5,
   ``validation_fraction=0``, 2 epochs) with ``device="cuda"``: seconds per
   epoch (skorch's ``dur``, the mean of the epochs), the fit's wall time and
   the peak GPU memory (``torch.cuda.max_memory_allocated``).
2. The default whole-US-panel fit of ``neurif_us_fit_cost.py`` with
   ``device="cuda"``: wall time, epochs, best epoch, peak GPU memory.

``--mixed-precision`` trains under ``torch.autocast`` (bfloat16; the factor
regression and the loss stay float32) and also prints the largest
difference of its US-panel predictions from a float32 fit's.

Usage::

    python benchmarks/neurif_gpu.py                 # both parts, float32
    python benchmarks/neurif_gpu.py --mixed-precision
    python benchmarks/neurif_gpu.py --skip-us       # the CRSP-scale epoch only
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings


def _peak_gb(torch) -> float:
    return torch.cuda.max_memory_allocated() / 1024**3


def crsp_epoch(device, mixed_precision, epochs):
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from neurif_scaling import synthetic_panel

    from sklearn_neurif import NeurIFRegressor

    X, y = synthetic_panel(6000, 480, 94)
    torch.cuda.reset_peak_memory_stats()
    est = NeurIFRegressor(
        n_factors=5,
        window=12,
        max_epochs=epochs,
        validation_fraction=0.0,
        device=device,
        mixed_precision=mixed_precision,
        random_state=0,
    )
    start = time.perf_counter()
    est.fit(X, y)
    torch.cuda.synchronize()
    wall = time.perf_counter() - start
    print(
        f"CRSP scale (N=6000, T=480, L=94, W=12): "
        f"{est.history_['dur'].mean():.2f} s/epoch, fit {wall:.1f} s "
        f"({epochs} epochs), peak GPU memory {_peak_gb(torch):.2f} GB",
        flush=True,
    )


def us_fit(device, mixed_precision):
    import numpy as np
    import torch

    from sklearn_neurif import NeurIFRegressor
    from sklearn_neurif.datasets import load_us_stock_panel
    from sklearn_neurif.preprocessing import CrossSectionalRankScaler

    data = load_us_stock_panel()
    X = CrossSectionalRankScaler().fit_transform(data.X).assign(const=1.0)
    preds = {}
    for amp in sorted({False, mixed_precision}):
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # IPCA start, as the CPU run
            est = NeurIFRegressor(
                n_factors=5, device=device, mixed_precision=amp, random_state=0
            ).fit(X, data.y)
        torch.cuda.synchronize()
        wall = time.perf_counter() - start
        preds[amp] = est.predict(X)
        print(
            f"US panel ({len(X)} rows), mixed_precision={amp}: fit {wall:.1f} s, "
            f"epochs {est.n_iter_}, best epoch {est.best_epoch_}, "
            f"peak GPU memory {_peak_gb(torch):.2f} GB",
            flush=True,
        )
    if len(preds) == 2:
        diff = np.abs(preds[True] - preds[False]).max()
        scale = np.abs(preds[False]).max()
        print(f"max |prediction difference| {diff:.2e} (max |prediction| {scale:.2e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--skip-crsp", action="store_true")
    parser.add_argument("--skip-us", action="store_true")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print(
            "No CUDA device here (torch.cuda.is_available() is False: no GPU, no "
            f"driver, or a CPU-only torch build; torch {torch.__version__}). "
            "Nothing to measure: run this script on a machine with a GPU."
        )
        return
    props = torch.cuda.get_device_properties(torch.device(args.device))
    print(
        f"device {args.device}: {props.name}, {props.total_memory / 1024**3:.1f} GB, "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}"
    )
    if not args.skip_crsp:
        crsp_epoch(args.device, args.mixed_precision, args.epochs)
    if not args.skip_us:
        us_fit(args.device, args.mixed_precision)


if __name__ == "__main__":
    main()
