"""How IPCA's number of factors K is chosen in the walk-forward, and what it changes.

Issue 20 item 3: the study picks K in each refit by pooled predictive R² on
the window's last 12 months, and on the US panel that choice flipped the sign
of IPCA's rank IC. This script measures, on the same walk-forward as the
study (expanding window, a refit every 12 months, rank-scaled
characteristics plus a constant, warm-up months masked), the rules:

- ``K=k``: fixed K, k = 1..6;
- ``val pred R2 (12m)``: the study's rule, best pooled predictive R² on the
  last 12 months of the window (the model fitted on the months before them),
  then refitted on the whole window;
- ``val total R2 (12m)``: the same with total R² (realised factors);
- ``val pred R2 (24m)``: predictive R² on the last 24 months (36 would leave the US panel's first window one month to fit on);
- ``1-SE (12m)``: the smallest K whose validation predictive R² is within one
  standard error of the best (the error of the best K's monthly
  contributions, Newey-West free: validation months are few);
- ``average over K``: the mean of the six models' predictions (no choice).

For each rule, over the test months: pooled predictive and total R² (uncentred),
mean monthly rank IC with its Newey-West t, and the Ks chosen per refit.

Run::

    python benchmarks/k_rules.py --data us-stocks --data-home ../shared/data/kenfrench
    python benchmarks/k_rules.py --data french --data-home ../shared/data/kenfrench

It prints one table per data set (markdown) and the seconds it took.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from sklearn_neurif import IPCARegressor
from sklearn_neurif.inference import newey_west_mean
from sklearn_neurif.metrics import r2_predictive, r2_total, rank_ic
from sklearn_neurif.preprocessing import CrossSectionalRankScaler
from sklearn_neurif.study import load_study_data

KS = (1, 2, 3, 4, 5, 6)
MIN_YEARS = {"us-stocks": 3, "french": 10}


def panel(data, data_home):
    src = load_study_data(data, data_home=data_home)
    X, y = src.X, src.y
    time_of = X.index.get_level_values(-1)
    # As the study: months where a characteristic is missing for every asset
    # (no return history yet) are masked out of estimation and evaluation.
    empty = X.notna().groupby(time_of).sum().eq(0).any(axis=1)
    y = y.where(~np.asarray(time_of.isin(empty.index[empty.to_numpy()])))
    Xs = CrossSectionalRankScaler().fit_transform(X).assign(const=1.0)
    return Xs, y, src.notes[0]


def schedule(y, min_years):
    """First test month (first January after ``min_years`` years of returns)."""
    months = y.dropna().index.get_level_values(-1).unique().sort_values()
    start = months[12 * min_years]
    if start.month != 1:
        start = pd.Period(year=start.year + 1, month=1, freq="M")
    last = y.index.get_level_values(-1).max()
    return [start + 12 * i for i in range((last - start).n // 12 + 1)]


def fit_predict(X, y, time_of, fit_end, pred_start, pred_end, k):
    """IPCA(k) fitted on months <= fit_end: predictions and total fits after."""
    train = np.asarray((time_of <= fit_end) & y.notna().to_numpy())
    rows = np.asarray((time_of >= pred_start) & (time_of <= pred_end))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unidentified-period notices
        model = IPCARegressor(k).fit(X[train], y[train])
        Xp, yp = X[rows], y[rows]
        pred = pd.Series(model.predict(Xp), index=Xp.index)
        known = yp.notna().to_numpy()
        total = pd.Series(np.nan, index=Xp.index)
        total[known] = model.predict_total(Xp[known], yp[known])
    return pred, total


def monthly_r2_terms(y, pred):
    """Per-month (SST - SSE) / mean SST: their mean is the pooled R²."""
    ok = y.notna() & pred.notna()
    t = y.index.get_level_values(-1)[ok.to_numpy()]
    sst = (y[ok] ** 2).groupby(t).sum()
    sse = ((y[ok] - pred[ok]) ** 2).groupby(t).sum()
    return (sst - sse) / sst.mean()


def one_refit(X, y, time_of, start, end):
    """Validation scores per K and test predictions per K, for one refit."""
    out = {"val": {}, "test": {}}
    for k in KS:
        for v in (12, 24):
            pred, total = fit_predict(
                X, y, time_of, start - 1 - v, start - v, start - 1, k
            )
            yv = y.reindex(pred.index)
            terms = monthly_r2_terms(yv, pred)
            out["val"][(k, v)] = {
                "pred": _r2(r2_predictive, yv, pred),
                "total": _r2(r2_total, yv, total),
                "se": terms.std(ddof=1) / np.sqrt(len(terms)),
            }
        out["test"][k] = fit_predict(X, y, time_of, start - 1, start, end, k)
    return out


def _r2(metric, y, pred):
    known = y.notna().to_numpy()
    return metric(y[known], pred[known])


def choose(val, rule):
    if rule == "val pred R2 (12m)":
        return max(KS, key=lambda k: val[(k, 12)]["pred"])
    if rule == "val total R2 (12m)":
        return max(KS, key=lambda k: val[(k, 12)]["total"])
    if rule == "val pred R2 (24m)":
        return max(KS, key=lambda k: val[(k, 24)]["pred"])
    if rule == "1-SE (12m)":
        best = max(KS, key=lambda k: val[(k, 12)]["pred"])
        floor = val[(best, 12)]["pred"] - val[(best, 12)]["se"]
        return min(k for k in KS if val[(k, 12)]["pred"] >= floor)
    raise ValueError(rule)


RULES = ("val pred R2 (12m)", "val total R2 (12m)", "val pred R2 (24m)", "1-SE (12m)")


def scores(y, pred, total):
    known = y.notna().to_numpy()
    ic = rank_ic(y[known], pred[known])
    nw = newey_west_mean(ic.series.dropna())
    mean, t = nw.mean, nw.stat
    return {
        "predictive R2 %": 100 * _r2(r2_predictive, y, pred),
        "total R2 %": 100 * _r2(r2_total, y, total),
        "rank IC": mean,
        "rank IC NW t": t,
    }


def rule_table(X, y, min_years):
    """Every rule's test scores on the walk-forward of ``X``, ``y``.

    Returns the table (one row per rule), the first test month of each
    refit and the number of test months with returns.
    """
    time_of = X.index.get_level_values(-1)
    starts = schedule(y, min_years)
    last = time_of.max()
    refits = [one_refit(X, y, time_of, s, min(s + 11, last)) for s in starts]
    rows = {}
    for k in KS:
        rows[f"K={k}"] = _scored(y, [r["test"][k] for r in refits], str(k))
    for rule in RULES:
        chosen = [choose(r["val"], rule) for r in refits]
        tests = [r["test"][k] for r, k in zip(refits, chosen, strict=True)]
        rows[rule] = _scored(y, tests, _ks(chosen))
    averaged = [
        tuple(sum(r["test"][k][i] for k in KS) / len(KS) for i in (0, 1))
        for r in refits
    ]
    rows["average over K"] = _scored(y, averaged, "1-6 averaged")
    pred = pd.concat([r["test"][1][0] for r in refits])
    n_test = y.reindex(pred.index).dropna().index.get_level_values(-1).nunique()
    return pd.DataFrame(rows).T, starts, n_test


def _scored(y, tests, ks):
    """Scores of the concatenated (predictions, total fits) of the refits."""
    pred = pd.concat([t[0] for t in tests])
    total = pd.concat([t[1] for t in tests])
    return {**scores(y.reindex(pred.index), pred, total), "K per refit": ks}


def run(data, data_home):
    began = time.perf_counter()
    X, y, returns = panel(data, data_home)
    table, starts, n_test = rule_table(X, y, MIN_YEARS[data])
    last = X.index.get_level_values(-1).max()
    print(
        f"\n{data}: {len(starts)} refits, {n_test} test months with returns "
        f"({starts[0]} to {last}); {returns}"
    )
    print(_markdown(table))
    print(f"({time.perf_counter() - began:.0f} s)")


def family_panel(design, seed, n_entities=300, n_periods=120):
    """A design-family panel (true K = 3) with monthly periods from 2001-01."""
    from sklearn_neurif.datasets import make_design_family_panel

    data = make_design_family_panel(
        design, n_entities=n_entities, n_periods=n_periods, random_state=seed
    )
    months = pd.period_range("2001-01", periods=n_periods, freq="M")
    index = data.X.index
    index = index.set_levels(months[index.levels[1]], level=1)
    # Already rank-scaled with a constant (the family's definition).
    return data.X.set_axis(index), data.y.set_axis(index)


def run_family(designs, seeds):
    """Mean test scores and chosen Ks of every rule on design-family panels."""
    began = time.perf_counter()
    tables = {}
    for design in designs:
        per_seed = [rule_table(*family_panel(design, s), 5)[0] for s in seeds]
        numbers = (
            pd.concat([t.drop(columns="K per refit") for t in per_seed])
            .astype(float)
            .groupby(level=0, sort=False)
            .mean()
        )
        numbers["K per refit (seeds)"] = [
            " / ".join(t.loc[rule, "K per refit"] for t in per_seed)
            for rule in numbers.index
        ]
        tables[design] = numbers
    for design, table in tables.items():
        print(
            f"\nfamily design {design}: seeds {list(seeds)}, 300 assets, "
            "120 months, 5 refits, 60 test months, true K = 3; means over seeds"
        )
        print(_markdown(table))
    print(f"({time.perf_counter() - began:.0f} s)")


def _ks(chosen):
    if len(chosen) <= 12:
        return ",".join(map(str, chosen))
    counts = pd.Series(chosen).value_counts().sort_index()
    switches = int(np.sum(np.diff(chosen) != 0))
    return " ".join(f"{k}:{n}" for k, n in counts.items()) + f" ({switches} switches)"


def _markdown(table):
    cols = list(table.columns)
    lines = ["| rule | " + " | ".join(cols) + " |", "|" + " --- |" * (len(cols) + 1)]
    for name, row in table.iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default="us-stocks", choices=[*sorted(MIN_YEARS), "family"]
    )
    parser.add_argument("--data-home", default=None)
    parser.add_argument(
        "--designs", nargs="*", default=["linear", "abs", "pure_interaction", "mixed"]
    )
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.data == "family":
        run_family(args.designs, args.seeds)
    else:
        run(args.data, args.data_home)


if __name__ == "__main__":
    main()
