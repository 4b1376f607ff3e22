"""How much of the ``latent_state`` design any model could learn: a Bayes-filter bound.

In ``make_design_family_panel("latent_state")`` the last factor's loading is
kappa * s_{i,t}, a per-asset state in {-1, +1} that flips with probability
1/24 a month and is independent of every characteristic; a model can only
infer it from the asset's own past returns. This script computes what an
*infeasible* model would gain on the test months: one that knows the true
factor realisations f, the linear loadings, kappa, the noise variance and the
Markov law of s, and infers s_{i,t} from the returns r_{i,<=t} with the exact
forward (hidden-Markov) filter. No model fitted to the panel can know more,
so the share of the state's R^2 it recovers bounds what NeurIF (or any
model) can recover; NeurIF's window is 12 months, so the bound is also
computed with the filter restarted 12 months back.

Printed per seed (percent, test months = the last ``n_periods - train``),
total and predictive R^2 of:

* ``oracle (true beta'f)``: the true fit, as
  ``benchmarks/neurif_design_family.py`` scores the oracle;
* ``true loadings``: the true loadings, with each test month's factors
  regressed on them (as every model's total R^2 is scored);
* ``filter, all history`` / ``filter, 12 months``: the true loadings with
  kappa * E[s | past returns] for the state, from the whole history or the
  last 12 months;
* ``state unknown``: the true loadings without the state's (~0) column;
* ``IPCA`` (K=3, fitted on the training months);

with ``gap closed``, the share of the IPCA-to-oracle gap of the family
benchmark, and ``state recovered``, the share of what knowing s adds to the
total R^2 (``true loadings`` against ``state unknown``).

The filter sees the returns of the rows the panel contains (10% are missing
and give no update); the characteristics a model sees hold the rank of the
latest return even after a missing row, so the bound leaves out that much.

Usage::

    python benchmarks/latent_state_bound.py                # seeds 10 11 12, 600 x 220
    python benchmarks/latent_state_bound.py --seeds 0 1 2 --nonlinear-r2 0.06
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from sklearn_neurif.datasets import make_design_family_panel
from sklearn_neurif.datasets._design_family import _STATE_SWITCH
from sklearn_neurif.ipca import IPCARegressor
from sklearn_neurif.metrics import r2_predictive, r2_total

#: Monthly flip probability of the state (the design's).
SWITCH = _STATE_SWITCH


def filtered_state(u, f_last, kappa, noise_var, observed, window=None):
    """E[s_{i,t} | returns before t+1] by the forward filter, (T, N).

    ``u[t, i]`` is r_{i,t+1} minus its known part, = kappa s_{i,t}
    f_last[t] + e: observed with row (i, t) and usable from t+1 on.
    ``window``: the filter only uses the last ``window`` returns (restarted
    from the stationary prior 1/2 at every date).
    """
    T, N = u.shape
    # Log-likelihood ratio of s = +1 against s = -1 from each observation.
    llr = np.where(observed, 2.0 * kappa * f_last[:, None] * u / noise_var, 0.0)
    if window is None:
        return _forward(llr, T, N)
    out = np.empty((T, N))
    for t in range(T):
        start = max(0, t - window + 1)
        # The state at t sees the returns of rows start-1 .. t-1.
        out[t] = _forward(llr[max(0, start - 1) : t], t - max(0, start - 1) + 1, N)[-1]
    return out


def _forward(llr, T, N):
    """E[s_t] for t = 0..T-1 given llr rows 0..t-1 (row t-1 informs s_{t-1})."""
    p_up = np.full(N, 0.5)
    out = np.empty((T, N))
    for t in range(T):
        out[t] = 2.0 * p_up - 1.0
        if t < len(llr):
            # Posterior of s_t given its own observation, then one Markov step.
            odds = np.log(p_up) - np.log1p(-p_up) + llr[t]
            post = 1.0 / (1.0 + np.exp(-np.clip(odds, -50, 50)))
            p_up = post * (1.0 - SWITCH) + (1.0 - post) * SWITCH
            p_up = np.clip(p_up, 1e-12, 1.0 - 1e-12)
    return out


def _regression_fit(b, r, observed):
    """Per month, r on the loadings b by OLS over the assets present: b f_hat, (T, N)."""
    fit = np.zeros_like(r)
    for t in range(r.shape[0]):
        rows = observed[t]
        if rows.sum() > b.shape[-1]:
            coef, *_ = np.linalg.lstsq(b[t, rows], r[t, rows], rcond=None)
            fit[t, rows] = b[t, rows] @ coef
    return fit


def one_seed(seed, n_entities, n_periods, n_train, nonlinear_r2):
    data = make_design_family_panel(
        "latent_state",
        n_entities=n_entities,
        n_periods=n_periods,
        nonlinear_r2=nonlinear_r2,
        random_state=seed,
    )
    index = data.X.index
    entity = index.get_level_values("entity").to_numpy()
    time = index.get_level_values("time").to_numpy()
    T, N = int(time.max()) + 1, int(entity.max()) + 1
    K = data.loadings.shape[1]

    def dense(values):
        out = np.zeros((T, N))
        out[time, entity] = values
        return out

    observed = dense(np.ones(len(index))).astype(bool)
    f = data.factors.to_numpy()  # row t: f_{t+1}
    beta = np.stack([dense(data.loadings.iloc[:, k]) for k in range(K)], axis=-1)
    state_part = dense(data.nonlinear_loadings.iloc[:, -1])
    kappa = float(np.mean(np.abs(state_part[observed])))
    s = np.sign(state_part)  # the state (the residualisation shifts it by ~1e-3)
    known = beta.copy()
    known[..., -1] -= kappa * s  # everything but kappa * s
    r = dense(data.y.to_numpy())
    u = r - np.einsum("tnk,tk->tn", known, f)
    noise_var = float(data.noise_vol) ** 2
    test = time >= n_train
    yte = data.y[test]

    def scores(s_hat, drop_state=False):
        """Total R^2 with factors regressed on these loadings, as models are scored."""
        b = known.copy()
        b[..., -1] += kappa * s_hat
        if drop_state:  # the state's column is ~0: leave it out of the regression
            b = b[..., :-1]
        pred = (b @ data.factor_means[: b.shape[-1]])[time, entity]
        return (
            100
            * r2_total(
                yte,
                pd.Series(_regression_fit(b, r, observed)[time, entity], index=index)[
                    test
                ],
            ),
            100 * r2_predictive(yte, pd.Series(pred, index=index)[test]),
        )

    rows = {
        "oracle (true beta'f)": (
            100 * r2_total(yte, data.oracle_fit[test]),
            100 * r2_predictive(yte, data.oracle_pred[test]),
        ),
        "true loadings": scores(s),
        "filter, all history": scores(
            filtered_state(u, f[:, -1], kappa, noise_var, observed)
        ),
        "filter, 12 months": scores(
            filtered_state(u, f[:, -1], kappa, noise_var, observed, window=12)
        ),
        "state unknown": scores(np.zeros((T, N)), drop_state=True),
    }
    ipca = IPCARegressor(n_factors=K).fit(data.X[~test], data.y[~test])
    rows["IPCA"] = (
        100 * r2_total(yte, ipca.predict_total(data.X[test], yte)),
        100 * r2_predictive(yte, ipca.predict(data.X[test])),
    )
    table = pd.DataFrame(rows, index=["total", "pred"]).T
    total = table["total"]
    gap = total["oracle (true beta'f)"] - total["IPCA"]
    table["gap closed"] = (total - total["IPCA"]) / gap
    # The share of what knowing s adds (same loadings otherwise, same scoring).
    state = total["true loadings"] - total["state unknown"]
    table["state recovered"] = (total - total["state unknown"]) / state
    table.insert(0, "seed", seed)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12])
    parser.add_argument("--n-entities", type=int, default=600)
    parser.add_argument("--n-periods", type=int, default=220)
    parser.add_argument("--train", type=int, default=160)
    parser.add_argument("--nonlinear-r2", type=float, default=0.03)
    args = parser.parse_args(argv)
    tables = [
        one_seed(s, args.n_entities, args.n_periods, args.train, args.nonlinear_r2)
        for s in args.seeds
    ]
    runs = pd.concat(tables)
    pd.set_option("display.width", 120)
    print(runs.round(3).to_string())
    mean = runs.drop(columns="seed").groupby(level=0, sort=False).mean()
    print(f"\nmean over seeds {args.seeds}:")
    print(mean.round(3).to_string())


if __name__ == "__main__":
    main()
