"""Does CA2 suffer from what held NeurIF back? One change at a time.

Issue 13, item 6: the conditional autoencoder is the baseline NeurIF is
judged against and must not be handicapped by its training defaults. For
each configuration (CA2's defaults before issue 13, GKX's network factors
and lr 1e-3, then one change), each design of ``make_design_family_panel`` and each seed, fit
``ConditionalAutoencoderRegressor(n_factors=3, n_hidden_layers=2)`` on the
first ``--train`` months and record the out-of-sample total and predictive
R^2 against IPCA's on the same panel, the share of the IPCA-to-oracle gap
closed, the epoch early stopping kept and the epochs run.

Usage::

    python benchmarks/ca_tuning.py --configs gkx patience20 l1_0
    python benchmarks/ca_tuning.py --n-entities 600 --n-periods 220 --train 160
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

# The design family's panels and evaluation (benchmarks/ is the script's
# folder, so it is on sys.path).
from neurif_design_family import evaluate, panel

from sklearn_neurif import ConditionalAutoencoderRegressor, IPCARegressor
from sklearn_neurif.datasets import DESIGNS
from sklearn_neurif.metrics import r2_total

K = 3

#: The setup the changes start from: CA's defaults before issue 13 (GKX's
#: network factors, lr 1e-3).
GKX_SETUP = dict(lr=1e-3, realised_factors="network")

#: name -> CA2 parameters changed from ``GKX_SETUP``; the last one is the
#: current default.
CONFIGS = {
    "gkx": {},
    "patience20": dict(patience=20),
    "l1_0": dict(l1_penalty=0.0),
    "l1_1e-5": dict(l1_penalty=1e-5),
    "l1_1e-3": dict(l1_penalty=1e-3),
    "lr3e-3": dict(lr=3e-3),
    "lr3e-4": dict(lr=3e-4),
    "no_batch_norm": dict(batch_norm=False),
    "batch2": dict(batch_months=2),
    "wd1e-4": dict(weight_decay=1e-4),
    "regression": dict(realised_factors="regression"),
    "lr3e-3+regression": dict(lr=3e-3, realised_factors="regression"),
}


def run(configs, designs, seeds, sizes):
    rows = []
    for seed in seeds:
        for design in designs:
            data, train = panel(design, seed, sizes)
            base = {
                "oracle": r2_total(data.y[~train], data.oracle_fit[~train]),
                **_prefixed(evaluate(IPCARegressor(n_factors=K), data, train)),
            }
            for name in configs:
                ca = ConditionalAutoencoderRegressor(
                    n_factors=K,
                    n_hidden_layers=2,
                    random_state=seed,
                    **{**GKX_SETUP, **CONFIGS[name]},
                )
                row = evaluate(ca, data, train)
                rows.append(
                    {"config": name, "design": design, "seed": seed, **base, **row}
                )
                print(
                    f"  {name:<14} {design:<18} seed {seed}  total - IPCA "
                    f"{100 * (row['total'] - base['ipca_total']):+6.2f}  pred - IPCA "
                    f"{100 * (row['pred'] - base['ipca_pred']):+6.3f}  best epoch "
                    f"{row['best_epoch']} of {row['epochs']}  {row['fit_s']:5.1f} s",
                    flush=True,
                )
    return pd.DataFrame(rows)


def _prefixed(result):
    return {"ipca_total": result["total"], "ipca_pred": result["pred"]}


def summary(runs: pd.DataFrame) -> str:
    """Markdown: config x design, means over seeds (points of R^2)."""
    runs = runs.assign(
        d_total=100 * (runs.total - runs.ipca_total),
        d_pred=100 * (runs.pred - runs.ipca_pred),
        closed=(runs.total - runs.ipca_total) / (runs.oracle - runs.ipca_total),
    )
    runs.loc[runs.design == "linear", "closed"] = np.nan
    runs = pd.concat(
        [runs, runs[runs.design != "linear"].assign(design="nonlinear avg")]
    )
    cols = ["d_total", "d_pred", "closed", "best_epoch", "epochs", "fit_s"]
    mean = runs.groupby(["config", "design"], sort=False)[cols].mean()
    head = "| config | design | total - IPCA | pred - IPCA | gap closed | best epoch"
    lines = [head + " | epochs | fit s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (config, design), m in mean.iterrows():
        closed = "" if np.isnan(m.closed) else f"{m.closed:.2f}"
        lines.append(
            f"| {config} | {design} | {m.d_total:+.2f} | {m.d_pred:+.3f} | {closed} "
            f"| {m.best_epoch:.1f} | {m.epochs:.1f} | {m.fit_s:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n-entities", type=int, default=250)
    parser.add_argument("--n-periods", type=int, default=100)
    parser.add_argument("--train", type=int, default=75, help="training months")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = dict(
        n_entities=args.n_entities, n_periods=args.n_periods, n_train=args.train
    )
    runs = run(args.configs, args.designs, args.seeds, sizes)
    text = summary(runs)
    print(text, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / f"ca_tuning{args.tag}_runs.csv", index=False)
    (args.out / f"ca_tuning{args.tag}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
