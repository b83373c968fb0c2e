"""Does ADE's learned sampler learn? Step sizes learned by the paper's objective, adapted to the
acceptance rate, or fixed, on the same data, seeds and budget.

``python -m adesk.benchmarks adaptation`` fits ADE three times per dataset and seed, differing
only in ``sampler__adaptation``, and reports for each: the held-out log-likelihood, the fit's
wall time and floors, and how far the step sizes moved from their start (``max |log(eta /
eta_0)|``). Then, on the energy fitted with learned step sizes, it measures the sampler itself:
1,000 chains start from ``q_0`` (data plus noise) and run the embedding for 1, 3 and 10 passes
with (a) the learned step sizes, (b) the same step sizes frozen at their initial value and (c)
the step size that the acceptance rule reached on the same energy; each is compared by MMD
(x 1e3, the paper's kernel) with a long-run reference of that energy (1,000 chains, 400 HMC
transitions of 10 leapfrog steps, the first half adapting the step). The sampler with the
lower MMD at equal gradients is the more efficient one.
"""

import os
import time

import numpy as np
import torch
from joblib import Parallel, delayed

from ..datasets import make_toy
from ..dynamics import run_mcmc
from ..estimators import ADEDensityEstimator
from ..metrics import mmd2
from ..samplers import HMC

ADAPTATION_DATASETS = ("moons", "Ring")
MODES = ("learned", "acceptance", "fixed")
PASSES = (1, 3, 10)


def _fit(name, seed, mode, max_iter):
    torch.set_num_threads(1)
    X_train = make_toy(name, 10000, random_state=seed)
    X_test = make_toy(name, 5000, random_state=seed + 2000)
    start = time.perf_counter()
    est = ADEDensityEstimator(
        sampler=HMC(adaptation=mode), max_iter=max_iter, random_state=seed, device="cpu"
    ).fit(X_train)
    row = {
        "dataset": name,
        "seed": seed,
        "mode": mode,
        "fit_s": time.perf_counter() - start,
        "floors": est.n_energy_evaluations_,
        "ll": est.score(X_test),
        "moved": float(np.max(np.abs(np.log(est.step_size_ / est.sampler.step_size)))),
        "step": float(est.step_size_.mean()),
    }
    return row, est


def _passes(est, log_step_size, n_passes, generator):
    """Positions after ``n_passes`` embedding passes from ``q_0`` with the given step sizes."""
    sampler = est.sampler_
    saved = sampler.log_step_size.detach().clone()
    with torch.no_grad():
        sampler.log_step_size.copy_(log_step_size)
        position, _ = est._draw_initial(1000, generator)
        for _ in range(n_passes):
            position = est._dynamics_pass(est.energy_model_, position, generator)
        sampler.log_step_size.copy_(saved)
    return position


def _sampler_efficiency(name, seed, max_iter):
    """The three step-size settings as samplers of the energy fitted with learned steps."""
    torch.set_num_threads(1)
    learned_row, est = _fit(name, seed, "learned", max_iter)
    _, adapted = _fit(name, seed, "acceptance", max_iter)
    generator = torch.Generator().manual_seed(seed)
    start, _ = est._draw_initial(1000, generator)
    reference = run_mcmc(
        est.energy_model_,
        start.detach(),
        kernel="hmc",
        n_steps=400,
        n_adapt=200,
        n_leapfrog_steps=10,
        generator=generator,
    ).positions
    ref_np = reference.double().numpy()
    log_steps = {
        "learned": est.sampler_.log_step_size.detach().clone(),
        "frozen at start": torch.full_like(
            est.sampler_.log_step_size, float(np.log(est.sampler.step_size))
        ),
        "acceptance rule": torch.full_like(
            est.sampler_.log_step_size, float(adapted.sampler_.log_step_size.mean())
        ),
    }
    rows = []
    for label, log_step in log_steps.items():
        for n_passes in PASSES:
            samples = _passes(est, log_step, n_passes, torch.Generator().manual_seed(seed))
            rows.append(
                {
                    "dataset": name,
                    "seed": seed,
                    "sampler": label,
                    "passes": n_passes,
                    "gradients": n_passes * est.sampler.n_steps,
                    "mmd": 1e3 * mmd2(ref_np, samples.double().numpy()),
                }
            )
    return learned_row, rows


def run_adaptation(datasets=ADAPTATION_DATASETS, seeds=(0, 1, 2), max_iter=1000, n_jobs=1):
    """Fits of the three modes, and the sampler comparison on the learned fit's energy."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    fit_jobs = [
        delayed(_fit)(name, seed, mode, max_iter)
        for name in datasets
        for seed in seeds
        for mode in ("acceptance", "fixed")
    ]
    efficiency_jobs = [
        delayed(_sampler_efficiency)(name, seed, max_iter) for name in datasets for seed in seeds
    ]
    results = Parallel(n_jobs=n_jobs)(fit_jobs + efficiency_jobs)
    fits = [result[0] for result in results[: len(fit_jobs)]]
    sampler_rows = []
    for learned_row, rows in results[len(fit_jobs) :]:
        fits.append(learned_row)
        sampler_rows.extend(rows)
    return fits, sampler_rows


def _mean_sd(values, digits=3):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1) if values.size > 1 else 0:.{digits}f}"


def format_adaptation(fits, sampler_rows):
    """Two markdown tables: the fits by mode, and the samplers on the learned fit's energy."""
    lines = [
        "| dataset | step sizes | held-out ll | fit s | floors | max abs log(step / start) |",
        "|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["dataset"] for r in fits):
        for mode in MODES:
            group = [r for r in fits if r["dataset"] == name and r["mode"] == mode]
            if not group:
                continue
            lines.append(
                f"| {name} | {mode} | {_mean_sd([r['ll'] for r in group])} | "
                f"{_mean_sd([r['fit_s'] for r in group], 1)} | "
                f"{np.mean([r['floors'] for r in group]):,.0f} | "
                f"{_mean_sd([r['moved'] for r in group])} |"
            )
    lines += [
        "",
        "| dataset | sampler on the learned fit's energy | passes (gradients) | MMD x1e3 to "
        "long-run HMC |",
        "|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["dataset"] for r in sampler_rows):
        for label in dict.fromkeys(r["sampler"] for r in sampler_rows):
            for n_passes in PASSES:
                group = [
                    r
                    for r in sampler_rows
                    if r["dataset"] == name and r["sampler"] == label and r["passes"] == n_passes
                ]
                if group:
                    lines.append(
                        f"| {name} | {label} | {n_passes} ({group[0]['gradients']}) | "
                        f"{_mean_sd([r['mmd'] for r in group], 2)} |"
                    )
    return "\n".join(lines)
