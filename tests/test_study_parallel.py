"""The study's parallel refits (``n_jobs``): same results, workers' threads."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, RegressorMixin

from sklearn_neurif.study import run_study


class _ThreadsProbe(RegressorMixin, BaseEstimator):
    """Predicts the torch threads it was fitted with (plus a small signal)."""

    def fit(self, X, y):
        self.threads_ = torch.get_num_threads()
        return self

    def predict(self, X):
        return self.threads_ + 1e-3 * np.asarray(X)[:, 0]


@pytest.fixture(scope="module")
def serial_and_parallel():
    options = {"quick": True, "quiet": True, "models": ["IPCA", "NeurIF", "CA2"]}
    return [run_study("simulated", n_jobs=n, **options) for n in (1, 2)]


def test_parallel_refits_give_the_serial_results(serial_and_parallel):
    """Every refit and every bootstrap draw has its own seed: n_jobs changes nothing."""
    serial, parallel = serial_and_parallel
    pd.testing.assert_frame_equal(serial.predictions, parallel.predictions)
    pd.testing.assert_frame_equal(serial.k_sensitivity, parallel.k_sensitivity)
    for test in ("alpha", "instruments"):
        pd.testing.assert_frame_equal(
            serial.ipca_tests[test], parallel.ipca_tests[test]
        )
    assert serial.config["n_jobs"] == 1 and parallel.config["n_jobs"] == 2
    assert serial.timings.keys() == parallel.timings.keys()


def test_report_names_the_workers_and_how_to_read_their_times(
    serial_and_parallel, tmp_path
):
    from sklearn_neurif.study._report import write_report

    texts = []
    for n, result in zip((1, 2), serial_and_parallel, strict=True):
        write_report(result, tmp_path / str(n))
        texts.append((tmp_path / str(n) / "report.md").read_text())
    serial, parallel = texts
    assert "torch threads 1 in each of 2 parallel workers" in parallel
    assert "The refits ran in 2 parallel workers" in parallel
    assert "parallel workers" not in serial


class _NoisyProbe(_ThreadsProbe):
    """Warns in every fit (twice the same message: recorded once)."""

    def fit(self, X, y):
        import warnings

        for _ in range(2):
            warnings.warn(f"noisy fit on {len(X)} rows", RuntimeWarning, stacklevel=2)
        return super().fit(X, y)


def test_refit_warnings_summed_up_once_per_model(tmp_path):
    """A warning raised in every refit (in the workers) reaches the caller as one
    warning for the model, and the report and refit table hold them all."""
    import warnings

    from sklearn_neurif.study._report import write_report

    options = {"quick": True, "quiet": True, "models": ["IPCA"], "n_jobs": 2}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_study("simulated", estimators={"noisy": _NoisyProbe()}, **options)
    noisy = result.refits.loc[result.refits.model == "noisy", "warnings"]
    n = len(noisy)
    assert n >= 2 and all(len(w) == 1 for w in noisy)
    assert noisy.iloc[0][0].startswith("RuntimeWarning: noisy fit on ")
    messages = [str(w.message) for w in caught]
    assert not any(m.startswith("noisy fit") for m in messages)
    summary = [m for m in messages if m.startswith("noisy: ")]
    assert summary == [
        f"noisy: {n} warning(s) in {n} of its {n} refits; the first: "
        f"{noisy.iloc[0][0]} All are in the report's section 'Warnings raised in "
        "the refits' and in StudyResult.refits['warnings']."
    ]
    write_report(result, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "## Warnings raised in the refits (quick run)" in report
    assert f"| noisy | {n} of {n} | {n} | RuntimeWarning: noisy fit on" in report


def test_workers_fit_with_the_study_threads():
    """loky's workers get ``threads`` torch threads, as the calling process."""
    probe = {"probe": _ThreadsProbe()}
    options = {"quick": True, "quiet": True, "models": ["IPCA"], "estimators": probe}
    for threads in (1, 2):
        result = run_study("simulated", n_jobs=2, threads=threads, **options)
        seen = np.unique(np.round(result.predictions["probe"].dropna()))
        assert seen.tolist() == [float(threads)]


@pytest.mark.parametrize(
    "n_jobs, error", [(0, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_bad_n_jobs_refused_before_loading(n_jobs, error):
    with pytest.raises(error, match="n_jobs"):
        run_study("no-such-data", quick=True, n_jobs=n_jobs)


def test_cli_n_jobs_zero_exits_2_before_loading(tmp_path, capsys):
    from sklearn_neurif.__main__ import main

    args = ["run", "--data", "simulated", "--quick", "--n-jobs", "0"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    assert "--n-jobs 0 runs nothing" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
