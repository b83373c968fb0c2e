"""ADE against the baseline estimators of the paper on the same footing.

Every estimator gets the same energy network (the default MLP), the same data, the same
iteration budget and the same seed; each is scored by its exactly normalised held-out
log-likelihood and by MMD with the paper's protocol, beside a tuned GaussianMixture.
"""

import importlib
import os
import time

import numpy as np
from joblib import Parallel, delayed

from ..datasets import make_toy
from ..metrics import mmd2
from ..samplers import HMC
from ._quick import tuned_gaussian_mixture

#: name -> (class name in ``adesk.estimators``, constructor parameters). The parameter
#: objects are shared: estimators never modify them, and nothing here sets their fields.
COMPARED = {
    "ADE": ("ADEDensityEstimator", {}),
    "CD-15": ("ContrastiveDivergenceEstimator", {"sampler": HMC(n_transitions=15)}),
    # Persistent chains: a replay buffer of 10,000 states.
    "PCD-15": (
        "ContrastiveDivergenceEstimator",
        {"sampler": HMC(n_transitions=15), "replay_buffer_size": 10000},
    ),
    "SM": ("ScoreMatchingEstimator", {"method": "exact"}),
    "NCE": ("NoiseContrastiveEstimator", {}),
    "NF": ("FlowDualEstimator", {}),
}
COMPARE_DATASETS = ("moons", "pinwheel", "Ring", "Banana", "2spirals")


def run_estimator(label, name, n_train=10000, seed=0, max_iter=1000):
    """Fit one estimator of :data:`COMPARED` on one dataset; return its metrics."""
    import torch

    torch.set_num_threads(1)
    class_name, params = COMPARED[label]
    estimators = importlib.import_module("adesk.estimators")
    cls = getattr(estimators, class_name)
    X_train = make_toy(name, n_train, random_state=seed)
    X_test = make_toy(name, 5000, random_state=seed + 2000)
    est = cls(max_iter=max_iter, random_state=seed, **params)
    start = time.perf_counter()
    est.fit(X_train)
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    samples = est.sample(1000, random_state=seed)
    sample_time = time.perf_counter() - start
    return {
        "dataset": name,
        "estimator": label,
        "ll": est.score(X_test),
        "mmd": 1e3 * mmd2(X_test[:1000], samples),
        "fit_s": fit_time,
        "sample_s": sample_time,
    }


def run_gmm(name, n_train=10000, seed=0):
    X_train = make_toy(name, n_train, random_state=seed)
    X_val = make_toy(name, 2000, random_state=seed + 1000)
    X_test = make_toy(name, 5000, random_state=seed + 2000)
    gmm = tuned_gaussian_mixture(X_train, X_val, random_state=seed)
    return {
        "dataset": name,
        "estimator": "tuned GMM",
        "ll": gmm.score(X_test),
        "mmd": 1e3 * mmd2(X_test[:1000], gmm.sample(1000)[0]),
        "fit_s": float("nan"),
        "sample_s": float("nan"),
    }


def run_comparison(
    datasets=COMPARE_DATASETS,
    estimators=tuple(COMPARED),
    n_train=10000,
    seed=0,
    max_iter=1000,
    n_jobs=1,
):
    """Every estimator on every dataset (in ``n_jobs`` processes); rows in a fixed order."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    jobs = [
        delayed(run_estimator)(label, name, n_train, seed, max_iter)
        for name in datasets
        for label in estimators
    ]
    jobs += [delayed(run_gmm)(name, n_train, seed) for name in datasets]
    return Parallel(n_jobs=n_jobs)(jobs)


def format_comparison(rows):
    """Markdown table, one line per (dataset, estimator), with the gap to the tuned GMM."""
    gmm = {r["dataset"]: r["ll"] for r in rows if r["estimator"] == "tuned GMM"}
    lines = [
        "| dataset | estimator | held-out ll | ll - GMM | MMD x1e3 | fit s | sample 1k s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fit = "" if np.isnan(r["fit_s"]) else f"{r['fit_s']:.0f}"
        sample = "" if np.isnan(r["sample_s"]) else f"{r['sample_s']:.2f}"
        lines.append(
            f"| {r['dataset']} | {r['estimator']} | {r['ll']:.3f} | "
            f"{r['ll'] - gmm[r['dataset']]:+.3f} | {r['mmd']:.2f} | {fit} | {sample} |"
        )
    return "\n".join(lines)
