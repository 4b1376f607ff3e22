"""Settings shared by the whole test suite."""

import importlib.util
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark():
    """A function giving the module of the script ``benchmarks/<name>.py``."""

    def load(name):
        path = BENCHMARKS / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # CI runs on 2 cores; torch's default of one thread per core makes the
    # small fits of the tests many times slower when the cores are busy.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def make_local_cluster():
    """Factory of a small dask ``LocalCluster`` for the distributed tests.

    Worker processes (not threads): each fit runs in another interpreter, as
    on a real cluster. No dashboard (no port to clash), quiet logs.
    """
    import logging

    distributed = pytest.importorskip("distributed")

    def make():
        return distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )

    return make
