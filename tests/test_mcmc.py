"""MCMC kernels against exact references: a correlated Gaussian, the leapfrog invariants,
step-size adaptation, divergences and reproducibility."""

import math

import pytest
import torch

from adesk.dynamics._leapfrog import energy_and_gradient
from adesk.dynamics._mcmc import (
    DualAveragingStepSize,
    HMCKernel,
    MALAKernel,
    MCMCResult,
    MCMCStep,
    _hamiltonian,
    _leapfrog_trajectory,
    run_mcmc,
)
from adesk.dynamics._state import PhaseState
from adesk.energies import GaussianEnergy

N_FEATURES = 5
N_CHAINS = 2000


class CorrelatedGaussianEnergy:
    """``E(x) = 0.5 (x - mean)^T P (x - mean)`` with a fixed random correlated covariance."""

    def __init__(self, seed=0):
        generator = torch.Generator().manual_seed(seed)
        rotation, _ = torch.linalg.qr(
            torch.randn(N_FEATURES, N_FEATURES, generator=generator, dtype=torch.float64)
        )
        # Eigenvalues spread by a factor 8: correlated (|rho| up to about 0.5) but cheap to mix.
        eigenvalues = torch.linspace(0.5, 4.0, N_FEATURES, dtype=torch.float64)
        self.covariance = rotation @ torch.diag(eigenvalues) @ rotation.T
        self.precision = torch.linalg.inv(self.covariance)
        self.mean = torch.randn(N_FEATURES, generator=generator, dtype=torch.float64)

    def __call__(self, x):
        residual = x - self.mean
        return 0.5 * ((residual @ self.precision) * residual).sum(-1)


@pytest.fixture(scope="module")
def gaussian():
    return CorrelatedGaussianEnergy()


def _broad_start(n_chains, seed):
    """Over-dispersed starting points: four times the largest target standard deviation."""
    generator = torch.Generator().manual_seed(seed)
    return 8.0 * torch.randn(n_chains, N_FEATURES, generator=generator, dtype=torch.float64)


def _assert_recovers_gaussian(samples, gaussian, check_covariance=True):
    """Mean and covariance entries within 3 Monte Carlo standard errors of the truth."""
    n_chains = samples.shape[0]
    variances = gaussian.covariance.diagonal()
    mean_se = torch.sqrt(variances / n_chains)
    mean_z = (samples.mean(0) - gaussian.mean) / mean_se
    assert mean_z.abs().max() < 3, f"mean z-scores {mean_z}"
    if check_covariance:
        # Var of a sample covariance entry of a Gaussian: (S_ii S_jj + S_ij^2) / n.
        covariance_se = torch.sqrt(
            (torch.outer(variances, variances) + gaussian.covariance**2) / n_chains
        )
        covariance_z = (torch.cov(samples.T) - gaussian.covariance) / covariance_se
        assert covariance_z.abs().max() < 3, f"covariance z-scores {covariance_z}"


def _state_at(energy_fn, position, momentum=None):
    return PhaseState(position, momentum, *energy_and_gradient(energy_fn, position))


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize(
    "kernel, n_steps, params",
    [
        ("hmc", 300, dict(step_size=0.3, n_leapfrog_steps=8)),
        # Coarse steps: the unadjusted integrator inflates the smallest variance by ~70 %, so
        # this case fails unless the Metropolis test is right.
        ("hmc", 300, dict(step_size=0.9, n_leapfrog_steps=3)),
        ("mala", 800, dict(step_size=0.3)),
    ],
)
def test_recovers_correlated_gaussian(gaussian, kernel, n_steps, params):
    # Only the final state of each chain is used, so the samples are independent and the
    # standard errors are the textbook ones.
    result = run_mcmc(
        gaussian,
        _broad_start(N_CHAINS, seed=1),
        kernel=kernel,
        n_steps=n_steps,
        generator=torch.Generator().manual_seed(2),
        **params,
    )
    assert result.n_divergences == 0
    _assert_recovers_gaussian(result.positions, gaussian)


def test_mala_with_clipped_gradient_stays_exact(gaussian):
    # The clip (0.5) is well below typical gradient norms, so the proposal is far from plain
    # MALA. Only the correct forward and reverse proposal densities keep the target invariant;
    # using the unclipped gradient in the reverse density inflates the covariance by ~15-30 SE.
    result = run_mcmc(
        gaussian,
        _broad_start(N_CHAINS, seed=3),
        kernel="mala",
        n_steps=800,
        step_size=0.5,
        gradient_clip=0.5,
        generator=torch.Generator().manual_seed(4),
    )
    _assert_recovers_gaussian(result.positions, gaussian)


# --------------------------------------------------------------------------- integrator


def test_leapfrog_energy_error_shrinks_like_step_size_squared(gaussian):
    position = _broad_start(200, seed=5) / 8.0 + gaussian.mean
    momentum = torch.randn(200, N_FEATURES, generator=torch.Generator().manual_seed(6)).double()
    start = _state_at(gaussian, position, momentum)
    errors = []
    for step_size in (0.1, 0.05, 0.025):
        # Same total integration time 1.0 for every step size.
        end, stayed_finite = _leapfrog_trajectory(
            gaussian, start, step_size, round(1.0 / step_size)
        )
        assert stayed_finite.all()
        errors.append((_hamiltonian(end, 1.0) - _hamiltonian(start, 1.0)).abs().mean().item())
    for coarse, fine in zip(errors[:-1], errors[1:]):
        assert 3.5 < coarse / fine < 4.5, errors


@pytest.mark.parametrize("gradient_clip, momentum_clip", [(None, None), (0.5, 0.7)])
@pytest.mark.parametrize("momentum_penalty", [1.0, 0.5])
def test_leapfrog_trajectory_is_reversible(
    gaussian, gradient_clip, momentum_clip, momentum_penalty
):
    position = _broad_start(50, seed=7) / 4.0
    momentum = torch.randn(50, N_FEATURES, generator=torch.Generator().manual_seed(8)).double()
    start = _state_at(gaussian, position, momentum)
    options = dict(
        momentum_penalty=momentum_penalty, gradient_clip=gradient_clip, momentum_clip=momentum_clip
    )
    forward, _ = _leapfrog_trajectory(gaussian, start, 0.2, 12, **options)
    assert not torch.allclose(forward.position, start.position)
    backward, _ = _leapfrog_trajectory(
        gaussian, forward._replace(momentum=-forward.momentum), 0.2, 12, **options
    )
    torch.testing.assert_close(backward.position, start.position, atol=1e-10, rtol=0)
    torch.testing.assert_close(-backward.momentum, start.momentum, atol=1e-10, rtol=0)


@pytest.mark.parametrize(
    "kernel, expected_calls", [(HMCKernel(n_leapfrog_steps=7), 7), (MALAKernel(), 1)]
)
def test_one_energy_gradient_per_leapfrog_step(kernel, expected_calls):
    calls = []
    base = GaussianEnergy(torch.zeros(2), torch.ones(2))

    def counting_energy(x):
        calls.append(x.shape[0])
        return base(x)

    start = _state_at(base, torch.randn(4, 2, generator=torch.Generator().manual_seed(0)))
    kernel.step(counting_energy, start, generator=torch.Generator().manual_seed(1))
    # The energy at the start is read from the state, never evaluated again.
    assert len(calls) == expected_calls


@pytest.mark.parametrize("kernel", [HMCKernel(step_size=0.5), MALAKernel(step_size=0.5)])
def test_step_returns_consistent_cached_state(gaussian, kernel):
    start = _state_at(gaussian, _broad_start(64, seed=9) / 8.0)
    # A per-chain step size exercises the broadcastable-tensor path.
    step_size = torch.linspace(0.05, 1.0, 64, dtype=torch.float64)[:, None]
    out = kernel.step(gaussian, start, torch.Generator().manual_seed(0), step_size=step_size)
    assert isinstance(out, MCMCStep)
    assert out.accepted.dtype == torch.bool and out.accepted.shape == (64,)
    assert torch.all((out.acceptance_probability >= 0) & (out.acceptance_probability <= 1))
    assert 0 < out.accepted.sum() < 64
    rejected = ~out.accepted
    torch.testing.assert_close(out.state.position[rejected], start.position[rejected])
    assert torch.all(out.state.position[out.accepted] != start.position[out.accepted])
    energy, gradient = energy_and_gradient(gaussian, out.state.position)
    torch.testing.assert_close(out.state.energy, energy)
    torch.testing.assert_close(out.state.energy_grad, gradient)


# --------------------------------------------------------------------------- adaptation


@pytest.mark.parametrize(
    "kernel, params, target",
    [("hmc", dict(n_leapfrog_steps=5), 0.8), ("mala", dict(), 0.574)],
)
def test_adaptation_reaches_target_acceptance(gaussian, kernel, params, target):
    start = torch.randn(300, N_FEATURES, generator=torch.Generator().manual_seed(10)).double()
    result = run_mcmc(
        gaussian,
        start + gaussian.mean,
        kernel=kernel,
        n_steps=500,
        n_adapt=300,
        step_size=0.05,
        generator=torch.Generator().manual_seed(11),
        **params,
    )
    assert abs(result.acceptance_rate - target) < 0.05
    assert result.acceptance_rate == pytest.approx(sum(result.acceptance_rates[300:]) / 200)
    assert result.step_size > 0.05  # the deliberately small initial step size grew


def test_dual_averaging_converges_on_a_known_acceptance_curve():
    # Acceptance exp(-step): the step size that hits target 0.8 is -log(0.8) ~ 0.223.
    adapter = DualAveragingStepSize(initial_step_size=1.0, target_acceptance=0.8)
    assert adapter.final_step_size == 1.0
    step_size = adapter.step_size
    for _ in range(2000):
        step_size = adapter.update(math.exp(-step_size))
    assert adapter.n_updates == 2000
    assert adapter.final_step_size == pytest.approx(-math.log(0.8), rel=0.05)


def test_dual_averaging_step_size_stays_finite_when_always_accepting():
    adapter = DualAveragingStepSize(initial_step_size=1.0, target_acceptance=0.5)
    for _ in range(50000):
        adapter.update(1.0)
    assert math.isfinite(adapter.step_size) and math.isfinite(adapter.final_step_size)


# --------------------------------------------------------------------------- divergences


@pytest.mark.parametrize("bad_value", [math.inf, math.nan])
@pytest.mark.parametrize(
    "kernel, params",
    [("hmc", dict(step_size=0.5, n_leapfrog_steps=10)), ("mala", dict(step_size=0.5))],
)
def test_non_finite_region_is_rejected_and_counted(kernel, params, bad_value):
    def walled_energy(x):
        # Standard normal energy, undefined beyond the wall x_0 > 1.
        return torch.where(x[:, 0] > 1.0, bad_value, 0.5 * x.pow(2).sum(-1))

    start = torch.randn(500, 2, generator=torch.Generator().manual_seed(12)).double()
    start[:, 0] = -start[:, 0].abs()
    result = run_mcmc(
        walled_energy,
        start,
        kernel=kernel,
        n_steps=30,
        generator=torch.Generator().manual_seed(13),
        return_trajectory=True,
        **params,
    )
    assert result.n_divergences > 0
    for positions in result.trajectory:
        assert torch.isfinite(positions).all()
        assert (positions[:, 0] <= 1.0).all()
    assert torch.isfinite(result.energy).all()
    assert math.isfinite(result.acceptance_rate)


def test_huge_step_on_stiff_quadratic_diverges_without_nan():
    def stiff_energy(x):
        return 0.5 * (x * torch.tensor([1.0, 1e4], dtype=x.dtype)).pow(2).sum(-1)

    start = torch.randn(100, 2, generator=torch.Generator().manual_seed(14)).double() * 1e-2
    result = run_mcmc(
        stiff_energy,
        start,
        kernel="hmc",
        n_steps=5,
        step_size=1.0,
        n_leapfrog_steps=50,
        generator=torch.Generator().manual_seed(15),
    )
    assert result.n_divergences == 5 * 100
    assert result.acceptance_rate == 0.0
    torch.testing.assert_close(result.positions, start)


# --------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("kernel", ["hmc", "mala"])
def test_same_seed_same_result_and_global_rng_untouched(gaussian, kernel):
    start = _broad_start(50, seed=16)
    global_state = torch.get_rng_state()

    def run(generator):
        return run_mcmc(
            gaussian,
            start,
            kernel=kernel,
            n_steps=20,
            n_adapt=10,
            step_size=0.1,
            generator=generator,
            return_trajectory=True,
        )

    first = run(torch.Generator().manual_seed(17))
    second = run(torch.Generator().manual_seed(17))
    other = run(torch.Generator().manual_seed(18))
    unseeded = run(None)
    assert torch.equal(torch.get_rng_state(), global_state)
    assert isinstance(first, MCMCResult)
    assert torch.equal(first.positions, second.positions)
    assert first.acceptance_rates == second.acceptance_rates
    assert first.step_size == second.step_size
    assert not torch.equal(first.positions, other.positions)
    assert torch.isfinite(unseeded.positions).all()
    assert len(first.trajectory) == 21 and torch.equal(first.trajectory[0], start)
    assert first.positions.dtype == torch.float64


def test_result_fields_without_adaptation(gaussian):
    start = _broad_start(20, seed=19).float()
    result = run_mcmc(gaussian_float(gaussian), start, kernel=MALAKernel(step_size=0.05), n_steps=7)
    assert result.positions.dtype == torch.float32
    assert result.trajectory is None
    assert len(result.acceptance_rates) == 7
    assert result.step_size == 0.05
    torch.testing.assert_close(result.energy, gaussian_float(gaussian)(result.positions))


def gaussian_float(gaussian):
    def energy(x):
        return gaussian(x.double()).to(x.dtype)

    return energy


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kernel="nuts"), "kernel must be one of"),
        (dict(kernel=object()), "kernel must be one of"),
        (dict(kernel=HMCKernel(), n_leapfrog_steps=3), "only be passed with a kernel name"),
        (dict(n_steps=0), "n_steps must be a positive integer"),
        (dict(n_steps=2.5), "n_steps must be a positive integer"),
        (dict(n_steps=5, n_adapt=6), r"n_adapt must be an integer in \[0, n_steps=5\]"),
        (dict(n_adapt=-1), "n_adapt"),
        (dict(target_acceptance=1.0), "target_acceptance must be a number strictly between"),
        (dict(step_size=-0.1), "step_size must be a finite positive number"),
        (dict(step_size=torch.ones(2)), "scalar step_size"),
        (dict(positions=torch.zeros(3)), r"positions must be a floating tensor of shape \(n, d\)"),
        (dict(positions=torch.zeros(3, 2, dtype=torch.long)), "positions must be a floating"),
    ],
)
def test_run_mcmc_validates_arguments(kwargs, match):
    energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    kwargs = {"positions": torch.zeros(3, 2), **kwargs}
    with pytest.raises(ValueError, match=match):
        run_mcmc(energy, **kwargs)


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: HMCKernel(step_size=0.0), "step_size must be a finite positive number"),
        (lambda: HMCKernel(step_size=torch.tensor([0.1, -1.0])), "only finite positive"),
        (lambda: HMCKernel(n_leapfrog_steps=0), "n_leapfrog_steps must be a positive integer"),
        (lambda: HMCKernel(momentum_penalty=-1.0), "momentum_penalty"),
        (lambda: HMCKernel(gradient_clip=0.0), "gradient_clip"),
        (lambda: HMCKernel(momentum_clip=math.nan), "momentum_clip"),
        (lambda: MALAKernel(step_size=math.inf), "step_size"),
        (lambda: MALAKernel(gradient_clip=-2), "gradient_clip"),
        (lambda: DualAveragingStepSize(0.0, 0.8), "initial_step_size"),
        (lambda: DualAveragingStepSize(0.1, 0.0), "target_acceptance"),
        (lambda: DualAveragingStepSize(0.1, 0.8, kappa=1.5), "kappa"),
        (lambda: DualAveragingStepSize(0.1, 0.8).update(1.5), "acceptance_rate"),
        (lambda: DualAveragingStepSize(0.1, 0.8).update(math.nan), "acceptance_rate"),
        (lambda: HMCKernel().step(None, torch.zeros(2, 2)), "state must be a PhaseState"),
    ],
)
def test_kernels_validate_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


# ------------------------------------------------------------- fast paths vs simple ones
def _reference_trajectory(energy_fn, state, step_size, n_steps, **clips):
    """``n_steps`` plain leapfrog steps with a finiteness check after every one."""
    from adesk.dynamics._leapfrog import leapfrog_step

    finite = torch.ones(state.position.shape[0], dtype=torch.bool)
    for _ in range(n_steps):
        state, _ = leapfrog_step(energy_fn, state, step_size, **clips)
        finite &= (
            torch.isfinite(state.position).all(-1)
            & torch.isfinite(state.momentum).all(-1)
            & torch.isfinite(state.energy)
            & torch.isfinite(state.energy_grad).all(-1)
        )
    return state, finite


@pytest.mark.parametrize(
    "step_size, clips",
    [
        (0.2, {}),
        (torch.tensor([0.1, 0.3]), {}),
        (0.3, {"gradient_clip": 0.5, "momentum_clip": 1.0}),
    ],
)
def test_fused_trajectory_matches_plain_leapfrog_steps(step_size, clips):
    from adesk.dynamics._mcmc import _leapfrog_trajectory
    from adesk.energies import MLPEnergy

    torch.manual_seed(0)
    energy = MLPEnergy(2, hidden_layer_sizes=(16,)).double()
    x = torch.randn(64, 2, dtype=torch.float64)
    v = torch.randn(64, 2, dtype=torch.float64)
    start = PhaseState(x, v, *energy_and_gradient(energy, x))
    fast, fast_finite = _leapfrog_trajectory(energy, start, step_size, 7, **clips)
    slow, slow_finite = _reference_trajectory(energy, start, step_size, 7, **clips)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert torch.equal(fast_finite, slow_finite)


class _HoleEnergy(torch.nn.Module):
    """A quadratic energy that is NaN (or +inf) in the band 1 < x_0 < 1.5, finite elsewhere."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        energy = 0.5 * x.pow(2).sum(-1)
        hole = (x[:, 0] > 1.0) & (x[:, 0] < 1.5)
        return torch.where(hole, torch.full_like(energy, self.value), energy)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_fused_trajectory_flags_chains_that_crossed_a_non_finite_region(value):
    from adesk.dynamics._mcmc import _leapfrog_trajectory

    energy = _HoleEnergy(value)
    # Chains moving right through the hole at different speeds: some cross it mid-trajectory
    # and come out finite at the end, which only the running check catches.
    x = torch.zeros(200, 2, dtype=torch.float64)
    v = torch.stack([torch.linspace(0.0, 4.0, 200), torch.zeros(200)], 1).double()
    start = PhaseState(x, v, *energy_and_gradient(energy, x))
    fast, fast_finite = _leapfrog_trajectory(energy, start, 0.1, 10)
    _, slow_finite = _reference_trajectory(energy, start, 0.1, 10)
    assert torch.equal(fast_finite, slow_finite)
    crossed = ~slow_finite & torch.isfinite(fast.energy)
    assert crossed.any()  # the test exercises chains that left the hole again
    assert slow_finite.any()


def test_sampling_leaves_parameter_flags_as_they_were():
    from adesk.dynamics import run_mcmc
    from adesk.energies import MLPEnergy

    energy = MLPEnergy(2, hidden_layer_sizes=(8,))
    frozen = next(energy.parameters())
    frozen.requires_grad_(False)
    before = [p.requires_grad for p in energy.parameters()]
    run_mcmc(energy, torch.zeros(10, 2), n_steps=2, generator=torch.Generator().manual_seed(0))
    assert [p.requires_grad for p in energy.parameters()] == before
    assert any(before) and not all(before)
