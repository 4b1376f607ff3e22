"""The torch-free parts of the package never import torch or skorch.

Each check runs in a fresh interpreter: inside the test process other tests
have already imported torch, so ``sys.modules`` would prove nothing.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TORCH_FREE = (
    "import sklearn_neurif; "
    "import sklearn_neurif.metrics, sklearn_neurif.inference, "
    "sklearn_neurif.portfolio, sklearn_neurif.model_selection, "
    "sklearn_neurif.preprocessing, sklearn_neurif.panel; "
    "from sklearn_neurif import IPCARegressor; "
    "from sklearn_neurif.ipca import IPCARegressor; "
    "from sklearn_neurif import SeedEnsembleRegressor"
)
# `neurif --help` as the console script runs it: argparse exits after printing.
NEURIF_HELP = (
    "from sklearn_neurif.study import main\n"
    "try:\n"
    "    main(['--help'])\n"
    "except SystemExit as exc:\n"
    "    assert exc.code == 0, exc.code\n"
)
PROBE = (
    "import json, sys; print(json.dumps(sorted(m for m in {mods} if m in sys.modules)))"
)


def _loaded(statement: str, modules=("torch", "skorch")) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after ``statement``."""
    code = statement + "\n" + PROBE.format(mods=list(modules))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,  # the checkout's package, whether installed or not
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "statement", [TORCH_FREE, NEURIF_HELP], ids=["torch_free_imports", "neurif_help"]
)
def test_does_not_import_torch_or_skorch(statement):
    assert _loaded(statement) == []


def test_statsmodels_is_imported_on_first_use_only():
    # statsmodels costs ~0.3 s at import; only spanning regressions need it.
    assert _loaded(TORCH_FREE, ["statsmodels"]) == []


def test_probe_sees_torch_when_it_is_imported():
    # The checks above would pass vacuously if the probe were broken.
    assert _loaded("from sklearn_neurif import NeurIFRegressor") == ["skorch", "torch"]
