"""ADE's defaults on one real data set with whitening and / or early stopping forced on.

The experiments behind ``standardize="auto"`` and ``early_stopping="auto"`` (see
``benchmarks/README.md``, "Untuned defaults on real data"). Usage::

    OMP_NUM_THREADS=1 python benchmarks/real_data_variants.py breast_cancer white
    OMP_NUM_THREADS=1 python benchmarks/real_data_variants.py iris es
    OMP_NUM_THREADS=1 python benchmarks/real_data_variants.py wine white_es

``white`` fits with ``standardize="whiten"``, ``es`` with ``early_stopping=True``
(``max_iter=3000``, a check every 50 iterations, 6 checks of patience), ``white_es`` both;
anything else with ``standardize="per_feature", early_stopping=False``. Prints one JSON line
per seed (0-2): test log-likelihood per point (standardized units, as ``realdefaults``), the
energy gap over the last 10% of the iterations, ``log Z``, iterations, the returned iteration,
the fit time and the warnings raised.
"""

import json
import sys
import time
import warnings

import numpy as np
import torch

from adesk import ADEDensityEstimator
from adesk.benchmarks._likelihood import standardized_splits


def run(dataset, config, seed):
    X_train, _, X_test = standardized_splits(dataset, seed)
    params = dict(partition="ais", random_state=seed, device="cpu")
    params["standardize"] = "whiten" if "white" in config else "per_feature"
    params["early_stopping"] = "es" in config
    if "es" in config:
        params.update(max_iter=3000, validation_interval=50, n_iter_no_change=6)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = ADEDensityEstimator(**params).fit(X_train)
    gaps = np.asarray(est.history_["energy_gap"])
    return dict(
        dataset=dataset,
        config=config,
        seed=seed,
        ll=float(np.mean(est.score_samples(X_test))),
        gap=float(gaps[-max(1, len(gaps) // 10) :].mean()),
        log_z=float(est.log_partition_),
        n_iter=est.n_iter_,
        best=getattr(est, "best_iteration_", None),
        fit_s=time.perf_counter() - start,
        warnings=[type(w.message).__name__ for w in caught],
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    for seed in (0, 1, 2):
        print(json.dumps(run(sys.argv[1], sys.argv[2], seed)), flush=True)
