"""Spread over seeds of out-of-sample predictive R²: single fits vs seed ensembles.

Panel: ``make_conditional_factor_panel(N, T, L, K, loadings="nonlinear")``
(by default N=200, T=96, L=6, K=2), the last quarter of the months for test.
A neural model is fitted ``--singles`` times with seeds 0, 1, ..., and
``SeedEnsembleRegressor(model, n_estimators=M)`` ``--ensembles`` times with
``random_state`` 0, 1, ...; each fit is scored by the uncentred predictive
R² on the test months. Printed: mean and standard deviation of that R² over
the single fits and over the ensembles, and their ratio (about
:math:`1/\\sqrt M` when the members' errors are independent).

Usage::

    python benchmarks/seed_ensemble_variance.py
    python benchmarks/seed_ensemble_variance.py --model neurif --members 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sklearn_neurif import (
    ConditionalAutoencoderRegressor,
    NeurIFRegressor,
    SeedEnsembleRegressor,
)
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.model_selection import temporal_train_test_split

MODELS = {
    "ca": lambda k: ConditionalAutoencoderRegressor(
        n_factors=k, n_hidden_layers=1, lr=1e-2, max_epochs=50
    ),
    "neurif": lambda k: NeurIFRegressor(n_factors=k, window=3, lr=1e-2, max_epochs=20),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="ca")
    parser.add_argument("--members", type=int, default=5, help="M per ensemble")
    parser.add_argument("--singles", type=int, default=10)
    parser.add_argument("--ensembles", type=int, default=3)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--t", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = make_conditional_factor_panel(
        args.n, args.t, 6, 2, loadings="nonlinear", random_state=0
    )
    X_tr, X_te, y_tr, y_te = temporal_train_test_split(data.X, data.y)
    model = MODELS[args.model](2)
    start = time.perf_counter()
    single = [
        model.set_params(random_state=s).fit(X_tr, y_tr).score(X_te, y_te)
        for s in range(args.singles)
    ]
    ensemble = [
        SeedEnsembleRegressor(model, n_estimators=args.members, random_state=s)
        .fit(X_tr, y_tr)
        .score(X_te, y_te)
        for s in range(args.ensembles)
    ]
    elapsed = time.perf_counter() - start
    print(f"{args.model}, N={args.n}, T={args.t}, M={args.members}, {elapsed:.0f} s")
    for name, r2 in (
        ("single fits", single),
        (f"ensembles of {args.members}", ensemble),
    ):
        r2 = 100 * np.asarray(r2)
        print(
            f"  {name:<14} n={len(r2):>2}  OOS R2_pred mean {r2.mean():.3f}%  "
            f"sd {r2.std(ddof=1):.3f}%  [{', '.join(f'{v:.3f}' for v in r2)}]"
        )
    ratio = np.std(ensemble, ddof=1) / np.std(single, ddof=1)
    print(
        f"  sd ratio ensemble/single: {ratio:.2f} "
        f"(1/sqrt(M) = {1 / np.sqrt(args.members):.2f})"
    )


if __name__ == "__main__":
    main()
