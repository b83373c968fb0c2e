"""Parameter objects (samplers, q0, energies, log Z): the scikit-learn contract they follow."""

import inspect
import os

import numpy as np
import pytest
from numpydoc.docscrape import ClassDoc
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import adesk
from adesk import ADEDensityEstimator, ContrastiveDivergenceEstimator
from adesk._components import COMPONENT_REGISTRY, Component
from adesk.datasets import make_toy
from adesk.energies import MLP, Conv, DiagonalGaussian
from adesk.initial import Empirical, Flow, Gaussian, Latent
from adesk.partition import AIS, AutoPartition, ImportanceSampling, Quadrature
from adesk.samplers import GHMC, HMC, DeterministicLangevin, Langevin

from ._configs import ESTIMATOR_CLASSES, fast, fast_ade, fast_cd

PUBLIC_COMPONENTS = [
    HMC,
    GHMC,
    Langevin,
    DeterministicLangevin,
    Empirical,
    Gaussian,
    Flow,
    Latent,
    MLP,
    Conv,
    DiagonalGaussian,
    Quadrature,
    ImportanceSampling,
    AIS,
    AutoPartition,
]


@pytest.fixture(scope="module")
def moons():
    return make_toy("moons", 120, random_state=0)


@pytest.mark.parametrize("cls", PUBLIC_COMPONENTS, ids=lambda cls: cls.__name__)
def test_documented_parameters_are_the_constructor_parameters(cls):
    documented = [p.name for p in ClassDoc(cls)["Parameters"]]
    assert sorted(documented) == cls._get_param_names()
    assert COMPONENT_REGISTRY[cls.__name__] is cls


@pytest.mark.parametrize("cls", PUBLIC_COMPONENTS, ids=lambda cls: cls.__name__)
def test_defaults_pass_their_own_validation_and_round_trip_through_get_params(cls):
    component = cls()
    component.validate("part", "Caller")
    copy = cls(**component.get_params())
    assert copy == component and copy is not component
    assert repr(component) == f"{cls.__name__}()"


def test_get_params_and_set_params_reach_nested_fields():
    est = ADEDensityEstimator(sampler=HMC(n_steps=7), energy_model=MLP((8,)))
    params = est.get_params()
    assert params["sampler__n_steps"] == 7
    assert params["energy_model__hidden_layer_sizes"] == (8,)
    est.set_params(sampler__n_steps=3, energy_model__activation="tanh")
    assert est.sampler.n_steps == 3 and est.energy_model.activation == "tanh"
    with pytest.raises(ValueError, match="Invalid parameter 'n_stepz' for HMC"):
        est.set_params(sampler__n_stepz=3)


def test_clone_copies_the_objects_deeply():
    est = ADEDensityEstimator(sampler=GHMC(latent_dim=1), initial=Empirical(noise=0.2))
    copy = clone(est)
    assert copy.sampler is not est.sampler and copy.initial is not est.initial
    assert copy.sampler == est.sampler and copy.initial == est.initial
    copy.set_params(sampler__n_steps=9)
    assert est.sampler.n_steps == 5


def test_strings_stand_for_the_default_objects(moons):
    by_name = fast_ade(sampler="langevin", initial="gaussian", max_iter=3).fit(moons)
    by_object = fast_ade(sampler=Langevin(), initial=Gaussian(), max_iter=3).fit(moons)
    np.testing.assert_array_equal(by_name.score_samples(moons), by_object.score_samples(moons))


def test_fit_leaves_the_objects_untouched(moons):
    sampler = HMC(n_steps=2, n_transitions="auto", adaptation="auto")
    before = sampler.get_params()
    est = fast_ade(sampler=sampler).fit(moons)
    assert est.sampler is sampler and sampler.get_params() == before


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"sampler": HMC(n_steps=0)}, "sampler__n_steps"),
        ({"sampler": GHMC(scale="wide")}, "sampler__scale"),
        ({"initial": Empirical(noise=-1.0)}, "initial__noise"),
        ({"initial": Flow(n_layers=0)}, "initial__n_layers"),
        ({"energy_model": MLP(activation="cubic")}, "energy_model__activation"),
        ({"energy_model": MLP(hidden_layer_sizes=(8, 0))}, "energy_model__hidden_layer_sizes"),
        ({"partition": AIS(n_temperatures=0)}, "partition__n_temperatures"),
        ({"sampler": HMC(step_size=float("inf"))}, "sampler__step_size"),
    ],
)
def test_an_invalid_nested_value_names_its_path_and_the_value(moons, params, path):
    with pytest.raises(ValueError, match=path) as error:
        fast_ade(**params).fit(moons)
    (component,) = params.values()
    field = path.split("__")[1]
    assert repr(getattr(component, field)) in str(error.value)


def test_an_object_of_the_wrong_family_is_refused_by_name(moons):
    with pytest.raises(ValueError, match="'sampler' parameter of ADEDensityEstimator"):
        fast_ade(sampler=Empirical()).fit(moons)
    with pytest.raises(ValueError, match="'sampler'"):
        fast_cd(sampler=GHMC()).fit(moons)


@pytest.mark.parametrize(
    "sampler",
    [HMC(entropy_weight=2.0), HMC(sample_clip=0.5), Langevin(gradient_checkpointing=True)],
    ids=["entropy_weight", "sample_clip", "gradient_checkpointing"],
)
def test_contrastive_divergence_refuses_fields_it_does_not_use(moons, sampler):
    field = sampler.non_default_params()[0]
    with pytest.raises(ValueError, match=f"does not use sampler__{field}"):
        fast_cd(sampler=sampler).fit(moons)


def test_settings_that_would_be_ignored_are_refused(moons):
    with pytest.raises(ValueError, match="initial__hidden_layer_sizes"):
        fast_ade(initial=Flow(hidden_layer_sizes=(8,))).fit(moons)
    with pytest.raises(ValueError, match="replay_buffer_size=0"):
        fast_ade(initial=Empirical(replay_buffer_size=0, reinit_probability=0.5)).fit(moons)
    with pytest.raises(ValueError, match="reinit_probability"):
        fast_cd(reinit_probability=0.5).fit(moons)
    # Fields of one sampler family do not exist on another: no silent ignoring possible.
    with pytest.raises(TypeError):
        HMC(latent_dim=1)


def test_grid_search_over_a_nested_parameter(moons):
    grid = {"sampler__n_steps": [1, 2]}
    search = GridSearchCV(fast_ade(sampler=HMC(n_steps=1), max_iter=3), grid, cv=2).fit(moons)
    assert set(search.cv_results_["param_sampler__n_steps"]) == {1, 2}
    assert search.best_estimator_.sampler.n_steps == search.best_params_["sampler__n_steps"]
    assert search.best_estimator_.sampler_.n_steps == search.best_params_["sampler__n_steps"]


def test_grid_search_over_sampler_objects(moons):
    candidates = [HMC(n_steps=2), GHMC(n_steps=2, latent_dim=1), Langevin(n_steps=2)]
    search = GridSearchCV(fast_ade(max_iter=3), {"sampler": candidates}, cv=2).fit(moons)
    fitted = [type(params["sampler"]).__name__ for params in search.cv_results_["params"]]
    assert fitted == ["HMC", "GHMC", "Langevin"]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # The search cloned the candidates: the grid's objects are not the fitted ones.
    assert all(search.best_estimator_.sampler is not c for c in candidates)


def test_one_vocabulary_across_estimators(moons):
    ade = fast_ade(sampler=HMC(n_steps=2, n_transitions=1)).fit(moons)
    cd = fast_cd(sampler=HMC(n_steps=2, n_transitions=3)).fit(moons)
    for est in (ade, cd):
        assert isinstance(est.step_size_, np.ndarray) and est.step_size_.ndim == 2
        assert est.sample(4, random_state=0, n_transitions=2).shape == (4, 2)
    # ADE's n_transitions are its corrections: 1 transition of n_steps=2 leapfrog steps more
    # than without them per iteration; CD's are k of CD-k.
    assert cd._hp.n_transitions == 3 and ade._hp.n_mcmc_steps == 1
    # Persistent chains have one name: replay_buffer_size (ADE's Empirical and CD).
    pcd = fast_cd(replay_buffer_size=32).fit(moons)
    assert tuple(pcd.replay_buffer_.shape) == (32, 2)


def test_ade_has_at_most_30_parameters():
    assert len(inspect.signature(ADEDensityEstimator).parameters) <= 30
    for cls in ESTIMATOR_CLASSES:
        assert len(inspect.signature(cls).parameters) <= 30


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda cls: cls.__name__)
def test_saved_files_keep_the_objects(moons, tmp_path, cls):
    est = fast(cls, max_iter=2).fit(moons)
    path = os.path.join(tmp_path, "model.pt")
    est.save(path)
    loaded = adesk.load(path)
    for name, value in est.get_params(deep=False).items():
        if isinstance(value, Component):
            assert getattr(loaded, name) == value and getattr(loaded, name) is not value
    np.testing.assert_allclose(loaded.score_samples(moons), est.score_samples(moons))


def test_cd_chain_kinds_follow_the_sampler_object(moons):
    cd = ContrastiveDivergenceEstimator(
        sampler=Langevin(n_steps=1, n_transitions=4, metropolis=False),
        energy_model=MLP((8,)),
        max_iter=2,
        partition=Quadrature(16),
        random_state=0,
    ).fit(moons)
    # Unadjusted Langevin has no acceptance rate, so "auto" keeps the step size fixed.
    assert cd.step_size_.item() == pytest.approx(0.1)
    with pytest.raises(ValueError, match="sampler__metropolis"):
        fast_cd(sampler=HMC(metropolis=False)).fit(moons)
    with pytest.raises(ValueError, match="adaptation='learned'"):
        fast_cd(sampler=HMC(adaptation="learned")).fit(moons)


def test_moving_average_and_early_stopping_are_not_silently_combined(moons):
    # "auto" would hold out a split on this small set; with ema_decay it leaves the average in
    # charge instead of ignoring it.
    assert fast_ade(max_iter=100, validation_interval=10).fit(moons).early_stopping_
    averaged = fast_ade(max_iter=100, validation_interval=10, ema_decay=0.9).fit(moons)
    assert not averaged.early_stopping_
    with pytest.raises(ValueError, match="early_stopping=True .* ema_decay=0.9"):
        fast_ade(early_stopping=True, ema_decay=0.9).fit(moons)


def test_q0_noise_learning_without_effect_is_refused(moons):
    with pytest.raises(ValueError, match="initial__learn_noise=False has no effect"):
        fast_ade(initial=Empirical(max_points=50, learn_noise=False)).fit(moons)
    # Without a replay buffer the chains start from q0 and its noise setting is used.
    frozen_noise = fast_ade(
        initial=Empirical(max_points=50, learn_noise=False, replay_buffer_size=0),
        sampler=HMC(n_steps=2, adaptation="learned"),
    ).fit(moons)
    assert not any(p.requires_grad for p in frozen_noise.initial_.parameters())
