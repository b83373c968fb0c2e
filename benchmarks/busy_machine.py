"""A default ADE fit idle and beside one busy process, with adesk's thread policy and without.

Usage: ``python benchmarks/busy_machine.py [--max-iter 300] [--rounds 2]``. Run it on an
otherwise idle machine: it starts and stops its own busy process (one core spinning in pure
Python). Each round fits ADE (defaults, moons, 10,000 points) four ways, interleaved so that
drifts in the machine's speed hit every configuration alike:

* idle, adesk's policy (``n_threads=None``: half the visible cores, at least 1);
* idle, torch's own pool (``adesk.set_config(n_threads=-1)``);
* beside the busy process, adesk's policy;
* beside the busy process, torch's own pool.

It prints the median fit time of each and the busy / idle ratio per policy.
"""

import argparse
import multiprocessing
import statistics
import time

import torch

import adesk
from adesk.datasets import make_toy


def _spin(stop):
    count = 0
    while not stop.is_set():
        count += 1


def _fit_seconds(X, max_iter, n_threads):
    with adesk.config_context(n_threads=n_threads):
        start = time.perf_counter()
        adesk.ADEDensityEstimator(max_iter=max_iter, random_state=0, device="cpu").fit(X)
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    X = make_toy("moons", 10000, random_state=0)
    policies = {"adesk policy": None, "torch default pool": -1}
    times = {(load, label): [] for load in ("idle", "busy") for label in policies}
    for _ in range(args.rounds):
        for load in ("idle", "busy"):
            stop = multiprocessing.Event()
            worker = None
            if load == "busy":
                worker = multiprocessing.Process(target=_spin, args=(stop,))
                worker.start()
                time.sleep(0.5)
            try:
                for label, n_threads in policies.items():
                    times[(load, label)].append(_fit_seconds(X, args.max_iter, n_threads))
            finally:
                if worker is not None:
                    stop.set()
                    worker.join()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads by default, "
        f"ADE defaults with max_iter={args.max_iter}, moons 10,000 points, "
        f"{args.rounds} rounds (median)"
    )
    print("| threads | idle s | beside 1 busy process s | busy / idle |")
    print("|---|---|---|---|")
    for label in policies:
        idle = statistics.median(times[("idle", label)])
        busy = statistics.median(times[("busy", label)])
        print(f"| {label} | {idle:.1f} | {busy:.1f} | {busy / idle:.2f} |")


if __name__ == "__main__":
    main()
