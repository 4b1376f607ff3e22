"""benchmarks/regenerate_study_docs.py rewrites only the marked blocks, from the runs."""

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def regen(load_benchmark):
    return load_benchmark("regenerate_study_docs")


PAGE = """# Title

Reading before: kept; quoting `<!-- study:us-run -->` in text is no marker.

<!-- study:us-headline -->
| old | table |
<!-- /study:us-headline -->

Reading between: kept.

<!-- study:us-run -->
old run line
<!-- /study:us-run -->

<!-- study:k-rules-french -->
no run for this one: kept
<!-- /study:k-rules-french -->
"""


def _fake_metrics():
    """The keys of metrics.json the script reads, for two models and two refits."""
    return {
        "quick": False,
        "models": ["IPCA", "NeurIF"],
        "data": {"notes": ["Returns: EXCESS returns (minus the T-bill RF of F.csv)."]},
        "config": {"grids": {"IPCA": [1, 2], "NeurIF": [3]}},
        "split": {
            "n_refits": 2,
            "test": {"first": "2015-01", "last": "2016-12", "n_periods_with_return": 23,
                     "n_rows_with_return": 2300},
        },  # fmt: skip
        "headline": {
            "K (per refit)": {"IPCA": "1-2", "NeurIF": "3"},
            "total R2": {"IPCA": 0.12345, "NeurIF": 0.1301},
            "predictive R2": {"IPCA": -0.00068, "NeurIF": 0.0004},
            "DM p vs IPCA": {"IPCA": None, "NeurIF": 0.0421},
            "rank IC NW t": {"IPCA": -2.1544, "NeurIF": 0.5},
        },
        "diebold_mariano": {
            "IPCA vs NeurIF": {"model_1": "IPCA", "model_2": "NeurIF", "stat": 2.03,
                               "pvalue": 0.0421, "pvalue_holm": 0.0421,
                               "mean_differential": 2e-5, "n_periods": 23},
        },  # fmt: skip
        "r2_intervals": {
            m: {"r2_total": 0.12, "total_lo": 0.1, "total_hi": 0.14,
                "r2_predictive": 0.001, "predictive_lo": -0.01, "predictive_hi": 0.012}
            for m in ("IPCA", "NeurIF")
        },  # fmt: skip
        "refits": [
            {"model": m, "refit": i, "K": k}
            for m, ks in (("IPCA", (2, 1)), ("NeurIF", (3, 3)))
            for i, k in enumerate(ks, 1)
        ],
        "timings": {"IPCA refit 1/2": 1.0, "IPCA refit 2/2": 2.0,
                    "NeurIF refit 1/2": 10.0, "NeurIF refit 2/2": 20.0,
                    "IPCA bootstrap tests (last window)": 5.0, "total": 40.0},
    }  # fmt: skip


@pytest.fixture
def runs(tmp_path):
    (tmp_path / "runs" / "us").mkdir(parents=True)
    (tmp_path / "runs" / "us" / "metrics.json").write_text(json.dumps(_fake_metrics()))
    machine = {"us": {"command": "python -m sklearn_neurif run", "wall_seconds": 265.0,
                      "load_min": 2.04, "load_max": 3.96, "cores": 2,
                      "date": "2026-12-07", "commit": "abc1234"}}  # fmt: skip
    (tmp_path / "runs" / "machine.json").write_text(json.dumps(machine))
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    return tmp_path / "runs", page


def test_replace_blocks_swaps_only_the_named_bodies(regen):
    text, replaced = regen.replace_blocks(PAGE, {"us-run": "new line\n", "other": "x"})
    assert replaced == ["us-run"]
    assert "<!-- study:us-run -->\nnew line\n<!-- /study:us-run -->" in text
    assert "old run line" not in text
    # Everything outside the block, and the other blocks, unchanged.
    assert text.replace("new line", "old run line") == PAGE


@pytest.mark.parametrize(
    "broken, message",
    [
        ("<!-- study:a -->\nx\n", "Unbalanced"),
        ("<!-- study:a -->\nx\n<!-- /study:a -->\n" * 2, "twice"),
    ],
)
def test_replace_blocks_refuses_broken_markers(regen, broken, message):
    with pytest.raises(ValueError, match=message):
        regen.replace_blocks(broken, {"a": "y"})


def test_rewrites_a_file_from_a_fake_run(regen, runs, capsys):
    folder, page = runs
    regen.main(["--from-runs", str(folder), "--files", str(page)])
    text = page.read_text()
    assert "Reading before: kept;" in text and "Reading between: kept." in text
    # The headline in the report's units: R² in percent, p-values plain.
    assert "| total R2 | 12.345% | 13.010% |" in text
    assert "| DM p vs IPCA | n/a | 0.0421 |" in text
    # The run line: command, wall time, cores, load, study steps per model.
    assert "`python -m sklearn_neurif run`: 4 min 25 s on 2 cores at a load " in text
    assert "average of 2.0 to 4.0 (commit abc1234, 2026-12-07)" in text
    assert "refits IPCA 3.0 s, NeurIF 30.0 s; KPS bootstrap tests 5 s" in text
    # A block without a run is left as it is, and said so.
    assert "no run for this one: kept" in text
    assert "no run for ['k-rules-french']" in capsys.readouterr().out
    # Rewriting again changes nothing (the markers are kept).
    regen.main(["--from-runs", str(folder), "--files", str(page)])
    assert page.read_text() == text


def test_dry_run_prints_the_blocks_and_writes_nothing(regen, runs, capsys):
    folder, page = runs
    regen.main(["--from-runs", str(folder), "--files", str(page), "--dry-run"])
    assert page.read_text() == PAGE
    out = capsys.readouterr().out
    assert "<!-- study:us-readme-headline -->" in out
    assert "K per refit: IPCA 2, 1; NeurIF fixed at 3." in out
    assert "would rewrite 2 block(s)" in out


def test_refuses_a_quick_run(regen, runs):
    folder, page = runs
    path = folder / "us" / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "quick": True}))
    with pytest.raises(SystemExit, match="quick run"):
        regen.main(["--from-runs", str(folder), "--files", str(page)])


def test_the_docs_markers_are_balanced_and_filled_by_the_script(regen):
    """Every marker in README.md and docs/study.md is one the script fills."""
    names = set()
    for path in regen.DOCS:
        text = path.read_text()
        regen.replace_blocks(text, {})  # raises on unbalanced or repeated markers
        names |= set(regen.BLOCK_NAMES.findall(text))
    fillable = {f"{d}-{b}" for d in regen.DATASETS
                for b in ("readme-headline", "headline", "run", "dm", "r2-intervals",
                          "k-per-refit")} | {f"k-rules-{d}" for d in regen.DATASETS}  # fmt: skip
    assert names and names <= fillable


def test_runs_both_studies_and_both_k_rule_scripts(regen, tmp_path, monkeypatch):
    """The commands run (the runs themselves are replaced by a recorder)."""
    calls = []

    def record(command, log, shown):
        calls.append((command, Path(log).name, shown))
        return {"command": shown}

    monkeypatch.setattr(regen, "_run_timed", record)
    monkeypatch.chdir(tmp_path)
    regen.run_everything(tmp_path / "out", "data")
    home = str(tmp_path / "data")  # made absolute: the runs start at the root
    shown = [c[2] for c in calls]
    assert shown == [
        "python -m sklearn_neurif run --data-home data",
        "python benchmarks/k_rules.py --data us-stocks --data-home data",
        "python -m sklearn_neurif run --data french --data-home data",
        "python benchmarks/k_rules.py --data french --data-home data",
    ]
    for command, _, _ in calls:
        assert command[command.index("--data-home") + 1] == home
    study = calls[2][0]
    assert study[study.index("--out") + 1] == str(tmp_path / "out" / "french")
    machine = json.loads((tmp_path / "out" / "machine.json").read_text())
    assert set(machine) == {"us", "k_rules_us", "french", "k_rules_french"}
