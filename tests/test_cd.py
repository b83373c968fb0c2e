"""ContrastiveDivergenceEstimator: API, validation, replay buffer, step-size adaptation and
parameter recovery."""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from adesk.datasets import make_toy
from adesk.energies import MLP
from adesk.estimators._cd import _TARGET_ACCEPTANCE, ContrastiveDivergenceEstimator
from adesk.samplers import GHMC, HMC, Langevin

from ._configs import fast_cd


def hmc(**fields):
    """The fast chain of ``fast_cd`` (3 HMC transitions of 2 leapfrog steps) with ``fields``."""
    return HMC(**{"n_steps": 2, "n_transitions": 3, **fields})


def langevin(**fields):
    """A chain of three single Langevin steps with ``fields``."""
    return Langevin(**{"n_steps": 1, "n_transitions": 3, **fields})


@pytest.fixture(scope="module")
def moons():
    return make_toy("moons", 300, random_state=0)


@pytest.fixture(scope="module")
def fitted(moons):
    return fast_cd(max_iter=20).fit(moons)


@parametrize_with_checks(
    [
        fast_cd(),
        fast_cd(sampler=langevin()),
        fast_cd(sampler=langevin(metropolis=False, adaptation="fixed")),
        fast_cd(replay_buffer_size=64, energy_penalty=0.1),
        fast_cd(sampler=langevin(), replay_buffer_size=8, reinit_probability=1.0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_fit_sets_fitted_attributes_and_history(moons):
    est = fast_cd()
    assert est.fit(moons) is est
    for name in [
        "energy_model_",
        "step_size_",
        "replay_buffer_",
        "n_divergences_",
        "log_partition_",
        "loss_curve_",
        "history_",
        "n_iter_",
    ]:
        assert hasattr(est, name), name
    assert est.replay_buffer_ is None
    assert isinstance(est.step_size_, np.ndarray) and est.step_size_.shape == (1, 1)
    assert est.step_size_.item() > 0
    assert est.n_divergences_ == 0 and est.n_iter_ == 8
    assert set(est.history_) == {
        "loss_energy",
        "energy_data",
        "energy_samples",
        "energy_gap",
        "acceptance_rate",
        "step_size",
    }
    assert all(len(values) == 8 for values in est.history_.values())
    # The reported loss is the contrast of the two mean energies.
    np.testing.assert_allclose(
        est.history_["loss_energy"],
        np.subtract(est.history_["energy_data"], est.history_["energy_samples"]),
        rtol=1e-5,
        atol=1e-6,
    )
    assert est.sample(5, random_state=0).shape == (5, 2)
    assert np.isfinite(est.score(moons))


def test_reproducible_and_sample_deterministic(moons):
    a = fast_cd(random_state=3, replay_buffer_size=64).fit(moons)
    b = fast_cd(random_state=3, replay_buffer_size=64).fit(moons)
    np.testing.assert_array_equal(a.score_samples(moons), b.score_samples(moons))
    assert torch.equal(a.replay_buffer_, b.replay_buffer_)
    np.testing.assert_array_equal(a.sample(20, random_state=1), b.sample(20, random_state=1))
    np.testing.assert_array_equal(a.sample(20, random_state=1), a.sample(20, random_state=1))
    assert not np.array_equal(a.sample(20, random_state=1), a.sample(20, random_state=2))
    c = fast_cd(random_state=4, replay_buffer_size=64).fit(moons)
    assert not np.array_equal(a.score_samples(moons), c.score_samples(moons))


def test_global_rng_untouched(moons):
    np_state = np.random.get_state()  # noqa: NPY002
    torch_state = torch.random.get_rng_state()
    est = fast_cd(random_state=None, replay_buffer_size=64).fit(moons)
    est.sample(5)
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # noqa: NPY002
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_grid_search_and_pipeline(moons):
    grid = {"sampler": [hmc(), langevin()], "replay_buffer_size": [0, 64]}
    search = GridSearchCV(fast_cd(), grid, cv=2).fit(moons)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_["sampler"] in grid["sampler"]
    # The sampler's fields are reachable as nested parameters.
    search = GridSearchCV(fast_cd(), {"sampler__step_size": [0.05, 0.2]}, cv=2).fit(moons)
    assert search.best_params_["sampler__step_size"] in (0.05, 0.2)
    assert search.best_estimator_.get_params()["sampler__n_transitions"] == 3
    pipe = make_pipeline(StandardScaler(), fast_cd()).fit(moons)
    assert np.isfinite(pipe.score(moons))
    assert pipe.score_samples(moons[:3]).shape == (3,)


def test_clone_and_persistence(moons):
    est = fast_cd(replay_buffer_size=64).fit(moons)
    assert clone(est).get_params() == est.get_params()
    for dump in ("pickle", "joblib"):
        if dump == "pickle":
            restored = pickle.loads(pickle.dumps(est))
        else:
            buffer = io.BytesIO()
            joblib.dump(est, buffer)
            buffer.seek(0)
            restored = joblib.load(buffer)
        np.testing.assert_array_equal(restored.score_samples(moons), est.score_samples(moons))
        assert torch.equal(restored.replay_buffer_, est.replay_buffer_)
        np.testing.assert_array_equal(
            restored.sample(5, random_state=2), est.sample(5, random_state=2)
        )


@pytest.mark.parametrize(
    "params, message",
    [
        ({"sampler": "nuts"}, "'sampler'"),
        ({"sampler": hmc(n_transitions=0)}, "sampler__n_transitions"),
        ({"sampler": hmc(n_transitions=2.5)}, "sampler__n_transitions"),
        ({"sampler": hmc(step_size=0.0)}, "sampler__step_size"),
        ({"sampler": hmc(step_size=-1.0)}, "sampler__step_size"),
        ({"sampler": hmc(n_steps=0)}, "sampler__n_steps"),
        ({"sampler": hmc(adaptation="yes")}, "sampler__adaptation"),
        ({"sampler": hmc(metropolis="yes")}, "sampler__metropolis"),
        ({"sampler": hmc(metropolis=False)}, "sampler__metropolis"),
        ({"sampler": hmc(adaptation="learned")}, "sampler__adaptation"),
        ({"sampler": langevin(metropolis=False, adaptation="acceptance")}, "adaptation"),
        ({"replay_buffer_size": 1.5}, "replay_buffer_size"),
        ({"replay_buffer_size": -1}, "replay_buffer_size"),
        ({"reinit_probability": 1.5}, "reinit_probability"),
        ({"reinit_probability": -0.1}, "reinit_probability"),
        # Restarts only apply to persistent chains.
        ({"reinit_probability": 0.5}, "reinit_probability"),
        ({"energy_penalty": -1.0}, "energy_penalty"),
        ({"sampler": hmc(gradient_clip=0.0)}, "sampler__gradient_clip"),
        ({"sampler": hmc(gradient_clip="none")}, "sampler__gradient_clip"),
        ({"batch_size": 0}, "batch_size"),
        ({"energy_model": MLP((0, 3))}, "energy_model__hidden_layer_sizes"),
    ],
)
def test_parameter_validation_messages(moons, params, message):
    with pytest.raises(ValueError, match=message):
        fast_cd(**params).fit(moons)


def test_sample_validates_n_transitions(fitted):
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="n_transitions"):
            fitted.sample(3, n_transitions=bad)
    assert fitted.sample(3, random_state=0, n_transitions=4).shape == (3, 2)


@pytest.mark.parametrize(
    "sampler, message",
    [
        # Fields of ADE's learned sampler, away from their defaults.
        (HMC(entropy_weight=2.0), "sampler__entropy_weight"),
        (HMC(momentum_clip=None), "sampler__momentum_clip"),
        (HMC(step_size_shape="per_step"), "sampler__step_size_shape"),
        (Langevin(gradient_checkpointing=True), "sampler__gradient_checkpointing"),
        (HMC(sample_clip=1.0), "sampler__sample_clip"),
        (HMC(momentum_penalty=2.0), "sampler__momentum_penalty"),
        # ADE-only samplers.
        (GHMC(), "'sampler'"),
        ("ghmc", "'sampler'"),
        ("deterministic_langevin", "'sampler'"),
    ],
)
def test_ade_only_sampler_settings_are_refused(moons, sampler, message):
    """Contrastive divergence's chains are fixed MCMC: a setting of ADE's learned sampler is
    refused (naming the parameter) rather than silently ignored."""
    with pytest.raises(ValueError, match=message):
        fast_cd(sampler=sampler).fit(moons)


def test_default_sampler_is_cd15_hmc(moons):
    """``sampler="hmc"`` is HMC() with ``n_transitions="auto"``: the old default chain of 15
    transitions of 5 leapfrog steps (the paper's CD-15)."""
    params = {"max_iter": 2, "batch_size": 16}
    by_name = fast_cd(sampler="hmc", **params).fit(moons)
    explicit = fast_cd(sampler=HMC(n_steps=5, n_transitions=15), **params).fit(moons)
    assert ContrastiveDivergenceEstimator().get_params()["sampler"] == "hmc"
    np.testing.assert_array_equal(by_name.score_samples(moons), explicit.score_samples(moons))
    assert by_name.history_ == explicit.history_


def test_hmc_needs_metropolis_but_langevin_may_drop_it(moons):
    """HMC is always corrected (documented); unadjusted Langevin is allowed and never rejects."""
    with pytest.raises(ValueError, match="sampler__metropolis"):
        fast_cd(sampler=hmc(metropolis=False)).fit(moons)
    ula = fast_cd(sampler=langevin(metropolis=False)).fit(moons)
    assert ula.history_["acceptance_rate"] == [1.0] * 8
    # No rejection rate, so adaptation="auto" means a fixed step size.
    assert ula.step_size_.item() == 0.1 and ula.history_["step_size"] == [0.1] * 8


def test_langevin_metropolis_records_acceptance(moons):
    est = fast_cd(sampler=langevin(metropolis=True, step_size=0.5), max_iter=10).fit(moons)
    rates = est.history_["acceptance_rate"]
    assert len(rates) == 10 and all(0.0 <= r <= 1.0 for r in rates)
    assert min(rates) < 1.0  # a real Metropolis test rejects some proposals at this step


@pytest.mark.parametrize("mcmc", ["hmc", "langevin"])
@pytest.mark.parametrize("start", [3.0, 0.05])
def test_step_size_adaptation_moves_toward_target(mcmc, start):
    """From too large a step (acceptance near 0) or too small (near 1) the step size moves so
    that the acceptance approaches the target (0.65 for HMC, 0.574 for MALA)."""
    chain = {"hmc": hmc, "langevin": langevin}[mcmc]
    X = np.random.RandomState(0).normal(size=(500, 2))
    # A fixed (lr ~ 0) Gaussian energy isolates the adaptation from the learning.
    est = fast_cd(
        sampler=chain(step_size=start),
        energy_model="gaussian",
        learning_rate_init=1e-9,
        max_iter=150,
        batch_size=64,
    ).fit(X)
    target = _TARGET_ACCEPTANCE[mcmc]
    steps = np.array(est.history_["step_size"])
    rates = np.array(est.history_["acceptance_rate"])
    assert steps[0] == start
    if start > 1:
        assert rates[0] < target and est.step_size_.item() < start
        assert np.all(np.diff(steps[:10]) < 0)
    else:
        assert rates[0] > target and est.step_size_.item() > start
        assert np.all(np.diff(steps[:10]) > 0)
    assert abs(rates[-10:].mean() - target) < 0.1
    assert abs(rates[-10:].mean() - target) < abs(rates[0] - target)
    frozen = fast_cd(
        sampler=chain(step_size=start, adaptation="fixed"), energy_model="gaussian"
    ).fit(X)
    assert frozen.step_size_.item() == start and set(frozen.history_["step_size"]) == {start}


def test_replay_buffer_reinitialisation_proportion(moons):
    """Over many draws the fraction of restarted chains is reinit_probability within 4
    binomial standard errors; restarted rows are exactly the rows that left the buffer."""
    est = fast_cd(replay_buffer_size=100, batch_size=64, max_iter=1)
    est.fit(moons)
    probability = est.reinit_probability
    assert probability == 0.05
    # A sentinel buffer: any start that is not the sentinel was drawn from N(0, I).
    est.replay_buffer_ = torch.full_like(est.replay_buffer_, 1e3)
    generator = torch.Generator().manual_seed(0)
    n_restarted, n_drawn = 0, 0
    for _ in range(300):
        starts, index, restart = est._buffer_starts(generator)
        assert len(set(index.tolist())) == 64  # distinct rows: writes back are well defined
        moved = (starts != 1e3).all(-1)
        assert torch.equal(moved, restart)
        n_restarted += int(restart.sum())
        n_drawn += restart.numel()
    standard_error = np.sqrt(probability * (1 - probability) / n_drawn)
    assert abs(n_restarted / n_drawn - probability) < 4 * standard_error


def test_replay_buffer_persists_across_partial_fit_and_warm_start(moons):
    est = fast_cd(replay_buffer_size=50, batch_size=100)
    est.partial_fit(moons)
    buffer = est.replay_buffer_
    assert buffer.shape == (50, 2)
    first = buffer.clone()
    est.partial_fit(moons)
    assert est.replay_buffer_ is buffer  # the same chains, updated in place
    assert est.replay_buffer_.shape == (50, 2)
    assert not torch.equal(est.replay_buffer_, first)
    assert est.n_iter_ == 6

    warm = fast_cd(replay_buffer_size=50, warm_start=True).fit(moons)
    buffer = warm.replay_buffer_
    first = buffer.clone()
    step_size = warm.step_size_.item()
    warm.fit(moons)
    assert warm.replay_buffer_ is buffer and warm.replay_buffer_.shape == (50, 2)
    assert not torch.equal(warm.replay_buffer_, first)
    assert warm.history_["step_size"][8] == step_size  # the adapted step size carries over
    # Without warm_start a new fit starts a new buffer (the same one, by random_state).
    cold = fast_cd(replay_buffer_size=50).fit(moons)
    fresh = clone(cold).set_params(max_iter=0).fit(moons).replay_buffer_
    cold.set_params(max_iter=0).fit(moons)
    assert torch.equal(cold.replay_buffer_, fresh)


def test_small_buffer_moves_every_chain(moons):
    """A buffer smaller than batch_size: every stored chain moves every iteration."""
    est = fast_cd(replay_buffer_size=8, reinit_probability=0.0, max_iter=0)
    est.set_params(warm_start=True).fit(moons)
    before = est.replay_buffer_.clone()
    est.set_params(max_iter=1, sampler__step_size=0.5).fit(moons)
    assert est.get_params()["sampler"] == hmc(step_size=0.5)
    assert (est.replay_buffer_ != before).any(-1).sum() >= 6  # all but rejected chains


class _WalledEnergy(torch.nn.Module):
    """A quadratic energy that is infinite beyond x0 = 2.5: proposals there diverge (the
    standardized moons stay below 2.1, so the data's energy is finite)."""

    def __init__(self, n_features):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        wall = torch.where(x[:, 0] > 2.5, torch.full_like(x[:, 0], torch.inf), 0.0)
        return 0.5 * self.scale * x.pow(2).sum(-1) + wall


# The quadrature refuses an energy with infinite values, so log Z is NaN (with a warning) here.
@pytest.mark.filterwarnings("ignore:.*log-partition estimate is not finite:RuntimeWarning")
@pytest.mark.parametrize(
    "sampler",
    [
        hmc(step_size=1.0, adaptation="fixed"),
        langevin(step_size=1.0, adaptation="fixed"),
        langevin(step_size=1.0, adaptation="fixed", metropolis=False),
    ],
)
def test_divergences_are_counted_and_rejected(moons, sampler):
    est = fast_cd(
        energy_model=_WalledEnergy,
        sampler=sampler,
        learning_rate_init=1e-6,
    ).fit(moons)
    assert est.n_divergences_ > 0
    assert np.all(np.isfinite(est.history_["energy_samples"]))


def test_energy_penalty_keeps_energies_small(moons):
    plain = fast_cd(max_iter=60, learning_rate_init=1e-2).fit(moons)
    penalised = fast_cd(max_iter=60, learning_rate_init=1e-2, energy_penalty=1.0).fit(moons)
    assert abs(penalised.history_["energy_data"][-1]) < abs(plain.history_["energy_data"][-1])
    assert abs(penalised.history_["energy_data"][-1]) < 0.5


@pytest.mark.parametrize("n_features", [2, 5])
def test_gaussian_parameter_recovery(n_features):
    """A learnable diagonal Gaussian, moved away from the data's moments, is trained back.

    Standardization makes the initial model the MLE, so the energy is first shifted by one
    standard deviation and shrunk by exp(-0.5) and then trained (warm start, HMC, constant
    seed). Tolerance per coordinate, in units of the true standard deviation (mean) and in
    log units (log-std): 4 MLE standard errors, sqrt(1 / n) and sqrt(1 / (2 n)), plus 0.03 of
    optimisation and CD-chain error, about twice the largest |learned - MLE| measured with this
    budget over seeds 0-2 in 2-D and 5-D (0.017; the errors against the truth were at most
    0.053 for the mean and 0.023 for the log-std).
    """
    rng = np.random.RandomState(0)
    n_samples = 4000
    mean = np.linspace(-1.0, 2.0, n_features)
    std = np.linspace(0.5, 2.0, n_features)
    X = rng.normal(size=(n_samples, n_features)) * std + mean
    est = ContrastiveDivergenceEstimator(
        energy_model="gaussian",
        sampler=HMC(n_steps=3, n_transitions=3),
        learning_rate_init=5e-2,
        max_iter=0,
        warm_start=True,
        random_state=0,
        device="cpu",
    ).fit(X)
    with torch.no_grad():
        est.energy_model_.mean += 1.0
        est.energy_model_.log_std -= 0.5
    est.set_params(max_iter=300).fit(X)
    model = est.energy_model_
    learned_mean = est.mean_ + est.scale_ * model.mean.detach().numpy()
    learned_log_std = np.log(est.scale_) + model.log_std.detach().numpy()
    mean_tolerance = 4 * np.sqrt(1 / n_samples) + 0.03
    log_std_tolerance = 4 * np.sqrt(1 / (2 * n_samples)) + 0.03
    assert np.all(np.abs(learned_mean - mean) / std < mean_tolerance)
    assert np.all(np.abs(learned_log_std - np.log(std)) < log_std_tolerance)


@pytest.mark.parametrize("mcmc", ["hmc", "langevin"])
def test_float64_training(moons, mcmc):
    sampler = {"hmc": hmc(), "langevin": langevin()}[mcmc]
    est = fast_cd(dtype="float64", sampler=sampler, replay_buffer_size=64).fit(moons)
    assert next(est.energy_model_.parameters()).dtype == torch.float64
    assert est.replay_buffer_.dtype == torch.float64
    assert np.isfinite(est.score(moons))
