"""ADEDensityEstimator: API behaviour, validation, reproducibility, persistence."""

import io
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import torch
from scipy.integrate import trapezoid
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from adesk import ADEDensityEstimator
from adesk.datasets import make_toy
from adesk.energies import MLP
from adesk.initial import Empirical, Flow, Gaussian
from adesk.partition import AutoPartition
from adesk.samplers import GHMC, HMC, DeterministicLangevin, Langevin
from adesk.training import SampleRecorder, TrainingDivergedError

from ._configs import fast_ade


@pytest.fixture(scope="module")
def moons():
    return make_toy("moons", 300, random_state=0)


@pytest.fixture(scope="module")
def fitted(moons):
    return fast_ade(max_iter=30).fit(moons)


def test_fit_returns_self_and_sets_fitted_attributes(moons):
    est = fast_ade()
    assert est.fit(moons) is est
    for name in [
        "energy_model_",
        "sampler_",
        "initial_",
        "log_partition_",
        "log_partition_std_",
        "n_iter_",
        "converged_",
        "loss_curve_",
        "history_",
        "step_size_",
        "n_divergences_",
        "n_features_in_",
        "mean_",
        "scale_",
        "partition_method_",
    ]:
        assert hasattr(est, name), name
    assert est.n_iter_ == 8
    assert len(est.loss_curve_) == 8
    assert est.partition_method_ == "quadrature"
    # One step size under the default acceptance rule, one per step and dimension when learned.
    assert est.step_size_.shape == (2, 1)
    assert np.all(est.step_size_ > 0)


def test_output_shapes_and_types(fitted, moons):
    energy = fitted.energy(moons[:7])
    assert energy.shape == (7,) and energy.dtype == np.float64
    log_density = fitted.score_samples(moons[:7])
    np.testing.assert_allclose(log_density, -energy - fitted.log_partition_)
    assert fitted.score(moons) == pytest.approx(fitted.score_samples(moons).mean())
    samples = fitted.sample(11, random_state=0)
    assert isinstance(samples, np.ndarray) and samples.shape == (11, 2)


def test_score_samples_is_a_normalized_density(fitted):
    """Integrating exp(score_samples) over the quadrature box gives one."""
    (x0, x1), (y0, y1) = fitted.partition_info_["bounds"]
    xs, ys = np.linspace(x0, x1, 301), np.linspace(y0, y1, 301)
    grid = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
    density = np.exp(fitted.score_samples(grid)).reshape(301, 301)
    total = trapezoid(trapezoid(density, ys, axis=1), xs)
    assert total == pytest.approx(1.0, abs=0.02)


def test_reproducible_with_same_random_state(moons):
    a = fast_ade(random_state=3).fit(moons)
    b = fast_ade(random_state=3).fit(moons)
    np.testing.assert_array_equal(a.score_samples(moons), b.score_samples(moons))
    np.testing.assert_array_equal(a.sample(20, random_state=1), b.sample(20, random_state=1))
    np.testing.assert_array_equal(a.sample(20, random_state=1), a.sample(20, random_state=1))
    assert not np.array_equal(a.sample(20, random_state=1), a.sample(20, random_state=2))
    c = fast_ade(random_state=4).fit(moons)
    assert not np.array_equal(a.score_samples(moons), c.score_samples(moons))


def test_global_rng_untouched(moons):
    np_state = np.random.get_state()  # noqa: NPY002
    torch_state = torch.random.get_rng_state()
    est = fast_ade(random_state=None).fit(moons)
    est.sample(5)
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # noqa: NPY002
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_random_state_instance_accepted(moons):
    est = fast_ade(random_state=np.random.RandomState(0)).fit(moons)
    assert np.isfinite(est.score(moons))


@pytest.mark.parametrize(
    "initial",
    [
        pytest.param(Empirical(max_points=50, replay_buffer_size=64), id="data"),
        pytest.param("gaussian", id="gaussian-buffer"),
        pytest.param(Gaussian(replay_buffer_size=0), id="gaussian-restarts"),
    ],
)
@pytest.mark.parametrize("gradient", ["bptt", "truncated"])
def test_initial_and_gradient_options_train(moons, initial, gradient):
    # Behind a replay buffer, HMC under the acceptance rule has nothing to train through the
    # trajectory; with the paper's restarts from q0 the sampler objective trains q0.
    frozen = initial != Gaussian(replay_buffer_size=0)
    if frozen:
        with pytest.raises(ValueError, match="sampler_updates set, but nothing in this"):
            fast_ade(initial=initial, gradient=gradient, sampler_updates=2).fit(moons)
    est = fast_ade(initial=initial, gradient=gradient, sampler_updates=1 if frozen else 2)
    est.fit(moons)
    assert np.isfinite(est.score(moons))
    assert set(est.history_) >= {"loss_energy", "loss_sampler", "step_size"}
    assert bool(est._sampler_parameters()) != frozen


def test_parametric_q0_behind_a_buffer_is_fitted_to_the_model(moons):
    """With persistent chains a parametric q0 only starts and restarts them, and is trained on
    its own draws by KL(q0 || p); the paper's scheme (restarts every iteration) trains it
    through the dynamics instead. Either way its parameters move, and the chains persist
    only in the first."""
    start = fast_ade(initial="gaussian", max_iter=0).fit(moons)
    before = [p.detach().clone() for p in start.initial_.parameters()]
    buffered = fast_ade(initial="gaussian", max_iter=30).fit(moons)
    assert buffered.replay_buffer_ is not None and buffered._initial_parameters_by_kl()
    moved = [not torch.allclose(a, b) for a, b in zip(before, buffered.initial_.parameters())]
    assert any(moved)
    restarts = fast_ade(initial=Gaussian(replay_buffer_size=0), max_iter=30).fit(moons)
    assert restarts.replay_buffer_ is None and not restarts._initial_parameters_by_kl()
    assert restarts._sampler_parameters()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sampler_learning_rate", 1e-3),
        ("sampler_updates", 3),
        ("sampler__entropy_weight", 0.5),
        ("sampler__gradient_checkpointing", True),
    ],
)
def test_sampler_learning_settings_are_refused_when_nothing_learns(moons, field, value):
    def build(adaptation):
        sampler_fields = {"n_steps": 2, "adaptation": adaptation}
        if field.startswith("sampler__"):
            sampler_fields[field.split("__")[1]] = value
            return fast_ade(sampler=HMC(**sampler_fields))
        return fast_ade(sampler=HMC(**sampler_fields), **{field: value})

    for adaptation in ("fixed", "acceptance"):
        with pytest.raises(ValueError, match=f"{field} set, but nothing in this sampler"):
            build(adaptation).fit(moons)
    # The same setting is accepted (and used) once the step sizes are learned.
    assert np.isfinite(build("learned").fit(moons).score(moons))


def test_step_size_adaptation_modes(moons):
    """ "learned" moves each step size by its own gradient, "fixed" keeps them, and
    "acceptance" moves them all by one factor: down from a step that is far too large."""
    learned = fast_ade(
        max_iter=20, learning_rate_init=1e-2, sampler=HMC(n_steps=2, adaptation="learned")
    ).fit(moons)
    assert not np.allclose(learned.step_size_, 0.1)
    frozen = fast_ade(max_iter=20, sampler=HMC(n_steps=2, adaptation="fixed")).fit(moons)
    np.testing.assert_allclose(frozen.step_size_, 0.1, rtol=1e-6)
    adapted = fast_ade(
        max_iter=20, sampler=HMC(n_steps=2, step_size=3.0, adaptation="acceptance")
    ).fit(moons)
    assert np.all(adapted.step_size_ < 3.0)
    np.testing.assert_allclose(adapted.step_size_, adapted.step_size_.flat[0], rtol=1e-5)
    assert not any(p.requires_grad for p in adapted.sampler_.parameters())
    assert learned.step_size_.shape == (2, 2) and adapted.step_size_.shape == (2, 1)


def test_auto_adaptation_learns_only_without_metropolis(moons):
    hmc = fast_ade(max_iter=2).fit(moons)
    assert hmc._step_size_adaptation() == "acceptance"
    ghmc = fast_ade(max_iter=2, sampler=GHMC(n_steps=2)).fit(moons)
    assert ghmc._step_size_adaptation() == "learned"
    assert ghmc.sampler_.log_step_size.requires_grad


def test_importance_partition_agrees_with_quadrature(moons):
    """Two independent normalisers of the same fitted energy agree within their errors."""
    partition = AutoPartition(resolution=400, n_samples=64, n_temperatures=10)
    est = fast_ade(max_iter=30, partition=partition).fit(moons)
    assert est.partition_method_ == "quadrature"
    quadrature = est.log_partition_
    estimate = est.estimate_log_partition(method="importance", n_samples=20000)
    assert estimate["method"] == "importance"
    tolerance = 4 * estimate["log_partition_std"] + 5e-3
    assert abs(estimate["log_partition"] - quadrature) < tolerance
    assert estimate["effective_sample_size"] > 100


def test_higher_dimension_auto_follows_the_ess_rule():
    """In d > 2, "auto" keeps importance sampling only when its ESS is >= 10% of the draws."""
    X = np.random.RandomState(0).normal(size=(200, 4))
    est = fast_ade().fit(X)
    info = est.partition_info_
    if est.partition_method_ == "importance":
        assert info["effective_sample_size"] >= 0.1 * info["n_samples"]
    else:
        assert est.partition_method_ == "ais"
        assert info["importance_effective_sample_size"] < 0.1 * info["importance_n_samples"]
    assert np.isfinite(est.log_partition_) and est.log_partition_std_ >= 0
    assert est.sample(3, random_state=0).shape == (3, 4)


def test_one_feature_quadrature():
    X = np.random.RandomState(0).normal(size=(100, 1))
    est = fast_ade(max_iter=20).fit(X)
    assert est.partition_method_ == "quadrature"
    assert np.isfinite(est.score(X))


def test_grid_search_and_pipeline(moons):
    search = GridSearchCV(fast_ade(), {"sampler__n_steps": [1, 3]}, cv=3).fit(moons)
    assert search.best_params_["sampler__n_steps"] in (1, 3)
    assert np.isfinite(search.best_score_)
    pipe = make_pipeline(StandardScaler(), fast_ade()).fit(moons)
    assert np.isfinite(pipe.score(moons))
    assert pipe.score_samples(moons[:3]).shape == (3,)


def test_clone_and_params():
    est = fast_ade(sampler=HMC(n_steps=4))
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert copy.get_params()["sampler__n_steps"] == 4
    copy.set_params(sampler__n_steps=6)
    assert copy.sampler.n_steps == 6 and est.sampler.n_steps == 4


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_persistence_round_trip(fitted, moons, dump):
    if dump == "pickle":
        restored = pickle.loads(pickle.dumps(fitted))
    else:
        buffer = io.BytesIO()
        joblib.dump(fitted, buffer)
        buffer.seek(0)
        restored = joblib.load(buffer)
    np.testing.assert_array_equal(restored.score_samples(moons), fitted.score_samples(moons))
    np.testing.assert_array_equal(
        restored.sample(10, random_state=5), fitted.sample(10, random_state=5)
    )


def test_warm_start_and_partial_fit(moons):
    est = fast_ade(warm_start=True).fit(moons)
    weights = [p.detach().clone() for p in est.energy_model_.parameters()]
    est.fit(moons)
    assert est.n_iter_ == 16
    assert any(not torch.equal(a, b) for a, b in zip(weights, est.energy_model_.parameters()))
    partial = fast_ade(batch_size=100)
    partial.partial_fit(moons)
    assert partial.n_iter_ == 3
    partial.partial_fit(moons)
    assert partial.n_iter_ == 6
    assert np.isfinite(partial.score(moons))


def test_float64_training(moons):
    est = fast_ade(dtype="float64").fit(moons)
    assert next(est.energy_model_.parameters()).dtype == torch.float64
    assert np.isfinite(est.score(moons))


def test_verbose_prints_progress(moons, capsys):
    fast_ade(verbose=2, max_iter=3).fit(moons)
    out = capsys.readouterr().out
    assert re.search(r"iter\s+3 .*loss_energy=", out)


def test_verbose_one_draws_a_progress_bar(moons, capsys):
    fast_ade(verbose=1, max_iter=3).fit(moons)
    captured = capsys.readouterr()
    assert captured.out == ""
    # tqdm's bar when it is installed, adesk's own otherwise: the same fields either way.
    final = captured.err.rstrip("\n").split("\r")[-1]
    assert re.match(r"ADEDensityEstimator:? 100%\|.+\| 3/3 \[.*it/s, loss_energy=", final)
    assert captured.err.count(" 3/3 ") == 1  # the final state is drawn once


def test_callbacks_record_samples(moons):
    recorder = SampleRecorder(every=4, n_samples=10)
    calls = []
    est = fast_ade(callbacks=[recorder, lambda e, i, logs: calls.append(i)]).fit(moons)
    assert [it for it, _ in recorder.snapshots] == [4, 8]
    assert recorder.snapshots[0][1].shape == (10, 2)
    assert calls == list(range(1, 9))
    assert est.n_iter_ == 8


def test_divergence_raises_clear_error(moons):
    est = fast_ade(
        learning_rate_init=1e12,
        max_iter=50,
        sampler=HMC(n_steps=2, gradient_clip=None, momentum_clip=None),
    )
    with pytest.raises(TrainingDivergedError, match="diverged at iteration"):
        est.fit(moons * 1e6)


def test_convergence_warning_when_tol_not_met(moons):
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="tol"):
        est = fast_ade(
            tol=1e-12, early_stopping=False, validation_interval=2, n_iter_no_change=2
        ).fit(moons)
    assert est.converged_ is False
    # No criterion asked for (tol=None, no early stopping): nothing is claimed.
    assert fast_ade(early_stopping=False).fit(moons).converged_ is False


INVALID_PARAMS = [
    ({"sampler": HMC(n_steps=0)}, "sampler__n_steps", 0),
    ({"sampler": "nuts"}, "sampler", "nuts"),
    ({"initial": "flow2"}, "initial", "flow2"),
    ({"sampler": HMC(step_size=-1.0)}, "sampler__step_size", -1.0),
    ({"gradient": "reinforce"}, "gradient", "reinforce"),
    ({"sampler": HMC(step_size_shape="diag")}, "sampler__step_size_shape", "diag"),
    ({"sampler": HMC(momentum_penalty=0)}, "sampler__momentum_penalty", 0),
    ({"batch_size": 0}, "batch_size", 0),
    ({"learning_rate_init": 0.0}, "learning_rate_init", 0.0),
    ({"dtype": "float16"}, "dtype", "float16"),
    ({"energy_model": MLP(activation="swish")}, "energy_model__activation", "swish"),
    ({"partition": "exact"}, "partition", "exact"),
    ({"initial": Empirical(reinit_probability=1.5)}, "initial__reinit_probability", 1.5),
    ({"energy_model": MLP((0, 3))}, "energy_model__hidden_layer_sizes", (0, 3)),
    ({"energy_model": MLP(())}, "energy_model__hidden_layer_sizes", ()),
    ({"device": "tpu9"}, "device", "tpu9"),
    ({"sampler": GHMC(latent_dim=0)}, "sampler__latent_dim", 0),
    (
        {"sampler": GHMC(latent_dim=1, position_map="identity")},
        "sampler__latent_dim",
        1,
    ),
    ({"sampler": GHMC(scale="exp")}, "sampler__scale", "exp"),
    ({"sampler": GHMC(momentum_map="id")}, "sampler__momentum_map", "id"),
    ({"sampler": GHMC(position_map="grad")}, "sampler__position_map", "grad"),
    ({"sampler": DeterministicLangevin(logdet="lanczos")}, "sampler__logdet", "lanczos"),
    ({"sampler": DeterministicLangevin(logdet_terms=0)}, "sampler__logdet_terms", 0),
    ({"sampler": DeterministicLangevin(logdet_probes=0)}, "sampler__logdet_probes", 0),
    ({"initial": Flow(layer="maf")}, "initial__layer", "maf"),
    ({"initial": Flow(n_layers=0)}, "initial__n_layers", 0),
    (
        {"initial": Flow(layer="realnvp", hidden_layer_sizes=(0,))},
        "initial__hidden_layer_sizes",
        (0,),
    ),
    ({"sampler": GHMC(hidden_layer_sizes=(-2,))}, "sampler__hidden_layer_sizes", (-2,)),
    ({"sampler": HMC(metropolis="yes")}, "sampler__metropolis", "yes"),
]


@pytest.mark.parametrize(
    "params, name, given",
    INVALID_PARAMS,
    ids=[f"{name}={given!r}" for _, name, given in INVALID_PARAMS],
)
def test_parameter_validation_messages(moons, params, name, given):
    with pytest.raises(ValueError, match=name) as info:
        fast_ade(**params).fit(moons)
    text = str(info.value)
    # The message also says what was given.
    assert repr(given) in text or str(given) in text, text


def test_quadrature_partition_refused_in_high_dimension():
    X = np.random.RandomState(0).normal(size=(50, 5))
    with pytest.raises(ValueError, match="n_features <= 3"):
        fast_ade(partition="quadrature").fit(X)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_sample_rejects_bad_counts(fitted, bad):
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(bad)


def test_methods_before_fit_raise_not_fitted():
    from sklearn.exceptions import NotFittedError

    est = ADEDensityEstimator()
    for method, args in [
        ("score_samples", (np.zeros((2, 2)),)),
        ("sample", (2,)),
        ("energy", (np.zeros((2, 2)),)),
        ("score", (np.zeros((2, 2)),)),
    ]:
        with pytest.raises(NotFittedError):
            getattr(est, method)(*args)


def test_input_validation(fitted):
    with pytest.raises(ValueError, match="features"):
        fitted.score_samples(np.zeros((3, 3)))
    with pytest.raises(ValueError):
        fitted.score_samples(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="larger than"):
        fast_ade().fit(np.array([[1e30, 0.0], [0.0, 1.0]]))


def test_dataframe_feature_names(moons):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(moons, columns=["a", "b"])
    est = fast_ade().fit(frame)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b"])
    assert np.isfinite(est.score(frame))


def test_ema_decay_returns_averaged_weights(moons):
    plain = fast_ade(max_iter=20).fit(moons)
    averaged = fast_ade(max_iter=20, ema_decay=0.9).fit(moons)
    assert not np.array_equal(plain.energy(moons), averaged.energy(moons))
    assert np.isfinite(averaged.score(moons))
    # With decay 0 the average is the last iterate: identical to no averaging.
    last = fast_ade(max_iter=20, ema_decay=0.0).fit(moons)
    np.testing.assert_allclose(last.energy(moons), plain.energy(moons), rtol=1e-6)


def test_metropolis_acceptance_recorded(moons):
    est = fast_ade(max_iter=5).fit(moons)
    rates = est.history_["acceptance_rate"]
    assert len(rates) == 5 and all(0.0 <= r <= 1.0 for r in rates)


def test_early_stopping_keeps_best_validation_model(moons):
    """The returned model is the one at ``best_iteration_``: a second fit with the same seed
    (same split, same streams, constant rate) that ends exactly there returns the same energy."""
    settings = dict(
        early_stopping=True,
        validation_interval=2,
        n_iter_no_change=3,
        learning_rate_schedule="constant",
        learning_rate_init=0.05,
        partition=AutoPartition(resolution=64, n_samples=64, n_temperatures=10),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = fast_ade(max_iter=60, **settings).fit(moons)
        scores = est.validation_scores_
        assert len(scores) == est.n_iter_ // 2
        assert est.best_iteration_ == 2 * (int(np.argmax(scores)) + 1)
        # This seed's run stops early: the kept model is not the last one.
        assert est.converged_ and est.best_iteration_ < est.n_iter_ < 60
        shorter = fast_ade(max_iter=est.best_iteration_, **settings).fit(moons)
    np.testing.assert_allclose(est.energy(moons[:50]), shorter.energy(moons[:50]), rtol=1e-6)
    assert shorter.validation_scores_ == scores[: len(shorter.validation_scores_)]


def test_early_stopping_validation_fraction_error():
    with pytest.raises(ValueError, match="validation_fraction"):
        fast_ade(early_stopping=True, validation_fraction=0.01).fit(np.zeros((10, 2)))


def test_grid_search_over_samplers_and_initials(moons):
    """The issue's promise: samplers and initial distributions are ordinary grid parameters."""
    grid = {
        "sampler": [HMC(n_steps=2), GHMC(n_steps=2), Langevin(n_steps=2)],
        "initial": [
            Empirical(max_points=50, replay_buffer_size=64),
            "gaussian",
            Flow(n_layers=2),
        ],
    }
    search = GridSearchCV(fast_ade(), grid, cv=2).fit(moons)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 9 and np.all(np.isfinite(scores))
    assert search.best_params_["sampler"] in grid["sampler"]


@pytest.mark.parametrize(
    "params, module",
    [
        ({"sampler": HMC(n_steps=2)}, "HMCEmbedding"),
        ({"sampler": GHMC(n_steps=2, latent_dim=1)}, "GeneralizedHMCEmbedding"),
        ({"sampler": Langevin(n_steps=2)}, "LangevinEmbedding"),
        ({"sampler": DeterministicLangevin(n_steps=2)}, "DeterministicLangevinEmbedding"),
        ({"initial": Flow(layer="realnvp")}, "FlowInitial"),
        ({"initial": "latent"}, "LatentInitial"),
    ],
)
def test_constructor_selects_modules(moons, params, module):
    est = fast_ade(**params).fit(moons)
    names = {type(est.sampler_).__name__, type(est.initial_).__name__}
    assert module in names
    assert np.isfinite(est.score(moons))
    if isinstance(params.get("sampler"), GHMC):
        assert est.sampler_.momentum_dim == 1


@pytest.mark.parametrize(
    "sampler, expected",
    [(HMC, True), (Langevin, True), (GHMC, False)],
    ids=["hmc", "langevin", "ghmc"],
)
def test_metropolis_auto(moons, sampler, expected):
    est = fast_ade(sampler=sampler(n_steps=2)).fit(moons)
    assert est.sampler_.metropolis is expected
    rates = est.history_["acceptance_rate"]
    assert all(0.0 <= r <= 1.0 for r in rates)
    if not expected:
        assert all(r == 1.0 for r in rates)


def test_sampler_parameters_are_learned(moons):
    """The GHMC functions and the Langevin noise scales move under the sampler objective."""
    ghmc = fast_ade(
        sampler=GHMC(n_steps=2), initial="gaussian", max_iter=10, learning_rate_init=1e-2
    )
    ghmc.fit(moons)
    last = ghmc.sampler_.functions.momentum_scale_net[-1].weight
    assert last.abs().sum() > 0  # started at zero
    langevin = fast_ade(
        sampler=Langevin(n_steps=2, adaptation="learned"), max_iter=10, learning_rate_init=1e-2
    )
    langevin.fit(moons)
    start = 0.5 * np.log(0.1)
    assert not np.allclose(langevin.sampler_.log_noise_std.detach().numpy(), start)


def test_langevin_noise_follows_the_adapted_step_by_default(moons):
    """Under the acceptance rule nothing in the Langevin sampler is trained: its noise scales
    are tied to the adapted step (MALA's sqrt(eta)), so no graph is kept for them."""
    est = fast_ade(sampler=Langevin(n_steps=2, step_size=0.05), max_iter=15).fit(moons)
    assert est._sampler_parameters() == []
    assert "log_noise_std" not in dict(est.sampler_.named_parameters())
    steps = est.sampler_.step_sizes().detach()
    assert not torch.allclose(steps, torch.tensor(0.05))  # the rule moved the step
    torch.testing.assert_close(
        est.sampler_.noise_stds().detach(), torch.sqrt(steps).expand(2, moons.shape[1])
    )


def test_sample_mcmc_refinement(fitted):
    plain = fitted.sample(50, random_state=0)
    refined = fitted.sample(50, random_state=0, n_transitions=4)
    again = fitted.sample(50, random_state=0, n_transitions=4)
    assert refined.shape == plain.shape and np.all(np.isfinite(refined))
    np.testing.assert_array_equal(refined, again)
    assert not np.allclose(refined, plain)


def test_mcmc_refinement_targets_the_fitted_energy():
    """Refinement of a fitted quadratic energy: samples keep its moments after many steps."""
    X = np.random.RandomState(0).normal(size=(2000, 2)) * [1.0, 0.5] + [1.0, -2.0]
    est = fast_ade(max_iter=5, energy_model=MLP((4,))).fit(X)
    torch.manual_seed(0)
    with torch.no_grad():  # replace the network by zero: the energy is the base measure only
        for p in est.energy_model_.parameters():
            p.zero_()
    precision = est.energy_model.base_precision
    samples = est.sample(4000, random_state=0, n_transitions=40)
    z = (samples - est.mean_) / est.scale_
    n = len(z)
    std = 1 / np.sqrt(precision)
    assert np.all(np.abs(z.mean(0)) < 4.5 * std / np.sqrt(n))
    assert np.all(np.abs(z.var(0) / std**2 - 1) < 4.5 * np.sqrt(2 / n))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_sample_rejects_bad_transitions(fitted, bad):
    with pytest.raises(ValueError, match="n_transitions"):
        fitted.sample(3, n_transitions=bad)


def test_truncated_training_with_frozen_energy_matches_the_plain_graph(moons, monkeypatch):
    # The fast path freezes the energy's parameters while the sampler runs (truncated
    # gradient); the simple path records the whole graph. Same seed -> same training.
    import contextlib

    import adesk.estimators._ade as ade_module

    fast = fast_ade(gradient="truncated", initial="gaussian", max_iter=6).fit(moons)
    monkeypatch.setattr(ade_module, "frozen_parameters", lambda module: contextlib.nullcontext())
    plain = fast_ade(gradient="truncated", initial="gaussian", max_iter=6).fit(moons)
    for name in fast.history_:
        np.testing.assert_allclose(fast.history_[name], plain.history_[name], rtol=1e-5)
    for p, q in zip(fast.sampler_.parameters(), plain.sampler_.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_empirical_initial_draw_without_density_is_the_same_draw(fitted):
    initial = fitted.initial_
    with_density = initial.sample(50, torch.Generator().manual_seed(3))
    without = initial.sample(50, torch.Generator().manual_seed(3), with_log_prob=False)
    assert torch.equal(with_density[0], without[0]) and torch.equal(with_density[1], without[1])
    assert without[2] is None


@pytest.mark.parametrize(
    "sampler",
    [HMC, GHMC, Langevin, DeterministicLangevin],
    ids=["hmc", "ghmc", "langevin", "deterministic_langevin"],
)
@pytest.mark.parametrize("gradient", ["bptt", "truncated"])
def test_gradient_checkpointing_trains_identically(moons, sampler, gradient):
    # Restarts from q0 (no buffer): the sampler objective runs through the trajectory.
    settings = dict(gradient=gradient, initial=Gaussian(replay_buffer_size=0), max_iter=4)
    plain = fast_ade(sampler=sampler(n_steps=3), **settings).fit(moons)
    checkpointed = fast_ade(
        sampler=sampler(n_steps=3, gradient_checkpointing=True), **settings
    ).fit(moons)
    for name in plain.history_:
        np.testing.assert_allclose(
            checkpointed.history_[name], plain.history_[name], rtol=1e-5, atol=1e-7
        )
    np.testing.assert_allclose(
        checkpointed.score_samples(moons), plain.score_samples(moons), rtol=1e-5
    )


def test_auto_learning_rate_shrinks_with_dimension_and_small_data():
    """4e-3 in two dimensions, 4e-3 * sqrt(2 / d) above (the energy must not outrun the
    chains), and at most 1e-3 below 5,000 training samples (small data sets overfit)."""
    rng = np.random.default_rng(0)

    def rate(est):
        return est._optimizers[0].param_groups[0]["initial_lr"]

    assert rate(fast_ade(max_iter=1).fit(rng.normal(size=(5000, 2)))) == pytest.approx(4e-3)
    assert rate(fast_ade(max_iter=1).fit(rng.normal(size=(5000, 8)))) == pytest.approx(2e-3)
    assert rate(fast_ade(max_iter=1).fit(rng.normal(size=(4999, 2)))) == pytest.approx(1e-3)
    assert rate(fast_ade(max_iter=1).fit(rng.normal(size=(200, 128)))) == pytest.approx(5e-4)
    fixed = fast_ade(max_iter=1, learning_rate_init=1e-2).fit(rng.normal(size=(50, 8)))
    assert rate(fixed) == pytest.approx(1e-2)


def test_sample_more_draws_than_chains_gives_distinct_points(moons):
    """Draws that share a persistent chain are moved apart: without the extra passes, copies
    whose Metropolis test rejects stay identical."""
    est = fast_ade(
        max_iter=5,
        initial=Empirical(max_points=50, replay_buffer_size=16),
        sampler=HMC(n_steps=2, step_size=3.0),
    ).fit(moons)
    draws = est.sample(400, random_state=0)
    assert len(np.unique(draws.round(8), axis=0)) == 400


def test_decorrelation_passes_reuse_the_end_gradient(moons):
    """More draws than chains: the first pass costs ``n_steps + 1`` gradients (its start), each
    of the ``DECORRELATION_PASSES`` after it ``n_steps`` (it starts where the last one ended,
    whose energy and gradient are known)."""
    from adesk.estimators._ade import DECORRELATION_PASSES
    from adesk.training import EnergyEvaluationCounter

    est = fast_ade(
        max_iter=5,
        initial=Empirical(max_points=50, replay_buffer_size=16),
        sampler=HMC(n_steps=3),
    ).fit(moons)
    counter = EnergyEvaluationCounter(est.energy_model_, 400)
    est.sample(400, random_state=0)
    counter.remove()
    assert counter.count == (3 + 1) + DECORRELATION_PASSES * 3


def test_early_stopping_auto_holds_out_a_split_on_small_data_only(moons):
    from adesk.datasets import make_toy

    assert len(moons) < 5000
    small = fast_ade(max_iter=100).fit(moons)
    assert small.early_stopping_ and len(small.validation_scores_) == 2
    # Fewer than 5 validation points, or fewer than two checks: off.
    tiny = fast_ade(max_iter=100).fit(moons[:40])
    assert not tiny.early_stopping_ and not hasattr(tiny, "validation_scores_")
    assert not fast_ade(max_iter=99).fit(moons).early_stopping_
    large = fast_ade(max_iter=100).fit(make_toy("moons", 5000, random_state=0))
    assert not large.early_stopping_
    assert (
        fast_ade(max_iter=4, early_stopping=True, validation_interval=2).fit(moons).early_stopping_
    )
