"""The ``neurif`` command: ``neurif run`` runs the study and writes its report.

Bad input (unknown data name, unreadable file, missing columns, too few
periods) gives one line on stderr and exit status 2, without a traceback:
``ValueError``, ``TypeError`` and ``OSError`` are caught here, at the
command's boundary, and nowhere else.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["build_parser", "main"]

_EPILOG = """\
examples:
  neurif run                       # the study on the real US stock panel (about 4 min)
  neurif run --quick               # a 30-second version (see docs/study.md)
  neurif run --data simulated --quick --out runs/sim
  neurif run --data panel.csv --entity-col permno --time-col date --return-col ret
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``neurif`` command."""
    parser = argparse.ArgumentParser(
        prog="neurif",
        description="Conditional latent factor models (IPCA vs NeurIF) on panels.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run the IPCA vs NeurIF study and write report.md, figures, metrics.json",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--data",
        default="us-stocks",
        help="us-stocks (default), french25, simulated, or a CSV/parquet panel file",
    )
    run.add_argument("--entity-col", default="entity", help="entity column of a file")
    run.add_argument("--time-col", default="time", help="month column of a file")
    run.add_argument(
        "--return-col",
        default="ret",
        help="column of a file holding the return over the row's month (decimals)",
    )
    run.add_argument(
        "--size-col", default=None, help="market cap column (value weights)"
    )
    run.add_argument(
        "--factors",
        default=None,
        help="Ken French five-factor file or folder (alphas and RF); default: the "
        "data source's own factors",
    )
    run.add_argument("--anomalies", default=None, help="external anomaly file")
    run.add_argument(
        "--anomalies-format", default="kns", choices=["kns", "chen-zimmermann"]
    )
    run.add_argument(
        "--data-home", default=None, help="cache folder of Ken French files"
    )
    run.add_argument(
        "--download", action="store_true", help="allow downloading Ken French files"
    )
    run.add_argument("--train-end", default=None, help="last training month (YYYY-MM)")
    run.add_argument(
        "--valid-end", default=None, help="last validation month (YYYY-MM)"
    )
    run.add_argument("--quick", action="store_true", help="fast, smaller run")
    run.add_argument(
        "--out", default=None, help="output folder (default ./neurif_runs/<timestamp>)"
    )
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="cpu", help="torch device of NeurIF")
    run.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: robust on shared machines; "
        "0 = torch's default)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def _run(args) -> int:
    from ._report import headline_markdown, write_report
    from ._study import run_study

    out = Path(args.out or Path("neurif_runs") / time.strftime("%Y%m%d-%H%M%S"))
    # Every option of `neurif run` but --out is the run_study keyword of the
    # same name; --threads 0 means torch's default (threads=None).
    options = {k: v for k, v in vars(args).items() if k not in ("command", "out")}
    options["threads"] = args.threads or None
    result = run_study(options.pop("data"), **options)
    paths = write_report(result, out)
    if not args.quiet:
        print(headline_markdown(result))
        print(f"\nReport: {paths['report']}  ({result.timings['total']:.0f} s)")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``neurif`` console script.

    Returns
    -------
    int
        0 on success, 2 on bad input (message on stderr), as argparse does
        for bad options.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, OSError) as exc:
        message = str(exc).strip() or type(exc).__name__
        print(f"neurif: error: {message}", file=sys.stderr)
        return 2
