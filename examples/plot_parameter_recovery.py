"""Parameter recovery with a learnable Gaussian energy
===================================================

When the model family contains the truth, a consistent estimator should recover the true
parameters up to sampling noise. This example fits a learnable diagonal Gaussian energy
``E(x) = 0.5 * sum(((x - mu) / sigma)^2)`` (``energy_model="gaussian"``) to samples of a
diagonal Gaussian in 2 and 5 dimensions with ADE, contrastive divergence and score matching,
and compares the learned mean and variance with the truth and with the maximum likelihood
estimate (MLE) of the same sample, which is the statistical floor (the paper's Table 5).
"""

# %%
# Settings
# --------
# The documentation build in CI sets ``ADESK_GALLERY_QUICK=1`` for a few iterations only.
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from adesk import ADEDensityEstimator, ContrastiveDivergenceEstimator, ScoreMatchingEstimator
from adesk.energies import GaussianEnergy
from adesk.metrics import parameter_rmse
from adesk.partition import ImportanceSampling
from adesk.samplers import HMC

QUICK = os.environ.get("ADESK_GALLERY_QUICK") == "1"
n_samples = 4000


def make_data(n_features, seed):
    """A sample of a diagonal Gaussian with spread-out means and scales, and its truth."""
    mean = np.linspace(-1.0, 2.0, n_features)
    std = np.linspace(0.5, 2.0, n_features)
    rng = np.random.RandomState(seed)
    return mean + std * rng.standard_normal((n_samples, n_features)), mean, std


# %%
# A start away from the answer
# ----------------------------
# Every estimator standardizes its input, and ``energy_model="gaussian"`` starts at the
# standardized data's ``N(0, I)``: that *is* the MLE, so training would only have to stay
# there. To see where each objective leads, the same Gaussian energy class is started one
# standard deviation off in every mean and at half the standard deviation, through an
# ``energy_model`` callable (``f(n_features) -> torch.nn.Module``, in standardized units).
def wrong_start(n_features):
    return GaussianEnergy(np.full(n_features, 1.0), np.full(n_features, 0.5), learnable=True)


# %%
# Three estimators, one budget
# ----------------------------
# All share the energy, batch, learning rate and an exponential moving average of the
# parameters over the last ~100 updates (which averages out the minibatch and chain noise of
# the final iterates). ADE uses the paper's setting for this experiment: a small
# latent-variable ``q_0`` and 3 learned HMC steps, without the gradient penalty, which would
# bias the variance (it adds a term in ``1 / sigma^4`` to the objective). ``log Z`` is not
# needed here, so a cheap estimate ends each fit.
common = dict(
    energy_model=wrong_start,
    learning_rate_init=3e-2,
    ema_decay=0.99,
    max_iter=300 if QUICK else 1500,
    partition=ImportanceSampling(n_samples=500),
    device="cpu",
    random_state=0,
)


def make_estimators():
    return {
        "ADE": ADEDensityEstimator(
            sampler=HMC(n_steps=3),
            initial="latent",
            gradient_penalty=0.0,
            sampler_learning_rate=1e-2,
            **common,
        ),
        "CD-5": ContrastiveDivergenceEstimator(sampler=HMC(n_transitions=5), **common),
        "score matching": ScoreMatchingEstimator(method="exact", **common),
    }


def learned_parameters(est):
    """Mean and variance of the fitted energy in the data's units.

    The energy sees ``z = (x - mean_) / scale_``; a Gaussian ``N(m, s^2)`` in ``z`` is
    ``N(mean_ + scale_ * m, (scale_ * s)^2)`` in ``x``.
    """
    model = est.energy_model_
    mean = est.mean_ + est.scale_ * model.mean.detach().double().numpy()
    std = est.scale_ * np.exp(model.log_std.detach().double().numpy())
    return mean, std**2


# %%
# Fit in 2-D and 5-D
# ------------------
# The means and variances have different scales (a variance of 4 is estimated far less
# precisely than a mean), so errors are measured in units of the MLE's standard errors,
# ``sigma / sqrt(n)`` for a mean and ``sigma^2 sqrt(2 / n)`` for a variance, and summarised
# by their root mean square over the vector ``(mu, sigma^2)``. In those units the MLE's error
# to the truth is about 1 (it is pure sampling noise), an estimator with an error to the truth
# near 1 is at the statistical floor, and its distance to the MLE is the estimator's own
# error: optimisation, minibatch and chain noise.
results = {}
for n_features in (2, 5):
    X, true_mean, true_std = make_data(n_features, seed=n_features)
    truth = np.concatenate([true_mean, true_std**2])
    standard_error = np.concatenate([true_std, true_std**2 * np.sqrt(2)]) / np.sqrt(n_samples)
    mle = np.concatenate([X.mean(0), X.var(0)])
    rows = {"MLE": {"params": mle, "fit_s": 0.0}}
    for name, est in make_estimators().items():
        start = time.perf_counter()
        est.fit(X)
        fit_s = time.perf_counter() - start
        rows[name] = {"params": np.concatenate(learned_parameters(est)), "fit_s": fit_s}
    for row in rows.values():
        row["to_truth"] = parameter_rmse(row["params"] / standard_error, truth / standard_error)
        row["to_mle"] = parameter_rmse(row["params"] / standard_error, mle / standard_error)
    results[n_features] = {"rows": rows, "truth": truth}

    print(f"\n{n_features}-D, n = {n_samples}, errors in MLE standard errors (RMS)")
    print(f"{'':>15} | {'to truth':>8} | {'to MLE':>6} | fit s")
    for name, row in rows.items():
        print(f"{name:>15} | {row['to_truth']:8.2f} | {row['to_mle']:6.2f} | {row['fit_s']:.1f}")

# %%
# The 2-D parameters themselves
# -----------------------------
labels = ["mu_1", "mu_2", "sigma_1^2", "sigma_2^2"]
rows_2d = results[2]["rows"]
print(f"{'':>15} | " + " | ".join(f"{label:>9}" for label in labels))
print(f"{'truth':>15} | " + " | ".join(f"{v:9.4f}" for v in results[2]["truth"]))
for name, row in rows_2d.items():
    print(f"{name:>15} | " + " | ".join(f"{v:9.4f}" for v in row["params"]))

# %%
# Where each estimator lands
# --------------------------
# Bars: the error to the truth and the distance to the MLE, in MLE standard errors; the
# dashed line is the MLE's own error on this sample. An estimator whose distance to the MLE is
# well below 1 is as good as maximum likelihood can be with this many samples. Here all three
# end within about a third of a standard error of the MLE in both dimensions, so their errors
# to the truth are those of the sample, not of the estimators (the same conclusion as the
# paper-style benchmark, ``python -m adesk.benchmarks recovery``).
names = [name for name in rows_2d if name != "MLE"]
x = np.arange(len(names))
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, (n_features, result) in zip(axes, results.items()):
    rows = result["rows"]
    ax.bar(x - 0.2, [rows[name]["to_truth"] for name in names], 0.4, label="to truth")
    ax.bar(x + 0.2, [rows[name]["to_mle"] for name in names], 0.4, label="to MLE")
    ax.axhline(rows["MLE"]["to_truth"], color="black", linestyle="--", label="MLE to truth")
    ax.set_xticks(x, names)
    ax.set_title(f"{n_features}-D diagonal Gaussian, n = {n_samples}")
    ax.legend()
axes[0].set_ylabel("RMS error (MLE standard errors)")
fig.tight_layout()
plt.show()
