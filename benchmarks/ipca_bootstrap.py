"""Bootstrap tests of IPCA: ours against ``ipca`` 0.6.7, same panel, same run.

W_alpha (model with intercept) and one W_beta,l (restricted model; ``ipca``'s
``BS_Wbeta`` crashes on today's numpy, ``np.trace`` of a scalar, so its draw
function is run from a copy below with the trace removed, the installed
package untouched). Both sides run one process (n_jobs=1) with one BLAS thread.
``ipca`` is too slow for 1000 draws here: it runs ``--peer-draws`` draws and
its time per draw is extrapolated to ``--draws`` (printed as such).

    python benchmarks/ipca_bootstrap.py                  # 1000 x 240 x 20, 1000 draws
    python benchmarks/ipca_bootstrap.py --quick          # small panel, a minute
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.inference import ipca_alpha_test, ipca_instrument_test


def peer_wbeta_sub(model, n, d, l):  # noqa: E741 (ipca's name)
    """``ipca.ipca._BS_Wbeta_sub`` 0.6.7 with its crashing ``np.trace`` removed."""
    L, T = model.metad["L"], model.metad["T"]
    Q_b = np.full((L, T), np.nan)
    np.random.seed(n)  # noqa: NPY002 (ipca's code, kept as is)
    Gamma_beta_l = np.copy(model.Gamma)
    Gamma_beta_l[l, :] = 0
    for t in range(T):
        d_temp = np.random.standard_t(5)  # noqa: NPY002
        d_temp *= d[:, np.random.randint(0, high=T)]  # noqa: NPY002
        Q_b[:, t] = model.W[:, :, t].dot(Gamma_beta_l).dot(model.Factors[:, t]) + d_temp
    Gamma, _ = model._fit_ipca(
        Q=Q_b, W=model.W, val_obs=model.val_obs, PSF=model.PSF, quiet=True,
        data_type="portfolio",
    )  # fmt: skip
    return float(np.sum(Gamma[l, :] ** 2))


def peer_residuals(peer):
    return peer.Q - np.einsum("ljt,jk,kt->lt", peer.W, peer.Gamma, peer.Factors)


def quiet():
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def run(args):
    import ipca
    from ipca.ipca import _BS_Walpha_sub

    data = make_conditional_factor_panel(
        args.n, args.t, args.l, args.k, intercept=False, random_state=0
    )
    X, y = data.X, data.y
    print(f"panel N={args.n} T={args.t} L={args.l} K={args.k}, iter_tol={args.tol}")
    print(
        "uptime before:",
        subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    )
    rows = []
    for test in ("W_alpha", "W_beta"):
        intercept = test == "W_alpha"
        ours = IPCARegressor(args.k, intercept=intercept, iter_tol=args.tol).fit(X, y)
        with quiet(), threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peer = ipca.InstrumentedPCA(args.k, intercept=intercept, iter_tol=args.tol)
            peer.fit(X, y)
        start = time.perf_counter()
        if intercept:
            res = ipca_alpha_test(
                ours, X, y, n_boot=args.draws, random_state=1, progress=False
            )
            peer_stat = float(peer.Gamma[:, -1] @ peer.Gamma[:, -1])
        else:
            res = ipca_instrument_test(
                ours, X, y, "c1", n_boot=args.draws, random_state=1, progress=False
            )
            peer_stat = float(np.sum(peer.Gamma[0] ** 2))
        ours_s = time.perf_counter() - start
        d = peer_residuals(peer)
        start = time.perf_counter()
        with quiet(), threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if intercept:
                draws = [_BS_Walpha_sub(peer, n, d) for n in range(args.peer_draws)]
            else:
                draws = [peer_wbeta_sub(peer, n, d, 0) for n in range(args.peer_draws)]
        peer_s = time.perf_counter() - start
        peer_p = float(np.mean(np.asarray(draws) > peer_stat))
        per_ours, per_peer = ours_s / args.draws, peer_s / args.peer_draws
        se = np.sqrt(
            max(res.pvalue * (1 - res.pvalue), 1e-4)
            * (1 / args.draws + 1 / args.peer_draws)
        )
        rows.append(
            (
                test,
                res.stat,
                peer_stat,
                res.pvalue,
                peer_p,
                se,
                ours_s,
                per_ours,
                per_peer,
                per_peer * args.draws,
            )
        )
    print(
        "uptime after:",
        subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    )
    print(
        "| test | stat ours | stat ipca | rel. diff | p ours "
        f"({args.draws} draws) | p ipca ({args.peer_draws} draws) | MC s.e. of the difference | "
        f"ours s ({args.draws} draws) | ours ms/draw | ipca ms/draw | ipca s for {args.draws} "
        "(extrapolated) | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for test, s, ps, p, pp, se, os_, po, pq, pe in rows:
        print(
            f"| {test} | {s:.6g} | {ps:.6g} | {abs(s - ps) / abs(ps):.1e} | {p:.3f} | {pp:.3f} | "
            f"{se:.3f} | {os_:.1f} | {1e3 * po:.1f} | {1e3 * pq:.0f} | {pe:.0f} | **{pq / po:.0f}x** |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=200, T=60, L=6")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--peer-draws", type=int, default=20)
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args()
    args.n, args.t, args.l, args.k = (
        (200, 60, 6, 2) if args.quick else (1000, 240, 20, 3)
    )
    if args.quick:
        args.draws, args.peer_draws = min(args.draws, 200), min(args.peer_draws, 10)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run(args)


if __name__ == "__main__":
    main()
