"""IPCARegressor against ipca.InstrumentedPCA 0.6.7: speed, agreement, scale.

Part 1 fits both estimators to the same simulated panel (N=1000 firms,
T=240 months, L=30 characteristics, K=5 weak factors: means 0.005, vols
5%, 3%, 2%, 1%, 0.5%, idiosyncratic vol 15%) with the same ``iter_tol``,
after a warm-up fit of each (numba compiles ipca's kernels on first use),
then times several interleaved runs and reports median wall and CPU time,
the speed ratio peer / ours, and the agreement of fitted values, predictions
and R-squared; then the median wall time of each stage of our fit
(validation and layout, the moments W_t and x_t, checks, ALS, storing).

Part 2 fits ours at CRSP scale (N=6000, T=480, L=94, K=5) in a fresh
subprocess, reporting wall time (validation and the Z'Z precomputation
included) and memory: the panel's own size, the peak of the allocations made
by ``fit`` (tracemalloc) and the process's peak RSS.

Run from the repository root::

    python benchmarks/ipca_vs_peer.py            # full run (several minutes)
    python benchmarks/ipca_vs_peer.py --quick    # small panels, < 1 minute

Both estimators run with one BLAS thread: ours sets it itself (its
systems are small); the peer is timed under ``threadpool_limits(1)``,
which is also its faster setting on a small machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from threadpoolctl import threadpool_limits

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.metrics import r2_predictive, r2_total

FACTOR_VOLS = (0.05, 0.03, 0.02, 0.01, 0.005)
#: IPCARegressor(n_jobs=...) in the comparison (--n-jobs).
OURS_JOBS = None
STAGES = (
    "validation + layout",
    "moments W_t, x_t",
    "checks (finite, identified)",
    "ALS",
    "store",
)


def simulate(n, t, L, K, seed=0):
    return make_conditional_factor_panel(
        n,
        t,
        L,
        K,
        factor_means=0.005,
        factor_vols=FACTOR_VOLS,
        noise_vol=0.15,
        random_state=seed,
    )


def fit_peer(X, y, K, tol, max_iter=10000):
    from ipca import InstrumentedPCA

    # ipca prints every iteration and a progress bar; keep them out.
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        threadpool_limits(1),
    ):
        return InstrumentedPCA(K, iter_tol=tol, max_iter=max_iter).fit(X, y)


def fit_ours(X, y, K, tol, max_iter=10000):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of forced runs
        return IPCARegressor(K, iter_tol=tol, max_iter=max_iter, n_jobs=OURS_JOBS).fit(
            X, y
        )


def per_iteration(X, y, K, runs, extra=100):
    """Seconds per ALS iteration: two fits forced to run ``extra`` apart.

    ``iter_tol`` is unreachable, so each fit runs exactly its iteration
    budget (ipca runs ``max_iter + 1``, ours ``max_iter``); the difference
    of the median times is ``extra`` iterations.
    """
    out = {}
    for name, fit, base in (("ours", fit_ours, 16), ("peer", fit_peer, 15)):
        short, long = [], []
        for _ in range(runs):
            short.append(timed(lambda fit=fit, b=base: fit(X, y, K, 1e-300, b))[2])
            long.append(
                timed(lambda fit=fit, b=base: fit(X, y, K, 1e-300, b + extra))[2]
            )
        out[name] = (np.median(long) - np.median(short)) / extra
    return out


def peer_outputs(peer, X):
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        return peer.predict(X, mean_factor=False), peer.predict(X, mean_factor=True)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def rel_diff(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def compare(n, t, L, K, tol, runs):
    data = simulate(n, t, L, K)
    X, y = data.X, data.y
    ours = IPCARegressor(K, iter_tol=tol, n_jobs=OURS_JOBS).fit(X, y)  # warm-up
    peer = fit_peer(X, y, K, tol)  # warm-up: numba compiles here
    times = {"ours": [], "peer": []}
    for _ in range(runs):  # interleaved, so machine load hits both alike
        ours, wall, cpu = timed(
            lambda: IPCARegressor(K, iter_tol=tol, n_jobs=OURS_JOBS).fit(X, y)
        )
        times["ours"].append((wall, cpu))
        peer, wall, cpu = timed(lambda: fit_peer(X, y, K, tol))
        times["peer"].append((wall, cpu))
    fitted_peer, pred_peer = peer_outputs(peer, X)
    iteration = per_iteration(X, y, K, max(3, runs // 2))
    fitted_ours, pred_ours = ours.predict_total(X, y), ours.predict(X)
    med = {k: np.median(np.array(v), axis=0) for k, v in times.items()}
    return {
        "panel": f"N={n}, T={t}, L={L}, K={K}",
        "iter_tol": tol,
        "n_iter": ours.n_iter_,
        "ours_wall": med["ours"][0],
        "peer_wall": med["peer"][0],
        "ratio_wall": med["peer"][0] / med["ours"][0],
        "ours_cpu": med["ours"][1],
        "peer_cpu": med["peer"][1],
        "ratio_cpu": med["peer"][1] / med["ours"][1],
        "fitted_rel": rel_diff(fitted_ours, fitted_peer),
        "pred_rel": rel_diff(pred_ours, pred_peer),
        "r2_total": (r2_total(y, fitted_ours), r2_total(y, fitted_peer)),
        "r2_pred": (r2_predictive(y, pred_ours), r2_predictive(y, pred_peer)),
        "iter_ours": iteration["ours"],
        "iter_peer": iteration["peer"],
        "gamma_absdiff": float(
            np.max(np.abs(ours.gamma_.to_numpy() - peer.Gamma[:, :K]))
        ),
    }


def breakdown(n, t, L, K, tol, runs):
    """Median wall ms of each stage of our fit (the steps of ``fit``, in order)."""
    from sklearn_neurif.ipca import _estimator as _ipca
    from sklearn_neurif.ipca._als import ALSMoments
    from sklearn_neurif.panel._managed import managed_portfolios

    data = simulate(n, t, L, K)
    X, y = data.X, data.y
    est = IPCARegressor(K, iter_tol=tol, n_jobs=OURS_JOBS)
    times = {name: [] for name in STAGES}

    @contextlib.contextmanager
    def stage(name):
        start = time.perf_counter()
        yield
        times[name].append(time.perf_counter() - start)

    for _ in range(runs + 1):  # the first run warms up
        with stage(STAGES[0]):
            Z, r, layout = est._check_training_data(X, y)
        with _ipca._one_blas_thread():
            with stage(STAGES[1]):
                W, x, n_obs = managed_portfolios(
                    Z, r, layout, n_jobs=effective_n_jobs(OURS_JOBS)
                )
            with stage(STAGES[2]):
                est._check_finite(X, Z, r, W)
                active = n_obs > 0
                if not active.all():
                    W, x = W[active], x[active]
                est._check_identified(W, n_obs, layout)
            with stage(STAGES[3]):
                moments = ALSMoments.build(W, n_obs[active], None)
                result = est._alternating_least_squares(moments, x)
                gamma, F = result.gamma, result.F
        with stage(STAGES[4]):
            est._store(gamma, F, active, layout)
    return {k: 1e3 * float(np.median(v[1:])) for k, v in times.items()}


# --- CRSP scale, in a fresh process so that memory figures are its own -------


def scale_child(directory, K, tol):
    """Load the saved panel, fit once timed, once under tracemalloc."""
    arrays = np.load(Path(directory) / "panel.npz")
    index = pd.MultiIndex.from_arrays(
        [arrays["entity"], arrays["time"]], names=["entity", "time"]
    )
    L = arrays["Z"].shape[1]
    X = pd.DataFrame(arrays["Z"], index=index, columns=[f"c{j + 1}" for j in range(L)])
    y = pd.Series(arrays["r"], index=index, name="ret_next")
    del arrays
    panel_bytes = int(X.memory_usage(deep=True).sum() + y.memory_usage(deep=True))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est, wall, cpu = timed(lambda: IPCARegressor(K, iter_tol=tol).fit(X, y))
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        IPCARegressor(K, iter_tol=tol).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    print(
        json.dumps(
            {
                "rows": len(X),
                "wall": wall,
                "cpu": cpu,
                "n_iter": est.n_iter_,
                "panel_bytes": panel_bytes,
                "fit_peak_bytes": peak,
                "rss_before": rss_before,
                "rss_peak": rss_after,
                "r2_total": r2_total(y, est.predict_total(X, y)),
                "r2_pred": r2_predictive(y, est.predict(X)),
            }
        )
    )


def scale_run(n, t, L, K, tol):
    with tempfile.TemporaryDirectory() as directory:
        t0 = time.perf_counter()
        data = simulate(n, t, L, K, seed=1)
        idx = data.X.index
        np.savez(
            Path(directory) / "panel.npz",
            Z=data.X.to_numpy(),
            r=data.y.to_numpy(),
            entity=idx.get_level_values(0).to_numpy(),
            time=idx.get_level_values(1).to_numpy(),
        )
        del data, idx
        simulate_s = time.perf_counter() - t0
        out = subprocess.run(
            [sys.executable, __file__, "--child", directory, str(K), repr(tol)],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(panel=f"N={n}, T={t}, L={L}, K={K}", simulate_s=simulate_s, tol=tol)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small panels")
    parser.add_argument("--runs", type=int, default=5, help="timed runs each")
    parser.add_argument(
        "--tol", type=float, nargs="+", default=[1e-6, 1e-10], help="iter_tol"
    )
    parser.add_argument("--no-scale", action="store_true", help="skip CRSP scale")
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="IPCARegressor(n_jobs=...): threads for our moments (the peer: 1)",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global OURS_JOBS
    OURS_JOBS = args.n_jobs
    if args.child:
        directory, K, tol = args.child
        scale_child(directory, int(K), float(tol))
        return

    size = (300, 60, 10, 5) if args.quick else (1000, 240, 30, 5)
    runs = 3 if args.quick else args.runs
    load = os.getloadavg()
    print(
        f"# IPCARegressor vs ipca.InstrumentedPCA 0.6.7\n\n"
        f"cores: {os.cpu_count()}, load average at start: {load[0]:.1f}, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"runs per estimator: {runs} (median), ours n_jobs={OURS_JOBS}, peer n_jobs=1\n"
    )
    print(
        "| panel | iter_tol | ALS iterations | ours wall s | peer wall s "
        "| speed-up wall | speed-up CPU | CPU ms per ALS iteration ours / peer "
        "| max rel diff fitted | max rel diff predicted | total R2 ours / peer "
        "| predictive R2 ours / peer |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for tol in args.tol:
        r = compare(*size, tol, runs)
        print(
            f"| {r['panel']} | {tol:g} | {r['n_iter']} | {r['ours_wall']:.3f} "
            f"| {r['peer_wall']:.2f} | {r['ratio_wall']:.1f}x | {r['ratio_cpu']:.1f}x "
            f"| {1e3 * r['iter_ours']:.2f} / {1e3 * r['iter_peer']:.1f} "
            f"| {r['fitted_rel']:.1e} | {r['pred_rel']:.1e} "
            f"| {r['r2_total'][0]:.6f} / {r['r2_total'][1]:.6f} "
            f"| {r['r2_pred'][0]:.6f} / {r['r2_pred'][1]:.6f} |",
            flush=True,
        )
    print(f"\nload average after the comparison: {os.getloadavg()[0]:.1f}")
    print("\n## Stages of our fit (median wall ms)\n")
    print("| iter_tol | " + " | ".join(STAGES) + " | total |")
    print("|---" * (len(STAGES) + 2) + "|")
    for tol in args.tol:
        b = breakdown(*size, tol, runs)
        cells = " | ".join(f"{b[k]:.1f}" for k in STAGES)
        print(f"| {tol:g} | {cells} | {sum(b.values()):.1f} |", flush=True)
    if args.no_scale:
        return
    scale = (1000, 120, 30, 5) if args.quick else (6000, 480, 94, 5)
    s = scale_run(*scale, tol=args.tol[0])
    gb = 1024.0**3
    print(
        "\n## CRSP scale (ours only, fresh process)\n\n"
        "| panel | rows | iter_tol | ALS iterations | fit wall s | fit CPU s "
        "| panel in memory GB | fit peak extra GB (tracemalloc) "
        "| process RSS before fit GB | process peak RSS GB | total R2 "
        "| predictive R2 |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    print(
        f"| {s['panel']} | {s['rows']:,} | {s['tol']:g} | {s['n_iter']} "
        f"| {s['wall']:.1f} | {s['cpu']:.1f} | {s['panel_bytes'] / gb:.2f} "
        f"| {s['fit_peak_bytes'] / gb:.2f} | {s['rss_before'] / gb:.2f} "
        f"| {s['rss_peak'] / gb:.2f} "
        f"| {s['r2_total']:.4f} | {s['r2_pred']:.5f} |"
    )
    print(f"\n(simulating the CRSP-scale panel took {s['simulate_s']:.0f} s)")


if __name__ == "__main__":
    main()
