"""Why NeurIF stalls at IPCA's start when a factor has no linear footprint.

At IPCA's solution, add ``a`` times the true nonlinear loading (the factor
without a linear part, ``make_design_family_panel``'s ``pure_*`` designs) to
IPCA's k-th loading and re-run the realised-factor regression of each
training month, as NeurIF's loss does. Prints, per k, the training fit
(``1 - R^2`` as in the loss) against ``a``: its slope at 0 (the gradient a
zero-initialised deviation receives) and the gain at the best ``a``, and the
month-by-month gradient: its mean against its standard deviation over months
(the noise a batch of 8 months carries).

Usage::

    python benchmarks/neurif_saddle.py --design pure_interaction --seed 0
"""

from __future__ import annotations

import argparse

import numpy as np

from sklearn_neurif import IPCARegressor
from sklearn_neurif.datasets import make_design_family_panel


def fit_loss(B, r, ridge=1e-4):
    """Sum over months of ||r_t - B_t f_t||^2 with f_t the ridge regression."""
    sse, grad_months = 0.0, []
    for Bt, rt in zip(B, r, strict=True):
        K = Bt.shape[1]
        f = np.linalg.solve(Bt.T @ Bt + ridge * np.eye(K), Bt.T @ rt)
        e = rt - Bt @ f
        sse += e @ e
        grad_months.append((e, f))
    return sse, grad_months


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", default="pure_interaction")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-entities", type=int, default=600)
    parser.add_argument("--n-periods", type=int, default=220)
    parser.add_argument("--train", type=int, default=160)
    args = parser.parse_args(argv)
    data = make_design_family_panel(
        args.design,
        n_entities=args.n_entities,
        n_periods=args.n_periods,
        random_state=args.seed,
    )
    times = data.X.index.get_level_values("time").to_numpy()
    train = times < args.train
    X, y = data.X[train], data.y[train]
    ipca = IPCARegressor(n_factors=3).fit(X, y)
    beta = X.to_numpy() @ ipca.gamma_.to_numpy()
    phi = data.nonlinear_loadings.to_numpy()[train][:, -1]
    t = times[train]
    months = np.unique(t)
    B = [beta[t == m] for m in months]
    P = [phi[t == m] for m in months]
    r = [y.to_numpy()[t == m] for m in months]
    denom = sum(rt @ rt for rt in r)
    base, parts = fit_loss(B, r)
    print(f"{args.design} seed {args.seed}: IPCA training fit term {base / denom:.5f}")
    sd_beta = np.sqrt(np.mean(beta**2, axis=0))
    for k in range(3):
        # Envelope theorem: d/da sum_t ||r - (B + a phi e_k') f||^2 at a=0
        # is -2 sum_t f_tk phi_t'e_t (f is re-fitted each month).
        g = (
            np.array([-2 * f[k] * (p @ e) for (e, f), p in zip(parts, P, strict=True)])
            / denom
        )
        scales = np.array([0.01, 0.03, 0.1, 0.3, 1.0]) * sd_beta[k]
        gains = []
        for a in scales:
            Ba = [Bt.copy() for Bt in B]
            for Bt, p in zip(Ba, P, strict=True):
                Bt[:, k] += a * p / np.sqrt(np.mean(phi**2))
            gains.append((fit_loss(Ba, r)[0] - base) / denom)
        print(
            f"  factor {k + 1}: gradient mean {g.mean():+.2e}, sd over months "
            f"{g.std():.2e} (t over the sample {g.mean() / g.std() * np.sqrt(len(g)):+.2f});"
            " fit change at a = "
            + ", ".join(
                f"{s / sd_beta[k]:.2f}sd: {100 * v:+.4f}"
                for s, v in zip(scales, gains, strict=True)
            )
            + " (points)"
        )


if __name__ == "__main__":
    main()
