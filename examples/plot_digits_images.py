"""Images: generating and completing 8x8 digits
============================================

Every adesk estimator accepts images as ``(n, C, H, W)`` arrays. This example trains
:class:`adesk.ADEDensityEstimator` in the paper's image configuration
(:meth:`~adesk.ADEDensityEstimator.image_preset`: a convolutional energy, a deconvolutional
latent-variable ``q_0`` and generalized HMC steps) on scikit-learn's 8x8 digits, draws
samples with and without the learned dynamics, and completes the lower half of held-out
digits with :meth:`~adesk.ADEDensityEstimator.complete`.

The budget is tiny: about a minute of one CPU core, a few hundred iterations of a
convolutional energy with a quarter of the paper's width. Expect rough strokes, not clean
digits; ``python -m adesk.benchmarks images`` trains for 1,200 iterations and scores the
samples (``doc/images/results.md``), and the paper's budget is meant for a GPU.
"""

# %%
# Settings
# --------
# The documentation build in CI sets ``ADESK_GALLERY_QUICK=1`` for a few iterations only.
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from adesk import ADEDensityEstimator
from adesk.datasets import load_digits_images
from adesk.energies import ConvEnergy
from adesk.partition import ImportanceSampling
from adesk.plotting import plot_completion, plot_energy_histogram, plot_images

QUICK = os.environ.get("ADESK_GALLERY_QUICK") == "1"

# %%
# Data
# ----
# The digits are dequantized (uniform noise added to the 17 grey levels) so that they have a
# density; otherwise a continuous model could gain unbounded likelihood on the discrete
# levels. The last 100 digits are held out for completion.
X = load_digits_images(random_state=0)
X_train, X_held_out = X[:-100], X[-100:]
print(f"training images {X_train.shape}, inside (0, 1): {0 < X_train.min() < X_train.max() < 1}")


# %%
# The model
# ---------
# ``image_preset`` sets the paper's image configuration; any constructor parameter can be
# overridden. Two overrides make it fit a gallery budget: a narrower convolutional energy
# (``adesk.energies.ConvEnergy`` with 16-32-64 channels instead of 64-128-256, defined at
# module level so that the estimator stays picklable) and 5 dynamics steps instead of 30
# (``sampler__n_steps``: the preset's sampler is a :class:`~adesk.samplers.GHMC` object, and
# ``set_params`` changes one of its fields and keeps the others). ``log Z`` of a 64-dimensional
# energy needs a long annealing run that this example does not use, so a cheap
# importance-sampling estimate ends the fit.
def small_conv_energy(n_features):
    return ConvEnergy((1, 8, 8), channels=(16, 32, 64))


est = ADEDensityEstimator.image_preset(
    energy_model=small_conv_energy,
    max_iter=10 if QUICK else 250,
    partition=ImportanceSampling(n_samples=200 if QUICK else 1000),
    device="cpu",
    random_state=0,
)
est.set_params(sampler__n_steps=3 if QUICK else 5)
params = est.get_params()
print({key: params[key] for key in ("sampler", "initial", "sampler__n_steps", "batch_size")})
start = time.perf_counter()
est.fit(X_train)
print(f"fitted {est.max_iter} iterations in {time.perf_counter() - start:.1f} s")

# %%
# Samples
# -------
# ``sample`` runs ``q_0`` and then the learned dynamics; ``sample_initial`` stops after
# ``q_0``. Comparing the two shows what the dynamics add (the paper's Table 3 ablation).
# Both return images in the training layout, ``(n, 1, 8, 8)``.
start = time.perf_counter()
samples = est.sample(64, random_state=0)
sample_s = time.perf_counter() - start
initial = est.sample_initial(64, random_state=0)
print(f"64 samples {samples.shape} in {sample_s:.2f} s")

fig, axes = plt.subplots(1, 3, figsize=(13, 5))
plot_images(X_train[:64], ax=axes[0], title="training digits")
plot_images(initial, ax=axes[1], title="q0 alone")
plot_images(samples, ax=axes[2], title="q0 + learned dynamics")
fig.tight_layout()
plt.show()

# %%
# The energy on data and samples
# ------------------------------
# A sampler that matches the model puts its samples at the energies of the data (the paper's
# Figure 3b); samples at much higher energies are easy for the energy to tell apart, which is
# what drives the next update.
energy_data = est.energy(X_held_out)
energy_samples = est.energy(samples)
print(f"mean energy: held-out digits {energy_data.mean():.2f}, samples {energy_samples.mean():.2f}")
ax = plot_energy_histogram(est, X_held_out, samples, bins=30)
ax.set_title("learned energy")
plt.show()

# %%
# Completion
# ----------
# The lower half of each held-out digit is hidden; ``complete`` starts it from ``q_0`` and
# runs rounds of the learned dynamics on the energy with the upper half held fixed (the
# observed pixels come back unchanged, bit for bit). ``plot_completion`` shows the trajectory
# of every digit, with the hidden region tinted in the first column.
mask = np.zeros((8, 8), dtype=bool)
mask[4:] = True
completed, steps = est.complete(
    X_held_out[:8], mask, n_rounds=3 if QUICK else 10, random_state=0, return_steps=True
)
assert np.array_equal(completed[:, :, :4], X_held_out[:8, :, :4])
ax = plot_completion(steps, mask, title="completing the lower half")
plt.show()
