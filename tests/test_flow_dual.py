"""FlowDualEstimator: the paper's "NF" baseline (primal-dual MLE with a flow dual sampler)."""

import numpy as np
import pytest
import torch
from scipy.integrate import trapezoid
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from adesk.datasets import make_toy
from adesk.energies import MLP, GaussianEnergy
from adesk.estimators._flow_dual import FlowDualEstimator
from adesk.initial import Flow, FlowInitial
from adesk.partition import AutoPartition

from ._configs import fast_flow_dual


@parametrize_with_checks(
    [
        fast_flow_dual(),
        fast_flow_dual(
            flow=Flow(n_layers=2, layer="realnvp", hidden_layer_sizes=(8,)),
            sampler_updates=2,
            gradient_penalty=0.0,
        ),
        fast_flow_dual(energy_model="gaussian", sampler_learning_rate=1e-2),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def moons():
    return make_toy("moons", 300, random_state=0)


@pytest.fixture(scope="module")
def trained():
    """One briefly trained estimator per flow type, on 1,000 moons points."""
    X = make_toy("moons", 1000, random_state=0)
    return {
        flow: FlowDualEstimator(
            flow=Flow(layer=flow, hidden_layer_sizes=(32,) if flow == "realnvp" else None),
            max_iter=150,
            learning_rate_init=1e-2,
            energy_model=MLP((32, 32)),
            batch_size=128,
            partition=AutoPartition(resolution=64),
            random_state=0,
            device="cpu",
        ).fit(X)
        for flow in ("planar", "realnvp")
    }


# ------------------------------------------------------------------------------- API
def test_fit_sets_attributes_and_history(moons):
    est = fast_flow_dual()
    assert est.fit(moons) is est
    for name in [
        "energy_model_",
        "flow_",
        "log_partition_",
        "log_partition_std_",
        "n_iter_",
        "converged_",
        "loss_curve_",
        "history_",
        "n_features_in_",
        "mean_",
        "scale_",
    ]:
        assert hasattr(est, name), name
    assert isinstance(est.flow_, FlowInitial) and est.flow_.momentum_dim == 0
    assert len(est.flow_.layers) == 2
    assert set(est.history_) == {
        "loss_energy",
        "loss_sampler",
        "energy_data",
        "energy_samples",
        "energy_gap",
    }
    np.testing.assert_allclose(
        est.history_["energy_gap"],
        np.subtract(est.history_["energy_samples"], est.history_["energy_data"]),
    )
    assert len(est.loss_curve_) == est.n_iter_ == 8
    np.testing.assert_allclose(
        est.history_["loss_energy"],
        np.subtract(est.history_["energy_data"], est.history_["energy_samples"]),
    )
    samples = est.sample(11, random_state=0)
    assert samples.shape == (11, 2) and samples.dtype == np.float64
    log_q = est.flow_log_prob(moons[:7])
    assert log_q.shape == (7,) and log_q.dtype == np.float64


def test_flow_types_and_learning_rates(moons):
    est = fast_flow_dual(
        flow=Flow(n_layers=3, layer="realnvp", hidden_layer_sizes=(8,)),
        sampler_learning_rate=0.05,
    )
    est.fit(moons)
    assert len(est.flow_.layers) == 3
    assert type(est.flow_.layers[0]).__name__ == "AffineCoupling"
    energy_opt, flow_opt = est._optimizers
    assert energy_opt.param_groups[0]["initial_lr"] == pytest.approx(1e-3)
    assert energy_opt.param_groups[0]["betas"] == (0.5, 0.999)
    assert flow_opt.param_groups[0]["initial_lr"] == pytest.approx(0.05)
    planar = fast_flow_dual().fit(moons)
    assert type(planar.flow_.layers[0]).__name__ == "PlanarFlow"
    assert planar._optimizers[1].param_groups[0]["initial_lr"] == pytest.approx(1e-2)
    # None: the flow at the energy's rate.
    same_rate = fast_flow_dual(sampler_learning_rate=None).fit(moons)
    assert same_rate._optimizers[1].param_groups[0]["initial_lr"] == pytest.approx(1e-3)


def test_sampler_updates_consume_more_flow_steps(moons):
    one = fast_flow_dual(max_iter=3, sampler_updates=1).fit(moons)
    three = fast_flow_dual(max_iter=3).fit(moons)  # the default: 3 flow updates
    assert one._optimizers[1].state_dict()["state"][0]["step"] == 3
    assert three._optimizers[1].state_dict()["state"][0]["step"] == 9
    assert one._optimizers[0].state_dict()["state"][0]["step"] == 3
    assert three._optimizers[0].state_dict()["state"][0]["step"] == 3


def test_reproducible_with_same_random_state(moons):
    a = fast_flow_dual(random_state=3).fit(moons)
    b = fast_flow_dual(random_state=3).fit(moons)
    np.testing.assert_array_equal(a.score_samples(moons), b.score_samples(moons))
    np.testing.assert_array_equal(a.flow_log_prob(moons), b.flow_log_prob(moons))
    np.testing.assert_array_equal(a.sample(20, random_state=1), b.sample(20, random_state=1))
    np.testing.assert_array_equal(a.sample(20, random_state=1), a.sample(20, random_state=1))
    assert not np.array_equal(a.sample(20, random_state=1), a.sample(20, random_state=2))
    c = fast_flow_dual(random_state=4).fit(moons)
    assert not np.array_equal(a.score_samples(moons), c.score_samples(moons))


def test_global_rng_untouched(moons):
    np_state = np.random.get_state()  # noqa: NPY002
    torch_state = torch.random.get_rng_state()
    est = fast_flow_dual(random_state=None).fit(moons)
    est.sample(5)
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # noqa: NPY002
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_grid_search_and_pipeline(moons):
    search = GridSearchCV(fast_flow_dual(), {"flow__layer": ["planar", "realnvp"]}, cv=3)
    search.fit(moons)
    assert search.best_params_["flow__layer"] in ("planar", "realnvp")
    assert np.isfinite(search.best_score_)
    flows = [Flow(n_layers=2), Flow(n_layers=2, layer="realnvp", hidden_layer_sizes=(8,))]
    search = GridSearchCV(fast_flow_dual(), {"flow": flows}, cv=3).fit(moons)
    assert search.best_params_["flow"] in flows
    # The string shortcuts still work.
    search = GridSearchCV(fast_flow_dual(), {"flow": ["planar", "realnvp"]}, cv=2).fit(moons)
    assert search.best_params_["flow"] in ("planar", "realnvp")
    pipe = make_pipeline(StandardScaler(), fast_flow_dual()).fit(moons)
    assert np.isfinite(pipe.score(moons))
    assert pipe.score_samples(moons[:3]).shape == (3,)
    copy = clone(fast_flow_dual(flow=Flow(n_layers=4)))
    assert copy.get_params()["flow__n_layers"] == 4


@pytest.mark.parametrize(
    "params, message",
    [
        ({"flow": "maf"}, "'flow'"),
        ({"flow": Flow(n_layers=0)}, "flow__n_layers"),
        ({"flow": Flow(n_layers=2.5)}, "flow__n_layers"),
        ({"flow": Flow(layer="maf")}, "flow__layer"),
        ({"flow": Flow(layer="realnvp", hidden_layer_sizes=(0,))}, "flow__hidden_layer_sizes"),
        (
            {"flow": Flow(layer="realnvp", hidden_layer_sizes=(8, -1))},
            "flow__hidden_layer_sizes",
        ),
        # Planar layers have no conditioners to size.
        ({"flow": Flow(hidden_layer_sizes=(8,))}, "flow__hidden_layer_sizes"),
        ({"sampler_learning_rate": 0.0}, "sampler_learning_rate"),
        ({"sampler_learning_rate": "fast"}, "sampler_learning_rate"),
        ({"sampler_updates": 0}, "sampler_updates"),
        ({"sampler_updates": 1.5}, "sampler_updates"),
        ({"gradient_penalty": -0.1}, "gradient_penalty"),
        ({"gradient_penalty": None}, "gradient_penalty"),
        ({"batch_size": 0}, "batch_size"),
        ({"energy_model": MLP(())}, "energy_model__hidden_layer_sizes"),
    ],
)
def test_parameter_validation_messages(moons, params, message):
    with pytest.raises(ValueError, match=message) as info:
        fast_flow_dual(**params).fit(moons)
    assert message in str(info.value)


def test_methods_before_fit_raise_not_fitted():
    from sklearn.exceptions import NotFittedError

    est = FlowDualEstimator()
    for method, args in [
        ("score_samples", (np.zeros((2, 2)),)),
        ("sample", (2,)),
        ("flow_log_prob", (np.zeros((2, 2)),)),
    ]:
        with pytest.raises(NotFittedError):
            getattr(est, method)(*args)


def test_flow_log_prob_validates_input(moons):
    est = fast_flow_dual().fit(moons)
    with pytest.raises(ValueError, match="features"):
        est.flow_log_prob(np.zeros((3, 3)))
    with pytest.raises(ValueError):
        est.flow_log_prob(np.array([[np.nan, 0.0]]))


# ------------------------------------------------------------- the sampler is the flow
@pytest.mark.parametrize("flow", ["planar", "realnvp"])
def test_sample_draws_from_the_flow(trained, flow):
    """``sample(random_state=s)`` is the flow pushed through a generator seeded with ``s``."""
    est = trained[flow]
    samples = est.sample(500, random_state=7)
    with torch.no_grad():
        z, _, log_q = est.flow_.sample(500, torch.Generator().manual_seed(7))
    np.testing.assert_allclose(samples, z.double().numpy() * est.scale_ + est.mean_, rtol=1e-6)
    # The flow's exact density (inverse pass) agrees with the forward pass's bookkeeping, so
    # the samples carry the finite density that the sampler objective used.
    log_density = est.flow_log_prob(samples)
    assert np.all(np.isfinite(log_density))
    np.testing.assert_allclose(
        log_density, log_q.double().numpy() - np.log(est.scale_).sum(), atol=2e-3
    )
    # MCMC refinement of the fitted energy still starts from the flow's draws.
    refined = est.sample(50, random_state=7, n_transitions=2)
    assert refined.shape == (50, 2) and np.all(np.isfinite(refined))


@pytest.mark.parametrize("flow", ["planar", "realnvp"])
def test_flow_log_prob_integrates_to_one(trained, flow):
    """Quadrature of ``exp(flow_log_prob)`` over the partition box (three data ranges wide)."""
    est = trained[flow]
    (x0, x1), (y0, y1) = est.partition_info_["bounds"]
    xs, ys = np.linspace(x0, x1, 301), np.linspace(y0, y1, 301)
    grid = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
    density = np.exp(est.flow_log_prob(grid)).reshape(301, 301)
    total = trapezoid(trapezoid(density, ys, axis=1), xs)
    assert total == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("flow", ["planar", "realnvp"])
def test_flow_log_prob_matches_sample_histogram(trained, flow):
    """Bin frequencies of 20,000 ``sample()`` draws against the flow's density integrated per bin.

    Each of the 10 x 10 bins (over the central 96% of the draws) is integrated with a 12 x 12
    midpoint rule; every bin count must lie within 5 binomial standard deviations (plus 5e-4
    for the quadrature) of its expectation. With 100 bins a false alarm has probability
    ~1e-4.
    """
    est = trained[flow]
    n = 20000
    samples = est.sample(n, random_state=0)
    low, high = np.quantile(samples, [0.02, 0.98], axis=0)
    edges = [np.linspace(low[j], high[j], 11) for j in range(2)]
    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=edges)
    frequency = counts / n
    sub = 12
    fine = [
        (
            np.repeat(e[:-1], sub)
            + (np.tile(np.arange(sub), 10) + 0.5) * np.repeat(np.diff(e), sub) / sub
        )
        for e in edges
    ]
    cell = np.outer(np.repeat(np.diff(edges[0]), sub), np.repeat(np.diff(edges[1]), sub)) / sub**2
    grid = np.stack(np.meshgrid(*fine, indexing="ij"), -1).reshape(-1, 2)
    mass = (np.exp(est.flow_log_prob(grid)).reshape(10 * sub, 10 * sub) * cell).reshape(
        10, sub, 10, sub
    )
    expected = mass.sum(axis=(1, 3))
    tolerance = 5 * np.sqrt(expected * (1 - expected) / n) + 5e-4
    assert np.all(np.abs(frequency - expected) < tolerance), np.max(
        np.abs(frequency - expected) / tolerance
    )
    assert expected.sum() == pytest.approx(frequency.sum(), abs=0.01)


def test_training_improves_the_flow(trained):
    """The flow moves from its N(0, I) start (in standardized units) toward the data.

    Held-out gain measured after these 150 iterations on seeds 0, 1, 2: 0.083-0.094 nats
    (planar) and 0.096-0.18 nats (RealNVP); 0.05 catches a sampler that does not learn.
    """
    X_test = make_toy("moons", 1000, random_state=1)
    for est in trained.values():
        start = FlowDualEstimator(flow=est.flow, max_iter=0, random_state=0, device="cpu")
        start.set_params(partition=AutoPartition(resolution=16))
        start.fit(make_toy("moons", 1000, random_state=0))
        assert est.flow_log_prob(X_test).mean() > start.flow_log_prob(X_test).mean() + 0.05


# ---------------------------------------------------------------- parameter recovery
def _gaussian_data(n_features, seed, n_samples=4000):
    rng = np.random.RandomState(seed)
    mean = rng.uniform(-2, 2, n_features)
    std = np.exp(rng.uniform(-1, 1, n_features))
    return rng.normal(size=(n_samples, n_features)) * std + mean, mean, std


def _recovered(est):
    model = est.energy_model_
    mean = est.mean_ + est.scale_ * model.mean.detach().double().numpy()
    log_std = np.log(est.scale_) + model.log_std.detach().double().numpy()
    return mean, log_std


# Optimisation error allowed beyond the data's own Monte Carlo noise. Measured with this budget
# (500 iterations, learning rate 1e-2, cosine decay) on seeds 0, 1, 2 for 2-D planar and 5-D
# planar and RealNVP flows, from the standardized MLE start and from the perturbed start below:
# the largest distance to the sample MLE over 21 runs was 0.013 in |mean| / std and 0.0086 in
# log-std, so 0.03 leaves more than twice the worst case.
OPTIMISATION_TOL = 0.03


@pytest.mark.parametrize(
    "n_features, flow, start",
    [(2, "planar", "gaussian"), (2, "planar", "perturbed"), (5, "realnvp", "perturbed")],
)
def test_gaussian_parameter_recovery(n_features, flow, start):
    """With a Gaussian energy and no penalty the game's solution is the MLE.

    ``"gaussian"`` starts the energy at the standardized data's N(0, I), i.e. at the MLE: the
    game must stay there. ``"perturbed"`` starts it at N(0.8, 1.8^2) per axis (standardized
    units) with the flow still at N(0, I), so both players must move. The learned mean and
    log-std (original units) are compared with the sample MLE (optimisation error only) and
    with the truth within 4.5 MLE standard errors (``std / sqrt(n)`` for the mean,
    ``1 / sqrt(2 n)`` for the log-std) plus that optimisation error.
    """
    X, mean, std = _gaussian_data(n_features, seed=n_features)
    energy_model = "gaussian"
    if start == "perturbed":

        def energy_model(d):
            return GaussianEnergy(torch.full((d,), 0.8), torch.full((d,), 1.8), learnable=True)

    est = FlowDualEstimator(
        energy_model=energy_model,
        flow=Flow(layer=flow, hidden_layer_sizes=(16,) if flow == "realnvp" else None),
        gradient_penalty=0.0,
        max_iter=500,
        early_stopping=False,
        learning_rate_init=1e-2,
        partition=AutoPartition(resolution=64, n_samples=256),
        random_state=0,
        device="cpu",
    ).fit(X)
    learned_mean, learned_log_std = _recovered(est)
    n = X.shape[0]
    assert np.all(np.abs(learned_mean - X.mean(0)) / std < OPTIMISATION_TOL)
    assert np.all(np.abs(learned_log_std - np.log(X.std(0))) < OPTIMISATION_TOL)
    assert np.all(np.abs(learned_mean - mean) / std < 4.5 / np.sqrt(n) + OPTIMISATION_TOL)
    assert np.all(np.abs(learned_log_std - np.log(std)) < 4.5 / np.sqrt(2 * n) + OPTIMISATION_TOL)
    # The flow, trained against that energy, is the same Gaussian: KL(q || p) estimated from
    # 4,000 flow samples with the energy's exact log Z was at most 0.0015 nats in the runs
    # measured for OPTIMISATION_TOL (the estimate's own noise is far smaller, as
    # log q - log p is nearly constant).
    samples = est.sample(4000, random_state=0)
    log_z = float(est.energy_model_.log_partition().detach()) + np.log(est.scale_).sum()
    kl = np.mean(est.flow_log_prob(samples) + est.energy(samples) + log_z)
    assert -0.005 < kl < 0.01


def test_gradient_penalty_bias_matches_theory():
    """The penalty ``g mean |grad E|^2`` inflates the fitted Gaussian's variance predictably.

    On standardized data (unit variance) the penalised objective per axis is
    ``log s + 1 / (2 s^2) + g / s^4``, minimised at ``s^2 = (1 + sqrt(1 + 16 g)) / 2``: for
    ``g = 0.1``, ``log s = 0.1335``. The mean is unbiased. Tolerance: the optimisation error
    above (the data noise cancels, since the reference is the standardized data itself).
    """
    X, _, _ = _gaussian_data(2, seed=0)
    est = FlowDualEstimator(
        energy_model="gaussian",
        gradient_penalty=0.1,
        max_iter=500,
        learning_rate_init=1e-2,
        partition=AutoPartition(resolution=64),
        random_state=0,
        device="cpu",
    ).fit(X)
    predicted = 0.5 * np.log((1 + np.sqrt(1 + 16 * 0.1)) / 2)
    model = est.energy_model_
    np.testing.assert_allclose(model.log_std.detach().numpy(), predicted, atol=OPTIMISATION_TOL)
    np.testing.assert_allclose(model.mean.detach().numpy(), 0.0, atol=OPTIMISATION_TOL)
