"""Import time of the torch-free parts of sklearn-neurif and of ``neurif --help``.

Each statement runs in a fresh interpreter, five times; the script prints the
best wall time and the best CPU time (user + system) of the whole process,
the import time measured inside the process (interpreter start-up excluded),
whether torch or skorch got imported, and the slowest imports by cumulative
time (``python -X importtime``). CPU time is the figure to trust on a machine
shared with other jobs.

Usage: python benchmarks/import_time.py [n_repeats]
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time

IMPORTS = (
    "import sklearn_neurif; "
    "import sklearn_neurif.metrics, sklearn_neurif.inference, "
    "sklearn_neurif.portfolio, sklearn_neurif.model_selection, "
    "sklearn_neurif.preprocessing, sklearn_neurif.panel; "
    "from sklearn_neurif import IPCARegressor"
)
# Times the imports inside the process and reports whether torch came along.
TIMED = (
    "import sys, time; t0 = time.perf_counter(); {stmt}; "
    "t = time.perf_counter() - t0; "
    "print(t, 'torch' in sys.modules, 'skorch' in sys.modules)"
)


def _run(args: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one fresh interpreter, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def best_of(args: list[str], n_repeats: int) -> tuple[float, float, list[list[str]]]:
    """Best wall and best CPU time over ``n_repeats`` runs; every run's stdout."""
    runs = [_run(args) for _ in range(n_repeats)]
    outs = [r[2].split() for r in runs]
    return min(r[0] for r in runs), min(r[1] for r in runs), outs


def slowest_imports(stmt: str, n: int = 6) -> list[tuple[float, str]]:
    """The top-level imports with the largest cumulative ``-X importtime``."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", stmt],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(2)) <= 3:  # depth <= 1 below the statement
            rows.append((int(m.group(1)) / 1e6, m.group(3)))
    return sorted(rows, reverse=True)[:n]


def main(n_repeats: int = 5) -> None:
    print(f"python {sys.version.split()[0]}, best of {n_repeats} fresh interpreters")
    wall, cpu, _ = best_of(["-c", "pass"], n_repeats)
    print(f"interpreter start-up alone: {wall:.3f} s wall, {cpu:.3f} s CPU")
    # The floor: every estimator needs scikit-learn, every panel pandas.
    wall, cpu, _ = best_of(["-c", "import sklearn.base, pandas"], n_repeats)
    print(f"scikit-learn + pandas alone: {wall:.3f} s wall, {cpu:.3f} s CPU")
    wall, cpu, out = best_of(["-c", TIMED.format(stmt=IMPORTS)], n_repeats)
    print(f"torch-free imports: {wall:.3f} s wall, {cpu:.3f} s CPU (whole process)")
    inside = min(float(o[0]) for o in out)
    print(f"  imports alone (inside the process, best run): {inside:.3f} s")
    print(f"  torch imported: {out[-1][1]}, skorch imported: {out[-1][2]}")
    print("  slowest imports (cumulative s):")
    for seconds, name in slowest_imports(IMPORTS):
        print(f"    {seconds:.3f}  {name}")
    wall, cpu, _ = best_of(["-m", "sklearn_neurif", "--help"], n_repeats)
    print(f"neurif --help: {wall:.3f} s wall, {cpu:.3f} s CPU (whole process)")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
