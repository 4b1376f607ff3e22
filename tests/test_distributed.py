"""Grid search over NeurIFRegressor on a dask ``distributed`` cluster.

scikit-learn parallelises ``GridSearchCV`` and ``cross_validate`` with
joblib; ``joblib.parallel_backend("dask")`` sends those jobs to the workers
of a dask cluster. Here a ``LocalCluster`` of two worker processes stands in
for a real one (same pickling of estimators, data and results across
processes). NeurIF is deterministic on CPU for a given ``random_state`` and
torch thread count, so the cluster must reproduce the serial search exactly.
"""

import os

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, cross_validate

from sklearn_neurif import NeurIFRegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.metrics import r2_total_scorer
from sklearn_neurif.model_selection import PanelTimeSeriesSplit

distributed = pytest.importorskip("distributed")

GRID = {"n_factors": [1, 2]}
N_SPLITS = 2


@pytest.fixture(scope="module")
def data():
    return make_conditional_factor_panel(40, 30, 4, 2, random_state=0)


@pytest.fixture(scope="module")
def client(make_local_cluster):
    cluster = make_local_cluster()
    client = distributed.Client(cluster)
    try:
        # Same torch thread count as the test process (tests/conftest.py):
        # float32 reductions, hence the last bits of the scores, depend on it.
        client.run(torch.set_num_threads, 1)
        yield client
    finally:
        client.close()
        cluster.close()


def _estimator(**params):
    return NeurIFRegressor(
        window=2, max_epochs=2, hidden_size=8, random_state=0, **params
    )


def _cv():
    return PanelTimeSeriesSplit(n_splits=N_SPLITS, test_size=5)


def _search(**params):
    return GridSearchCV(_estimator(**params), GRID, cv=_cv(), scoring=r2_total_scorer)


@pytest.fixture(scope="module")
def serial_search(data):
    return _search().fit(data.X, data.y)


def test_workers_use_one_torch_thread(client):
    # distributed's nanny starts workers with OMP_NUM_THREADS=1 (its
    # ``distributed.nanny.pre-spawn-environ`` default), which torch reads at
    # import: no oversubscription by default (docs/distributed.md).
    env = client.run(os.environ.get, "OMP_NUM_THREADS")
    threads = client.run(torch.get_num_threads)
    assert len(threads) == 2
    assert set(env.values()) == {"1"} and set(threads.values()) == {1}


def test_grid_search_on_dask_matches_serial(client, data, serial_search):
    search = _search()
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_backend("dask"):
            search.fit(data.X, data.y)

    # The fits ran on the cluster's workers, not in this process.
    used = {task["worker"] for task in tasks.data}
    assert used and used <= set(client.scheduler_info()["workers"])

    serial = serial_search.cv_results_
    for key in ["mean_test_score", "std_test_score"] + [
        f"split{i}_test_score" for i in range(N_SPLITS)
    ]:
        np.testing.assert_allclose(search.cv_results_[key], serial[key], rtol=1e-6)
    assert search.best_params_ == serial_search.best_params_
    assert search.best_params_ == {"n_factors": 2}  # the simulation has K=2
    np.testing.assert_allclose(
        search.predict(data.X), serial_search.predict(data.X), rtol=1e-6
    )


def test_checkpoint_dir_on_dask_gives_one_directory_per_fit(client, data, tmp_path):
    est = _estimator(n_factors=2, checkpoint_dir=tmp_path)
    # Connect by address, as to an existing cluster; the newest client is
    # the one joblib's dask backend uses. The fitted estimators come back
    # pickled from the workers.
    with distributed.Client(client.scheduler.address) as remote:
        with distributed.get_task_stream(remote) as tasks:
            with joblib.parallel_backend("dask"):
                result = cross_validate(
                    est,
                    data.X,
                    data.y,
                    cv=_cv(),
                    scoring=r2_total_scorer,
                    return_estimator=True,
                )
    assert tasks.data
    paths = [fitted.checkpoint_path_ for fitted in result["estimator"]]
    assert len(set(paths)) == N_SPLITS
    assert sorted(os.path.join(tmp_path, name) for name in os.listdir(tmp_path)) == (
        sorted(paths)
    )
    for path in paths:
        assert os.path.isfile(os.path.join(path, "params.pt"))
    # The checkpoints do not change the fits.
    plain = cross_validate(
        _estimator(n_factors=2), data.X, data.y, cv=_cv(), scoring=r2_total_scorer
    )
    np.testing.assert_allclose(result["test_score"], plain["test_score"], rtol=1e-6)
