"""What the study's NeurIF cap costs: NeurIF at its defaults beside the capped one.

The study trains NeurIF with ``max_epochs=12, patience=3`` (its defaults are
100 and 20) to hold its time budget. This runs the study's walk-forward with
IPCA, the capped NeurIF and ``NeurIFRegressor(3, random_state=0)`` (the
defaults, as a user estimator) on the same months, without the KPS tests,
and prints the wall time with the load, the refits' fit seconds of both
NeurIFs, the headline figures and the Diebold-Mariano tests::

    python benchmarks/neurif_defaults_in_study.py --data french --data-home ../shared/data/kenfrench
    python benchmarks/neurif_defaults_in_study.py --data us-stocks --data-home ../shared/data/kenfrench

``docs/study.md`` ("What the cap costs") records the figures.
"""

from __future__ import annotations

import argparse
import os
import time

from sklearn_neurif import NeurIFRegressor
from sklearn_neurif.study import run_study, study_settings, write_report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="french", help="the study's data name")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--n-jobs", type=int, default=2, help="parallel refits")
    parser.add_argument("--out", default=None, help="write the report there")
    args = parser.parse_args(argv)
    load, start = os.getloadavg(), time.perf_counter()
    result = run_study(
        args.data, models=["IPCA", "NeurIF"], data_home=args.data_home,
        estimators={"NeurIF-defaults": NeurIFRegressor(3, random_state=0)},
        settings=study_settings(kps_n_boot=0), n_jobs=args.n_jobs, quiet=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    print(f"wall {wall:.0f} s, load {load[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    fit = result.refits.groupby("model", sort=False)["fit_time"].sum()
    print("refits' fit seconds (summed over workers):", fit.round(1).to_dict())
    print(result.summary().T.to_string())
    print(result.diebold_mariano.drop(columns="differential").to_string())
    if args.out:
        write_report(result, args.out)


if __name__ == "__main__":
    main()
