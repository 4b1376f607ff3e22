"""NeurIF against its baselines on the design family, over several seeds.

Each seed draws a fresh panel of every design (``make_design_family_panel``:
a linear null, five nonlinearities on factors with a linear core and four
designs where a factor has no linear part, oracle total R^2 20% of which 3
points are nonlinear, 12 rank-scaled characteristics plus a constant, 10% of
rows missing) and seeds the models with the same number. Models are trained
on the first ``--train`` months and tested on the rest:

* ``IPCA``: ``IPCARegressor(n_factors=3)``;
* ``IPCA pairwise``: IPCA on the characteristics, all their pairwise
  products and their absolute values (a generic linear expansion);
* ``CA2``: ``ConditionalAutoencoderRegressor(n_factors=3, n_hidden_layers=2)``;
* ``NeurIF former``: the defaults before issue 19 (``deviation_init=0.0,
  validation_criterion="loss"``), only when named in ``--models``;
* ``NeurIF``: ``NeurIFRegressor(n_factors=3)`` with its defaults (``--set
  name=value`` overrides a parameter, e.g. to compare candidate defaults);
* ``NeurIF candidate``: ``NeurIF`` with the ``--candidate name=value``
  overrides on top of ``--set``, only when named in ``--models``: a
  candidate default measured against the defaults in the same run (same
  panels, seeds and machine load, so the fit-time ratio holds);
* ``NeurIF months``: ``NeurIF`` trained on batches of shuffled single
  months, the order before issue 18 (``NeurIF`` trains on shuffled blocks
  of consecutive months), to measure the effect of the batch order;
* ``NeurIF CV``: ``NeurIFRegressorCV(n_factors=3)``;
* ``NeurIF ensemble``: ``SeedEnsembleRegressor(NeurIFRegressor(n_factors=3))``
  (5 seeds, predictions averaged).

``--set name=value`` overrides a NeurIF parameter (also in the CV and the
ensemble), ``--ca-set name=value`` a CA2 parameter.

Columns (test months, in percent): uncentred total R^2 (realised-factor fit)
and predictive R^2, their difference to IPCA, the share of the IPCA-to-oracle
gap closed in total R^2, ``(R2 - R2_IPCA) / (R2_oracle - R2_IPCA)`` (not
defined on the linear null, where the gap is sampling noise), and the fit
time; mean (sd) over seeds. The table is printed and written to ``--out``.

Usage::

    python benchmarks/neurif_design_family.py                 # 10 designs x 3 seeds
    python benchmarks/neurif_design_family.py --designs linear abs --seeds 0 1
    python benchmarks/neurif_design_family.py --quick         # smoke run, ~2 min
    python benchmarks/neurif_design_family.py --set deviation_penalty=0.1
"""

from __future__ import annotations

import argparse
import ast
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sklearn_neurif import (
    ConditionalAutoencoderRegressor,
    IPCARegressor,
    NeurIFRegressor,
    NeurIFRegressorCV,
    SeedEnsembleRegressor,
)
from sklearn_neurif.datasets import DESIGNS, make_design_family_panel
from sklearn_neurif.metrics import r2_predictive, r2_total

K = 3

#: The defaults before issue 19 (g's output layer at zero, early stopping on
#: the penalised validation loss).
FORMER = dict(deviation_init=0.0, validation_criterion="loss")


def pairwise_expansion(X):
    """Characteristics, their pairwise products and absolute values (+ const)."""
    cols = [c for c in X.columns if c != "const"]
    parts = {c: X[c] for c in cols}
    parts.update({f"{a}*{b}": X[a] * X[b] for a, b in combinations(cols, 2)})
    parts.update({f"|{c}|": X[c].abs() for c in cols})
    return pd.DataFrame(parts, index=X.index).assign(const=1.0)


class ExpandedIPCA(IPCARegressor):
    """IPCA on :func:`pairwise_expansion` of the characteristics."""

    def fit(self, X, y):
        return super().fit(pairwise_expansion(X), y)

    def predict(self, X):
        return super().predict(pairwise_expansion(X))

    def predict_total(self, X, y):
        return super().predict_total(pairwise_expansion(X), y)


#: Row order of the tables.
MODEL_ORDER = ["IPCA", "IPCA pairwise", "CA2", "NeurIF former", "NeurIF"]
MODEL_ORDER += ["NeurIF candidate", "NeurIF months", "NeurIF CV", "NeurIF ensemble"]
DESIGN_RANK = {name: i for i, name in enumerate(DESIGNS)}


class ShuffledMonthsNeurIF(NeurIFRegressor):
    """NeurIF trained on shuffled single months (the order before issue 18)."""

    _train_loader = torch.utils.data.DataLoader


def model_factories(neurif_params, ca_params, train, candidate_params=None):
    """name -> factory(seed)."""
    neurif = dict(n_factors=K, **train, **neurif_params)
    candidate = {**neurif, **(candidate_params or {})}
    ca = dict(n_factors=K, n_hidden_layers=2, **train, **ca_params)
    return {
        "IPCA": lambda seed: IPCARegressor(n_factors=K),
        "IPCA pairwise": lambda seed: ExpandedIPCA(n_factors=K),
        "CA2": lambda seed: ConditionalAutoencoderRegressor(random_state=seed, **ca),
        "NeurIF former": lambda seed: NeurIFRegressor(
            random_state=seed, **{**neurif, **FORMER}
        ),
        "NeurIF": lambda seed: NeurIFRegressor(random_state=seed, **neurif),
        "NeurIF candidate": lambda seed: NeurIFRegressor(
            random_state=seed, **candidate
        ),
        "NeurIF months": lambda seed: ShuffledMonthsNeurIF(random_state=seed, **neurif),
        "NeurIF CV": lambda seed: NeurIFRegressorCV(
            NeurIFRegressor(random_state=seed, **neurif)
        ),
        # SeedEnsembleRegressor seeds its members from its own random_state.
        "NeurIF ensemble": lambda seed: SeedEnsembleRegressor(
            NeurIFRegressor(**neurif), random_state=seed
        ),
    }


def panel(design, seed, sizes):
    gen = {k: v for k, v in sizes.items() if k != "n_train"}
    data = make_design_family_panel(design, **gen, random_state=seed)
    train = np.asarray(data.X.index.get_level_values("time") < sizes["n_train"])
    return data, train


def evaluate(model, data, train):
    """Fit on the training months; test R^2, fit time and the epochs record."""
    X, y = data.X, data.y
    start = time.perf_counter()
    model.fit(X[train], y[train])
    fit_s = time.perf_counter() - start
    Xte, yte = X[~train], y[~train]
    return {
        "total": r2_total(yte, model.predict_total(Xte, yte)),
        "pred": r2_predictive(yte, model.predict(Xte)),
        "fit_s": fit_s,
        "best_epoch": getattr(model, "best_epoch_", None),
        "epochs": getattr(model, "n_iter_", None),
        "start_scale": getattr(model, "deviation_start_scale_", None),
    }


def run_design(design, seed, models, sizes):
    data, train = panel(design, seed, sizes)
    yte = data.y[~train]
    oracle = {
        "total": r2_total(yte, data.oracle_fit[~train]),
        "pred": r2_predictive(yte, data.oracle_pred[~train]),
    }
    rows = [{"design": design, "seed": seed, "model": "oracle", **oracle}]
    for name, factory in models.items():
        row = evaluate(factory(seed), data, train)
        rows.append({"design": design, "seed": seed, "model": name, **row})
        print(
            f"  {design:<18} seed {seed} {name:<16} total {100 * row['total']:7.3f}%"
            f"  pred {100 * row['pred']:7.3f}%  fit {row['fit_s']:6.1f} s"
            f"  epochs {row['best_epoch']}/{row['epochs']}"
            f"  start {row['start_scale']}",
            flush=True,
        )
    return rows


def add_relative(runs: pd.DataFrame) -> pd.DataFrame:
    """Differences to IPCA and the share of the IPCA-to-oracle gap closed."""
    key = ["design", "seed"]
    ipca = runs[runs.model == "IPCA"].set_index(key)
    oracle = runs[runs.model == "oracle"].set_index(key)
    ref = runs[key].apply(tuple, axis=1)
    runs = runs.copy()
    runs["d_total"] = runs["total"].to_numpy() - ipca["total"].reindex(ref).to_numpy()
    runs["d_pred"] = runs["pred"].to_numpy() - ipca["pred"].reindex(ref).to_numpy()
    gap = (oracle["total"] - ipca["total"]).reindex(ref).to_numpy()
    runs["closed"] = np.where(runs["design"] == "linear", np.nan, runs["d_total"] / gap)
    return runs


COLUMNS = [("total", 100, 2), ("pred", 100, 3), ("d_total", 100, 2)]
COLUMNS += [("d_pred", 100, 3), ("closed", 1, 2), ("fit_s", 1, 1)]


def table(runs: pd.DataFrame) -> str:
    """Markdown: design x model, ``mean (sd)`` over seeds."""
    grouped = runs.groupby(["design", "model"], sort=False)
    mean, sd = grouped.mean(numeric_only=True), grouped.std(numeric_only=True)
    count = grouped.size()
    head = ["design", "model", "n", "total R2 %", "pred R2 %", "total - IPCA"]
    head += ["pred - IPCA", "gap closed", "fit s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for design, model in mean.index:
        cells = [design, model, str(count.loc[(design, model)])]
        for col, scale, digits in COLUMNS:
            m, s = mean.loc[(design, model), col], sd.loc[(design, model), col]
            if not np.isfinite(m):
                cells.append("")
                continue
            cell = f"{m * scale:.{digits}f}"
            if np.isfinite(s):
                cell += f" ({s * scale:.{digits}f})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def family_average(runs: pd.DataFrame) -> str:
    """Per model, the average over the nonlinear designs (the family score)."""
    nonlinear = runs[(runs.design != "linear") & (runs.model != "oracle")]
    per_seed = nonlinear.groupby(["model", "seed"], sort=False)[
        ["total", "pred", "closed"]
    ].mean()
    grouped = per_seed.groupby("model", sort=False)
    mean, sd = grouped.mean(), grouped.std()
    lines = ["| model | total R2 % | pred R2 % | gap closed |", "|---|---|---|---|"]
    for model in mean.index:
        m, s = mean.loc[model], sd.loc[model]
        lines.append(
            f"| {model} | {100 * m.total:.2f} ({100 * s.total:.2f}) | "
            f"{100 * m.pred:.3f} ({100 * s.pred:.3f}) | "
            f"{m.closed:.2f} ({s.closed:.2f}) |"
        )
    return "\n".join(lines)


def parse_set(items):
    params = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            params[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[name] = value
    return params


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=None, help="subset")
    parser.add_argument("--n-entities", type=int, default=600)
    parser.add_argument("--n-periods", type=int, default=220)
    parser.add_argument("--train", type=int, default=160, help="training months")
    parser.add_argument("--set", nargs="*", default=[], help="NeurIF name=value")
    parser.add_argument("--ca-set", nargs="*", default=[], help="CA2 name=value")
    parser.add_argument(
        "--candidate",
        nargs="*",
        default=[],
        help="name=value of the 'NeurIF candidate' model (on top of --set)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--tag", default="", help="suffix of the output files")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument(
        "--from-runs",
        nargs="+",
        type=Path,
        default=None,
        help="no fit: the table of earlier runs CSVs (a later file's row for the "
        "same design, seed and model replaces an earlier one's)",
    )
    args = parser.parse_args(argv)
    if args.from_runs:
        runs = pd.concat([pd.read_csv(path) for path in args.from_runs])
        runs = runs.drop_duplicates(["design", "seed", "model"], keep="last")
        report(
            add_relative(runs[["design", "seed", "model", "total", "pred", "fit_s"]]),
            args,
        )
        return
    torch.set_num_threads(args.threads)
    sizes = dict(n_entities=args.n_entities, n_periods=args.n_periods)
    sizes.update(n_train=args.train)
    train = {}
    if args.quick:
        sizes = dict(n_entities=150, n_periods=60, n_characteristics=6, n_train=45)
        train = dict(max_epochs=3)
    models = model_factories(
        parse_set(args.set), parse_set(args.ca_set), train, parse_set(args.candidate)
    )
    if args.models:
        models = {k: v for k, v in models.items() if k in args.models}
    else:
        models.pop("NeurIF former")
        models.pop("NeurIF candidate")
    rows = []
    for seed in args.seeds:
        for design in args.designs:
            rows += run_design(design, seed, models, sizes)
    report(add_relative(pd.DataFrame(rows)), args)


def _order(column):
    """Sort key: designs and models in table order, seeds as numbers."""
    if column.name == "design":
        return column.map(DESIGN_RANK)
    if column.name == "model":
        return column.map({name: i for i, name in enumerate(["oracle", *MODEL_ORDER])})
    return column


def report(runs, args):
    """Print the table and the family average; write them and the runs."""
    runs = runs.sort_values(["seed", "design", "model"], key=_order, kind="stable")
    text = table(runs) + "\n\nAverage over the nonlinear designs:\n\n"
    text += family_average(runs)
    print(text, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"neurif_design_family{args.tag}"
    runs.to_csv(args.out / f"{stem}_runs.csv", index=False)
    (args.out / f"{stem}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
