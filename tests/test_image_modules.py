"""Image model pieces: the convolutional energy and the deep latent initial distribution."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from adesk.energies._conv import ConvEnergy
from adesk.initial._image_latent import ImageLatentInitial

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
SMALL = {"channels": (4, 8, 16)}


def _n_pixels(shape):
    return math.prod(shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_conv_energy_output_shape(shape):
    energy = ConvEnergy(shape)
    out = energy(torch.randn(2, _n_pixels(shape)))
    assert out.shape == (2,)
    assert torch.isfinite(out).all()


def test_conv_energy_follows_table_4a():
    energy = ConvEnergy((1, 28, 28), spectral_norm=False)
    kinds = [type(m).__name__ for m in energy.features]
    assert kinds == [
        *["Conv2d", "LeakyReLU"] * 2,
        "AvgPool2d",
        *["Conv2d", "LeakyReLU"] * 2,
        "AvgPool2d",
        "Conv2d",
        "LeakyReLU",
        "AdaptiveAvgPool2d",
        "Flatten",
    ]
    widths = [m.out_channels for m in energy.features if isinstance(m, nn.Conv2d)]
    assert widths == [64, 128, 128, 256, 256]
    assert energy.head.in_features == 256 and energy.head.out_features == 1


def test_conv_energy_skips_pools_on_tiny_images():
    # 2x2 images: pooling would reach 1x1, so both pools are skipped.
    energy = ConvEnergy((1, 2, 2), channels=(2, 3, 4))
    assert not any(isinstance(m, nn.AvgPool2d) for m in energy.features)
    # 4x4: one pool (4 -> 2), the second would reach 1.
    energy = ConvEnergy((1, 4, 4), channels=(2, 3, 4))
    assert sum(isinstance(m, nn.AvgPool2d) for m in energy.features) == 1
    assert energy(torch.randn(3, 16)).shape == (3,)


def test_conv_energy_spectral_norm_on_every_layer():
    torch.manual_seed(0)
    energy = ConvEnergy((1, 8, 8))
    layers = [m for m in energy.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 6
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    x = torch.randn(1, 64)
    for _ in range(50):  # one power iteration per layer and train-mode forward pass
        energy(x)
    energy.eval()
    with torch.no_grad():
        sigmas = [
            torch.linalg.matrix_norm(m.weight.reshape(m.weight.shape[0], -1), ord=2) for m in layers
        ]
    # The power iteration underestimates sigma_max, so the normalised norm approaches 1 from
    # above; 50 iterations bring the default layers within 1% (measured: at most 1.007 after 20).
    for sigma in sigmas:
        assert 1.0 - 1e-4 < float(sigma) < 1.01

    plain = ConvEnergy((1, 8, 8), spectral_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())


def test_conv_energy_differentiable_in_input():
    torch.manual_seed(0)
    energy = ConvEnergy((1, 4, 4), channels=(2, 3), base_precision=0.5).double().eval()
    x = torch.randn(3, 16, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(energy(x).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert torch.autograd.gradcheck(energy, (x,))


def test_conv_energy_base_precision_and_batch_shape():
    torch.manual_seed(0)
    energy = ConvEnergy((1, 4, 4), channels=(2,)).eval()
    shifted = ConvEnergy((1, 4, 4), channels=(2,), base_precision=2.0).eval()
    shifted.load_state_dict(energy.state_dict())
    x = torch.randn(2, 5, 16)
    assert energy(x).shape == (2, 5)
    torch.testing.assert_close(shifted(x) - energy(x), x.pow(2).sum(-1))
    with pytest.raises(ValueError, match="16 features"):
        energy(torch.randn(2, 15))


@pytest.mark.parametrize("shape", SHAPES)
def test_image_latent_output_shapes(shape):
    q0 = ImageLatentInitial(shape)
    x, v, log_q = q0.sample(2, torch.Generator().manual_seed(0))
    assert x.shape == (2, _n_pixels(shape))
    assert v.shape == (2, 128) and q0.momentum_dim == q0.latent_dim == 128
    assert log_q.shape == (2,) and torch.isfinite(log_q).all()
    assert q0.log_noise_std.shape == (_n_pixels(shape),)


@pytest.mark.parametrize(
    ("shape", "start", "n_deconv"), [((1, 8, 8), 4, 1), ((1, 28, 28), 7, 2), ((3, 32, 32), 4, 3)]
)
def test_image_latent_upsampling_plan(shape, start, n_deconv):
    q0 = ImageLatentInitial(shape, latent_dim=2, channels=(4, 3, 2))
    unflatten = q0.decoder[1]
    assert tuple(unflatten.unflattened_size) == (8, start, start)
    deconvs = [m for m in q0.decoder if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in deconvs] == [4, 3, 2][:n_deconv]
    assert q0.decoder[-3].out_channels == shape[0]


def _reference_log_prob(q0, x, v):
    # Independent of the module's own formula: torch.distributions on the decoder mean.
    mean = q0.decoder(v)
    log_q = torch.distributions.Normal(mean, q0.log_noise_std.exp()).log_prob(x).sum(-1)
    prior = torch.distributions.Normal(0.0, 1.0 / math.sqrt(q0.momentum_penalty))
    return log_q + prior.log_prob(v).sum(-1)


@pytest.mark.parametrize("output", ["tanh", "none"])
def test_image_latent_log_prob_exact_in_eval_mode(output):
    torch.manual_seed(0)
    q0 = ImageLatentInitial(
        (1, 8, 8), latent_dim=5, momentum_penalty=2.0, output=output, **SMALL
    ).double()
    # Move the running statistics off their initial values so eval mode really uses them.
    q0.sample(16, torch.Generator().manual_seed(1))
    q0.eval()
    with torch.no_grad():
        q0.log_noise_std.add_(0.1 * torch.randn(64, dtype=torch.float64))
    x, v, log_q = q0.sample(6, torch.Generator().manual_seed(2))
    reference = _reference_log_prob(q0, x, v)
    torch.testing.assert_close(q0.log_prob(x, v), reference)
    torch.testing.assert_close(log_q, reference)
    prior = torch.distributions.Normal(0.0, 1.0 / math.sqrt(2.0)).log_prob(v).sum(-1)
    torch.testing.assert_close(q0.conditional_log_prob(x, v), reference - prior)
    torch.testing.assert_close(q0.entropy(log_q), -reference.mean())
    if output == "tanh":
        assert q0.decoder(v).abs().max() <= 1.0


def test_image_latent_train_mode_density_given_batch_statistics():
    torch.manual_seed(0)
    q0 = ImageLatentInitial((1, 8, 8), latent_dim=5, **SMALL).double()
    x, v, log_q = q0.sample(8, torch.Generator().manual_seed(0))
    # Same batch, same batch statistics: log_prob reproduces the sampler's log_q.
    torch.testing.assert_close(q0.log_prob(x, v), log_q)
    # A sub-batch has other statistics, so its density differs (the documented caveat).
    assert not torch.allclose(q0.log_prob(x[:3], v[:3]), log_q[:3])


def test_image_latent_sample_is_reparametrized():
    q0 = ImageLatentInitial((1, 8, 8), latent_dim=5, **SMALL)
    x, _, log_q = q0.sample(4, torch.Generator().manual_seed(0))
    (x.sum() + q0.entropy(log_q)).backward()
    assert torch.isfinite(q0.log_noise_std.grad).all() and q0.log_noise_std.grad.abs().sum() > 0
    assert q0.decoder[0].weight.grad.abs().sum() > 0


def test_image_latent_generator_determinism_and_global_rng():
    q0 = ImageLatentInitial((1, 8, 8), latent_dim=5, **SMALL)
    state = torch.get_rng_state()
    first = q0.sample(3, torch.Generator().manual_seed(7))
    second = q0.sample(3, torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    other = q0.sample(3, torch.Generator().manual_seed(8))
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize("learn", [True, False])
def test_image_latent_learn_noise_flag(learn):
    q0 = ImageLatentInitial(
        (1, 4, 4), latent_dim=2, channels=(2,), noise_std=0.3, learn_noise=learn
    )
    names = {name for name, _ in q0.named_parameters()}
    assert ("log_noise_std" in names) is learn
    torch.testing.assert_close(q0.log_noise_std, torch.full((16,), math.log(0.3)))


@pytest.mark.parametrize(
    "bad", [(1, 8), (0, 8, 8), (1, -8, 8), (1.5, 8, 8), (True, 8, 8), 8, "1x8"]
)
def test_invalid_image_shape_raises(bad):
    with pytest.raises(ValueError, match="image_shape"):
        ConvEnergy(bad)
    with pytest.raises(ValueError, match="image_shape"):
        ImageLatentInitial(bad)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"channels": ()}, "channels"),
        ({"noise_std": 0.0}, "noise_std"),
        ({"momentum_penalty": -1.0}, "momentum_penalty"),
        ({"output": "sigmoid"}, "output"),
    ],
)
def test_image_latent_invalid_parameters_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ImageLatentInitial((1, 4, 4), **kwargs)


def test_conv_energy_invalid_channels_raise():
    with pytest.raises(ValueError, match="channels"):
        ConvEnergy((1, 4, 4), channels=(4, 0))
