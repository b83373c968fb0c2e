"""Hyperparameter search over a Dask cluster through joblib's ``dask`` backend."""

import os

import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from adesk import ADEDensityEstimator, ScoreMatchingEstimator
from adesk.datasets import make_toy
from adesk.energies import MLP
from adesk.partition import AutoPartition
from adesk.samplers import HMC

MAX_ITER = 8


def small(**overrides):
    """Small settings every family takes (fresh parameter objects for each estimator)."""
    params = dict(
        energy_model=MLP((16, 16)),
        max_iter=MAX_ITER,
        batch_size=32,
        partition=AutoPartition(resolution=16),
        random_state=0,
        device="auto",
    )
    return {**params, **overrides}


def _record_pid(estimator, iteration, logs):
    estimator.history_.setdefault("pid", []).append(os.getpid())


def _search(n_jobs):
    pipeline = make_pipeline(
        StandardScaler(), ADEDensityEstimator(sampler=HMC(n_steps=2), **small())
    )
    grid = {
        "adedensityestimator": [
            ADEDensityEstimator(sampler=HMC(n_steps=2), **small()),
            ScoreMatchingEstimator(**small()),
        ],
        "adedensityestimator__learning_rate_init": [1e-3, 3e-3],
    }
    return GridSearchCV(pipeline, grid, cv=KFold(2), n_jobs=n_jobs)


@pytest.mark.slow
def test_grid_search_on_a_dask_cluster_matches_the_local_search():
    X = make_toy("moons", n_samples=300, random_state=0)
    serial = _search(1).fit(X)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        with joblib.parallel_backend("dask"):
            remote = _search(-1).fit(X)
            # Fits run in the workers' processes: each records where it trained.
            recorder = ScoreMatchingEstimator(**small(callbacks=_record_pid))
            fitted = cross_validate(recorder, X, cv=KFold(2), n_jobs=-1, return_estimator=True)[
                "estimator"
            ]
        worker_pids = set(client.run(os.getpid).values())
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert remote.best_index_ == serial.best_index_
    assert np.all(np.isfinite(remote.cv_results_["mean_test_score"]))
    # The estimators came back from the workers, with histories written there.
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids
    for est in fitted:
        assert est.n_iter_ == MAX_ITER
        assert set(est.history_["pid"]) <= worker_pids
