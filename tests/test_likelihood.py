"""Every estimator's ``score`` is a normalised held-out log-likelihood one can compare.

The references are independent of the estimators' own normalisation: the analytic partition
function of a (learned) Gaussian energy, scipy's Gaussian log-density, and a brute-force grid
sum of ``exp(-energy)`` over a box different from the estimator's.
"""

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    FlowDualEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
)
from adesk.energies import MLP
from adesk.initial import Empirical, Flow, Gaussian, Latent
from adesk.metrics import log_likelihood, log_likelihood_scorer, transform_log_det
from adesk.partition import AIS, AutoPartition, ImportanceSampling
from adesk.samplers import GHMC, HMC, DeterministicLangevin

SMALL = dict(
    energy_model=MLP((16, 16)),
    max_iter=30,
    batch_size=64,
    random_state=0,
    device="cpu",
)
OWN = {
    ADEDensityEstimator: dict(
        sampler=HMC(n_steps=2), initial=Empirical(max_points=100, replay_buffer_size=64)
    ),
    ContrastiveDivergenceEstimator: dict(sampler=HMC(n_steps=2, n_transitions=3)),
    ScoreMatchingEstimator: dict(),
    NoiseContrastiveEstimator: dict(),
    FlowDualEstimator: dict(flow=Flow(n_layers=2)),
}
ESTIMATORS = list(OWN)


def small(cls, **overrides):
    """``cls`` with the small settings (fresh copies of the parameter objects)."""
    return cls(**{**copy.deepcopy({**SMALL, **OWN[cls]}), **overrides})


def gaussian_data(n, d, seed):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, d)) * np.linspace(0.5, 3.0, d) + np.arange(d)


def analytic_log_partition(est):
    """log Z of the learned GaussianEnergy, in the original coordinates."""
    model = est.energy_model_
    return float(model.log_partition().detach()) + float(np.log(est.scale_).sum())


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", ["ais", "importance"])
def test_sampling_normalisers_match_the_analytic_partition(cls, method):
    X = gaussian_data(600, 4, seed=0)
    est = small(cls, energy_model="gaussian", partition=method).fit(X)
    assert est.partition_method_ == method
    truth = analytic_log_partition(est)
    # 3 reported standard errors, plus float32 rounding of the energies (~1e-5 relative).
    assert abs(est.log_partition_ - truth) < 3 * est.log_partition_std_ + 2e-3


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_quadrature_matches_the_analytic_partition_in_2d(cls):
    X = gaussian_data(600, 2, seed=1)
    est = small(cls, energy_model="gaussian", dtype="float64").fit(X)
    assert est.partition_method_ == "quadrature"
    assert abs(est.log_partition_ - analytic_log_partition(est)) < 1e-3


@pytest.mark.parametrize("cls", [ADEDensityEstimator, FlowDualEstimator], ids=lambda c: c.__name__)
def test_importance_uses_the_tractable_dual_sampler(cls):
    # The paper's scheme (no replay buffer): the sampler's density is tractable.
    params = {
        "initial": Gaussian(replay_buffer_size=0),
        "sampler": HMC(n_steps=2, metropolis=False),
    }
    params = params if cls is ADEDensityEstimator else {}
    X = gaussian_data(600, 5, seed=2)
    est = small(cls, energy_model="gaussian", partition="importance", **params).fit(X)
    assert est.partition_info_["proposal"] == "sampler"
    assert abs(est.log_partition_ - analytic_log_partition(est)) < 3 * est.log_partition_std_ + 2e-3


@pytest.mark.parametrize(
    "params",
    [
        {
            "sampler": GHMC(n_steps=2, metropolis=False),
            "initial": Flow(n_layers=2, replay_buffer_size=0),
        },
        {
            "sampler": DeterministicLangevin(n_steps=2, logdet="exact"),
            "initial": Gaussian(replay_buffer_size=0),
        },
        {
            "sampler": GHMC(n_steps=2, metropolis=False, latent_dim=2),
            "initial": Latent(replay_buffer_size=0),
        },
    ],
    ids=["ghmc-flow", "deterministic_langevin-gaussian", "ghmc-latent"],
)
def test_dual_sampler_importance_weights_are_exact_for_other_embeddings(params):
    """The augmented-space weights are unbiased for Z for each tractable embedding."""
    X = gaussian_data(600, 3, seed=3)
    est = small(
        ADEDensityEstimator,
        energy_model="gaussian",
        partition=ImportanceSampling(n_samples=40000),
        **params,
    ).fit(X)
    assert est.partition_info_["proposal"] == "sampler"
    error = abs(est.log_partition_ - analytic_log_partition(est))
    assert error < 3 * est.log_partition_std_ + 2e-3


def test_samplers_without_a_density_fall_back_to_the_defensive_proposal():
    X = gaussian_data(300, 3, seed=4)
    est = small(ADEDensityEstimator, partition="importance").fit(X)  # replay buffer: no density
    assert est.partition_info_["proposal"] == "defensive"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_score_equals_an_independent_gaussian_log_likelihood(cls):
    X = gaussian_data(800, 3, seed=5)
    X_test = gaussian_data(300, 3, seed=6)
    est = small(cls, energy_model="gaussian", partition="ais").fit(X)
    model = est.energy_model_
    mean = est.mean_ + est.scale_ * model.mean.detach().numpy()
    std = est.scale_ * np.exp(model.log_std.detach().numpy())
    reference = norm.logpdf(X_test, mean, std).sum(axis=1).mean()
    assert abs(est.score(X_test) - reference) < 3 * est.log_partition_std_ + 2e-3


def test_score_of_an_mlp_energy_matches_a_brute_force_grid():
    """Held-out log-likelihood against a grid sum over a wider box at another resolution."""
    X = gaussian_data(600, 2, seed=7)
    X_test = gaussian_data(200, 2, seed=8)
    partition = AutoPartition(resolution=300)
    est = small(ADEDensityEstimator, dtype="float64", partition=partition).fit(X)
    low, high = X.min(0) - 2 * np.ptp(X, 0), X.max(0) + 2 * np.ptp(X, 0)
    axes = [np.linspace(a, b, 701) for a, b in zip(low, high)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    log_terms = -est.energy(grid)
    cell = np.prod([axis[1] - axis[0] for axis in axes])
    log_z = np.logaddexp.reduce(log_terms) + math.log(cell)
    reference = np.mean(-est.energy(X_test) - log_z)
    # Exact up to the reported error, which covers the grid and the box (this barely trained
    # energy keeps 0.005 nats of mass outside the box three times the data's range).
    assert abs(est.score(X_test) - reference) < 2 * est.log_partition_std_ + 1e-4
    assert est.log_partition_std_ >= est.partition_info_["wide_box_change"]


def test_score_samples_is_deterministic_after_fit():
    X = gaussian_data(300, 4, seed=9)
    est = small(ADEDensityEstimator, partition=AIS(n_temperatures=50)).fit(X)
    first = est.score_samples(X)
    est.sample(10, random_state=1)
    np.testing.assert_array_equal(first, est.score_samples(X))
    again = small(ADEDensityEstimator, partition=AIS(n_temperatures=50)).fit(X)
    assert again.log_partition_ == est.log_partition_


def test_estimate_log_partition_checks_without_changing_the_estimator():
    X = gaussian_data(400, 3, seed=10)
    est = small(ADEDensityEstimator, energy_model="gaussian", partition="ais").fit(X)
    stored = est.log_partition_
    check = est.estimate_log_partition("ais", bidirectional=True, random_state=1)
    assert est.log_partition_ == stored
    truth = analytic_log_partition(est)
    assert check["log_partition"] <= truth + 3 * check["log_partition_std"] + 2e-3
    assert abs(check["log_partition_reverse"] - truth) < 0.05
    with pytest.raises(ValueError, match="method"):
        est.estimate_log_partition("exact")


def test_unnormalisable_energy_scores_nan_not_inf():
    """A NaN normaliser warns at fit and scores NaN, which GridSearchCV ranks last."""

    class Broken(torch.nn.Module):
        def __init__(self, n_features):
            super().__init__()
            self.linear = torch.nn.Linear(n_features, 1)

        def forward(self, x):
            return self.linear(x).squeeze(-1) * float("nan")

    X = gaussian_data(100, 3, seed=11)
    with pytest.warns(RuntimeWarning, match="log-partition"):
        est = small(ADEDensityEstimator, energy_model=Broken, max_iter=0).fit(X)
    assert math.isnan(est.score(X))
    search = GridSearchCV(
        small(ADEDensityEstimator, max_iter=5, partition=AIS(n_temperatures=20)),
        {"energy_model": [MLP((16, 16)), Broken]},
        cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X)
    assert search.best_params_["energy_model"] == MLP((16, 16))


def test_grid_search_across_families_picks_by_held_out_log_likelihood():
    X = gaussian_data(240, 2, seed=12)
    pipeline = Pipeline([("scale", StandardScaler()), ("est", small(ADEDensityEstimator))])
    grid = [
        {
            "est": [small(ADEDensityEstimator)],
            "est__energy_model__hidden_layer_sizes": [(16,), (16, 16)],
        },
        {"est": [small(ScoreMatchingEstimator)]},
        {"est": [small(ContrastiveDivergenceEstimator)]},
        {"est": [small(FlowDualEstimator, energy_model="gaussian")]},
    ]
    cv = KFold(3)
    search = GridSearchCV(pipeline, grid, cv=cv).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    assert search.best_index_ == int(np.argmax(scores))
    # The cross-validated score is the mean held-out log-likelihood of each fold.
    chosen = search.cv_results_["params"][1]
    manual = []
    for train, test in cv.split(X):
        model = Pipeline([("scale", StandardScaler()), ("est", small(ADEDensityEstimator))])
        model.set_params(**chosen).fit(X[train])
        manual.append(np.mean(model.score_samples(X[test])))
    np.testing.assert_allclose(scores[1], np.mean(manual), rtol=1e-6)


def test_log_likelihood_scorer_makes_different_scalers_comparable():
    """The estimators standardize internally, so with the scaler's log-determinant added
    back, pipelines with different scalers and the bare estimator give the same density."""
    X = gaussian_data(600, 2, seed=13) * [10.0, 0.1]
    X_test = gaussian_data(200, 2, seed=14) * [10.0, 0.1]
    params = dict(energy_model="gaussian", dtype="float64")
    bare = small(FlowDualEstimator, **params).fit(X)
    reference = bare.score(X_test)
    for scaler in (StandardScaler(), MinMaxScaler()):
        piped = Pipeline([("scale", scaler), ("est", small(FlowDualEstimator, **params))]).fit(X)
        assert abs(log_likelihood_scorer(piped, X_test) - reference) < 1e-3
        # Uncorrected, the pipeline's score is off by the scaler's log-determinant.
        log_det = transform_log_det(piped.named_steps["scale"], 2)
        assert abs(log_det) > 0.3
        assert abs(piped.score(X_test) + log_det - reference) < 1e-3
        np.testing.assert_allclose(
            log_likelihood(piped, X_test), bare.score_samples(X_test), atol=5e-3
        )
    search = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("est", small(FlowDualEstimator, **params))]),
        {"scale": [StandardScaler(), MinMaxScaler(), "passthrough"]},
        scoring=log_likelihood_scorer,
        cv=2,
    ).fit(X)
    spread = np.ptp(search.cv_results_["mean_test_score"])
    assert spread < 1e-2
