"""Metropolis-corrected MCMC kernels for any energy, with step-size adaptation.

This module is long (about 780 lines) because it keeps one job whole: the two kernels share
their Metropolis decision, divergence handling and validation, and the driver
(:func:`run_mcmc`) and the dual-averaging adaptation are written against them; each piece is
documented with its reference.

The kernels sample from ``p(x) proportional to exp(-E(x))`` for a callable energy
``E: (n, d) -> (n,)`` and move a batch of ``n`` independent chains at once. Each transition
ends with a Metropolis-Hastings test, so the chains are exact whatever the step size or the
gradient clipping; the step size only changes how fast they mix. Proposals that leave the
region where the energy (or its gradient) is finite are *divergences*: they are counted,
always rejected and never written into the chains.

* :class:`HMCKernel` -- Hamiltonian Monte Carlo with fresh Gaussian momentum per transition.
* :class:`MALAKernel` -- the Metropolis-adjusted Langevin algorithm.
* :class:`DualAveragingStepSize` -- Hoffman & Gelman's dual averaging of the log step size
  towards a target acceptance rate.
* :func:`run_mcmc` -- run a kernel for several transitions, optionally adapting its step size
  first.

All randomness comes from an explicit ``torch.Generator``; the global torch RNG is never used.
"""

import math
import numbers
from abc import ABC, abstractmethod
from typing import NamedTuple

import torch

from ._leapfrog import clip_norm, energy_and_gradient, frozen_parameters
from ._state import PhaseState

KERNEL_NAMES = ("hmc", "mala")

# Stan's convention: a transition whose Hamiltonian (or log acceptance ratio) error exceeds
# this is a divergence even if it stays finite; exp(-1000) is zero in any float format anyway.
DEFAULT_DIVERGENCE_THRESHOLD = 1000.0

# Keeps exp(log step size) finite when the acceptance stays at one for a very long adaptation
# (e.g. a flat energy), where dual averaging would otherwise grow the step size without bound.
_MAX_ABS_LOG_STEP_SIZE = 500.0


class MCMCStep(NamedTuple):
    """The outcome of one transition of a batch of chains.

    Attributes
    ----------
    state : PhaseState
        Per chain, the proposal where it was accepted and the current state where it was
        rejected, with the energy and energy gradient cached at the returned position.
    accepted : torch.Tensor of shape (n,), bool
    acceptance_probability : torch.Tensor of shape (n,)
        ``min(1, exp(log acceptance ratio))``; zero for divergent proposals.
    n_divergences : int
        Number of chains whose proposal diverged.

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics._leapfrog import energy_and_gradient
    >>> from adesk.dynamics._mcmc import MALAKernel
    >>> from adesk.dynamics._state import PhaseState
    >>> energy = lambda x: 0.5 * x.pow(2).sum(-1)
    >>> x = torch.zeros(3, 2)
    >>> step = MALAKernel().step(energy, PhaseState(x, None, *energy_and_gradient(energy, x)))
    >>> step.accepted.shape, step.n_divergences
    (torch.Size([3]), 0)
    """

    state: PhaseState
    accepted: torch.Tensor
    acceptance_probability: torch.Tensor
    n_divergences: int


class MCMCResult(NamedTuple):
    """The outcome of :func:`run_mcmc`.

    Attributes
    ----------
    positions : torch.Tensor of shape (n, d)
        Final state of every chain (detached, same dtype and device as the start).
    energy : torch.Tensor of shape (n,)
        Energy at ``positions``.
    acceptance_rate : float
        Mean acceptance probability over the transitions after adaptation (over all of them
        when every transition adapted).
    acceptance_rates : list of float
        Batch-mean acceptance probability of every transition.
    step_size : float
        Step size after adaptation (the fixed one used by the last transition).
    n_divergences : int
        Divergent proposals over all chains and transitions.
    trajectory : list of torch.Tensor of shape (n, d) or None
        Positions before the first and after every transition, or ``None`` unless requested.

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics._mcmc import run_mcmc
    >>> energy = lambda x: 0.5 * x.pow(2).sum(-1)
    >>> result = run_mcmc(energy, torch.zeros(3, 2), kernel="mala", n_steps=4,
    ...                   return_trajectory=True, generator=torch.Generator().manual_seed(0))
    >>> len(result.trajectory), result.energy.shape
    (5, torch.Size([3]))
    """

    positions: torch.Tensor
    energy: torch.Tensor
    acceptance_rate: float
    acceptance_rates: list
    step_size: float
    n_divergences: int
    trajectory: list | None


class _Transition(NamedTuple):
    """:class:`MCMCStep` with the divergences left on the device, so no host sync is needed."""

    state: PhaseState
    accepted: torch.Tensor
    acceptance_probability: torch.Tensor
    divergent: torch.Tensor


def _is_real_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_positive_number(name, value):
    if not _is_real_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite positive number; got {value!r}.")
    return float(value)


def _check_optional_clip(name, value):
    if value is None:
        return None
    return _check_positive_number(name, value)


def _check_step_size(name, value):
    """A positive float, or a tensor of positive step sizes broadcastable to ``(n, d)``."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point() or value.ndim > 2:
            raise ValueError(
                f"{name} must be a positive float or a floating tensor broadcastable to (n, d); "
                f"got a {value.dtype} tensor of shape {tuple(value.shape)}."
            )
        if not bool(torch.all(torch.isfinite(value) & (value > 0))):
            raise ValueError(f"{name} must contain only finite positive values; got {value}.")
        return value.detach()
    return _check_positive_number(name, value)


def _check_acceptance_target(name, value):
    if not _is_real_number(value) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1; got {value!r}.")
    return float(value)


def _seeded_generator(device):
    """A generator seeded from the operating system, leaving the global torch RNG untouched."""
    generator = torch.Generator(device=device)
    generator.seed()
    return generator


def _hamiltonian(state, momentum_penalty):
    """``E(x) + momentum_penalty / 2 * |v|^2`` per chain."""
    return state.energy + 0.5 * momentum_penalty * state.momentum.pow(2).sum(-1)


def _is_finite_state(state):
    """Per chain: are the position, the energy and its gradient all finite?"""
    return (
        torch.isfinite(state.position).all(-1)
        & torch.isfinite(state.energy)
        & torch.isfinite(state.energy_grad).all(-1)
    )


def _leapfrog_trajectory(
    energy_fn,
    state,
    step_size,
    n_steps,
    momentum_penalty=1.0,
    gradient_clip=None,
    momentum_clip=None,
):
    """Run ``n_steps`` leapfrog steps and flag the chains that stayed finite all the way.

    The same map as ``n_steps`` calls of :func:`~adesk.dynamics.leapfrog_step`, written for
    speed: the two half momentum updates between steps are one full update, each update is one
    fused ``addcmul``, and the energy gradient at the start is read from ``state``, so a
    trajectory costs exactly ``n_steps`` energy gradients.

    Requiring the whole trajectory (not only its end) to be finite keeps detailed balance: the
    reversed trajectory visits the same states, so the indicator is the same in both directions.
    Checking the end point suffices: a non-finite position, momentum or gradient propagates to
    the end point (every later position and momentum is a sum containing it, and a clipped
    non-finite vector is NaN), and a non-finite intermediate energy makes the running sum of
    energies non-finite.

    Returns
    -------
    end : PhaseState
    stayed_finite : torch.Tensor of shape (n,), bool
    """
    position, momentum = state.position, state.momentum
    if not isinstance(step_size, torch.Tensor):
        step_size = torch.tensor(step_size, dtype=position.dtype, device=position.device)
    position_step = step_size * momentum_penalty
    momentum = torch.addcmul(
        momentum, step_size, clip_norm(state.energy_grad, gradient_clip), value=-0.5
    )
    energy_sum = torch.zeros_like(state.energy)
    for index in range(n_steps):
        position = torch.addcmul(position, position_step, clip_norm(momentum, momentum_clip))
        energy, energy_grad = energy_and_gradient(energy_fn, position)
        energy_sum = energy_sum + energy
        weight = -0.5 if index == n_steps - 1 else -1.0
        momentum = torch.addcmul(
            momentum, step_size, clip_norm(energy_grad, gradient_clip), value=weight
        )
    end = PhaseState(position, momentum, energy, energy_grad)
    # A sum is finite exactly when every term is (accumulated in float64, finite float32
    # terms cannot overflow; float64 states would need entries near 1e306); three row sums are
    # cheaper than three elementwise isfinite passes.
    total = (
        position.sum(-1, dtype=torch.float64)
        + momentum.sum(-1, dtype=torch.float64)
        + energy_grad.sum(-1, dtype=torch.float64)
        + energy_sum.to(torch.float64)
    )
    stayed_finite = torch.isfinite(total)
    return end, stayed_finite


def _select(accept, proposal, current):
    """Per chain, ``proposal`` where ``accept`` and ``current`` elsewhere."""
    rows = accept[:, None]
    return PhaseState(
        torch.where(rows, proposal.position, current.position),
        torch.where(rows, proposal.momentum, current.momentum),
        torch.where(accept, proposal.energy, current.energy),
        torch.where(rows, proposal.energy_grad, current.energy_grad),
    )


def _metropolis_decision(log_ratio, valid, divergence_threshold, generator):
    """Accept/reject given ``log`` acceptance ratios; invalid proposals are always rejected.

    Returns ``accepted``, ``acceptance_probability`` and ``divergent`` (all of shape (n,)).
    """
    # NaN ratios (e.g. a start with NaN energy) must not leak into the acceptance statistics.
    valid = valid & ~torch.isnan(log_ratio)
    divergent = ~valid | (-log_ratio > divergence_threshold)
    log_ratio = torch.where(valid, log_ratio, torch.full_like(log_ratio, -math.inf))
    uniform = torch.rand(
        log_ratio.shape, generator=generator, dtype=log_ratio.dtype, device=log_ratio.device
    )
    accepted = torch.log(uniform) < log_ratio
    acceptance_probability = torch.exp(torch.clamp(log_ratio, max=0.0))
    return accepted, acceptance_probability, divergent


class _MetropolisKernel(ABC):
    """Shared ``step`` plumbing; subclasses implement ``_transition``."""

    #: Acceptance rate that :func:`run_mcmc` adapts the step size towards by default.
    default_target_acceptance = None

    def step(self, energy_fn, state, generator=None, step_size=None):
        """Make one Metropolis-corrected transition of every chain.

        Parameters
        ----------
        energy_fn : callable
            Maps ``(n, d)`` tensors to ``(n,)`` energies.
        state : PhaseState
            Current positions with the energy and energy gradient cached at them (see
            :func:`~adesk.dynamics.energy_and_gradient`); if either is ``None`` it is computed.
            The momentum is ignored.
        generator : torch.Generator or None
            Source of all randomness; ``None`` uses a fresh generator seeded by the OS.
        step_size : float or torch.Tensor or None
            Overrides the kernel's step size for this transition; a tensor must be
            broadcastable to ``(n, d)`` (per-chain or per-dimension step sizes).

        Returns
        -------
        MCMCStep
        """
        state = self._prepare_state(energy_fn, state)
        step_size = (
            self.step_size if step_size is None else _check_step_size("step_size", step_size)
        )
        if generator is None:
            generator = _seeded_generator(state.position.device)
        transition = self._transition(energy_fn, state, generator, step_size)
        return MCMCStep(
            transition.state,
            transition.accepted,
            transition.acceptance_probability,
            int(transition.divergent.sum()),
        )

    @staticmethod
    def _prepare_state(energy_fn, state):
        if not isinstance(state, PhaseState):
            raise ValueError(f"state must be a PhaseState; got {type(state).__name__}.")
        position = state.position.detach()
        if position.ndim != 2:
            raise ValueError(
                f"state.position must have shape (n, d); got shape {tuple(position.shape)}."
            )
        if state.energy is None or state.energy_grad is None:
            energy, energy_grad = energy_and_gradient(energy_fn, position)
        else:
            energy, energy_grad = state.energy.detach(), state.energy_grad.detach()
        return PhaseState(position, state.momentum, energy, energy_grad)

    @abstractmethod
    def _transition(self, energy_fn, state, generator, step_size):
        """One proposal and Metropolis test; returns a ``_Transition``."""


class HMCKernel(_MetropolisKernel):
    """Hamiltonian Monte Carlo transition for ``exp(-E(x))``.

    Each transition draws momentum ``v ~ N(0, I / momentum_penalty)``, integrates the
    Hamiltonian ``H = E(x) + momentum_penalty / 2 * |v|^2`` with ``n_leapfrog_steps`` leapfrog
    steps and accepts the end point with probability ``min(1, exp(H_0 - H_1))``. The leapfrog
    map stays volume-preserving and reversible with norm clipping of the gradient or the
    momentum, so the chain is exact with or without clipping. One transition costs
    ``n_leapfrog_steps`` energy gradients: the gradient at the start is read from the state.

    Parameters
    ----------
    step_size : float or torch.Tensor, default=0.1
        Leapfrog step size; a tensor must be broadcastable to ``(n, d)``.
    n_leapfrog_steps : int, default=10
    momentum_penalty : float, default=1.0
        Inverse mass ``lambda``.
    gradient_clip, momentum_clip : float or None, default=None
        Maximum Euclidean norm of the energy gradient and of the momentum inside the leapfrog
        steps; ``None`` disables.
    divergence_threshold : float, default=1000.0
        A trajectory whose energy error ``H_1 - H_0`` exceeds this is counted as a divergence
        (it is practically never accepted); non-finite trajectories always are.

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics._leapfrog import energy_and_gradient
    >>> from adesk.dynamics._mcmc import HMCKernel
    >>> from adesk.dynamics._state import PhaseState
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> x = torch.zeros(4, 2)
    >>> state = PhaseState(x, None, *energy_and_gradient(energy, x))
    >>> kernel = HMCKernel(step_size=0.2, n_leapfrog_steps=5)
    >>> out = kernel.step(energy, state, generator=torch.Generator().manual_seed(0))
    >>> out.state.position.shape, out.accepted.dtype, out.n_divergences
    (torch.Size([4, 2]), torch.bool, 0)
    """

    default_target_acceptance = 0.8

    def __init__(
        self,
        step_size=0.1,
        n_leapfrog_steps=10,
        momentum_penalty=1.0,
        gradient_clip=None,
        momentum_clip=None,
        divergence_threshold=DEFAULT_DIVERGENCE_THRESHOLD,
    ):
        self.step_size = _check_step_size("step_size", step_size)
        if not _is_integer(n_leapfrog_steps) or n_leapfrog_steps < 1:
            raise ValueError(
                f"n_leapfrog_steps must be a positive integer; got {n_leapfrog_steps!r}."
            )
        self.n_leapfrog_steps = int(n_leapfrog_steps)
        self.momentum_penalty = _check_positive_number("momentum_penalty", momentum_penalty)
        self.gradient_clip = _check_optional_clip("gradient_clip", gradient_clip)
        self.momentum_clip = _check_optional_clip("momentum_clip", momentum_clip)
        self.divergence_threshold = _check_positive_number(
            "divergence_threshold", divergence_threshold
        )

    def __repr__(self):
        return (
            f"HMCKernel(step_size={self.step_size}, n_leapfrog_steps={self.n_leapfrog_steps}, "
            f"momentum_penalty={self.momentum_penalty}, gradient_clip={self.gradient_clip}, "
            f"momentum_clip={self.momentum_clip})"
        )

    def _transition(self, energy_fn, state, generator, step_size):
        with torch.no_grad():
            position = state.position
            momentum = torch.randn(
                position.shape, generator=generator, dtype=position.dtype, device=position.device
            ) / math.sqrt(self.momentum_penalty)
            current = state._replace(momentum=momentum)
            proposal, stayed_finite = _leapfrog_trajectory(
                energy_fn,
                current,
                step_size,
                self.n_leapfrog_steps,
                momentum_penalty=self.momentum_penalty,
                gradient_clip=self.gradient_clip,
                momentum_clip=self.momentum_clip,
            )
            start_h = _hamiltonian(current, self.momentum_penalty)
            end_h = _hamiltonian(proposal, self.momentum_penalty)
            accepted, probability, divergent = _metropolis_decision(
                start_h - end_h,
                stayed_finite & torch.isfinite(end_h),
                self.divergence_threshold,
                generator,
            )
            return _Transition(
                _select(accepted, proposal, current), accepted, probability, divergent
            )


class MALAKernel(_MetropolisKernel):
    """Metropolis-adjusted Langevin transition for ``exp(-E(x))``.

    Proposes ``x' = x - epsilon * g(x) + sqrt(2 epsilon) * xi`` with ``xi ~ N(0, I)`` and ``g``
    the (optionally norm-clipped) energy gradient, and accepts it with probability
    ``min(1, exp(E(x) - E(x')) q(x | x') / q(x' | x))`` where ``q`` is that Gaussian proposal.
    Because ``q`` uses the clipped gradient in both directions, clipping changes the proposal
    but not the stationary law. One transition costs one energy gradient.

    Parameters
    ----------
    step_size : float or torch.Tensor, default=0.01
        ``epsilon``; a tensor must be broadcastable to ``(n, d)``.
    gradient_clip : float or None, default=None
        Maximum Euclidean norm of the gradient in the drift; ``None`` disables.
    divergence_threshold : float, default=1000.0
        A proposal whose log acceptance ratio is below ``-divergence_threshold`` is counted as
        a divergence; non-finite proposals always are.

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics._leapfrog import energy_and_gradient
    >>> from adesk.dynamics._mcmc import MALAKernel
    >>> from adesk.dynamics._state import PhaseState
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> x = torch.zeros(4, 2)
    >>> state = PhaseState(x, None, *energy_and_gradient(energy, x))
    >>> out = MALAKernel(step_size=0.1).step(energy, state, torch.Generator().manual_seed(0))
    >>> out.state.position.shape, bool((out.acceptance_probability <= 1).all())
    (torch.Size([4, 2]), True)
    """

    default_target_acceptance = 0.574

    def __init__(
        self, step_size=0.01, gradient_clip=None, divergence_threshold=DEFAULT_DIVERGENCE_THRESHOLD
    ):
        self.step_size = _check_step_size("step_size", step_size)
        self.gradient_clip = _check_optional_clip("gradient_clip", gradient_clip)
        self.divergence_threshold = _check_positive_number(
            "divergence_threshold", divergence_threshold
        )

    def __repr__(self):
        return f"MALAKernel(step_size={self.step_size}, gradient_clip={self.gradient_clip})"

    def _transition(self, energy_fn, state, generator, step_size):
        with torch.no_grad():
            position = state.position
            noise = torch.randn(
                position.shape, generator=generator, dtype=position.dtype, device=position.device
            )
            drift = clip_norm(state.energy_grad, self.gradient_clip)
            proposal_position = position - step_size * drift + (2 * step_size) ** 0.5 * noise
            energy, energy_grad = energy_and_gradient(energy_fn, proposal_position)
            proposal = PhaseState(proposal_position, torch.zeros_like(noise), energy, energy_grad)
            # log q(x' | x) up to a constant shared with the reverse density (the log
            # determinant of the proposal covariance is the same in both directions).
            # Written with the drawn noise it is exact even for per-dimension step sizes.
            log_forward = -0.5 * noise.pow(2).sum(-1)
            reverse_residual = (
                position
                - proposal_position
                + step_size * clip_norm(energy_grad, self.gradient_clip)
            )
            log_reverse = -(reverse_residual.pow(2) / (4 * step_size)).sum(-1)
            log_ratio = state.energy - energy + log_reverse - log_forward
            accepted, probability, divergent = _metropolis_decision(
                log_ratio, _is_finite_state(proposal), self.divergence_threshold, generator
            )
            current = state._replace(momentum=torch.zeros_like(noise))
            return _Transition(
                _select(accepted, proposal, current), accepted, probability, divergent
            )


class DualAveragingStepSize:
    """Dual averaging of the log step size towards a target acceptance rate.

    Algorithm 5 of Hoffman & Gelman (2014, "The No-U-Turn Sampler"). After observing
    acceptance rates ``alpha_1..alpha_m`` it sets
    ``log eps_m = mu - sqrt(m) / gamma * H_m`` with ``H_m`` the running mean of
    ``target - alpha_i`` (damped by ``t0``), and keeps the weighted average
    ``log eps_bar_m = m^-kappa log eps_m + (1 - m^-kappa) log eps_bar_{m-1}``; ``eps_bar`` is the
    step size to use once adaptation stops. ``mu = log(10 * initial_step_size)`` biases the
    exploration towards larger steps, as in the paper.

    Parameters
    ----------
    initial_step_size : float
    target_acceptance : float
        In ``(0, 1)``.
    gamma : float, default=0.05
        Shrinkage towards ``mu``; smaller values adapt more aggressively.
    t0 : float, default=10.0
        Damps the first iterations.
    kappa : float, default=0.75
        Decay exponent of the averaging weights, in ``(0.5, 1]`` for convergence.

    Attributes
    ----------
    step_size : float
        Step size to use for the next transition during adaptation.
    final_step_size : float
        Averaged step size ``eps_bar`` (``initial_step_size`` before any update).
    n_updates : int

    Examples
    --------
    >>> from adesk.dynamics._mcmc import DualAveragingStepSize
    >>> adapter = DualAveragingStepSize(initial_step_size=0.1, target_acceptance=0.8)
    >>> adapter.update(1.0) > 0.1  # accepting more than the target: try larger steps
    True
    >>> adapter.final_step_size == adapter.step_size  # one update: the average is that step
    True
    """

    def __init__(self, initial_step_size, target_acceptance, gamma=0.05, t0=10.0, kappa=0.75):
        self.initial_step_size = _check_positive_number("initial_step_size", initial_step_size)
        self.target_acceptance = _check_acceptance_target("target_acceptance", target_acceptance)
        self.gamma = _check_positive_number("gamma", gamma)
        if not _is_real_number(t0) or not math.isfinite(t0) or t0 < 0:
            raise ValueError(f"t0 must be a finite non-negative number; got {t0!r}.")
        self.t0 = float(t0)
        if not _is_real_number(kappa) or not 0 < kappa <= 1:
            raise ValueError(f"kappa must be a number in (0, 1]; got {kappa!r}.")
        self.kappa = float(kappa)
        self.shrinkage_target = math.log(10 * self.initial_step_size)
        self.n_updates = 0
        self.mean_acceptance_gap = 0.0
        self.step_size = self.initial_step_size
        # The paper starts the average at log eps_bar = 0, but the first update gives it weight
        # 1^-kappa = 0, so starting at the initial step size changes nothing after one update
        # and makes ``final_step_size`` meaningful before it.
        self._log_averaged_step_size = math.log(self.initial_step_size)

    @property
    def final_step_size(self):
        """Averaged step size, to be kept fixed after adaptation."""
        return math.exp(self._log_averaged_step_size)

    def update(self, acceptance_rate):
        """Record one observed acceptance rate and return the next step size.

        Parameters
        ----------
        acceptance_rate : float
            In ``[0, 1]``, e.g. the batch-mean acceptance probability of the last transition.

        Returns
        -------
        float
        """
        if not _is_real_number(acceptance_rate) or not 0 <= acceptance_rate <= 1:
            raise ValueError(
                f"acceptance_rate must be a number in [0, 1]; got {acceptance_rate!r}."
            )
        self.n_updates += 1
        m = self.n_updates
        weight = 1.0 / (m + self.t0)
        self.mean_acceptance_gap = (1 - weight) * self.mean_acceptance_gap + weight * (
            self.target_acceptance - float(acceptance_rate)
        )
        log_step_size = self.shrinkage_target - math.sqrt(m) / self.gamma * self.mean_acceptance_gap
        log_step_size = min(max(log_step_size, -_MAX_ABS_LOG_STEP_SIZE), _MAX_ABS_LOG_STEP_SIZE)
        average_weight = m**-self.kappa
        self._log_averaged_step_size = (
            average_weight * log_step_size + (1 - average_weight) * self._log_averaged_step_size
        )
        self.step_size = math.exp(log_step_size)
        return self.step_size


def _resolve_kernel(kernel, kernel_params):
    if isinstance(kernel, str):
        if kernel not in KERNEL_NAMES:
            raise ValueError(
                f"kernel must be one of {KERNEL_NAMES} or an HMCKernel/MALAKernel instance; "
                f"got {kernel!r}."
            )
        kernel_class = HMCKernel if kernel == "hmc" else MALAKernel
        return kernel_class(**kernel_params)
    if isinstance(kernel, _MetropolisKernel):
        if kernel_params:
            raise ValueError(
                "kernel parameters can only be passed with a kernel name; got "
                f"{sorted(kernel_params)} together with the instance {kernel!r}."
            )
        return kernel
    raise ValueError(
        f"kernel must be one of {KERNEL_NAMES} or an HMCKernel/MALAKernel instance; got {kernel!r}."
    )


def _scalar_step_size(step_size):
    if isinstance(step_size, torch.Tensor):
        if step_size.numel() != 1:
            raise ValueError(
                "run_mcmc needs a scalar step_size (it adapts and reports one number); got a "
                f"tensor of shape {tuple(step_size.shape)}. Call the kernel's step() directly "
                "for per-chain or per-dimension step sizes."
            )
        step_size = float(step_size)
    return _check_positive_number("step_size", step_size)


def run_mcmc(
    energy_fn,
    positions,
    kernel="hmc",
    n_steps=100,
    step_size=None,
    n_adapt=0,
    target_acceptance=None,
    generator=None,
    return_trajectory=False,
    **kernel_params,
):
    """Run ``n_steps`` Metropolis-corrected transitions of a batch of chains.

    During the first ``n_adapt`` transitions the step size follows
    :class:`DualAveragingStepSize` on the batch-mean acceptance probability; afterwards it is
    fixed at the averaged step size, so the remaining transitions form an exact
    (time-homogeneous) Markov chain for ``exp(-E)``.

    Parameters
    ----------
    energy_fn : callable
        Maps ``(n, d)`` tensors to ``(n,)`` energies.
    positions : torch.Tensor of shape (n, d)
        Starting point of each chain (floating point; its dtype and device are kept).
    kernel : {"hmc", "mala"} or HMCKernel or MALAKernel, default="hmc"
    n_steps : int, default=100
        Number of transitions (at least 1).
    step_size : float or None, default=None
        Initial (or, without adaptation, fixed) step size; ``None`` uses the kernel's.
    n_adapt : int, default=0
        Number of leading transitions that adapt the step size, in ``[0, n_steps]``.
    target_acceptance : float or None, default=None
        Target of the adaptation; ``None`` uses 0.8 for HMC and 0.574 for MALA.
    generator : torch.Generator or None, default=None
        Source of all randomness (on the device of ``positions``); ``None`` uses a fresh
        generator seeded by the operating system.
    return_trajectory : bool, default=False
        Also return the positions after every transition.
    **kernel_params
        Passed to :class:`HMCKernel` or :class:`MALAKernel` when ``kernel`` is a name.

    Returns
    -------
    MCMCResult

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics._mcmc import run_mcmc
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> result = run_mcmc(
    ...     energy, torch.zeros(100, 2), kernel="hmc", n_steps=20, n_adapt=10,
    ...     n_leapfrog_steps=5, generator=torch.Generator().manual_seed(0),
    ... )
    >>> result.positions.shape, len(result.acceptance_rates)
    (torch.Size([100, 2]), 20)
    >>> 0 < result.acceptance_rate <= 1, result.step_size > 0
    (True, True)
    """
    kernel = _resolve_kernel(kernel, kernel_params)
    if not _is_integer(n_steps) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer; got {n_steps!r}.")
    if not _is_integer(n_adapt) or not 0 <= n_adapt <= n_steps:
        raise ValueError(f"n_adapt must be an integer in [0, n_steps={n_steps}]; got {n_adapt!r}.")
    if target_acceptance is None:
        target_acceptance = kernel.default_target_acceptance
    target_acceptance = _check_acceptance_target("target_acceptance", target_acceptance)
    current_step_size = _scalar_step_size(kernel.step_size if step_size is None else step_size)
    if not isinstance(positions, torch.Tensor):
        positions = torch.as_tensor(positions, dtype=torch.get_default_dtype())
    if positions.ndim != 2 or not positions.is_floating_point():
        raise ValueError(
            "positions must be a floating tensor of shape (n, d); got a "
            f"{positions.dtype} tensor of shape {tuple(positions.shape)}."
        )
    if generator is None:
        generator = _seeded_generator(positions.device)

    with frozen_parameters(energy_fn):
        return _run_chains(
            energy_fn,
            positions,
            kernel,
            n_steps,
            current_step_size,
            n_adapt,
            target_acceptance,
            generator,
            return_trajectory,
        )


def _run_chains(
    energy_fn,
    positions,
    kernel,
    n_steps,
    current_step_size,
    n_adapt,
    target_acceptance,
    generator,
    return_trajectory,
):
    """The loop of :func:`run_mcmc`, on validated arguments."""
    positions = positions.detach()
    energy, energy_grad = energy_and_gradient(energy_fn, positions)
    state = PhaseState(positions, torch.zeros_like(positions), energy, energy_grad)
    adapter = DualAveragingStepSize(current_step_size, target_acceptance) if n_adapt else None
    trajectory = [positions.clone()] if return_trajectory else None
    adaptation_rates = []
    # After adaptation, statistics stay on the device and are read back once at the end.
    sampling_rates = []
    divergences = torch.zeros((), dtype=torch.long, device=positions.device)
    for transition_index in range(n_steps):
        transition = kernel._transition(energy_fn, state, generator, current_step_size)
        state = transition.state
        divergences = divergences + transition.divergent.sum()
        if transition_index < n_adapt:
            rate = float(transition.acceptance_probability.mean())
            adaptation_rates.append(rate)
            current_step_size = adapter.update(rate)
            if transition_index == n_adapt - 1:
                current_step_size = adapter.final_step_size
        else:
            sampling_rates.append(transition.acceptance_probability.mean())
        if return_trajectory:
            trajectory.append(state.position)

    sampling_rates = torch.stack(sampling_rates).tolist() if sampling_rates else []
    rates_for_summary = sampling_rates if sampling_rates else adaptation_rates
    return MCMCResult(
        positions=state.position,
        energy=state.energy,
        acceptance_rate=sum(rates_for_summary) / len(rates_for_summary),
        acceptance_rates=adaptation_rates + sampling_rates,
        step_size=current_step_size,
        n_divergences=int(divergences),
        trajectory=trajectory,
    )
