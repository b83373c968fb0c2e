"""Speedups of the two scale-out recipes on this machine: DDP training and a Dask search.

Usage: ``python benchmarks/scaling_out.py [--iterations 40] [--batch 1024]``. Prints a table:

- data-parallel ADE training (``distributed="ddp"``, gloo) on 1 and 2 processes at the same
  global batch: seconds per iteration after a warm-up, and the speedup;
- ``GridSearchCV`` (4 candidates x 2 folds) with ``n_jobs=1`` and on a Dask ``LocalCluster`` of
  2 single-threaded workers through joblib's ``dask`` backend: wall time and speedup.
"""

import argparse
import os
import tempfile
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WARMUP = 5


def _timestamp(estimator, iteration, logs):
    estimator.history_.setdefault("time", []).append(time.perf_counter())


def _estimator(args, distributed):
    from adesk import ADEDensityEstimator
    from adesk.partition import AutoPartition

    return ADEDensityEstimator(
        batch_size=args.batch,
        max_iter=args.iterations,
        partition=AutoPartition(resolution=64),
        random_state=0,
        device="cpu",
        distributed=distributed,
        callbacks=_timestamp,
    )


def _seconds_per_iteration(estimator):
    stamps = np.asarray(estimator.history_["time"])
    return float(np.diff(stamps[WARMUP:]).mean())


def _ddp_worker(rank, world_size, init_file, args, out_file):
    from adesk.datasets import make_toy

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        est = _estimator(args, "ddp").fit(make_toy("moons", 10000, random_state=0))
        if rank == 0:
            np.save(out_file, _seconds_per_iteration(est))
    finally:
        dist.destroy_process_group()


def measure_ddp(args):
    from adesk.datasets import make_toy

    torch.set_num_threads(1)
    single = _estimator(args, "none").fit(make_toy("moons", 10000, random_state=0))
    one = _seconds_per_iteration(single)
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "two.npy")
        mp.spawn(
            _ddp_worker,
            args=(2, os.path.join(tmp, "init"), args, out_file),
            nprocs=2,
            join=True,
        )
        two = float(np.load(out_file))
    return one, two


def _import_adesk():
    import adesk  # noqa: F401

    torch.set_num_threads(1)


def measure_dask(args):
    import dask
    import joblib
    from distributed import Client, LocalCluster
    from sklearn.model_selection import GridSearchCV, KFold

    from adesk import ADEDensityEstimator
    from adesk.datasets import make_toy
    from adesk.samplers import HMC

    X = make_toy("moons", 3000, random_state=0)
    grid = {"learning_rate_init": [1e-3, 3e-3], "sampler__n_steps": [5, 10]}

    def search(n_jobs):
        est = ADEDensityEstimator(
            sampler=HMC(), max_iter=args.search_iterations, random_state=0, device="cpu"
        )
        return GridSearchCV(est, grid, cv=KFold(2), n_jobs=n_jobs)

    torch.set_num_threads(1)
    start = time.perf_counter()
    search(1).fit(X)
    serial = time.perf_counter() - start
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which returns freed memory
    # to the system so eagerly that torch's CPU allocations run about 2x slower (measured: one
    # ADE fit 13.7 s in such a worker, 7.1 s without the setting, 6.8 s in this process).
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # A cluster is long-lived: its workers have imported torch and adesk before a search.
        client.run(_import_adesk)
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            search(-1).fit(X)
        remote = time.perf_counter() - start
    return serial, remote


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--search-iterations", type=int, default=150)
    args = parser.parse_args()
    one, two = measure_ddp(args)
    serial, remote = measure_dask(args)
    print(f"Machine: {os.cpu_count()} cores, torch {torch.__version__}, 1 thread per process.\n")
    print("| recipe | baseline | scaled out | speedup |")
    print("|---|---|---|---|")
    print(
        f"| ADE training, global batch {args.batch} (s / iteration): 1 process vs 2 DDP "
        f"processes (gloo) | {one:.3f} | {two:.3f} | {one / two:.2f}x |"
    )
    print(
        f"| GridSearchCV, 4 candidates x 2 folds, {args.search_iterations} iterations (s): "
        f"n_jobs=1 vs Dask LocalCluster of 2 workers | {serial:.1f} | {remote:.1f} | "
        f"{serial / remote:.2f}x |"
    )


if __name__ == "__main__":
    main()
