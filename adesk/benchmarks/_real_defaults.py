"""Energy-based estimators with their defaults, untuned, on real data: do they run away?

``python -m adesk.benchmarks realdefaults`` fits ADE and CD-15 with their constructor defaults
(no tuning, ``partition="ais"``) on the standardized train split of iris, wine, breast_cancer
and dequantized digits (the splits of ``python -m adesk.benchmarks likelihood``), for several
seeds, and reports the test log-likelihood (mean +- sd over seeds), the mean energy gap between
the negatives and the data over the last 10% of the iterations that produced the returned
model, ``log Z``, the wall time, the
iterations run (and the returned one, with early stopping), the standardization used and how
many fits raised the lag alarm (judged, like the warning, up to the returned model), beside
the tuned GMM and KDE of the same split (the best of each grid chosen on validation). It is the
check that a user who changes nothing gets a sane model.
"""

import os
import time
import warnings

import numpy as np
from joblib import Parallel, delayed

from ..samplers import HMC
from ..training import SamplerLagWarning
from ._likelihood import REAL_DATASETS, run_baselines, standardized_splits

#: label -> (class name in :mod:`adesk.estimators`, parameters beyond the defaults)
DEFAULT_ESTIMATORS = {
    "ADE": ("ADEDensityEstimator", {}),
    "CD-15": ("ContrastiveDivergenceEstimator", {"sampler": HMC(n_transitions=15)}),
    # ADE's defaults with MALA dynamics instead of HMC (not run unless asked for).
    "ADE-langevin": ("ADEDensityEstimator", {"sampler": "langevin"}),
}
#: The estimators run when none are named.
STANDARD_ESTIMATORS = ("ADE", "CD-15")


def fit_default(dataset, label, seed, max_iter=None):
    """One default fit; the record of its test score, energy gap, log Z and time."""
    import importlib

    import torch

    torch.set_num_threads(1)
    X_train, _, X_test = standardized_splits(dataset, seed)
    class_name, params = DEFAULT_ESTIMATORS[label]
    cls = getattr(importlib.import_module("adesk.estimators"), class_name)
    params = dict(params, partition="ais", random_state=seed, device="cpu")
    if max_iter is not None:
        params["max_iter"] = max_iter
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = cls(**params).fit(X_train)
    # The gap of the returned model: the last 10% of the iterations that led to it.
    gaps = np.asarray(est.history_.get("energy_gap", [np.nan]))
    gaps = gaps[: getattr(est, "best_iteration_", None) or len(gaps)]
    return {
        "dataset": dataset,
        "estimator": label,
        "seed": seed,
        "ll": float(np.mean(est.score_samples(X_test))),
        "gap_end": float(gaps[-max(1, len(gaps) // 10) :].mean()),
        "log_z": float(est.log_partition_),
        "log_z_std": float(est.log_partition_std_),
        "fit_s": time.perf_counter() - start,
        "n_train": X_train.shape[0],
        "n_iter": int(est.n_iter_),
        "best_iteration": getattr(est, "best_iteration_", None),
        "standardize": est.standardize_,
        "early_stopping": bool(est.early_stopping_),
        "lag_alarm": any(issubclass(w.category, SamplerLagWarning) for w in caught),
    }


def _baselines(dataset, seed):
    gmm, kde = run_baselines(dataset, seed)
    return [
        {"dataset": dataset, "estimator": name, "seed": seed, "ll": float(np.mean(r[key]))}
        for name, r, key in (
            ("GMM", gmm, "test_ll_per_sample"),
            ("KDE", kde, "test_ll_per_sample"),
        )
    ]


def run_real_defaults(
    datasets=REAL_DATASETS,
    seeds=(0, 1, 2),
    max_iter=None,
    n_jobs=1,
    estimators=STANDARD_ESTIMATORS,
):
    """Default fits of ``estimators`` (labels of :data:`DEFAULT_ESTIMATORS`) and the tuned
    baselines, every dataset and seed."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    jobs = [
        delayed(fit_default)(name, label, seed, max_iter)
        for name in datasets
        for seed in seeds
        for label in estimators
    ]
    jobs += [delayed(_baselines)(name, seed) for name in datasets for seed in seeds]
    rows = []
    for result in Parallel(n_jobs=n_jobs)(jobs):
        rows.extend(result if isinstance(result, list) else [result])
    return rows


def format_real_defaults(rows):
    """Markdown table: per dataset and estimator, mean +- sd over the seeds."""
    lines = [
        "| dataset (train n) | estimator | test ll | E gap at end | log Z | fit s | iterations "
        "(best) | standardize | alarms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    labels = list(dict.fromkeys(r["estimator"] for r in rows))

    def mean_sd(values, digits):
        values = np.asarray(values, dtype=float)
        spread = values.std(ddof=1) if values.size > 1 else 0.0
        return f"{values.mean():.{digits}f} ± {spread:.{digits}f}"

    for name in datasets:
        for label in labels:
            group = [r for r in rows if r["dataset"] == name and r["estimator"] == label]
            if not group:
                continue
            n_train = next(
                (r["n_train"] for r in rows if "n_train" in r and r["dataset"] == name), ""
            )
            extra = ["", "", "", "", "", ""]
            if "gap_end" in group[0]:
                best = [r.get("best_iteration") for r in group]
                iterations = "/".join(str(r.get("n_iter", "")) for r in group)
                if any(b is not None for b in best):
                    iterations += " (" + "/".join(str(b) for b in best) + ")"
                extra = [
                    mean_sd([r["gap_end"] for r in group], 2),
                    mean_sd([r["log_z"] for r in group], 1),
                    mean_sd([r["fit_s"] for r in group], 0),
                    iterations,
                    "/".join(sorted({str(r.get("standardize", "")) for r in group})),
                    f"{sum(bool(r.get('lag_alarm')) for r in group)}/{len(group)}",
                ]
            lines.append(
                f"| {name} ({n_train}) | {label} | {mean_sd([r['ll'] for r in group], 2)} | "
                + " | ".join(extra)
                + " |"
            )
    return "\n".join(lines)
