"""CA2 in the walk-forward study (``neurif run``) with its parameters changed.

Runs the study's default walk-forward on the real US panel for IPCA and CA2
only, with ``--set name=value`` changes to CA2's parameters (on top of the
study's ``max_epochs=30``, ``patience=5``), and prints the headline table.
Used to tell which of CA's defaults of issue 13 moved its real-panel figures
(docs/autoencoder.md, "Defaults").

Usage::

    python benchmarks/ca_study_variants.py --set realised_factors="'network'"
    python benchmarks/ca_study_variants.py --set lr=1e-3
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import replace

from sklearn_neurif.study import run_study, study_settings
from sklearn_neurif.study._report import headline_markdown


def parse_set(items):
    """``name=value`` pairs, values read as Python literals."""
    params = {}
    for item in items:
        name, _, value = item.partition("=")
        params[name] = ast.literal_eval(value)
    return params


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", nargs="*", default=[], help="CA2 name=value")
    parser.add_argument("--data-home", default="../shared/data/kenfrench")
    args = parser.parse_args(argv)
    settings = study_settings()
    params = dict(settings.params)
    params["CA2"] = {**params["CA2"], **parse_set(args.set)}
    settings = replace(settings, params=params)
    result = run_study(
        models=["IPCA", "CA2"], settings=settings, quiet=True, data_home=args.data_home
    )
    print(f"CA2 parameters: {params['CA2']}")
    print(headline_markdown(result))


if __name__ == "__main__":
    main()
