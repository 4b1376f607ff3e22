"""Regenerate every study figure README.md and docs/study.md print, in one command.

Runs the study on the US stock panel and on the long Ken French panel
(``python -m sklearn_neurif run``), and ``benchmarks/k_rules.py`` on both,
from the current code; then rewrites, in README.md and docs/study.md, every
block between markers such as::

    <!-- study:us-headline -->
    ...
    <!-- /study:us-headline -->

from the runs' ``metrics.json`` and the scripts' output: headline tables,
Diebold-Mariano tables, R² intervals, K per refit, the K-rule tables, and
each run's wall time with the machine's core count and load (sampled every
10 s during the run). Text outside the markers (the readings) is left as it
is: reread it against the new blocks.

Run from the repository root::

    python benchmarks/regenerate_study_docs.py --data-home ../shared/data/kenfrench
    python benchmarks/regenerate_study_docs.py --from-runs neurif_runs/docs --dry-run

``--out DIR`` (default ``neurif_runs/docs``, git-ignored) keeps the run folders, the K-rule
outputs and ``machine.json``; ``--from-runs DIR`` reuses such a folder
without rerunning anything; ``--dry-run`` prints the blocks and writes
nothing. The full runs take about 5 and 15 minutes on 2 cores, the K-rule
scripts about 2 and 6.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_neurif.study._report import _table as markdown_table
from sklearn_neurif.study._report import headline_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", ROOT / "docs" / "study.md")
#: Run folder name -> the study's --data value.
DATASETS = {"us": "us-stocks", "french": "french"}
#: The headline rows the README shows (docs/study.md shows them all).
README_ROWS = (
    "K (per refit)", "total R2", "predictive R2", "DM p vs IPCA", "rank IC mean",
    "rank IC NW t", "LS Sharpe VW", "LS Sharpe VW net 25 bp",
    "FF5 alpha VW (monthly)", "FF5 alpha VW t",
)  # fmt: skip
#: A marker counts only alone on its line (the docs may quote one in text).
BLOCK_NAMES = re.compile(r"(?m)^<!-- study:([\w-]+) -->$")
BLOCK = re.compile(
    r"(?P<open>^<!-- study:(?P<name>[\w-]+) -->\n)(?P<body>.*?)"
    r"(?P<close>^<!-- /study:(?P=name) -->$)",
    re.S | re.M,
)


def replace_blocks(text: str, blocks: dict) -> tuple:
    """``text`` with the body of every marked block named in ``blocks`` replaced.

    Parameters
    ----------
    text : str
        A Markdown file's text.
    blocks : dict
        Block name -> new body (without the markers).

    Returns
    -------
    text : str
        The new text (markers kept, unknown blocks untouched).
    replaced : list of str
        Names of the blocks replaced, in file order.

    Raises
    ------
    ValueError
        If a block's opening marker has no closing marker, or a name is used
        twice in the file.
    """
    opened = BLOCK_NAMES.findall(text)
    closed = re.findall(r"(?m)^<!-- /study:([\w-]+) -->$", text)
    if sorted(opened) != sorted(closed):
        raise ValueError(f"Unbalanced study markers: opened {opened}, closed {closed}.")
    if len(set(opened)) != len(opened):
        raise ValueError(f"A study marker is used twice: {opened}.")
    replaced = []

    def swap(match):
        name = match["name"]
        if name not in blocks:
            return match[0]
        replaced.append(name)
        return match["open"] + blocks[name].rstrip("\n") + "\n" + match["close"]

    return BLOCK.sub(swap, text), replaced


def _run_timed(command, log, shown) -> dict:
    """Run ``command`` (shown in the docs as ``shown``), sampling the load every 10 s."""
    loads, start = [os.getloadavg()[0]], time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        while proc.poll() is None:
            time.sleep(10)
            loads.append(os.getloadavg()[0])
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed; see {log}")
    return {
        "command": shown,
        "wall_seconds": time.perf_counter() - start,
        "load_min": min(loads),
        "load_max": max(loads),
        "cores": os.cpu_count(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            cwd=ROOT,
        ).stdout.strip(),
    }  # fmt: skip


def run_everything(out: Path, data_home) -> None:
    """The two studies and the two K-rule comparisons, into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    # The runs start from the repository root: the data home made absolute;
    # the docs show it as given.
    home = ["--data-home", str(Path(data_home).resolve())] if data_home else []
    shown = ["--data-home", str(data_home)] if data_home else []
    machine = {}
    for folder, data in DATASETS.items():
        flag = [] if data == "us-stocks" else ["--data", data]
        study = [sys.executable, "-m", "sklearn_neurif", "run", *flag, *home]
        machine[folder] = _run_timed(
            [*study, "--out", str(out / folder), "--quiet"], out / f"{folder}.log",
            " ".join(["python -m sklearn_neurif run", *flag, *shown]),
        )  # fmt: skip
        rules = ["benchmarks/k_rules.py", "--data", data]
        machine[f"k_rules_{folder}"] = _run_timed(
            [sys.executable, *rules, *home], out / f"k_rules_{folder}.md",
            " ".join(["python", *rules, *shown]),
        )  # fmt: skip
        # Written after each run: a failure keeps the runs before it.
        (out / "machine.json").write_text(json.dumps(machine, indent=1))


def load_runs(folder: Path) -> dict:
    """metrics.json of each study run, K-rule outputs and machine.json found in ``folder``."""
    runs = {"machine": {}}
    if (folder / "machine.json").is_file():
        runs["machine"] = json.loads((folder / "machine.json").read_text())
    for name in DATASETS:
        path = folder / name / "metrics.json"
        if path.is_file():
            runs[name] = json.loads(path.read_text())
        rules = folder / f"k_rules_{name}.md"
        if rules.is_file():
            runs[f"k_rules_{name}"] = rules.read_text()
    return runs


def _headline_frame(metrics, rows=None) -> pd.DataFrame:
    head = pd.DataFrame.from_dict(metrics["headline"], orient="index")
    head = head.astype(object).where(head.notna(), np.nan)
    return head.loc[[r for r in rows if r in head.index]] if rows else head


def _minutes(seconds) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def _returns_kind(metrics) -> str:
    note = (metrics["data"].get("notes") or [""])[0]
    return "excess returns" if "EXCESS" in note else "RAW returns, not excess returns"


def _machine_text(machine) -> str:
    if not machine:
        return "wall time and load not recorded (no machine.json in the run folder)"
    return (
        f"{_minutes(machine['wall_seconds'])} on {machine['cores']} cores at a load "
        f"average of {machine['load_min']:.1f} to {machine['load_max']:.1f}"
    )


def _command(name, machine) -> str:
    """The command of a run: as recorded, else the plain one for its data."""
    if machine.get("command"):
        return machine["command"]
    data = "" if DATASETS[name] == "us-stocks" else f" --data {DATASETS[name]}"
    return f"python -m sklearn_neurif run{data}"


def readme_headline(name, metrics, machine) -> str:
    """The README's sentence and printed table of one run."""
    test = metrics["split"]["test"]
    text = (
        f"What `{_command(name, machine)}` printed ({_returns_kind(metrics)}; "
        f"{test['n_periods_with_return']} test months with returns, as-of "
        f"{test['first']} to {test['last']}; {metrics['split']['n_refits']} refits; "
        f"{_machine_text(machine)}; see `docs/study.md`, which also gives the full "
        "tables):"
    )
    table = headline_table(_headline_frame(metrics, README_ROWS))
    total = metrics["timings"]["total"]
    printed = f"{table}\nReport: neurif_runs/<timestamp>/report.md  ({total:.0f} s)"
    return f"{text}\n\n```text\n{printed}\n```\n"


def run_line(name, metrics, machine) -> str:
    """Wall time, study steps, refit seconds per model, KPS tests, machine."""
    t = metrics["timings"]
    refits = ", ".join(
        f"{m} {sum(v for k, v in t.items() if k.startswith(f'{m} refit ')):.1f} s"
        for m in metrics["models"]
    )
    kps = t.get("IPCA bootstrap tests (last window)")
    steps = f"refits {refits}" + (f"; KPS bootstrap tests {kps:.0f} s" if kps else "")
    test = metrics["split"]["test"]
    where = f" (commit {machine['commit']}, {machine['date']})" if machine else ""
    return (
        f"`{_command(name, machine)}`: {_machine_text(machine)}{where}; "
        f"{t['total']:.0f} s of study steps ({steps}). Test months: as-of "
        f"{test['first']} to {test['last']}, {test['n_periods_with_return']} with "
        f"returns, {metrics['split']['n_refits']} refits, every model on the same "
        f"{test['n_rows_with_return']:,} rows with a return.\n"
    )


def dm_block(metrics) -> str:
    """Every Diebold-Mariano pair (raw and Holm-adjusted p-values)."""
    frame = pd.DataFrame(list(metrics["diebold_mariano"].values()))
    return markdown_table(frame, index=False) + "\n"


def intervals_block(metrics) -> str:
    """Each model's pooled R² with its 95% Newey-West interval, in percent."""
    parts = []
    for model, row in metrics["r2_intervals"].items():
        cells = []
        for kind in ("total", "predictive"):
            mid, lo, hi = row[f"r2_{kind}"], row[f"{kind}_lo"], row[f"{kind}_hi"]
            if mid is not None:
                cells.append(
                    f"{kind} {100 * mid:.3f}% [{100 * lo:.3f}%, {100 * hi:.3f}%]"
                )
        parts.append(f"{model} " + ", ".join(cells))
    return "Out-of-sample R² with 95% Newey-West intervals: " + "; ".join(parts) + ".\n"


def k_block(metrics) -> str:
    """K of every refit, per model; counts ``k:n`` beyond 12 refits."""
    by_model = {}
    for row in metrics["refits"]:
        if row["K"] is not None:
            by_model.setdefault(row["model"], []).append(int(row["K"]))
    parts = []
    for model, ks in by_model.items():
        if len(metrics["config"]["grids"].get(model) or []) == 1:
            parts.append(f"{model} fixed at {ks[0]}")
        elif len(ks) > 12:  # 50 refits: how often each K was chosen
            counts = " ".join(f"{k}:{ks.count(k)}" for k in sorted(set(ks)))
            parts.append(f"{model} {counts} (K:refits)")
        else:
            parts.append(f"{model} {', '.join(map(str, ks))}")
    return "K per refit: " + "; ".join(parts) + ".\n"


def k_rules_block(output, machine) -> str:
    """The K-rule table printed by benchmarks/k_rules.py, with its command and time."""
    table = "\n".join(ln for ln in output.splitlines() if ln.startswith("|"))
    how = (
        f"`{machine['command']}`: {_machine_text(machine)} (commit {machine['commit']})"
        if machine
        else "command not recorded"
    )
    return f"{how}.\n\n{table}\n"


def all_blocks(runs) -> dict:
    """Every block the runs found can fill, by marker name."""
    blocks, machine = {}, runs["machine"]
    for name in DATASETS:
        if name in runs:
            m, mach = runs[name], machine.get(name, {})
            if m["quick"]:
                raise SystemExit(f"The {name} run is a quick run: not for the docs.")
            blocks[f"{name}-readme-headline"] = readme_headline(name, m, mach)
            blocks[f"{name}-headline"] = headline_table(_headline_frame(m)) + "\n"
            blocks[f"{name}-run"] = run_line(name, m, mach)
            blocks[f"{name}-dm"] = dm_block(m)
            blocks[f"{name}-r2-intervals"] = intervals_block(m)
            blocks[f"{name}-k-per-refit"] = k_block(m)
        if f"k_rules_{name}" in runs:
            blocks[f"k-rules-{name}"] = k_rules_block(
                runs[f"k_rules_{name}"], machine.get(f"k_rules_{name}", {})
            )
    return blocks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=None)
    parser.add_argument(
        "--out", default="neurif_runs/docs", help="where the runs are kept"
    )
    parser.add_argument("--from-runs", default=None, metavar="DIR",
                        help="reuse the runs in DIR (an earlier --out), run nothing")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true",
                        help="print the blocks, write no file")  # fmt: skip
    parser.add_argument("--files", nargs="*", default=[str(p) for p in DOCS],
                        help="Markdown files to rewrite (default: README.md, docs/study.md)")  # fmt: skip
    args = parser.parse_args(argv)
    folder = Path(args.from_runs or args.out).resolve()
    if not args.from_runs:
        run_everything(folder, args.data_home)
    blocks = all_blocks(load_runs(folder))
    if not blocks:
        raise SystemExit(f"No run found in {folder}.")
    if args.dry_run:
        for name, body in blocks.items():
            print(f"<!-- study:{name} -->\n{body.rstrip()}\n<!-- /study:{name} -->\n")
    for path in map(Path, args.files):
        old = path.read_text()
        text, replaced = replace_blocks(old, blocks)
        kept = sorted(set(BLOCK_NAMES.findall(old)) - set(replaced))
        verb = "would rewrite" if args.dry_run else "rewrote"
        print(f"{path}: {verb} {len(replaced)} block(s)"
              + (f"; no run for {kept}: left as they are" if kept else ""))  # fmt: skip
        if not args.dry_run:
            path.write_text(text)


if __name__ == "__main__":
    main()
