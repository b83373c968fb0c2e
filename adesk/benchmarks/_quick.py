"""Held-out log-likelihood and MMD of ADE beside tuned GaussianMixture and KernelDensity."""

import time

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from ..datasets import make_toy
from ..estimators import ADEDensityEstimator
from ..metrics import mmd2
from ..train import estimator_from_params

QUICK_DATASETS = ("moons", "pinwheel", "Ring", "Banana", "2spirals")


def tuned_gaussian_mixture(X_train, X_val, random_state=0):
    """GaussianMixture with ``n_components`` chosen by validation log-likelihood."""
    best = None
    for k in (1, 2, 5, 10, 20, 30, 50):
        gmm = GaussianMixture(k, n_init=2, random_state=random_state).fit(X_train)
        score = gmm.score(X_val)
        if best is None or score > best[0]:
            best = (score, gmm)
    return best[1]


def tuned_kernel_density(X_train):
    """KernelDensity with the bandwidth chosen by 3-fold cross-validation."""
    search = GridSearchCV(
        KernelDensity(), {"bandwidth": np.logspace(-1.7, 0.3, 15)}, cv=3, n_jobs=1
    )
    search.fit(X_train[:3000])
    return KernelDensity(bandwidth=search.best_params_["bandwidth"]).fit(X_train)


def run_dataset(name, n_train=10000, seed=0, ade_params=None):
    """Fit ADE, a tuned GMM and a tuned KDE on one dataset; return a dict of metrics.

    ``ade_params`` are ADE's constructor parameters; the settings of its parameter objects are
    named by their path (``{"sampler__n_steps": 10}``, see
    :func:`adesk.train.estimator_from_params`).
    """
    X_train = make_toy(name, n_train, random_state=seed)
    X_val = make_toy(name, 2000, random_state=seed + 1000)
    X_test = make_toy(name, 5000, random_state=seed + 2000)
    reference = X_test[:1000]
    row = {"dataset": name}

    start = time.perf_counter()
    ade = estimator_from_params(
        ADEDensityEstimator, {"random_state": seed, **(ade_params or {})}
    ).fit(X_train)
    row["ade_time"] = time.perf_counter() - start
    row["ade_ll"] = ade.score(X_test)
    row["ade_logz_err"] = ade.log_partition_std_
    row["ade_mmd"] = 1e3 * mmd2(reference, ade.sample(1000, random_state=seed))

    start = time.perf_counter()
    gmm = tuned_gaussian_mixture(X_train, X_val, random_state=seed)
    row["gmm_time"] = time.perf_counter() - start
    row["gmm_k"] = gmm.n_components
    row["gmm_ll"] = gmm.score(X_test)
    row["gmm_mmd"] = 1e3 * mmd2(reference, gmm.sample(1000)[0])

    start = time.perf_counter()
    kde = tuned_kernel_density(X_train)
    row["kde_time"] = time.perf_counter() - start
    row["kde_ll"] = float(np.mean(kde.score_samples(X_test)))
    row["kde_mmd"] = 1e3 * mmd2(reference, kde.sample(1000, random_state=seed))

    gaussian = GaussianMixture(1).fit(X_train)
    row["gauss_ll"] = gaussian.score(X_test)
    row["gauss_mmd"] = 1e3 * mmd2(reference, gaussian.sample(1000)[0])
    row["oracle_mmd"] = 1e3 * mmd2(reference, make_toy(name, 1000, random_state=seed + 3000))
    return row


def format_table(rows):
    """Markdown table of :func:`run_dataset` rows."""
    header = (
        "| dataset | ADE ll | GMM ll (k) | KDE ll | Gaussian ll | ADE - GMM | "
        "MMD ADE | MMD GMM | MMD KDE | MMD Gaussian | MMD oracle | ADE fit s | GMM fit s |"
    )
    lines = [header, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['ade_ll']:.3f} | {r['gmm_ll']:.3f} ({r['gmm_k']}) | "
            f"{r['kde_ll']:.3f} | {r['gauss_ll']:.3f} | {r['ade_ll'] - r['gmm_ll']:+.3f} | "
            f"{r['ade_mmd']:.2f} | {r['gmm_mmd']:.2f} | {r['kde_mmd']:.2f} | "
            f"{r['gauss_mmd']:.2f} | {r['oracle_mmd']:.2f} | {r['ade_time']:.0f} | "
            f"{r['gmm_time']:.0f} |"
        )
    return "\n".join(lines)
