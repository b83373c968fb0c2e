"""Model selection across estimator families with GridSearchCV
===========================================================

Every adesk estimator reports a normalised log-likelihood, so scikit-learn's model selection
can compare *families* of energy-based models, not just the hyperparameters of one. This
example puts ADE, contrastive divergence, score matching and noise-contrastive estimation
in one ``GridSearchCV`` over a ``Pipeline`` whose final step the grid replaces, scores it
with :func:`adesk.metrics.log_likelihood_scorer`, and checks the winner on held-out data.
"""

# %%
# Settings
# --------
# The documentation build in CI sets ``ADESK_GALLERY_QUICK=1`` for a tiny budget.
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
)
from adesk.datasets import make_toy
from adesk.energies import MLP
from adesk.metrics import log_likelihood, log_likelihood_scorer
from adesk.partition import Quadrature
from adesk.samplers import HMC

QUICK = os.environ.get("ADESK_GALLERY_QUICK") == "1"

X = make_toy("pinwheel", 3000, random_state=0)
X_test = make_toy("pinwheel", 5000, random_state=1)

# %%
# The search space
# ----------------
# The pipeline's last step is a placeholder: the grid's ``"est"`` entry replaces it with each
# candidate, so one search ranks four estimator families (and, for ADE, two sampler lengths).
# All candidates share the network and budget, so the comparison is about the objective.
common = dict(
    energy_model=MLP(hidden_layer_sizes=(64, 64)),
    batch_size=128,
    learning_rate_init=2e-3,
    max_iter=20 if QUICK else 600,
    partition=Quadrature(resolution=80 if QUICK else 200),
    device="cpu",
    random_state=0,
)
# adesk's estimators standardize their input themselves; the scaler is here only to show a
# pipeline (after it, the estimators' own standardization is the identity).
pipeline = Pipeline([("scale", StandardScaler()), ("est", ADEDensityEstimator(**common))])
param_grid = {
    "est": [
        ADEDensityEstimator(sampler=HMC(n_steps=5), **common),
        ADEDensityEstimator(sampler=HMC(n_steps=10), **common),
        ContrastiveDivergenceEstimator(sampler=HMC(n_transitions=5), **common),
        ScoreMatchingEstimator(**common),
        NoiseContrastiveEstimator(**common),
    ]
}

# %%
# Why a custom scorer
# -------------------
# A density fitted after a scaler is a density of the *scaled* data; ``Pipeline.score`` drops
# the scaler's log-determinant, so its numbers are in the wrong units (and pipelines with
# different scalers would not be comparable). ``log_likelihood_scorer`` adds
# ``log|det d scale(x) / dx|`` back, so the search reports log-likelihoods of ``X`` itself.
# ``n_jobs=1`` keeps the example light; the fits are reproducible with any ``n_jobs``.
search = GridSearchCV(pipeline, param_grid, scoring=log_likelihood_scorer, cv=3, n_jobs=1)
search.fit(X)


def describe(est):
    """A short label for a candidate: its family and the parameter varied within it."""
    params = est.get_params()
    labels = {
        "ADEDensityEstimator": f"ADE, n_steps={params.get('sampler__n_steps')}",
        "ContrastiveDivergenceEstimator": f"CD-{params.get('sampler__n_transitions')}",
        "ScoreMatchingEstimator": f"score matching, {params.get('method')}",
        "NoiseContrastiveEstimator": "NCE",
    }
    return labels.get(type(est).__name__, type(est).__name__)


results = search.cv_results_
print(f"{'rank':>4} | {'candidate':<24} | {'mean cv ll':>10} | {'std':>6} | fit s")
for i in np.argsort(results["rank_test_score"]):
    print(
        f"{results['rank_test_score'][i]:>4} | {describe(results['param_est'][i]):<24} | "
        f"{results['mean_test_score'][i]:10.3f} | {results['std_test_score'][i]:6.3f} | "
        f"{results['mean_fit_time'][i]:.1f}"
    )

# %%
# The winner on held-out data
# ---------------------------
# ``refit=True`` (the default) refits the best candidate on all of ``X``. Its held-out score
# with the scorer is in the data's units; ``Pipeline.score`` differs from it by the scaler's
# constant log-determinant only.
best = search.best_estimator_
print("best:", describe(best.named_steps["est"]))
print(f"held-out log-likelihood (log_likelihood_scorer): {log_likelihood_scorer(best, X_test):.3f}")
print(f"Pipeline.score (scaled units, not comparable):  {best.score(X_test):.3f}")
scaler_log_det = -np.log(best.named_steps["scale"].scale_).sum()
print(f"difference = scaler log-determinant:            {scaler_log_det:.3f}")

# %%
# Plots
# -----
# Left: the cross-validated scores with their spread over the folds. Right: the selected
# pipeline's density in the input's coordinates, from :func:`adesk.metrics.log_likelihood`
# (``plot_density`` would draw the final step in the scaled units it was fitted in).
order = np.argsort(results["rank_test_score"])
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
axes[0].errorbar(
    results["mean_test_score"][order],
    range(len(order)),
    xerr=results["std_test_score"][order],
    fmt="o",
    capsize=4,
)
axes[0].set_yticks(range(len(order)), [describe(results["param_est"][i]) for i in order])
axes[0].invert_yaxis()
axes[0].set_xlabel("mean cross-validated log-likelihood (nats)")
axes[0].set_title("GridSearchCV across families")

bounds = (-4.5, 4.5)
grid_x, grid_y = np.meshgrid(np.linspace(*bounds, 150), np.linspace(*bounds, 150))
density = np.exp(log_likelihood(best, np.column_stack([grid_x.ravel(), grid_y.ravel()])))
axes[1].imshow(density.reshape(grid_x.shape), extent=(*bounds, *bounds), origin="lower")
axes[1].scatter(X[:1000, 0], X[:1000, 1], s=2, color="white", alpha=0.3, linewidths=0)
axes[1].set_title(f"best: {describe(best.named_steps['est'])}")
axes[1].set_xlabel("$x_1$")
axes[1].set_ylabel("$x_2$")
fig.tight_layout()
plt.show()
