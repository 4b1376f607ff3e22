"""Seconds per epoch and peak memory of NeurIFRegressor against the cross-section size.

Each configuration runs in a fresh subprocess (so peak RSS is its own):
a balanced panel of N assets x T months x L characteristics (float32,
uniform in [-0.5, 0.5], returns N(0, 0.1^2)) in a default, column-major
DataFrame, ``window=12``, default architecture, ``validation_fraction=0``
and ``max_epochs=2``. Reported: the mean duration of the two epochs
(skorch's ``dur``), the setup time (validation, layout, lag table), the
peak resident memory of the process during ``fit`` (the data, resident
throughout, included; the peak of building the data is reset away through
``/proc/self/clear_refs``), the training loader and the load average.
torch's thread count is left at its default unless ``--threads`` is given
(on a machine shared with other jobs, two spinning OpenMP threads on two
busy cores are many times slower than one).

``--loader prefetch`` trains with
:class:`~sklearn_neurif.nn.PrefetchingLoader` (the next batch
assembled in a background thread) through a subclass of the estimator;
the default ``--loader estimator`` uses whatever the estimator is wired
with.

``--step`` times one training step of the module alone, split into batch
assembly, forward (with the loss), backward and optimizer, interleaving the
sizes and the batch orders: ``blocks`` (8 consecutive months, as NeurIF
trains since issue 18: they reference (8 + 12 - 1) x N distinct
asset-months) and ``shuffled`` (8 random months, the order before: about
8 x 12 x N); ``--order`` picks one.

``--window`` sets W (default 12): epoch time against W, e.g.
``--sizes 2000 --window 6``, then 12, then 24.

Usage::

    python benchmarks/neurif_scaling.py              # N = 1000, 2000, 4000, 6000; T=120
    python benchmarks/neurif_scaling.py --crsp       # also N=6000, T=480 (CRSP scale)
    python benchmarks/neurif_scaling.py --crsp --sizes --loader prefetch   # CRSP only
    python benchmarks/neurif_scaling.py --step --threads 2   # per-part step timing
    python benchmarks/neurif_scaling.py --sizes 2000 --window 24   # one W
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _rss_gb(field: str) -> float:
    """VmRSS (current) or VmHWM (peak) of this process, in GB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _reset_peak() -> None:
    """Reset the peak RSS so that it measures fit, not building the data."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def synthetic_panel(n_assets, n_periods, n_chars):
    """Balanced float32 panel (uniform characteristics, N(0, 0.1^2) returns)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n_rows = n_assets * n_periods
    Z = np.empty((n_rows, n_chars), dtype=np.float32)
    for start in range(0, n_rows, 200_000):  # chunks: no float64 temporaries
        stop = min(start + 200_000, n_rows)
        Z[start:stop] = rng.random((stop - start, n_chars), dtype=np.float32) - 0.5
    index = pd.MultiIndex.from_product(
        [np.arange(n_assets), np.arange(n_periods)], names=["entity", "time"]
    )
    # A default DataFrame (column-major block, as users' frames usually are).
    X = pd.DataFrame(Z, index=index, columns=[f"c{j}" for j in range(n_chars)])
    y = pd.Series((0.1 * rng.standard_normal(n_rows)).astype(np.float64), index=index)
    return X, y


def run_one(
    n_assets, n_periods, n_chars, window, epochs, threads, batch_months, loader
):
    import torch

    if threads:
        torch.set_num_threads(threads)

    from sklearn_neurif.neurif import NeurIFRegressor

    X, y = synthetic_panel(n_assets, n_periods, n_chars)
    n_rows = len(X)
    rss_data = _rss_gb("VmRSS")
    _reset_peak()
    cls = _prefetching(NeurIFRegressor) if loader == "prefetch" else NeurIFRegressor
    est = cls(
        n_factors=5,
        window=window,
        max_epochs=epochs,
        validation_fraction=0.0,
        batch_months=batch_months,
        random_state=0,
    )
    t0 = time.perf_counter()
    est.fit(X, y)
    total = time.perf_counter() - t0
    epoch = float(est.history_["dur"].mean())
    return {
        "N": n_assets,
        "T": n_periods,
        "L": n_chars,
        "W": window,
        "rows": n_rows,
        "threads": torch.get_num_threads(),
        "sec_per_epoch": epoch,
        "fit_total_sec": total,
        "setup_and_factors_sec": total - epoch * epochs,
        "peak_rss_gb": _rss_gb("VmHWM"),
        "rss_after_data_gb": rss_data,
        "loader": est.net_.iterator_train.__name__,
    }


def _prefetching(estimator_class):
    """The estimator trained (and validated) with the prefetching loader.

    The training batches keep the estimator's order: blocks of consecutive
    months for NeurIF (its ``_train_loader`` is ``MonthBlockLoader``).
    """
    from sklearn_neurif.nn._batching import (
        MonthBlockLoader,
        PrefetchingLoader,
        PrefetchingMonthBlockLoader,
    )

    blocks = issubclass(estimator_class._train_loader, MonthBlockLoader)
    train_loader = PrefetchingMonthBlockLoader if blocks else PrefetchingLoader

    class Prefetching(estimator_class):
        _train_loader = train_loader

        def _net_kwargs(self):
            return {**super()._net_kwargs(), "iterator_valid": PrefetchingLoader}

    Prefetching.__name__ = estimator_class.__name__
    return Prefetching


def module_step(sizes, n_periods, n_chars, window, batch_months, orders, rounds=4):
    """Interleaved timing of one training step of the module (no skorch).

    Each size's step (batch assembly, forward with the loss, backward,
    optimizer) is timed in turn, for each batch order of ``orders``,
    ``rounds`` times, so that drifts of the machine's load hit all sizes and
    orders alike; medians of the rounds after the first are printed.
    ``"blocks"``: ``batch_months`` consecutive months (as NeurIF trains
    now); ``"shuffled"``: random months (as it trained before issue 18; a
    batch of 8 references about 8 x 12 x N distinct asset-months).
    """
    import numpy as np
    import pandas as pd
    import torch

    from sklearn_neurif.neurif._module import NeurIFModule
    from sklearn_neurif.neurif._net import neurif_loss
    from sklearn_neurif.nn._batching import PanelBatcher
    from sklearn_neurif.panel import PanelLayout

    rng = np.random.default_rng(0)
    setups = {}
    for n in sizes:
        index = pd.MultiIndex.from_product([np.arange(n), np.arange(n_periods)])
        # Column-major, as a DataFrame's block.
        Z = (rng.random((n_chars, n * n_periods), dtype=np.float32) - 0.5).T
        r = 0.1 * rng.standard_normal(n * n_periods)
        batcher = PanelBatcher(Z, PanelLayout(index), window, r)
        module = NeurIFModule(n_chars, 5, window)
        setups[n] = (batcher, module, torch.optim.AdamW(module.parameters()))
    parts = ("batch", "forward", "backward", "optimizer")
    keys = [(n, o) for n in sizes for o in orders]
    times = {k: {p: [] for p in parts} for k in keys}
    for _ in range(rounds):
        start = rng.integers(n_periods - batch_months + 1)
        chosen = {
            "blocks": np.arange(start, start + batch_months),
            "shuffled": rng.permutation(n_periods)[:batch_months],
        }
        for n, order in keys:
            batcher, module, opt = setups[n]
            t = [time.perf_counter()]
            batch = batcher.batch(chosen[order])
            t.append(time.perf_counter())
            loss, _ = neurif_loss(module(**batch), 1.0, 0.1, 1.0)
            t.append(time.perf_counter())
            opt.zero_grad()
            loss.backward()
            t.append(time.perf_counter())
            opt.step()
            t.append(time.perf_counter())
            for p, a, b in zip(parts, t[:-1], t[1:], strict=True):
                times[n, order][p].append(b - a)
            del batch, loss
    for n, order in keys:
        med = {p: float(np.median(v[1:])) for p, v in times[n, order].items()}
        step = sum(med.values())
        per = step / (batch_months * n) * 1e6
        detail = ", ".join(f"{p} {v * 1e3:.0f}" for p, v in med.items())
        print(
            f"N={n:>5} {order:>8}: {step:.3f} s a step of {batch_months} months "
            f"({detail} ms), {per:.1f} us per asset-month",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, type=int, metavar=("N", "T"))
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[1000, 2000, 4000, 6000]
    )
    parser.add_argument("--periods", type=int, default=120)
    parser.add_argument("--chars", type=int, default=94)
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--crsp", action="store_true", help="add N=6000, T=480")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default)"
    )
    parser.add_argument("--batch-months", type=int, default=8)
    parser.add_argument(
        "--step", action="store_true", help="interleaved module-step timing only"
    )
    parser.add_argument(
        "--loader",
        choices=["estimator", "prefetch"],
        default="estimator",
        help="training loader: the estimator's own, or the prefetching one",
    )
    parser.add_argument(
        "--order",
        choices=["blocks", "shuffled", "both"],
        default="both",
        help="--step: consecutive months (as trained now), shuffled ones "
        "(as before issue 18), or both interleaved",
    )
    args = parser.parse_args()
    if args.one:
        res = run_one(
            *args.one,
            args.chars,
            args.window,
            args.epochs,
            args.threads,
            args.batch_months,
            args.loader,
        )
        print(json.dumps(res))
        return
    if args.step:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
        module_step(
            args.sizes,
            args.periods,
            args.chars,
            args.window,
            args.batch_months,
            ["blocks", "shuffled"] if args.order == "both" else [args.order],
        )
        print(f"load average after: {os.getloadavg()}")
        return
    configs = [(n, args.periods) for n in args.sizes]
    if args.crsp:
        configs.append((6000, 480))
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    rows = []
    for n, t in configs:
        cmd = [sys.executable, __file__, "--one", str(n), str(t)]
        cmd += ["--chars", str(args.chars), "--window", str(args.window)]
        cmd += ["--epochs", str(args.epochs), "--threads", str(args.threads)]
        cmd += ["--batch-months", str(args.batch_months), "--loader", args.loader]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(res)
        print(
            f"N={res['N']:>5} T={res['T']:>4} rows={res['rows']:>8}: "
            f"{res['sec_per_epoch']:7.2f} s/epoch, setup+factors "
            f"{res['setup_and_factors_sec']:6.2f} s, peak RSS {res['peak_rss_gb']:.2f} GB "
            f"(data {res['rss_after_data_gb']:.2f} GB), threads={res['threads']}, "
            f"{res['loader']}, load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    by_n = {r["N"]: r["sec_per_epoch"] for r in rows if r["T"] == args.periods}
    for a, b in [(1000, 2000), (2000, 4000)]:
        if a in by_n and b in by_n:
            print(f"time({b})/time({a}) = {by_n[b] / by_n[a]:.2f} (target <= 2.2)")
    if 4000 in by_n and 6000 in by_n:
        print(f"time(6000)/time(4000) = {by_n[6000] / by_n[4000]:.2f} (linear: 1.5)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
