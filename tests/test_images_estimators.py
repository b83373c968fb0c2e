"""Estimators on images: layouts, the convolutional energy, the image preset and completion."""

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from adesk import ADEDensityEstimator, ContrastiveDivergenceEstimator
from adesk.datasets import load_digits_images
from adesk.energies import MLP, Conv, ConvEnergy
from adesk.initial import Empirical, ImageLatentInitial
from adesk.partition import AIS, AutoPartition
from adesk.samplers import GHMC, HMC


def tiny(**overrides):
    """Tiny training settings (fresh parameter objects): 3 iterations, a 3-temperature AIS."""
    params = dict(
        max_iter=3,
        batch_size=16,
        partition=AIS(n_samples=16, n_temperatures=3),
        random_state=0,
        device="cpu",
    )
    return {**params, **overrides}


def checks_tiny(**overrides):
    """``tiny`` with the automatic log Z (quadrature in 2-D) for the scikit-learn checks."""
    partition = AutoPartition(resolution=16, n_samples=16, n_temperatures=3)
    return tiny(partition=partition, **overrides)


def tiny_ade(**overrides):
    """ADE with a 2-step HMC sampler and the tiny settings."""
    return ADEDensityEstimator(**tiny(sampler=HMC(n_steps=2), **overrides))


def tiny_preset(n_steps=2, **overrides):
    """The image preset with ``n_steps`` GHMC steps (its other sampler settings kept)."""
    est = ADEDensityEstimator.image_preset(**overrides)
    return est.set_params(sampler__n_steps=n_steps)


@pytest.fixture(scope="module")
def digits():
    return load_digits_images()[:300]


@pytest.fixture(scope="module")
def preset_fit(digits):
    return tiny_preset(**tiny()).fit(digits)


@parametrize_with_checks(
    [
        ADEDensityEstimator(energy_model="conv", sampler=HMC(n_steps=2), **checks_tiny()),
        tiny_preset(**checks_tiny()),
    ]
)
def test_sklearn_compatible_image_configurations(estimator, check):
    check(estimator)


def test_image_layout_round_trip(preset_fit, digits):
    est = preset_fit
    assert est.image_shape_ == (1, 8, 8)
    assert est.n_features_in_ == 64
    assert est.sample(5, random_state=0).shape == (5, 1, 8, 8)
    flat = digits.reshape(len(digits), -1)
    np.testing.assert_array_equal(est.score_samples(digits[:20]), est.score_samples(flat[:20]))
    with pytest.raises(ValueError, match="images of shape"):
        est.score_samples(digits[:5].reshape(5, 1, 4, 16))


def test_flat_input_with_image_shape_keeps_the_flat_layout(digits):
    flat = digits.reshape(len(digits), -1)
    est = tiny_ade(energy_model=Conv(image_shape=(1, 8, 8))).fit(flat)
    assert est.image_shape_ == (1, 8, 8)
    assert isinstance(est.energy_model_, ConvEnergy)
    assert est.energy_model_.image_shape == (1, 8, 8)
    assert est.sample(3, random_state=0).shape == (3, 64)


@pytest.mark.parametrize("image_shape", [(1, 8, 7), (2, 8, 8, 1), (0, 8, 8)])
def test_image_shape_is_validated(digits, image_shape):
    flat = digits.reshape(len(digits), -1)
    with pytest.raises(ValueError, match="image_shape"):
        tiny_ade(energy_model=Conv(image_shape=image_shape)).fit(flat)


def test_image_shape_must_match_the_images(digits):
    with pytest.raises(ValueError, match="does not match"):
        tiny_ade(energy_model=Conv(image_shape=(4, 4, 4))).fit(digits)


def test_preset_builds_the_papers_pieces(preset_fit):
    est = preset_fit
    assert isinstance(est.energy_model_, ConvEnergy)
    assert isinstance(est.initial_, ImageLatentInitial)
    assert est.sampler_.momentum_dim == 64
    # Per-pixel step sizes shared by every step.
    step_sizes = est.step_size_
    assert step_sizes.shape[1] == 64
    np.testing.assert_array_equal(step_sizes, np.broadcast_to(step_sizes[:1], step_sizes.shape))
    assert [group["betas"][0] for opt in est._optimizers for group in opt.param_groups] == [0, 0]
    layers = [
        m for m in est.energy_model_.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    samples = est.sample(50, random_state=1)
    # Samples are clipped to the training data's range after every step.
    assert samples.min() >= 0.0 and samples.max() <= 1.0 + 1e-9


def test_nonparametric_preset(digits):
    est = tiny_preset(n_steps=3, nonparametric=True, **tiny())
    est.set_params(initial__replay_buffer_size=32)
    assert isinstance(est.initial, Empirical) and est.sampler.n_steps == 3
    # The nested settings changed; the preset's others stayed.
    assert est.initial.reinit_probability == 0.1 and est.initial.reinit_scale == 2.0
    assert isinstance(est.sampler, GHMC) and est.sampler.momentum_map == "gradient"
    est.fit(digits)
    assert est.replay_buffer_.shape == (32, 64)
    preset = ADEDensityEstimator.image_preset(nonparametric=True)
    assert preset.sampler.n_steps == 60 and preset.initial.replay_buffer_size == 10000


@pytest.mark.parametrize("mask_shape", [(8, 8), (1, 8, 8), (6, 1, 8, 8)], ids=["HW", "CHW", "NCHW"])
def test_complete_never_changes_observed_pixels(preset_fit, digits, mask_shape):
    rng = np.random.default_rng(0)
    mask = rng.random(mask_shape) < 0.5
    X = digits[:6]
    completed, steps = preset_fit.complete(X, mask, n_rounds=3, random_state=0, return_steps=True)
    full_mask = np.broadcast_to(mask, X.shape)
    assert completed.shape == X.shape and len(steps) == 4
    np.testing.assert_array_equal(completed[~full_mask], X[~full_mask])
    for step in steps:
        np.testing.assert_array_equal(step[~full_mask], X[~full_mask])
    # The missing pixels were filled (and moved by the dynamics).
    assert not np.allclose(steps[0][full_mask], steps[-1][full_mask])
    again = preset_fit.complete(X, mask, n_rounds=3, random_state=0)
    np.testing.assert_array_equal(again, completed)


def test_complete_validates_its_arguments(preset_fit, digits):
    with pytest.raises(ValueError, match="mask"):
        preset_fit.complete(digits[:2], np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="n_rounds"):
        preset_fit.complete(digits[:2], np.zeros((8, 8), bool), n_rounds=0)


def test_other_estimators_accept_images(digits):
    est = ContrastiveDivergenceEstimator(
        energy_model="conv",
        standardize="global",
        max_iter=2,
        sampler=HMC(n_transitions=2),
        batch_size=16,
        partition=AIS(n_samples=16, n_temperatures=3),
        random_state=0,
    ).fit(digits)
    assert est.sample(2, random_state=0, n_transitions=2).shape == (2, 1, 8, 8)
    assert np.isfinite(est.score(digits[:50]))


@pytest.mark.parametrize("standardize", ["per_feature", "global", "none"])
def test_standardize_options(standardize):
    X = np.random.default_rng(0).normal(size=(200, 3)) * [1.0, 10.0, 0.1] + 5.0
    est = tiny_ade(standardize=standardize).fit(X)
    if standardize == "per_feature":
        np.testing.assert_allclose(est.scale_, X.std(0))
    elif standardize == "global":
        np.testing.assert_allclose(est.scale_, np.full(3, X.std()))
        np.testing.assert_allclose(est.mean_, np.full(3, X.mean()))
    else:
        np.testing.assert_array_equal(est.scale_, np.ones(3))
        np.testing.assert_array_equal(est.mean_, np.zeros(3))
    assert np.isfinite(est.score(X))


@pytest.mark.parametrize(
    "params",
    [{"energy_model": "conv"}, {"energy_model": MLP(spectral_norm=True)}],
    ids=["conv", "mlp-sn"],
)
def test_spectrally_normalised_energies_pickle(params):
    import pickle

    X = np.random.default_rng(1).normal(size=(120, 4))
    est = tiny_ade(**params).fit(X)
    state = torch.random.get_rng_state()
    restored = pickle.loads(pickle.dumps(est))
    assert torch.equal(state, torch.random.get_rng_state())
    np.testing.assert_array_equal(restored.score_samples(X), est.score_samples(X))
    np.testing.assert_array_equal(restored.sample(5, random_state=3), est.sample(5, random_state=3))


def test_sample_initial_is_q0_alone(preset_fit):
    draws = preset_fit.sample_initial(4, random_state=0)
    assert draws.shape == (4, 1, 8, 8)
    np.testing.assert_array_equal(draws, preset_fit.sample_initial(4, random_state=0))
    assert not np.allclose(draws, preset_fit.sample(4, random_state=0))
    with pytest.raises(ValueError, match="n_samples"):
        preset_fit.sample_initial(0)


def test_preset_uses_a_cheaper_normalisation_budget():
    est = ADEDensityEstimator.image_preset()
    assert est.partition == AutoPartition(n_samples=128, n_temperatures=100)
    est.set_params(partition__n_samples=512)
    assert est.get_params()["partition__n_samples"] == 512
    # Each call builds its own parameter objects: the next preset is unchanged.
    assert ADEDensityEstimator.image_preset().partition.n_samples == 128
