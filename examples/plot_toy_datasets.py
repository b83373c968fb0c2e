"""ADE on the paper's 14 toy distributions
=======================================

The ADE paper (Dai et al., NeurIPS 2019, Table 2) evaluates on 14 two-dimensional toy
distributions, all available by name through :func:`adesk.datasets.make_toy`. This example
fits :class:`adesk.ADEDensityEstimator` to each of them with a short, fixed budget and shows
the learned densities and samples, with the held-out log-likelihood in every title.
"""

# %%
# Settings
# --------
# The documentation build in CI sets ``ADESK_GALLERY_QUICK=1``, which keeps four datasets and
# a few dozen iterations so that the page renders in seconds.
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.mixture import GaussianMixture

from adesk import ADEDensityEstimator
from adesk.datasets import DEGENERATE_DATASETS, TOY_DATASETS, make_toy
from adesk.energies import MLP
from adesk.partition import Quadrature
from adesk.plotting import plot_density, plot_samples

QUICK = os.environ.get("ADESK_GALLERY_QUICK") == "1"

print("datasets:", ", ".join(TOY_DATASETS))
print("supported on a curve (no 2-D density):", ", ".join(DEGENERATE_DATASETS))
names = ("moons", "pinwheel", "Ring", "Banana") if QUICK else TOY_DATASETS

# %%
# One small budget for all
# ------------------------
# Fourteen fits must share two minutes of one CPU core, so each gets 300 iterations of batch
# 64 (with a higher learning rate than the default): a sixteenth of the library's default
# number of iterations. That is enough for the shapes to appear,
# not for the best likelihoods (``benchmarks/README.md`` has those). A 20-component
# ``GaussianMixture`` is printed beside ADE as a familiar reference, not a tuned baseline.
params = dict(
    energy_model=MLP(hidden_layer_sizes=(128, 128, 128)),
    batch_size=64,
    learning_rate_init=4e-3,
    max_iter=40 if QUICK else 300,
    partition=Quadrature(resolution=100 if QUICK else 300),
    device="cpu",
    random_state=0,
)

results = {}
for name in names:
    X_train = make_toy(name, 5000, random_state=0)
    X_test = make_toy(name, 2000, random_state=1)
    start = time.perf_counter()
    ade = ADEDensityEstimator(**params).fit(X_train)
    fit_time = time.perf_counter() - start
    gmm = GaussianMixture(20, random_state=0).fit(X_train)
    results[name] = {
        "model": ade,
        "train": X_train,
        "samples": ade.sample(1000, random_state=0),
        "ll": ade.score(X_test),
        "gmm_ll": gmm.score(X_test),
        "fit_s": fit_time,
    }

print(f"{'dataset':>10} | {'ADE ll':>8} | {'GMM-20 ll':>9} | {'fit s':>5}")
for name, r in results.items():
    print(f"{name:>10} | {r['ll']:8.3f} | {r['gmm_ll']:9.3f} | {r['fit_s']:5.1f}")

# %%
# On ``line`` and ``cos`` the data lie exactly on a curve: there is no density to estimate, and
# the held-out log-likelihood of any model grows without bound as it concentrates on the
# curve, so those two numbers are not comparable with the others.
#
# Learned densities
# -----------------
# Each panel is ``exp(-E(x)) / Z`` on the data's range; ``Z`` comes from grid quadrature.
n_cols = 5 if len(names) > 4 else len(names)
n_rows = int(np.ceil(len(names) / n_cols))


def make_grid():
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.1 * n_rows), squeeze=False)
    for ax in axes.ravel()[len(names) :]:
        ax.set_axis_off()
    return fig, axes.ravel()


fig, axes = make_grid()
for ax, (name, r) in zip(axes, results.items()):
    # Without data to overlay the default view is a fixed box; the data's range (plus a
    # margin, to show whether mass leaks outside it) suits every dataset.
    lo, hi = r["train"].min(0), r["train"].max(0)
    margin = 0.15 * (hi - lo)
    bounds = ((lo[0] - margin[0], hi[0] + margin[0]), (lo[1] - margin[1], hi[1] + margin[1]))
    plot_density(r["model"], ax=ax, bounds=bounds, grid_size=120)
    ax.set_title(f"{name}: ll {r['ll']:.2f}", fontsize=10)
    ax.set_xlabel("")
    ax.set_ylabel("")
fig.tight_layout()
plt.show()

# %%
# Samples
# -------
# Samples from the learned sampler (orange) over the training data (grey): where they agree,
# the sampler has followed the energy.
fig, axes = make_grid()
for ax, (name, r) in zip(axes, results.items()):
    plot_samples(r["train"][:1000], r["samples"], ax=ax, s=3)
    ax.get_legend().remove()
    ax.set_title(f"{name}: ll {r['ll']:.2f}", fontsize=10)
    ax.set_xlabel("")
    ax.set_ylabel("")
fig.tight_layout()
plt.show()
