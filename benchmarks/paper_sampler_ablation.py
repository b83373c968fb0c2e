"""Why the paper's ADE sampler misplaces mass: the same flow q0 + 5 Langevin steps, with and
without the Metropolis test, on four toys (issue 17's paper-setting row).

Usage: ``python benchmarks/paper_sampler_ablation.py SEEDS ["label;label"]``, e.g.
``python benchmarks/paper_sampler_ablation.py 0,1,2 "paper (ULA, relu);MALA, relu"``. Prints one
JSON row per fit: held-out log-likelihood (5,000 points, exact quadrature), the mean energy gap
between negatives and data over the last 50 iterations, and the fit's wall time. Settings are
the ``paper`` benchmark's quick mode (5,000 training points, 500 iterations) with the paper's
ReLU energy or adesk's SiLU one, behind adesk's persistent chains.
"""

import json
import sys
import time
import warnings

import numpy as np
import torch
from joblib import Parallel, delayed

from adesk import ADEDensityEstimator
from adesk.datasets import make_toy
from adesk.energies import MLP
from adesk.initial import Flow
from adesk.samplers import Langevin

VARIANTS = {
    "paper (ULA, relu)": dict(
        sampler=Langevin(5, metropolis=False), energy_model=MLP(activation="relu")
    ),
    "MALA, relu": dict(sampler=Langevin(5), energy_model=MLP(activation="relu")),
    "ULA, silu": dict(sampler=Langevin(5, metropolis=False), energy_model=MLP()),
    "MALA, silu": dict(sampler=Langevin(5), energy_model=MLP()),
}


def run(name, label, seed=0):
    torch.set_num_threads(1)
    X = make_toy(name, 5000, random_state=seed)
    Xt = make_toy(name, 5000, random_state=seed + 2000)
    est = ADEDensityEstimator(
        initial=Flow(n_layers=10), max_iter=500, random_state=seed, **VARIANTS[label]
    )
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    gap = float(np.mean(est.history_["energy_gap"][-50:]))
    return dict(
        dataset=name,
        variant=label,
        ll=round(float(est.score(Xt)), 3),
        gap=round(gap, 2),
        fit_s=round(time.perf_counter() - t, 1),
    )


if __name__ == "__main__":
    seeds = [int(seed) for seed in sys.argv[1].split(",")] if len(sys.argv) > 1 else [0]
    labels = sys.argv[2].split(";") if len(sys.argv) > 2 else list(VARIANTS)
    datasets = ["moons", "Funnel", "Ring", "pinwheel"]
    rows = Parallel(n_jobs=2)(
        delayed(run)(name, label, seed) for seed in seeds for name in datasets for label in labels
    )
    for row in rows:
        print(json.dumps(row))
