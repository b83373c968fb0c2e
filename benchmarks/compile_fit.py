"""A default ADE fit on moons with the eager or a ``torch.compile``'d energy network.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/compile_fit.py eager`` and, side by side,
``OMP_NUM_THREADS=1 python benchmarks/compile_fit.py reduce-overhead`` (any torch.compile mode).
Prints one JSON line per seed (0-2): the wall time of ``fit`` (compilation included), its
training time ``fit_time_`` and the held-out log-likelihood on 5,000 fresh points.
"""

import json
import os
import sys
import time

from adesk import ADEDensityEstimator
from adesk.datasets import make_toy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_iteration import compiled_energy  # noqa: E402

if __name__ == "__main__":
    mode = sys.argv[1]
    for seed in (0, 1, 2):
        X = make_toy("moons", 10000, random_state=seed)
        X_test = make_toy("moons", 5000, random_state=seed + 100)
        energy_model = "mlp" if mode == "eager" else compiled_energy(mode)
        start = time.perf_counter()
        est = ADEDensityEstimator(random_state=seed, energy_model=energy_model).fit(X)
        wall = time.perf_counter() - start
        row = dict(mode=mode, seed=seed, wall=wall, fit_time=est.fit_time_)
        print(json.dumps({**row, "ll": float(est.score(X_test))}), flush=True)
