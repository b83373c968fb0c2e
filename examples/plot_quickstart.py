"""Quick start: fit, score and sample a 2-D density
================================================

This example fits :class:`adesk.ADEDensityEstimator` (Adversarial Dynamics Embedding) to the
two-moons toy distribution, then does the three things a density estimator is for: it
**scores** held-out points with a normalised log-likelihood, which is compared with a
``GaussianMixture`` and a ``KernelDensity`` tuned on a validation split; it **samples** new
points from its learned dynamics; and it **plots** the learned density.
"""

# %%
# Settings
# --------
# The documentation build in CI sets ``ADESK_GALLERY_QUICK=1``: every gallery example then
# runs a much smaller budget so that the whole gallery renders in minutes. The numbers of
# the quick mode are not meaningful; the normal mode's are.
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

from adesk import ADEDensityEstimator
from adesk.datasets import make_toy
from adesk.partition import Quadrature
from adesk.plotting import plot_convergence, plot_density, plot_samples

QUICK = os.environ.get("ADESK_GALLERY_QUICK") == "1"

# %%
# Data
# ----
# Three independent draws of the same distribution: one to train on, one to tune the
# classical baselines' hyperparameters, and one held out for the final comparison, so no
# model is scored on points it has seen or was tuned on.
n_train = 2000 if QUICK else 10000
X_train = make_toy("moons", n_train, random_state=0)
X_val = make_toy("moons", 2000, random_state=1)
X_test = make_toy("moons", 5000, random_state=2)
print(f"train {X_train.shape}, validation {X_val.shape}, test {X_test.shape}")

# %%
# Fit ADE
# -------
# The estimator trains an energy network ``E(x)`` and a sampler (a few learned leapfrog steps
# of ``E`` itself) against each other. The defaults (1,000 iterations of batch 256, about
# 13,000 energy gradients on minibatches) take a few seconds to a minute on one CPU core.
# ``device="cpu"`` keeps the example reproducible on machines with a GPU.
ade = ADEDensityEstimator(
    max_iter=150 if QUICK else 1000,
    partition=Quadrature(resolution=100 if QUICK else 400),
    device="cpu",
    random_state=0,
)
start = time.perf_counter()
ade.fit(X_train)
ade_time = time.perf_counter() - start
print(f"ADE fitted in {ade_time:.1f} s")
# In 2-D log Z comes from grid quadrature; its error bar is the change from a coarser grid.
print(f"log Z = {ade.log_partition_:.4f} +- {ade.log_partition_std_:.1e}")

# %%
# Tuned baselines
# ---------------
# The baselines get their main hyperparameter chosen on the validation split: the number of
# mixture components and the kernel bandwidth.
gmm = max(
    (GaussianMixture(k, random_state=0).fit(X_train) for k in (1, 5, 10, 20, 30)),
    key=lambda model: model.score(X_val),
)
kde = max(
    (KernelDensity(bandwidth=h).fit(X_train) for h in np.geomspace(0.03, 0.5, 9)),
    key=lambda model: model.score(X_val),
)
print(f"GMM: {gmm.n_components} components; KDE: bandwidth {kde.bandwidth:.3f}")

# %%
# Held-out log-likelihood
# -----------------------
# ``score`` is the mean of ``score_samples = -E(x) - log Z``, a normalised log-density in the
# data's units, so it is directly comparable with ``GaussianMixture.score``. KernelDensity's
# ``score`` is a sum, so its per-point mean is computed from ``score_samples``.
ll = {
    "ADE": ade.score(X_test),
    "GaussianMixture": gmm.score(X_test),
    "KernelDensity": float(np.mean(kde.score_samples(X_test))),
}
for name, value in ll.items():
    print(f"{name:>16}: {value:.3f} nats per point")
print(f"ADE - GMM: {ll['ADE'] - ll['GaussianMixture']:+.3f} nats")

# %%
# Sampling
# --------
# ADE's learned sampler draws new points with one pass of its dynamics, without a long
# MCMC run; the same ``random_state`` gives the same samples.
start = time.perf_counter()
samples = ade.sample(2000, random_state=0)
print(f"2000 samples in {time.perf_counter() - start:.2f} s, shape {samples.shape}")

# %%
# Plots
# -----
# Data, samples over the data, and the learned density ``exp(-E(x)) / Z`` on a shared view.
bounds = ((-3.5, 3.5), (-2.0, 2.5))
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
plot_samples(X_train[:2000], ax=axes[0], bounds=bounds)
axes[0].set_title("training data")
plot_samples(X_train[:2000], samples, ax=axes[1], bounds=bounds)
axes[1].set_title("ADE samples over the data")
plot_density(ade, ax=axes[2], bounds=bounds, title=f"ADE density, test ll {ll['ADE']:.2f}")
axes[2].set_aspect("equal", adjustable="box")
fig.tight_layout()
plt.show()

# %%
# Training curves
# ---------------
# ``history_`` records the adversarial game once per iteration. When the sampler keeps up
# with the energy, the mean energy of its samples tracks that of the data batch; the
# Metropolis acceptance rate stays high while the learned step sizes settle.
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
plot_convergence(ade, ax=axes[0], keys=["energy_data", "energy_samples"])
axes[0].set_title("mean energy per batch")
plot_convergence(ade, ax=axes[1], keys=["acceptance_rate", "step_size"])
axes[1].set_title("sampler")
fig.tight_layout()
plt.show()
