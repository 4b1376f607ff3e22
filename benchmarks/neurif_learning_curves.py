"""Why NeurIF does (not) learn the nonlinearity: one change at a time.

For each configuration (the defaults, then one parameter changed), each
design of ``make_design_family_panel`` and each seed, fit NeurIF on the
first ``--train`` months and record:

* the out-of-sample total and predictive R^2, and the predictive R^2 the same
  loadings get with IPCA's premia rule (the training mean of the realised
  factors, ``factors_.mean()``) instead of the premia head;
* the epoch kept by early stopping, the epochs run and the fit time;
* the per-epoch history (train/valid fit and predictive terms, deviation
  share), written to ``<out>/learning_curves_history.csv`` for the figures.

IPCA and the oracle on the same panel give the gap. ``--plot`` draws the
figures of ``docs/neurif_tuning.md`` from the CSV files.

Usage::

    python benchmarks/neurif_learning_curves.py --configs default pw0 dev0
    python benchmarks/neurif_learning_curves.py --plot --out docs/_static
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sklearn_neurif import IPCARegressor, NeurIFRegressor
from sklearn_neurif.datasets import make_design_family_panel
from sklearn_neurif.metrics import r2_predictive, r2_total

#: name -> NeurIF parameters changed from the defaults.
CONFIGS = {
    "default": {},
    # The defaults before issue 19 (zero start of g, early stopping on the loss).
    "former": dict(deviation_init=0.0, validation_criterion="loss"),
    "svd": dict(init="svd"),
    "pw0": dict(prediction_weight=0.0),
    "pw0.1": dict(prediction_weight=0.1),
    "dev0": dict(deviation_penalty=0.0),
    "dev0.1": dict(deviation_penalty=0.1),
    "dev10": dict(deviation_penalty=10.0),
    "patience20": dict(patience=20),
    "patience30": dict(patience=30, max_epochs=200),
    "lr3e-3": dict(lr=3e-3),
    "lr3e-4": dict(lr=3e-4),
    "batch2": dict(batch_months=2),
    "batch32": dict(batch_months=32),
    "window1": dict(window=1),
    "notemporal": dict(temporal_attention=False),
    "width16": dict(hidden_size=16),
    "width64": dict(hidden_size=64),
    "dropout0.1": dict(dropout=0.1),
    "wd1e-2": dict(weight_decay=1e-2),
    "wd0": dict(weight_decay=0.0),
    "orth0": dict(orthogonality_penalty=0.0),
    "window3": dict(window=3),
    "patience40": dict(patience=40, max_epochs=200),
    "ginit0.1": dict(deviation_init=0.1),
    "ginit0.3": dict(deviation_init=0.3),
    "ginit1": dict(deviation_init=1.0),
    "resid": dict(deviation_init="residual"),
    "valr2": dict(validation_criterion="total_r2"),
    # The five changes of issue 19 that together left IPCA's start.
    "issue19": dict(
        hidden_size=64, lr=3e-4, patience=40, window=3, orthogonality_penalty=0.0
    ),
}


def parse_config(name):
    """A CONFIGS name, or ``a+b`` to combine several changes."""
    params = {}
    for part in name.split("+"):
        params.update(CONFIGS[part])
    return params


def run_one(config, design, seed, sizes, n_train):
    data = make_design_family_panel(design, **sizes, random_state=seed)
    train = np.asarray(data.X.index.get_level_values("time") < n_train)
    X, y = data.X, data.y
    Xte, yte = X[~train], y[~train]
    ipca = IPCARegressor(n_factors=3).fit(X[train], y[train])
    est = NeurIFRegressor(n_factors=3, random_state=seed, **parse_config(config))
    start = time.perf_counter()
    est.fit(X[train], y[train])
    fit_s = time.perf_counter() - start
    loadings = np.asarray(est.transform(Xte))[:, :3]
    mean_premia = loadings @ est.factors_.mean().to_numpy()
    row = {
        "config": config,
        "design": design,
        "seed": seed,
        "oracle": r2_total(yte, data.oracle_fit[~train]),
        "ipca": r2_total(yte, ipca.predict_total(Xte, yte)),
        "ipca_pred": r2_predictive(yte, ipca.predict(Xte)),
        "total": r2_total(yte, est.predict_total(Xte, yte)),
        "pred": r2_predictive(yte, est.predict(Xte)),
        "pred_mean_premia": r2_predictive(yte, mean_premia),
        "best_epoch": est.best_epoch_,
        "epochs": est.n_iter_,
        "fit_s": fit_s,
    }
    row["closed"] = (row["total"] - row["ipca"]) / (row["oracle"] - row["ipca"])
    history = est.history_.assign(config=config, design=design, seed=seed)
    return row, history


def plot(out: Path, seed=None, name="neurif_learning_curves.png"):
    """Validation total R^2, the early-stopping loss and the training fit per epoch.

    Dotted lines mark the epoch early stopping kept.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = pd.read_csv(out / "learning_curves_history.csv")
    seed = history["seed"].min() if seed is None else seed
    history = history[history["seed"] == seed]
    designs = list(dict.fromkeys(history["design"]))
    configs = list(dict.fromkeys(history["config"]))
    fig, axes = plt.subplots(3, len(designs), figsize=(3.4 * len(designs), 8))
    axes = np.atleast_2d(axes).reshape(3, -1)
    for j, design in enumerate(designs):
        for config in configs:
            curve = history[(history.design == design) & (history.config == config)]
            if curve.empty:
                continue
            valid_r2 = 100 * (1 - curve["valid_fit"])
            (line,) = axes[0, j].plot(curve["epoch"], valid_r2, label=config)
            # The change of what early stopping monitors, in points of loss.
            change = 100 * (curve["valid_loss"] - curve["valid_loss"].iloc[0])
            axes[1, j].plot(curve["epoch"], change, color=line.get_color())
            train_r2 = 100 * (1 - curve["train_fit"])
            axes[2, j].plot(curve["epoch"], train_r2, color=line.get_color())
            best = curve["epoch"].to_numpy()[np.argmin(curve["valid_loss"].to_numpy())]
            axes[0, j].axvline(best, color=line.get_color(), lw=0.8, ls=":")
        axes[0, j].set_title(f"{design} (seed {seed})")
        axes[2, j].set_xlabel("epoch")
    axes[0, 0].set_ylabel("validation total R2 (%)")
    axes[1, 0].set_ylabel("validation loss - epoch 1 (x100)")
    axes[2, 0].set_ylabel("training total R2 (%, mean over batches)")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["default"])
    parser.add_argument("--designs", nargs="+", default=["linear", "abs", "regime"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n-entities", type=int, default=300)
    parser.add_argument("--n-periods", type=int, default=120)
    parser.add_argument("--train", type=int, default=90)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--plot", action="store_true", help="figures from the CSVs")
    parser.add_argument("--plot-seed", type=int, default=None)
    parser.add_argument("--plot-name", default="neurif_learning_curves.png")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.plot:
        plot(args.out, args.plot_seed, args.plot_name)
        return
    torch.set_num_threads(1)
    sizes = dict(n_entities=args.n_entities, n_periods=args.n_periods)
    rows, histories = [], []
    for config in args.configs:
        for design in args.designs:
            for seed in args.seeds:
                row, history = run_one(config, design, seed, sizes, args.train)
                rows.append(row)
                histories.append(history)
                print(
                    " ".join(
                        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()
                    ),
                    flush=True,
                )
    runs = pd.DataFrame(rows)
    runs.to_csv(args.out / "learning_curves_runs.csv", index=False)
    pd.concat(histories).to_csv(args.out / "learning_curves_history.csv", index=False)
    summary = runs.groupby(["config", "design"], sort=False)[
        ["total", "ipca", "oracle", "closed", "pred", "pred_mean_premia", "ipca_pred"]
    ].mean()
    print(summary.round(4).to_string())


if __name__ == "__main__":
    main()
