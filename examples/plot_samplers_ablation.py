"""ADE's dual sampler: dynamics and initial distribution
=====================================================

ADE's sampler is an initial distribution ``q_0`` followed by a few learned steps of dynamics
on the energy. Both are constructor parameters of :class:`adesk.ADEDensityEstimator`
(``sampler`` and ``initial``), so an ablation is a double loop. This example crosses the four
dynamics embeddings of the paper with two initial distributions on the same data and
budget, and reports the held-out log-likelihood and the fit time of each.
"""

# %%
# Settings
# --------
# The documentation build in CI sets ``ADESK_GALLERY_QUICK=1`` for a tiny budget.
import itertools
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.mixture import GaussianMixture

from adesk import ADEDensityEstimator
from adesk.datasets import make_toy
from adesk.energies import MLP
from adesk.partition import Quadrature

QUICK = os.environ.get("ADESK_GALLERY_QUICK") == "1"

X_train = make_toy("moons", 5000, random_state=0)
X_val = make_toy("moons", 2000, random_state=1)
X_test = make_toy("moons", 5000, random_state=2)

# %%
# The grid
# --------
# * ``"hmc"``: leapfrog steps with learned step sizes, volume-preserving, with a Metropolis
#   test;
# * ``"ghmc"``: generalized leapfrog in a latent momentum space, whose learned maps can
#   contract or expand volume (the log-determinant enters the sampler's entropy);
# * ``"langevin"``: stochastic Langevin steps with a MALA test (noise tied to the step);
# * ``"deterministic_langevin"``: noiseless gradient steps, with exact Hessian
#   log-determinants in 2-D (the most expensive).
#
# ``initial="data"`` is the nonparametric ``q_0`` (training points plus learned noise, with a
# replay buffer of persistent chains); ``initial="gaussian"`` a learnable Gaussian, which keeps
# the sampler's own density tractable. A small network and budget keep the eight fits within
# two minutes, so absolute numbers are a few tenths of a nat below the defaults'.
samplers = ("hmc", "ghmc", "langevin", "deterministic_langevin")
initials = ("data", "gaussian")
common = dict(
    energy_model=MLP(hidden_layer_sizes=(64, 64)),
    batch_size=128,
    learning_rate_init=2e-3,
    max_iter=30 if QUICK else 500,
    partition=Quadrature(resolution=100 if QUICK else 300),
    device="cpu",
    random_state=0,
)

results = {}
for sampler, initial in itertools.product(samplers, initials):
    est = ADEDensityEstimator(sampler=sampler, initial=initial, **common)
    start = time.perf_counter()
    est.fit(X_train)
    results[sampler, initial] = {"ll": est.score(X_test), "fit_s": time.perf_counter() - start}

# A tuned mixture gives the scale: how far from a good density each configuration is.
gmm = max(
    (GaussianMixture(k, random_state=0).fit(X_train) for k in (5, 10, 20, 30)),
    key=lambda model: model.score(X_val),
)
gmm_ll = gmm.score(X_test)

# %%
# Results
# -------
print(f"{'sampler':>22} | {'initial':>8} | {'held-out ll':>11} | {'- GMM':>7} | fit s")
for (sampler, initial), r in results.items():
    print(
        f"{sampler:>22} | {initial:>8} | {r['ll']:11.3f} | {r['ll'] - gmm_ll:+7.3f} | "
        f"{r['fit_s']:.1f}"
    )
print(f"tuned GaussianMixture ({gmm.n_components} components): {gmm_ll:.3f}")

# %%
# At this short budget the stochastic and Metropolis-corrected samplers (``hmc``, ``ghmc``,
# ``langevin``) are within a few hundredths of a nat of each other from either ``q_0``;
# ``deterministic_langevin`` is clearly behind, worst from the data: noiseless gradient steps
# contract the chains into the modes, and it pays for its Hessian log-determinants in time.
# The differences between ``q_0`` grow with training: in ``benchmarks/README.md`` (the
# default network, 1,000 iterations, five datasets) plain ``hmc`` from a Gaussian ``q_0``
# falls far behind (a volume-preserving leapfrog flow cannot make a poor ``q_0`` closer to the
# model), while ``ghmc``, whose learned maps can reshape volume, stays as good as the
# nonparametric default. ``doc/samplers.md`` explains the bookkeeping behind each choice.
x = np.arange(len(samplers))
width = 0.38
fig, (ax_ll, ax_time) = plt.subplots(1, 2, figsize=(13, 4.5))
for offset, initial in zip((-width / 2, width / 2), initials):
    ll = [results[s, initial]["ll"] for s in samplers]
    fit_s = [results[s, initial]["fit_s"] for s in samplers]
    # Bars start at the tuned mixture's level, so their length is the gap to it; a failed
    # configuration would otherwise squash every other bar.
    ax_ll.bar(x + offset, np.maximum(np.array(ll) - gmm_ll, -3.0), width, label=f"q0 = {initial}")
    ax_time.bar(x + offset, fit_s, width, label=f"q0 = {initial}")
ax_ll.axhline(0.0, color="black", linewidth=0.8)
ax_ll.set_ylabel("held-out ll - tuned GMM (nats, clipped at -3)")
ax_ll.set_title("held-out log-likelihood")
ax_time.set_ylabel("fit time (s)")
ax_time.set_title("fit time")
for ax in (ax_ll, ax_time):
    ax.set_xticks(x, samplers, rotation=15)
    ax.legend()
fig.tight_layout()
plt.show()
