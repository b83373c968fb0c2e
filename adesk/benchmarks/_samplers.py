"""Sampler x initial-distribution ablation of ADE on 2-D toy data (issue: dynamics family).

For every configuration: held-out log-likelihood normalised by grid quadrature, MMD^2 x 1e3
with the paper's protocol (1,000 held-out points vs 1,000 samples), fit time and the time to
draw 10,000 samples, beside a tuned GaussianMixture and KernelDensity on the same split.
"""

import itertools
import os
import time
import warnings

import numpy as np
from joblib import Parallel, delayed

from ..datasets import make_toy
from ..estimators import ADEDensityEstimator
from ..metrics import mmd2
from ..train import estimator_from_params
from ..training import SamplerLagWarning
from ._quick import tuned_gaussian_mixture, tuned_kernel_density

ABLATION_DATASETS = ("moons", "pinwheel", "Ring", "Spiral", "Funnel")
SAMPLER_NAMES = ("hmc", "ghmc", "langevin", "deterministic_langevin")
INITIAL_NAMES = ("data", "gaussian", "flow", "latent")


def ablation_configs(grid="main"):
    """``(sampler, initial)`` pairs: the full grid, or each factor varied from the defaults."""
    if grid == "full":
        return list(itertools.product(SAMPLER_NAMES, INITIAL_NAMES))
    main = [(sampler, "data") for sampler in SAMPLER_NAMES]
    return main + [("hmc", initial) for initial in INITIAL_NAMES[1:]]


def _split(name, n_train, seed):
    return (
        make_toy(name, n_train, random_state=seed),
        make_toy(name, 2000, random_state=seed + 1000),
        make_toy(name, 5000, random_state=seed + 2000),
    )


def run_config(name, sampler, initial, n_train=10000, seed=0, max_iter=1500, params=None):
    """Fit one ADE configuration and return its metrics as a dict.

    ``sampler`` and ``initial`` are shortcut names (``"hmc"``, ``"data"``, ...) or parameter
    objects; ``params`` are further constructor parameters, the settings of a parameter object
    by their path (``{"sampler__n_steps": 10}``, see :func:`adesk.train.estimator_from_params`).
    """
    import torch

    torch.set_num_threads(1)
    X_train, _, X_test = _split(name, n_train, seed)
    est = estimator_from_params(
        ADEDensityEstimator,
        {
            "sampler": sampler,
            "initial": initial,
            "max_iter": max_iter,
            "random_state": seed,
            **(params or {}),
        },
    )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SamplerLagWarning)
        est.fit(X_train)
    fit_time = time.perf_counter() - start
    alarm = any(issubclass(w.category, SamplerLagWarning) for w in caught)
    start = time.perf_counter()
    samples = est.sample(10000, random_state=seed)
    sample_time = time.perf_counter() - start
    finite = np.isfinite(samples).all(axis=1)
    return {
        "dataset": name,
        "sampler": sampler,
        "initial": initial,
        "ll": est.score(X_test),
        "mmd": 1e3 * mmd2(X_test[:1000], samples[:1000][finite[:1000]]),
        "fit_s": fit_time,
        "sample_s": sample_time,
        "acceptance": est.history_.get("acceptance_rate", [float("nan")])[-1],
        "gap_end": float(np.mean(est.history_["energy_gap"][-max(1, max_iter // 10) :])),
        "alarm": alarm,
    }


def run_references(name, n_train=10000, seed=0):
    """Tuned GaussianMixture and KernelDensity on the same split."""
    X_train, X_val, X_test = _split(name, n_train, seed)
    gmm = tuned_gaussian_mixture(X_train, X_val, random_state=seed)
    kde = tuned_kernel_density(X_train)
    return {
        "dataset": name,
        "gmm_ll": gmm.score(X_test),
        "gmm_mmd": 1e3 * mmd2(X_test[:1000], gmm.sample(1000)[0]),
        "kde_ll": float(np.mean(kde.score_samples(X_test))),
        "kde_mmd": 1e3 * mmd2(X_test[:1000], kde.sample(1000, random_state=seed)),
    }


def run_ablation(
    datasets=ABLATION_DATASETS, grid="main", n_train=10000, seed=0, max_iter=1500, n_jobs=1
):
    """Run every configuration on every dataset (in ``n_jobs`` processes)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    jobs = [
        delayed(run_config)(name, sampler, initial, n_train, seed, max_iter)
        for name in datasets
        for sampler, initial in ablation_configs(grid)
    ]
    jobs += [delayed(run_references)(name, n_train, seed) for name in datasets]
    results = Parallel(n_jobs=n_jobs, verbose=0)(jobs)
    rows = [r for r in results if "sampler" in r]
    references = {r["dataset"]: r for r in results if "sampler" not in r}
    return rows, references


def format_ablation(rows, references):
    """Markdown table: one line per (dataset, sampler, initial), references per dataset."""
    header = (
        "| dataset | sampler | initial | held-out ll | ll - GMM | MMD x1e3 | fit s | "
        "sample 10k s | acceptance | E gap at end | lag alarm |"
    )
    lines = [header, "|" + "---|" * 11]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        ref = references[name]
        for r in (r for r in rows if r["dataset"] == name):
            lines.append(
                f"| {name} | {r['sampler']} | {r['initial']} | {r['ll']:.3f} | "
                f"{r['ll'] - ref['gmm_ll']:+.3f} | {r['mmd']:.2f} | {r['fit_s']:.0f} | "
                f"{r['sample_s']:.2f} | {r['acceptance']:.2f} | {r['gap_end']:+.2f} | "
                f"{'yes' if r['alarm'] else 'no'} |"
            )
        lines.append(
            f"| {name} | *tuned GMM* | | {ref['gmm_ll']:.3f} | +0.000 | {ref['gmm_mmd']:.2f} "
            "| | | | | |"
        )
        lines.append(
            f"| {name} | *tuned KDE* | | {ref['kde_ll']:.3f} | {ref['kde_ll'] - ref['gmm_ll']:+.3f}"
            f" | {ref['kde_mmd']:.2f} | | | | | |"
        )
    return "\n".join(lines)
