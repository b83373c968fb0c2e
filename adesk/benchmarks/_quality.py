"""Held-out density quality of every estimator on the toy sets, over several seeds.

``python -m adesk.benchmarks quality`` fits, for every dataset and seed, ADE with its defaults
and the baselines (CD-15, PCD-15, NCE, score matching with a smooth activation, the
exact-gradient reference), a tuned GaussianMixture and a tuned KernelDensity, all on the same
10,000 training and 5,000 held-out points, and prints the held-out log-likelihood (mean +- sd
over the seeds), the wall time of each fit and the cost in floors (forward plus gradient of
the energy on one minibatch) that the estimator recorded. Every energy-based row is exactly
normalised by quadrature. For ADE it also reports the mean energy gap between its negatives
and the data over the last 10% of iterations (the lag alarm's quantity) and the largest such
gap over any window after the burn-in.
"""

import importlib
import os
import time

import numpy as np
from joblib import Parallel, delayed

from ..datasets import DEGENERATE_DATASETS, TOY_DATASETS, make_toy
from ..energies import MLP
from ..samplers import HMC
from ..training._lag import _window_length
from ._quick import tuned_gaussian_mixture, tuned_kernel_density

#: The 12 toys with a density in 2-D.
QUALITY_DATASETS = tuple(name for name in TOY_DATASETS if name not in DEGENERATE_DATASETS)

#: label -> (module, class, constructor parameters). Iteration budgets are the estimators'
#: own defaults unless ``max_iter`` is given on the command line. The parameter objects are
#: shared (estimators never modify them).
QUALITY_ESTIMATORS = {
    "ADE": ("adesk.estimators", "ADEDensityEstimator", {}),
    "CD-15": (
        "adesk.estimators",
        "ContrastiveDivergenceEstimator",
        {"sampler": HMC(n_transitions=15)},
    ),
    # Persistent chains: a replay buffer of 10,000 states.
    "PCD-15": (
        "adesk.estimators",
        "ContrastiveDivergenceEstimator",
        {"sampler": HMC(n_transitions=15), "replay_buffer_size": 10000},
    ),
    "NCE": ("adesk.estimators", "NoiseContrastiveEstimator", {}),
    "SM": (
        "adesk.estimators",
        "ScoreMatchingEstimator",
        {"energy_model": MLP(activation="softplus")},
    ),
    "exact": ("adesk.benchmarks._exact", "ExactGradientReference", {}),
    # ADE's defaults with the Metropolis-adjusted Langevin dynamics instead of HMC.
    "ADE-langevin": ("adesk.estimators", "ADEDensityEstimator", {"sampler": "langevin"}),
}
#: What runs by default: the two references and the estimators cheap enough for every seed.
DEFAULT_QUALITY_ESTIMATORS = ("ADE", "CD-15", "exact")


def _split(name, seed, n_train):
    return (
        make_toy(name, n_train, random_state=seed),
        make_toy(name, 2000, random_state=seed + 1000),
        make_toy(name, 5000, random_state=seed + 2000),
    )


def _window_gap(gaps):
    gaps = np.asarray(gaps, dtype=float)
    if gaps.size == 0:
        return float("nan"), float("nan")
    burn = len(gaps) // 10
    window = _window_length(len(gaps))
    tail = gaps[-max(1, len(gaps) // 10) :]
    body = gaps[burn:]
    n = len(body) // window
    worst = body[: n * window].reshape(n, window).mean(1) if n else body
    return float(tail.mean()), float(np.max(np.abs(worst)))


def fit_one(label, name, seed, n_train=10000, max_iter=None):
    """Fit one estimator of :data:`QUALITY_ESTIMATORS` (or ``"GMM"`` / ``"KDE"``) on one
    dataset and seed; return a dict of metrics."""
    import torch

    torch.set_num_threads(1)
    X_train, X_val, X_test = _split(name, seed, n_train)
    row = {"dataset": name, "estimator": label, "seed": seed}
    start = time.perf_counter()
    if label == "GMM":
        model = tuned_gaussian_mixture(X_train, X_val, random_state=seed)
        row["fit_s"] = time.perf_counter() - start
        row["ll"] = float(model.score(X_test))
        return row
    if label == "KDE":
        model = tuned_kernel_density(X_train)
        row["fit_s"] = time.perf_counter() - start
        row["ll"] = float(np.mean(model.score_samples(X_test)))
        return row
    module, class_name, params = QUALITY_ESTIMATORS[label]
    cls = getattr(importlib.import_module(module), class_name)
    params = dict(params, random_state=seed, device="cpu")
    if max_iter is not None:
        params["max_iter"] = max_iter
    est = cls(**params).fit(X_train)
    row["fit_s"] = time.perf_counter() - start
    row["ll"] = float(est.score(X_test))
    row["floors"] = float(est.n_energy_evaluations_)
    row["log_z_error"] = float(est.log_partition_std_)
    if "energy_gap" in est.history_:
        row["gap_end"], row["gap_worst"] = _window_gap(est.history_["energy_gap"])
    return row


def run_quality(
    datasets=QUALITY_DATASETS,
    estimators=DEFAULT_QUALITY_ESTIMATORS,
    seeds=(0, 1, 2),
    n_train=10000,
    max_iter=None,
    n_jobs=1,
):
    """Every estimator (plus GMM and KDE) on every dataset and seed, in ``n_jobs`` processes."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    labels = list(estimators) + ["GMM", "KDE"]
    jobs = [
        delayed(fit_one)(label, name, seed, n_train, max_iter)
        for name in datasets
        for seed in seeds
        for label in labels
    ]
    return Parallel(n_jobs=n_jobs)(jobs)


def _mean_sd(values, digits=3):
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def format_quality(rows):
    """Markdown tables: per dataset and estimator, then ADE's standing per dataset."""
    by_key = {}
    for row in rows:
        by_key.setdefault((row["dataset"], row["estimator"]), []).append(row)
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    labels = list(dict.fromkeys(row["estimator"] for row in rows))
    lines = [
        "| dataset | estimator | held-out ll | - GMM (paired) | fit s | floors | "
        "ADE gap end / worst |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in datasets:
        gmm = {r["seed"]: r["ll"] for r in by_key.get((name, "GMM"), [])}
        for label in labels:
            group = sorted(by_key.get((name, label), []), key=lambda r: r["seed"])
            if not group:
                continue
            lls = [r["ll"] for r in group]
            paired = [r["ll"] - gmm[r["seed"]] for r in group if r["seed"] in gmm]
            floors = [r["floors"] for r in group if "floors" in r]
            gaps = ""
            if "gap_end" in group[0]:
                gaps = (
                    f"{np.mean([r['gap_end'] for r in group]):+.2f} / "
                    f"{np.max([r['gap_worst'] for r in group]):.2f}"
                )
            lines.append(
                f"| {name} | {label} | {_mean_sd(lls)} | "
                f"{_mean_sd(paired) if paired else ''} | "
                f"{_mean_sd([r['fit_s'] for r in group], 1)} | "
                f"{f'{np.mean(floors):,.0f}' if floors else ''} | {gaps} |"
            )
    return "\n".join(lines) + "\n\n" + format_standing(rows)


def format_standing(rows):
    """ADE per dataset: gap to the tuned GMM (mean over seeds, worst seed), to CD-15 and to
    the best baseline, and the split of its gap into sampler and network/budget when the
    exact-gradient reference ran."""
    by_key = {}
    for row in rows:
        by_key.setdefault((row["dataset"], row["estimator"]), {})[row["seed"]] = row["ll"]
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    labels = [label for label in dict.fromkeys(r["estimator"] for r in rows) if label != "ADE"]
    lines = [
        "| dataset | ADE - GMM mean (worst seed) | ADE - CD-15 | best other (ll) | "
        "ADE - best | sampler gap (ADE - exact) | network/budget gap (exact - GMM) |",
        "|---|---|---|---|---|---|---|",
    ]
    gaps = []
    for name in datasets:
        ade = by_key.get((name, "ADE"))
        gmm = by_key.get((name, "GMM"))
        if not ade or not gmm:
            continue
        seeds = sorted(set(ade) & set(gmm))
        to_gmm = np.array([ade[s] - gmm[s] for s in seeds])
        gaps.append(to_gmm.mean())

        def paired(other, name=name, seeds=seeds, ade=ade):
            values = by_key.get((name, other))
            common = [s for s in seeds if values and s in values]
            if not common:
                return ""
            return f"{np.mean([ade[s] - values[s] for s in common]):+.3f}"

        means = {
            label: np.mean(list(by_key[(name, label)].values()))
            for label in labels
            if (name, label) in by_key
        }
        best = max(means, key=means.get) if means else None
        exact = by_key.get((name, "exact"))
        budget = (
            f"{np.mean([exact[s] - gmm[s] for s in seeds if s in exact]):+.3f}" if exact else ""
        )
        lines.append(
            f"| {name} | {to_gmm.mean():+.3f} ({to_gmm.min():+.3f}) | {paired('CD-15')} | "
            f"{best} ({means[best]:.3f}) | {paired(best)} | {paired('exact')} | {budget} |"
        )
    if gaps:
        lines.append("")
        lines.append(
            f"ADE - GMM over {len(gaps)} datasets: median {np.median(gaps):+.3f}, "
            f"worst {np.min(gaps):+.3f}."
        )
    return "\n".join(lines)
