"""ScoreMatchingEstimator: the three objectives against closed forms, recovery, API."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from adesk.datasets import make_toy
from adesk.energies import MLP, GaussianEnergy, MLPEnergy
from adesk.estimators._score_matching import (
    SCORE_MATCHING_METHODS,
    ScoreMatchingEstimator,
    score_matching_loss,
)
from adesk.partition import AutoPartition

from ._configs import fast_sm


@pytest.fixture(scope="module")
def moons():
    return make_toy("moons", 300, random_state=0)


@pytest.fixture(scope="module")
def fitted(moons):
    return fast_sm(max_iter=30).fit(moons)


# --------------------------------------------------------------- sklearn checks
@parametrize_with_checks(
    [
        fast_sm(method="exact"),
        fast_sm(method="sliced", n_projections=2),
        fast_sm(method="denoising", noise_std=0.2),
        fast_sm(method="exact", energy_model="gaussian"),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------------------------- the objectives
def _random_mlp_energy(n_features):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        energy = MLPEnergy(n_features, (16, 16), activation="silu", base_precision=0.1)
    return energy.double()


def test_exact_loss_uses_the_hessian_trace():
    """0.5 |grad E|^2 - tr(Hess E), against autograd's dense Hessian."""
    energy = _random_mlp_energy(3)
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    losses = score_matching_loss(energy, z, "exact").detach()
    for row, loss in zip(z, losses):
        grad = torch.autograd.functional.jacobian(lambda x: energy(x[None])[0], row)
        hessian = torch.autograd.functional.hessian(lambda x: energy(x[None])[0], row)
        expected = 0.5 * grad.pow(2).sum() - torch.trace(hessian)
        torch.testing.assert_close(loss, expected)


def test_sliced_loss_agrees_with_exact_in_expectation():
    """E_v[v^T H v] = tr(H) for Gaussian v: sliced and exact agree up to Monte Carlo error."""
    energy = _random_mlp_energy(3)
    generator = torch.Generator().manual_seed(0)
    z = 1.5 * torch.randn(64, 3, generator=generator, dtype=torch.float64)
    exact = float(score_matching_loss(energy, z, "exact").detach().mean())
    n_repeats = 400
    # One projection per repeated point: n_repeats independent batch means of the sliced loss.
    single = score_matching_loss(energy, z.repeat(n_repeats, 1), "sliced", generator=generator)
    batch_means = single.detach().reshape(n_repeats, -1).mean(1)
    standard_error = float(batch_means.std()) / np.sqrt(n_repeats)
    assert standard_error > 0  # the energy has a non-trivial Hessian
    assert abs(float(batch_means.mean()) - exact) < 4 * standard_error
    # The same average through n_projections (it averages the projections per sample).
    many = score_matching_loss(energy, z, "sliced", n_projections=n_repeats, generator=generator)
    assert many.shape == (64,)
    assert abs(float(many.detach().mean()) - exact) < 4 * standard_error


def _gaussian_closed_form(method, data_std, mean, std, noise_std):
    """E over x ~ N(0, data_std^2 I) (and eps) of the per-sample loss of E = Gaussian(mean, std).

    With u = 1 / std^2 the gradient is u (x - mean) and the Hessian diag(u), so per coordinate
    exact / sliced give 0.5 u^2 (data_std^2 + mean^2) - u. Denoising: grad E(x + sigma eps) -
    eps / sigma = u (x - mean) - (1 / sigma - u sigma) eps, with x and eps independent, gives
    0.5 [u^2 (data_std^2 + mean^2) + (1 / sigma - u sigma)^2].
    """
    u = 1.0 / std**2
    fit = 0.5 * u**2 * (data_std**2 + mean**2)
    if method == "denoising":
        return float(np.sum(fit + 0.5 * (1.0 / noise_std - u * noise_std) ** 2))
    return float(np.sum(fit - u))


@pytest.mark.parametrize("method", SCORE_MATCHING_METHODS)
def test_losses_match_closed_form_on_a_gaussian_energy(method):
    data_std, noise_std = 1.3, 0.3
    mean, std = np.array([0.2, -0.5, 0.0]), np.array([0.8, 1.0, 1.5])
    energy = GaussianEnergy(torch.tensor(mean), torch.tensor(std)).double()
    generator = torch.Generator().manual_seed(0)
    x = data_std * torch.randn(100_000, 3, generator=generator, dtype=torch.float64)
    losses = score_matching_loss(energy, x, method, noise_std=noise_std, generator=generator)
    losses = losses.detach().numpy()
    standard_error = losses.std() / np.sqrt(len(losses))
    expected = _gaussian_closed_form(method, data_std, mean, std, noise_std)
    assert abs(losses.mean() - expected) < 4 * standard_error


def test_loss_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        score_matching_loss(GaussianEnergy(torch.zeros(1), torch.ones(1)), torch.zeros(2, 1), "x")


# ------------------------------------------------------------ parameter recovery
def _gaussian_data(n_features, seed, n_samples=4000):
    rng = np.random.RandomState(seed)
    mean = rng.uniform(-2, 2, n_features)
    std = rng.uniform(0.5, 2.0, n_features)
    return rng.normal(size=(n_samples, n_features)) * std + mean, mean, std


def _learned_gaussian(est):
    model = est.energy_model_
    mean = est.mean_ + est.scale_ * model.mean.detach().double().cpu().numpy()
    log_std = np.log(est.scale_) + model.log_std.detach().double().cpu().numpy()
    return mean, log_std


def _perturbed_gaussian(n_features):
    # Starts away from the optimum (standardized mean 1, std 0.5), so the fit has to move.
    return GaussianEnergy(torch.ones(n_features), torch.full((n_features,), 0.5), learnable=True)


# Tolerances. For a Gaussian model on data standardized to mean 0 and variance 1, the exact
# (and sliced) score-matching objective over the training set, 0.5 u^2 (1 + m^2) - u per
# coordinate, is minimised at m = 0, u = 1: the sample mean and the (1/n) sample variance,
# i.e. the MLE. So the learned parameters differ from the truth by the MLE's error, standard
# error sqrt(var / n) for the mean and sqrt(1 / (2n)) for the log-std (4 standard errors:
# 0.063 sd and 0.045 with n = 4000), plus the optimisation error of the fixed budget. Measured
# as the distance to the MLE over seeds 0, 1, 2 in 2-D and 5-D: at most 0.0065 sd / 0.0075
# (energy_model="gaussian", lr 1e-3, 300 iterations) and 0.0087 sd / 0.0105 (perturbed start,
# lr 3e-2, 600 iterations, exact and sliced). OPTIMISATION_TOL allows about three times that.
OPTIMISATION_TOL = 0.03
N_RECOVERY = 4000
MEAN_TOL = 4 / np.sqrt(N_RECOVERY) + OPTIMISATION_TOL  # in units of the true std
LOG_STD_TOL = 4 / np.sqrt(2 * N_RECOVERY) + OPTIMISATION_TOL


def _check_recovery(est, X, mean, std):
    learned_mean, learned_log_std = _learned_gaussian(est)
    # Against the minimiser of the training objective (the MLE): the optimisation error.
    assert np.all(np.abs(learned_mean - X.mean(0)) / std < OPTIMISATION_TOL)
    assert np.all(np.abs(learned_log_std - np.log(X.std(0))) < OPTIMISATION_TOL)
    # Against the truth: the MLE's Monte Carlo error plus the optimisation error.
    assert np.all(np.abs(learned_mean - mean) / std < MEAN_TOL)
    assert np.all(np.abs(learned_log_std - np.log(std)) < LOG_STD_TOL)


@pytest.mark.parametrize("n_features", [2, 5])
def test_exact_recovers_gaussian_parameters(n_features):
    X, mean, std = _gaussian_data(n_features, seed=0)
    est = ScoreMatchingEstimator(
        energy_model="gaussian", max_iter=300, device="cpu", random_state=0
    ).fit(X)
    _check_recovery(est, X, mean, std)


@pytest.mark.parametrize(
    "method, n_features", [("exact", 2), ("exact", 5), ("sliced", 2), ("sliced", 5)]
)
def test_recovers_gaussian_from_a_wrong_start(method, n_features):
    X, mean, std = _gaussian_data(n_features, seed=1)
    est = ScoreMatchingEstimator(
        method=method,
        energy_model=_perturbed_gaussian,
        learning_rate_init=3e-2,
        max_iter=600,
        partition=AutoPartition(n_samples=2000),
        device="cpu",
        random_state=1,
    ).fit(X)
    _check_recovery(est, X, mean, std)


@pytest.mark.parametrize("n_features", [2, 5])
def test_denoising_inflates_the_variance_by_noise_std_squared(n_features):
    """The data blurred by N(0, sigma^2) has (standardized) variance 1 + sigma^2.

    Per coordinate the denoising objective over the training set is
    0.5 [u^2 (1 + m^2) + (1 / sigma - u sigma)^2], minimised at m = 0 and
    u = 1 / (1 + sigma^2): log std = 0.5 log(1 + sigma^2) = 0.1116 for sigma = 0.5. Measured
    distance to that minimiser over seeds 0, 1, 2 in 2-D and 5-D: at most 0.025 (mean, noisier
    than exact because of the noise draws) and 0.006 (log-std); the tolerances allow 2-3 times
    that, far below the bias itself.
    """
    noise_std = 0.5
    X, _, _ = _gaussian_data(n_features, seed=2)
    est = ScoreMatchingEstimator(
        method="denoising",
        noise_std=noise_std,
        early_stopping=False,
        energy_model=_perturbed_gaussian,
        learning_rate_init=3e-2,
        max_iter=600,
        partition=AutoPartition(n_samples=2000),
        device="cpu",
        random_state=2,
    ).fit(X)
    model = est.energy_model_
    bias = 0.5 * np.log1p(noise_std**2)
    np.testing.assert_allclose(model.log_std.detach().numpy(), bias, atol=0.02)
    np.testing.assert_allclose(model.mean.detach().numpy(), 0.0, atol=0.06)
    _, learned_log_std = _learned_gaussian(est)
    np.testing.assert_allclose(learned_log_std - np.log(X.std(0)), bias, atol=0.02)


def test_sample_follows_the_fitted_energy():
    """HMC from N(0, I) on a fitted Gaussian energy reproduces its moments."""
    X, _, _ = _gaussian_data(2, seed=0, n_samples=1000)
    est = ScoreMatchingEstimator(
        energy_model=_perturbed_gaussian,
        learning_rate_init=3e-2,
        max_iter=200,
        device="cpu",
        random_state=0,
    ).fit(X)
    mean, log_std = _learned_gaussian(est)
    std = np.exp(log_std)
    samples = est.sample(2000, random_state=0, n_transitions=60)
    n = len(samples)
    # HMC draws are close to independent for a Gaussian; 5 standard errors leave room for
    # the remaining autocorrelation.
    assert np.all(np.abs(samples.mean(0) - mean) < 5 * std / np.sqrt(n))
    assert np.all(np.abs(samples.std(0) / std - 1) < 5 * np.sqrt(1 / (2 * n)))


# ------------------------------------------------------------------------ API
@pytest.mark.parametrize("method", SCORE_MATCHING_METHODS)
def test_fit_sets_attributes(moons, method):
    est = fast_sm(method=method, n_projections=2)
    assert est.fit(moons) is est
    for name in [
        "energy_model_",
        "log_partition_",
        "log_partition_std_",
        "n_iter_",
        "converged_",
        "loss_curve_",
        "history_",
        "n_features_in_",
        "mean_",
        "scale_",
        "partition_method_",
    ]:
        assert hasattr(est, name), name
    assert est.n_iter_ == 8 and len(est.loss_curve_) == 8
    assert np.all(np.isfinite(est.loss_curve_))
    assert est.loss_curve_ == est.history_["loss_energy"]
    assert np.isfinite(est.score(moons))
    assert est.sample(5, random_state=0).shape == (5, 2)


def test_exact_loss_decreases_with_training(moons):
    est = fast_sm(max_iter=200, batch_size=64, learning_rate_init=3e-3).fit(moons)
    curve = np.asarray(est.loss_curve_)
    assert curve[-20:].mean() < curve[:20].mean()


def test_defaults_and_optimizer():
    est = ScoreMatchingEstimator()
    params = est.get_params()
    assert params["method"] == "exact" and params["n_projections"] == 1
    assert params["noise_std"] == 0.1 and "sampling_steps" not in params
    assert params["energy_model"] == "mlp" and params["max_iter"] == 5000
    assert params["learning_rate_schedule"] == "cosine"
    # "mlp" is MLP() with its defaults, reachable as nested parameters once it is an object.
    params = ScoreMatchingEstimator(energy_model=MLP()).get_params()
    assert params["energy_model__hidden_layer_sizes"] == (128, 128, 128)
    assert params["energy_model__base_precision"] == 0.1
    fitted = fast_sm(max_iter=1).fit(np.random.RandomState(0).normal(size=(20, 2)))
    (optimizer,) = fitted._optimizers
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.999)


def test_reproducible_with_same_random_state(moons):
    a = fast_sm(method="sliced", random_state=3).fit(moons)
    b = fast_sm(method="sliced", random_state=3).fit(moons)
    np.testing.assert_array_equal(a.score_samples(moons), b.score_samples(moons))
    np.testing.assert_array_equal(a.sample(20, random_state=1), b.sample(20, random_state=1))
    np.testing.assert_array_equal(a.sample(20, random_state=1), a.sample(20, random_state=1))
    assert not np.array_equal(a.sample(20, random_state=1), a.sample(20, random_state=2))
    c = fast_sm(method="sliced", random_state=4).fit(moons)
    assert not np.array_equal(a.score_samples(moons), c.score_samples(moons))


def test_global_rng_untouched(moons):
    np_state = np.random.get_state()  # noqa: NPY002
    torch_state = torch.random.get_rng_state()
    est = fast_sm(method="denoising", random_state=None).fit(moons)
    est.sample(5)
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # noqa: NPY002
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_grid_search_and_pipeline(moons):
    search = GridSearchCV(fast_sm(), {"method": list(SCORE_MATCHING_METHODS)}, cv=3).fit(moons)
    assert search.best_params_["method"] in SCORE_MATCHING_METHODS
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    pipe = make_pipeline(StandardScaler(), fast_sm()).fit(moons)
    assert np.isfinite(pipe.score(moons))
    assert pipe.score_samples(moons[:3]).shape == (3,)


def test_clone_and_pickle(fitted, moons):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.score_samples(moons), fitted.score_samples(moons))
    np.testing.assert_array_equal(
        restored.sample(10, random_state=5), fitted.sample(10, random_state=5)
    )


def test_warm_start_and_partial_fit(moons):
    est = fast_sm(warm_start=True).fit(moons)
    est.fit(moons)
    assert est.n_iter_ == 16
    partial = fast_sm(batch_size=100)
    partial.partial_fit(moons)
    partial.partial_fit(moons)
    assert partial.n_iter_ == 6
    assert np.isfinite(partial.score(moons))


def test_higher_dimension_is_normalised_by_sampling():
    X = np.random.RandomState(0).normal(size=(200, 4))
    est = fast_sm().fit(X)
    assert est.partition_method_ in ("importance", "ais")
    assert np.isfinite(est.log_partition_)
    assert est.sample(3, random_state=0).shape == (3, 4)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"method": "ssm"}, "method"),
        ({"n_projections": 0}, "n_projections"),
        ({"n_projections": 1.5}, "n_projections"),
        ({"noise_std": 0.0}, "noise_std"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate_init": 0.0}, "learning_rate_init"),
        ({"energy_model": MLP(())}, "energy_model__hidden_layer_sizes"),
        ({"energy_model": MLP(activation="gelu")}, "energy_model__activation"),
        ({"energy_model": "flow"}, "energy_model"),
    ],
)
def test_parameter_validation_messages(moons, params, message):
    with pytest.raises(ValueError, match=message):
        fast_sm(**params).fit(moons)


@pytest.mark.parametrize("n_transitions", [-1, 2.5, True])
def test_sample_validates_n_transitions(fitted, n_transitions):
    with pytest.raises(ValueError, match="n_transitions"):
        fitted.sample(3, n_transitions=n_transitions)


def test_methods_before_fit_raise_not_fitted():
    est = ScoreMatchingEstimator()
    for method, args in [
        ("score_samples", (np.zeros((2, 2)),)),
        ("sample", (2,)),
        ("energy", (np.zeros((2, 2)),)),
        ("score", (np.zeros((2, 2)),)),
    ]:
        with pytest.raises(NotFittedError):
            getattr(est, method)(*args)


def test_early_stopping_runs(moons):
    from sklearn.exceptions import ConvergenceWarning

    est = fast_sm(early_stopping=True, validation_interval=2, n_iter_no_change=2, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(moons)
    assert len(est.validation_scores_) == est.n_iter_ // 2
    assert np.isfinite(est.score(moons))
