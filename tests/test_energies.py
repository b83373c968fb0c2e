"""Energy modules: shapes, the base measure, options."""

import pytest
import torch

from adesk.energies import GaussianEnergy, MLPEnergy


@pytest.mark.parametrize("activation", ["relu", "silu", "softplus", "tanh", "elu", "leaky_relu"])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_mlp_energy_shapes(activation, spectral_norm):
    energy = MLPEnergy(3, (8, 4), activation=activation, spectral_norm=spectral_norm)
    out = energy(torch.randn(5, 3))
    assert out.shape == (5,)
    out.sum().backward()


def test_base_precision_adds_quadratic():
    torch.manual_seed(0)
    plain = MLPEnergy(2, (8,), base_precision=0.0)
    based = MLPEnergy(2, (8,), base_precision=0.5)
    based.load_state_dict(plain.state_dict())
    x = torch.randn(6, 2)
    torch.testing.assert_close(based(x) - plain(x), 0.25 * x.pow(2).sum(-1))


def test_mlp_energy_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        MLPEnergy(2, (4,), activation="swish")


def test_gaussian_energy_learnable_and_log_partition():
    energy = GaussianEnergy(torch.zeros(3), torch.tensor([1.0, 2.0, 0.5]), learnable=True)
    assert {name for name, _ in energy.named_parameters()} == {"mean", "log_std"}
    expected = torch.log(torch.tensor([1.0, 2.0, 0.5])).sum() + 1.5 * torch.log(
        torch.tensor(2 * torch.pi)
    )
    torch.testing.assert_close(energy.log_partition(), expected)
