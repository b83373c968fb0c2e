"""Leapfrog layers against exact references: autograd Jacobians, reversibility, conservation."""

import math

import pytest
import torch

from adesk.dynamics import HMCEmbedding, energy_and_gradient, leapfrog_step
from adesk.dynamics._state import PhaseState
from adesk.energies import GaussianEnergy, MLPEnergy


def _mlp_energy(seed=0, d=2):
    torch.manual_seed(seed)
    return MLPEnergy(d, hidden_layer_sizes=(16, 16), activation="tanh").double()


@pytest.mark.parametrize("shape", ["scalar", "per_dimension", "per_step", "per_step_dimension"])
@pytest.mark.parametrize("clip", [None, 0.5])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_embedding_preserves_volume(shape, clip, d):
    energy = _mlp_energy(d=d)
    embedding = HMCEmbedding(
        d, n_steps=4, step_size=0.3, step_size_shape=shape, gradient_clip=clip, momentum_clip=clip
    ).double()
    with torch.no_grad():
        embedding.log_step_size.add_(0.1 * torch.randn_like(embedding.log_step_size))

    def flow(phase):
        state = embedding(energy, phase[:d][None], phase[d:][None], create_graph=True).state
        return torch.cat([state.position[0], state.momentum[0]])

    generator = torch.Generator().manual_seed(1)
    for _ in range(3):
        phase = torch.randn(2 * d, generator=generator, dtype=torch.float64)
        jacobian = torch.autograd.functional.jacobian(flow, phase)
        sign, logabsdet = torch.linalg.slogdet(jacobian)
        assert sign.item() == 1.0
        assert abs(logabsdet.item()) < 1e-6


def test_leapfrog_log_det_is_zero_and_caches_gradient():
    energy = _mlp_energy()
    x = torch.randn(5, 2, dtype=torch.float64)
    e, g = energy_and_gradient(energy, x)
    state = PhaseState(x, torch.randn(5, 2, dtype=torch.float64), e, g)
    new_state, log_det = leapfrog_step(energy, state, 0.1)
    assert torch.all(log_det == 0)
    e_ref, g_ref = energy_and_gradient(energy, new_state.position)
    torch.testing.assert_close(new_state.energy, e_ref)
    torch.testing.assert_close(new_state.energy_grad, g_ref)


def test_one_energy_gradient_per_step():
    calls = []
    base = _mlp_energy()

    def counting_energy(x):
        calls.append(x.shape[0])
        return base(x)

    embedding = HMCEmbedding(2, n_steps=7, step_size=0.1).double()
    embedding(counting_energy, torch.randn(3, 2).double(), torch.randn(3, 2).double())
    assert len(calls) == 7 + 1  # one at x_0, then one per leapfrog step


@pytest.mark.parametrize("momentum_penalty", [1.0, 0.5])
def test_reversible_under_momentum_flip(momentum_penalty):
    energy = _mlp_energy(seed=3)
    embedding = HMCEmbedding(
        2,
        n_steps=6,
        step_size=0.2,
        step_size_shape="per_dimension",
        momentum_penalty=momentum_penalty,
    ).double()
    x0 = torch.randn(8, 2, dtype=torch.float64)
    v0 = torch.randn(8, 2, dtype=torch.float64)
    forward = embedding(energy, x0, v0, create_graph=False).state
    backward = embedding(energy, forward.position, -forward.momentum, create_graph=False).state
    torch.testing.assert_close(backward.position, x0, atol=1e-10, rtol=0)
    torch.testing.assert_close(-backward.momentum, v0, atol=1e-10, rtol=0)


def test_energy_conservation_on_quadratic_energy():
    """Leapfrog's Hamiltonian error on a harmonic oscillator is O(eta^2) and bounded in time."""
    energy = GaussianEnergy(torch.zeros(2), torch.tensor([1.0, 2.0])).double()
    x0 = torch.randn(64, 2, dtype=torch.float64)
    v0 = torch.randn(64, 2, dtype=torch.float64)

    def max_hamiltonian_error(step_size, n_steps):
        embedding = HMCEmbedding(2, n_steps=n_steps, step_size=step_size).double()
        state = embedding(energy, x0, v0, create_graph=False).state
        h0 = energy(x0) + 0.5 * v0.pow(2).sum(-1)
        h1 = state.energy + 0.5 * state.momentum.pow(2).sum(-1)
        return (h1 - h0).abs().max().item()

    coarse = max_hamiltonian_error(0.1, 100)
    fine = max_hamiltonian_error(0.05, 200)
    assert coarse < 0.02
    # Halving the step size divides the error by about four (second-order integrator).
    assert 3.0 < coarse / fine < 5.0
    # Bounded over long times (symplectic): ten times longer, similar error.
    assert max_hamiltonian_error(0.1, 1000) < 2 * coarse


def test_harmonic_oscillator_matches_analytic_solution():
    """For E = x^2/2 the exact flow is a rotation; leapfrog tracks it to O(eta^2)."""
    energy = GaussianEnergy(torch.zeros(1), torch.ones(1)).double()
    x0 = torch.tensor([[1.0]], dtype=torch.float64)
    v0 = torch.tensor([[0.0]], dtype=torch.float64)
    step, n = 0.01, 157  # t = 1.57 ~ pi / 2
    embedding = HMCEmbedding(1, n_steps=n, step_size=step).double()
    state = embedding(energy, x0, v0, create_graph=False).state
    t = step * n
    assert abs(state.position.item() - math.cos(t)) < 1e-4
    assert abs(state.momentum.item() + math.sin(t)) < 1e-4


def test_step_sizes_positive_and_learnable():
    embedding = HMCEmbedding(3, n_steps=5, step_size=0.1, step_size_shape="per_step_dimension")
    assert embedding.step_sizes().shape == (5, 3)
    assert torch.all(embedding.step_sizes() > 0)
    energy = _mlp_energy(d=3).float()
    state = embedding(energy, torch.randn(4, 3), torch.randn(4, 3)).state
    state.energy.mean().backward()
    assert embedding.log_step_size.grad is not None
    assert torch.isfinite(embedding.log_step_size.grad).all()
    frozen = HMCEmbedding(3, n_steps=5, step_size=0.1, learn_step_size=False)
    assert len(list(frozen.parameters())) == 0


def test_clamping_keeps_positions_in_box():
    energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    bounds = (torch.full((2,), -0.5), torch.full((2,), 0.5))
    embedding = HMCEmbedding(2, n_steps=5, step_size=0.5, position_bounds=bounds)
    state = embedding(energy, torch.zeros(50, 2), 3 * torch.randn(50, 2), create_graph=False).state
    assert state.position.abs().max() <= 0.5 + 1e-7


def test_invalid_step_size_shape():
    with pytest.raises(ValueError, match="step_size_shape"):
        HMCEmbedding(2, n_steps=2, step_size=0.1, step_size_shape="diagonal")


def test_metropolis_hmc_leaves_target_invariant():
    """Chains started in N(mu, diag(s^2)) stay there under MH-corrected HMC with a large step."""
    torch.manual_seed(0)
    mean, std = torch.tensor([1.0, -0.5]), torch.tensor([0.5, 2.0])
    energy = GaussianEnergy(mean, std).double()
    embedding = HMCEmbedding(
        2, n_steps=5, step_size=0.6, step_size_shape="scalar", metropolis=True
    ).double()
    generator = torch.Generator().manual_seed(1)
    n = 4000
    x = mean.double() + std.double() * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    rates = []
    for _ in range(20):
        v = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        state = embedding(energy, x, v, create_graph=False, generator=generator).state
        x = state.position
        rates.append(embedding.last_acceptance_rate)
    # Standard errors of the mean and of the variance for n samples.
    z_mean = (x.mean(0) - mean) / (std / math.sqrt(n))
    z_var = (x.var(0) / std**2 - 1) / math.sqrt(2 / n)
    assert z_mean.abs().max() < 4.5 and z_var.abs().max() < 4.5
    assert 0.05 < sum(rates) / len(rates) < 0.99


def test_metropolis_rejects_non_finite_proposals():
    def energy(x):
        return torch.where(x[:, 0] > 0.5, torch.full_like(x[:, 0], float("nan")), x.pow(2).sum(-1))

    embedding = HMCEmbedding(2, n_steps=1, step_size=1.0, metropolis=True)
    x0 = torch.zeros(64, 2)
    v0 = torch.tensor([[5.0, 0.0]]).repeat(64, 1)
    state = embedding(energy, x0, v0, create_graph=False).state
    assert torch.equal(state.position, x0)
    assert embedding.last_n_divergences == 64
    assert embedding.last_acceptance_rate == 0.0


def test_expected_hamiltonian_after_metropolis_is_differentiable():
    energy = _mlp_energy(seed=5).float()
    embedding = HMCEmbedding(2, n_steps=3, step_size=0.5, metropolis=True)
    x0, v0 = torch.randn(32, 2), torch.randn(32, 2)
    expected = embedding(energy, x0, v0, generator=torch.Generator().manual_seed(0)).hamiltonian
    assert expected.shape == (32,)
    # Between the start and the proposal's Hamiltonian, weighted by min(1, exp(H_0 - H_T)).
    with torch.no_grad():
        no_mh = HMCEmbedding(2, n_steps=3, step_size=0.5)
        proposal = no_mh(energy, x0, v0, create_graph=False).state
        h0 = energy(x0) + 0.5 * v0.pow(2).sum(-1)
        h1 = proposal.energy + 0.5 * proposal.momentum.pow(2).sum(-1)
        alpha = torch.clamp(torch.exp(h0 - h1), max=1.0)
    torch.testing.assert_close(expected.detach(), alpha * h1 + (1 - alpha) * h0)
    expected.mean().backward()
    assert torch.isfinite(embedding.log_step_size.grad).all()
    assert embedding.log_step_size.grad.abs().sum() > 0
