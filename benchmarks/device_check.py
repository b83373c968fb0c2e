"""CUDA correctness and timing check of the dynamics family (run on a GPU machine).

Usage: ``python benchmarks/device_check.py`` (prints a report; exits non-zero on a failure).

1. Every embedding gives the same output (positions, log-det, noise log-density) on CUDA as on
   the CPU from the same inputs and noise, in float64.
2. MH-corrected HMC and MALA (``run_mcmc``) recover a correlated 5-D Gaussian on CUDA.
3. Every ``sampler`` x ``initial`` combination fits moons on CUDA (200 iterations), gives a
   finite score and samples on the requested device; a CUDA-fitted estimator pickles and its
   score matches after reloading.
4. Time per training iteration of each sampler on CUDA and on this machine's CPU, side by side.
5. Every baseline estimator (CD, PCD, Langevin CD, SM exact / sliced / denoising, NCE, NF)
   fits on CUDA, samples, and survives a pickle round trip.

``python benchmarks/device_check.py baselines`` runs only step 5.
"""

import io
import itertools
import math
import pickle
import sys
import time

import numpy as np
import torch

from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    FlowDualEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
)
from adesk.datasets import make_toy
from adesk.dynamics import (
    DeterministicLangevinEmbedding,
    GeneralizedHMCEmbedding,
    HMCEmbedding,
    LangevinEmbedding,
    run_mcmc,
)
from adesk.energies import MLPEnergy
from adesk.partition import AutoPartition
from adesk.samplers import Langevin

FAILURES = []
#: The GPU; on a machine without one the script still runs its logic on the CPU (a dry run).
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DRY_RUN = DEVICE == "cpu"


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    if not condition:
        FAILURES.append(message)


def embeddings(d):
    return {
        "hmc": HMCEmbedding(d, n_steps=4, step_size=0.2, step_size_shape="per_step_dimension"),
        "ghmc": GeneralizedHMCEmbedding(d, n_steps=4, step_size=0.2, latent_dim=d - 1),
        "langevin": LangevinEmbedding(d, n_steps=4, step_size=0.1),
        "deterministic_langevin": DeterministicLangevinEmbedding(d, n_steps=4, step_size=0.1),
        "deterministic_langevin_chebyshev": DeterministicLangevinEmbedding(
            d, n_steps=2, step_size=0.05, logdet="chebyshev", logdet_probes=1
        ),
    }


def same_on_both_devices():
    d, n = 3, 64
    torch.manual_seed(0)
    energy = MLPEnergy(d, hidden_layer_sizes=(32, 32), activation="tanh").double()
    for name, module in embeddings(d).items():
        module = module.double()
        with torch.no_grad():
            for p in module.parameters():
                p.add_(0.05 * torch.randn_like(p))
        x = torch.randn(n, d, dtype=torch.float64)
        v = torch.randn(n, module.momentum_dim, dtype=torch.float64)
        noise = torch.randn(module.n_steps, n, d, dtype=torch.float64)
        outputs = []
        for device in ("cpu", DEVICE):
            kwargs = {"noise": noise.to(device)} if name == "langevin" else {}
            generator = torch.Generator(device=device).manual_seed(1)
            out = module.to(device)(
                energy.to(device),
                x.to(device),
                v.to(device),
                create_graph=False,
                generator=generator,
                **kwargs,
            )
            outputs.append([t.detach().cpu() for t in (out.state.position, out.log_det_jacobian)])
            outputs[-1].append(out.log_noise_density.detach().cpu())
        if name.endswith("chebyshev"):  # random probes differ between devices: compare loosely
            close = torch.allclose(outputs[0][0], outputs[1][0], atol=1e-10)
            close &= (outputs[0][1] - outputs[1][1]).abs().max().item() < 0.05
        else:
            close = all(torch.allclose(a, b, atol=1e-10) for a, b in zip(*outputs, strict=True))
        check(close, f"{name}: CUDA output equals CPU output (float64)")


def mcmc_on_cuda():
    generator = torch.Generator(device=DEVICE).manual_seed(0)
    a = torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    covariance = (a @ a.T / 5 + 0.5 * torch.eye(5, dtype=torch.float64)).to(DEVICE)
    precision = torch.linalg.inv(covariance)
    mean = torch.arange(5, dtype=torch.float64, device=DEVICE)

    def energy(x):
        z = x - mean
        return 0.5 * ((z @ precision) * z).sum(-1)

    n = 4000
    for kernel, steps in (("hmc", 200), ("mala", 600)):
        start = 3 * torch.randn(n, 5, generator=generator, device=DEVICE, dtype=torch.float64)
        result = run_mcmc(
            energy, start, kernel=kernel, n_steps=steps, n_adapt=steps // 2, generator=generator
        )
        x = result.positions
        z_mean = (x.mean(0) - mean) / torch.sqrt(torch.diag(covariance) / n)
        check(
            bool(z_mean.abs().max() < 4.5) and x.device.type == DEVICE,
            f"run_mcmc {kernel} on CUDA recovers the mean (max |z| = "
            f"{z_mean.abs().max().item():.2f}, acceptance {result.acceptance_rate:.2f})",
        )


def fits_on_cuda():
    X = make_toy("moons", 2000, random_state=0)
    X_test = make_toy("moons", 2000, random_state=1)
    for sampler, initial in itertools.product(
        ("hmc", "ghmc", "langevin", "deterministic_langevin"),
        ("data", "gaussian", "flow", "latent"),
    ):
        est = ADEDensityEstimator(
            sampler=sampler,
            initial=initial,
            max_iter=5 if DRY_RUN else 200,
            device=DEVICE,
            random_state=0,
        ).fit(X)
        score = est.score(X_test)
        samples = est.sample(500, random_state=0, n_transitions=2)
        on_cuda = next(est.energy_model_.parameters()).device.type == DEVICE
        check(
            np.isfinite(score) and np.isfinite(samples).all() and on_cuda,
            f"fit on CUDA: sampler={sampler} initial={initial} score={score:.3f}",
        )
    buffer = io.BytesIO()
    pickle.dump(est, buffer)
    restored = pickle.loads(buffer.getvalue())
    check(
        math.isclose(restored.score(X_test), est.score(X_test), rel_tol=1e-9),
        "pickled CUDA estimator scores the same after reloading",
    )


def baselines_on_cuda():
    X = make_toy("moons", 2000, random_state=0)
    X_test = make_toy("moons", 2000, random_state=1)
    common = {"max_iter": 5 if DRY_RUN else 100, "device": DEVICE, "random_state": 0}
    estimators = {
        "CD-15 hmc": ContrastiveDivergenceEstimator(**common),
        "PCD-15 hmc": ContrastiveDivergenceEstimator(replay_buffer_size=10000, **common),
        # One Langevin step per transition, 15 transitions.
        "CD-15 MALA": ContrastiveDivergenceEstimator(
            sampler=Langevin(n_steps=1, n_transitions=15), **common
        ),
        "CD-15 ULA": ContrastiveDivergenceEstimator(
            sampler=Langevin(n_steps=1, n_transitions=15, metropolis=False), **common
        ),
        "SM exact": ScoreMatchingEstimator(**common),
        "SM sliced": ScoreMatchingEstimator(method="sliced", **common),
        "SM denoising": ScoreMatchingEstimator(method="denoising", **common),
        "NCE": NoiseContrastiveEstimator(**common),
        "NF planar": FlowDualEstimator(**common),
        "NF realnvp": FlowDualEstimator(flow="realnvp", **common),
    }
    for label, est in estimators.items():
        est.fit(X)
        score = est.score(X_test)
        samples = est.sample(500, random_state=0)
        restored = pickle.loads(pickle.dumps(est))
        same = math.isclose(restored.score(X_test), score, rel_tol=1e-9)
        on_device = next(est.energy_model_.parameters()).device.type == DEVICE
        check(
            np.isfinite(score) and np.isfinite(samples).all() and same and on_device,
            f"{label} on {DEVICE}: score={score:.3f}, pickles, samples finite",
        )


def timing():
    X = make_toy("moons", 10000, random_state=0)
    print("\n| sampler | device | batch | ms / iteration |")
    print("|---|---|---|---|")
    for sampler in ("hmc", "ghmc", "langevin", "deterministic_langevin"):
        for device, batch in (("cpu", 256), ("cuda", 256), ("cuda", 4096)):
            times = []
            for max_iter in (20, 120):
                est = ADEDensityEstimator(
                    sampler=sampler,
                    max_iter=max_iter,
                    batch_size=batch,
                    device=device,
                    random_state=0,
                    partition=AutoPartition(resolution=50),
                )
                start = time.perf_counter()
                est.fit(X)
                if device == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            per_iteration = (times[1] - times[0]) / 100 * 1e3
            print(f"| {sampler} | {device} | {batch} | {per_iteration:.1f} |", flush=True)


if __name__ == "__main__":
    print(torch.__version__, torch.cuda.get_device_name(0) if not DRY_RUN else "dry run on CPU")
    if sys.argv[1:] == ["baselines"]:
        baselines_on_cuda()
    else:
        same_on_both_devices()
        mcmc_on_cuda()
        fits_on_cuda()
        baselines_on_cuda()
        if not DRY_RUN:
            timing()
    print(f"\n{len(FAILURES)} failure(s)")
    sys.exit(1 if FAILURES else 0)
