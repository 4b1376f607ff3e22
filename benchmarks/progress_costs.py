"""The progress bar's per-model cost constants, from the refit times of full runs.

``neurif run`` advances its bar by each refit's *expected* seconds,
``fits x epochs x (per_row x rows + per_month x months)`` of the refit's
training window (``ModelSpec.cost`` in ``sklearn_neurif/study/_models.py``;
``fits`` counts every fit of the refit's search: G + 1 for a GridSearchCV
over G values of K). This script reads the measured refit times
(``refits[*].fit_time`` of ``metrics.json``) of full runs on different panels
and solves for ``(per_row, per_month)`` of each model by least squares, one
equation per run: two panels of very different shapes (the US panel: many
rows, few months; the long Ken French panel: few rows, many months) pin both
terms down. It then prints, for every run, each model's measured and
expected seconds with the constants in the code, and the fraction of the bar
at each model's end against the fraction of the measured time.

Run (after full runs of both data sets)::

    python -m sklearn_neurif run --data-home ../shared/data/kenfrench --out runs/us
    python -m sklearn_neurif run --data french --data-home ../shared/data/kenfrench --out runs/french
    python benchmarks/progress_costs.py runs/us runs/french --data-home ../shared/data/kenfrench

Only the data are loaded (no model is fitted): a few seconds.
"""

from __future__ import annotations

import argparse
import inspect
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from sklearn_neurif.study import load_study_data, study_settings
from sklearn_neurif.study._models import MODEL_SPECS, builtin_model
from sklearn_neurif.study._prepare import prepare_panel


def run_windows(metrics, data_home):
    """``(rows, months)`` of every refit window of a run, as the study computed them."""
    c = metrics["config"]
    settings = study_settings(
        quick=bool(metrics["quick"]),
        refit_every=c["refit_every"],
        validation_periods=c["validation_periods"],
    )
    src = load_study_data(metrics["data"]["name"], data_home=data_home)
    return prepare_panel(src, settings, seed=c["seed"]).refit_windows


def unit_costs(metrics, model, windows):
    """Seconds of the run's refits of ``model`` per unit of each cost term.

    The study's own ``builtin_model`` with cost (1, 0) then (0, 1): whatever
    its count of fits and epochs, the terms are counted as the bar counts them.
    """
    c = metrics["config"]
    spec = MODEL_SPECS[model]
    params = c["params"].get(model, {})
    grid = tuple(c["grids"][model])
    seeds = c.get("neurif_seeds", 1)
    out = []
    for unit in ((1.0, 0.0), (0.0, 1.0)):
        m = builtin_model(
            replace(spec, cost=unit), grid, params, seeds, 0, **as_the_run_did(c)
        )
        out.append(sum(m.cost(*w) - m.cost(0, 0) for w in windows))
    return np.array(out), len(windows) * m.cost(0, 0)


def as_the_run_did(config) -> dict:
    """``builtin_model``'s keywords that change its count of fits, as in the run.

    A study that refits every K for its sensitivity line (``k_sensitivity``)
    fits 2G times per refit instead of G + 1; a run without that key in its
    config predates it (G + 1).
    """
    if "k_sensitivity" in inspect.signature(builtin_model).parameters:
        return {"k_sensitivity": bool(config.get("k_sensitivity", False))}
    return {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders holding metrics.json")
    parser.add_argument("--data-home", default=None)
    args = parser.parse_args(argv)
    runs = {}
    for folder in args.runs:
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        runs[folder] = (metrics, run_windows(metrics, args.data_home))
    models = list(dict.fromkeys(m for met, _ in runs.values() for m in met["models"]))
    print("| model | per_row fitted | per_month fitted | in the code |")
    print("| --- | --- | --- | --- |")
    for model in [m for m in models if m in MODEL_SPECS]:
        design, measured = [], []
        for metrics, windows in runs.values():
            if model in metrics["models"]:
                units, constant = unit_costs(metrics, model, windows)
                times = [
                    r["fit_time"] for r in metrics["refits"] if r["model"] == model
                ]
                design.append(units)
                measured.append(sum(times) - constant)
        coef = np.linalg.lstsq(np.array(design), np.array(measured), rcond=None)[0]
        print(
            f"| {model} | {coef[0]:.2e} | {coef[1]:.2e} | {MODEL_SPECS[model].cost} |"
        )
    for folder, (metrics, windows) in runs.items():
        _print_fractions(folder, metrics, windows)


def _print_fractions(folder, metrics, windows):
    """Measured and expected seconds per model, and the bar at each model's end."""
    print(f"\n{folder} ({metrics['data']['name']}, {len(windows)} refits):")
    print("| model | measured s | expected s | bar at its end | time at its end |")
    print("| --- | --- | --- | --- | --- |")
    rows = []
    for model in metrics["models"]:
        units, constant = unit_costs(metrics, model, windows)
        expected = float(units @ np.array(MODEL_SPECS[model].cost) + constant)
        times = [r["fit_time"] for r in metrics["refits"] if r["model"] == model]
        rows.append((model, sum(times), expected))
    measured = np.cumsum([r[1] for r in rows]) / sum(r[1] for r in rows)
    planned = np.cumsum([r[2] for r in rows]) / sum(r[2] for r in rows)
    for (model, t, e), bar, real in zip(rows, planned, measured, strict=True):
        print(f"| {model} | {t:.1f} | {e:.1f} | {bar:.0%} | {real:.0%} |")


if __name__ == "__main__":
    main()
