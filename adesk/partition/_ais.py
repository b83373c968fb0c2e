"""Annealed importance sampling (Neal, 2001) of ``log Z = log int exp(-E(x)) dx``."""

import math
from typing import NamedTuple

import torch

from ..dynamics._leapfrog import energy_and_gradient
from ..dynamics._mcmc import DEFAULT_DIVERGENCE_THRESHOLD, _metropolis_decision
from ._importance import log_partition_importance
from ._proposal import GaussianProposal


class AISResult(NamedTuple):
    """What :func:`log_partition_ais` returns.

    Attributes
    ----------
    log_partition : float
        ``log`` of the mean importance weight over the chains (a stochastic lower bound on
        ``log Z`` in expectation, by Jensen's inequality).
    log_partition_std : float
        Delta-method standard error of ``log_partition`` over the chains.
    effective_sample_size : float
        Kish effective sample size of the final weights; far below ``n_chains`` means a few
        chains dominate and the standard error is unreliable.
    n_chains, n_temperatures : int
    acceptance_rate : float
        Mean Metropolis acceptance over all transitions.
    step_sizes : list of float
        Leapfrog step size used at each temperature (after adaptation).
    log_partition_reverse, log_partition_reverse_std : float
        Reverse AIS from the forward chains' end points back to the initial distribution
        (``nan`` unless ``bidirectional=True``). Started from exact samples of the target it
        would be a stochastic upper bound; started from the forward end points it is a
        diagnostic: a large gap to ``log_partition`` means the anneal was too short.
    n_divergences : int
        Proposals whose trajectory became non-finite or whose energy error exceeded the MCMC
        kernels' divergence threshold (rejected).

    Examples
    --------
    >>> import math, torch
    >>> from adesk.energies import GaussianEnergy
    >>> from adesk.partition import GaussianProposal, log_partition_ais
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2)).double()
    >>> initial = GaussianProposal(torch.zeros(2, dtype=torch.float64), 2 * torch.eye(2).double())
    >>> result = log_partition_ais(energy, initial, n_chains=32, n_temperatures=20)
    >>> result.n_chains, result.n_temperatures, len(result.step_sizes)
    (32, 20, 20)
    >>> abs(result.log_partition - math.log(2 * math.pi)) < 4 * result.log_partition_std + 0.05
    True
    >>> math.isnan(result.log_partition_reverse)  # only with bidirectional=True
    True
    """

    log_partition: float
    log_partition_std: float
    effective_sample_size: float
    n_chains: int
    n_temperatures: int
    acceptance_rate: float
    step_sizes: list
    log_partition_reverse: float
    log_partition_reverse_std: float
    n_divergences: int


def sigmoid_schedule(n_temperatures, sharpness=4.0, dtype=torch.float64):
    """Inverse temperatures from ``beta_0 = 0`` up to ``beta_K = 1``, spaced by a rescaled sigmoid.

    The sigmoid puts more temperatures near both ends, where the intermediate distributions
    change fastest for a broad initial distribution (Grosse et al., 2015).

    Parameters
    ----------
    n_temperatures : int
        ``K``, the number of annealing steps.
    sharpness : float, default=4.0

    Returns
    -------
    betas : torch.Tensor of shape (K + 1,)

    Examples
    --------
    >>> betas = sigmoid_schedule(4)
    >>> float(betas[0]), float(betas[-1]), bool((betas.diff() > 0).all())
    (0.0, 1.0, True)
    """
    if int(n_temperatures) < 1:
        raise ValueError(f"n_temperatures must be a positive int; got {n_temperatures!r}.")
    grid = torch.linspace(-sharpness, sharpness, int(n_temperatures) + 1, dtype=dtype)
    values = torch.sigmoid(grid)
    return (values - values[0]) / (values[-1] - values[0])


class _Piece(NamedTuple):
    """Position with the target energy ``E`` and the initial energy ``-log q0`` and gradients."""

    position: torch.Tensor
    energy: torch.Tensor
    energy_grad: torch.Tensor
    initial_energy: torch.Tensor
    initial_grad: torch.Tensor


def _evaluate(energy_fn, initial_energy_fn, position):
    energy, energy_grad = energy_and_gradient(energy_fn, position)
    initial_energy, initial_grad = energy_and_gradient(initial_energy_fn, position)
    return _Piece(position.detach(), energy, energy_grad, initial_energy, initial_grad)


def _tempered(piece, beta):
    """Energy and gradient of ``pi_beta = q0^(1 - beta) exp(-E)^beta`` (unnormalized)."""
    energy = (1.0 - beta) * piece.initial_energy + beta * piece.energy
    grad = (1.0 - beta) * piece.initial_grad + beta * piece.energy_grad
    return energy, grad


def _hmc_transition(energy_fn, initial_energy_fn, piece, beta, step_size, n_leapfrog, generator):
    """One Metropolis-corrected HMC transition leaving ``pi_beta`` invariant."""
    position = piece.position
    momentum = torch.randn(
        position.shape, generator=generator, device=position.device, dtype=position.dtype
    )
    start_energy, grad = _tempered(piece, beta)
    start_h = start_energy + 0.5 * momentum.pow(2).sum(-1)
    proposal = piece
    velocity = momentum - 0.5 * step_size * grad
    finite = torch.ones(position.shape[0], dtype=torch.bool, device=position.device)
    for step in range(n_leapfrog):
        moved = proposal.position + step_size * velocity
        proposal = _evaluate(energy_fn, initial_energy_fn, moved)
        _, grad = _tempered(proposal, beta)
        weight = 0.5 if step == n_leapfrog - 1 else 1.0
        velocity = velocity - weight * step_size * grad
        finite &= torch.isfinite(proposal.energy) & torch.isfinite(grad).all(-1)
    end_energy, _ = _tempered(proposal, beta)
    end_h = end_energy + 0.5 * velocity.pow(2).sum(-1)
    # The MCMC kernels' test: non-finite trajectories are rejected and counted as divergent.
    accept, probability, divergent = _metropolis_decision(
        start_h - end_h, finite & torch.isfinite(end_h), DEFAULT_DIVERGENCE_THRESHOLD, generator
    )
    rows = accept[:, None]
    chosen = _Piece(
        torch.where(rows, proposal.position, piece.position),
        torch.where(accept, proposal.energy, piece.energy),
        torch.where(rows, proposal.energy_grad, piece.energy_grad),
        torch.where(accept, proposal.initial_energy, piece.initial_energy),
        torch.where(rows, proposal.initial_grad, piece.initial_grad),
    )
    return chosen, probability, divergent


def log_partition_ais(
    energy_fn,
    initial,
    n_chains=512,
    n_temperatures=500,
    n_leapfrog_steps=5,
    step_size=0.5,
    target_acceptance=0.65,
    bidirectional=False,
    generator=None,
):
    """Estimate ``log Z`` by annealed importance sampling with HMC transitions.

    Chains start from ``initial`` (a normalized density ``q0``) and move through the geometric
    path ``pi_k proportional to q0^(1 - beta_k) exp(-E)^beta_k`` (sigmoid-spaced ``beta``), one
    HMC transition per temperature. Each chain carries the log weight
    ``sum_k (beta_k - beta_(k-1)) (log q0(x_(k-1)) + E(x_(k-1)))`` whose exponential is an unbiased
    estimate of ``Z``; the estimate is the log of their mean, with a delta-method standard
    error. The leapfrog step size is shared by all chains and adapted from one temperature
    to the next toward ``target_acceptance`` (the adaptation uses the chains' own acceptance,
    a negligible departure from the exact algorithm that practitioners accept).

    With a :class:`GaussianProposal` as ``initial`` the anneal runs in its whitened coordinates
    ``u = L^(-1) (x - mean)``, where ``q0`` is ``N(0, I)`` and one scalar step size fits every
    direction the data vary in.

    Parameters
    ----------
    energy_fn : callable
        Maps ``(n, d)`` tensors to ``(n,)`` energies ``E``.
    initial : GaussianProposal or object
        Starting distribution; any object with ``sample(n, generator)`` returning ``(n, d)``
        positions and a differentiable ``log_prob(x)`` works.
    n_chains : int, default=512
    n_temperatures : int, default=500
        Annealing steps ``K``; the variance of the log weights falls roughly as ``1 / K``.
    n_leapfrog_steps : int, default=5
    step_size : float, default=0.5
        Initial leapfrog step size (adapted afterwards).
    target_acceptance : float, default=0.65
    bidirectional : bool, default=False
        Also run the reverse anneal from the forward end points (doubles the cost); see
        :class:`AISResult`.
    generator : torch.Generator or None
        Source of all randomness; ``None`` seeds a fresh one with 0.

    Returns
    -------
    AISResult

    Examples
    --------
    >>> import math, torch
    >>> from adesk.energies import GaussianEnergy
    >>> from adesk.partition import GaussianProposal
    >>> energy = GaussianEnergy(torch.ones(3), 2 * torch.ones(3)).double()
    >>> initial = GaussianProposal(torch.zeros(3, dtype=torch.float64), torch.eye(3).double())
    >>> result = log_partition_ais(energy, initial, n_chains=64, n_temperatures=50)
    >>> truth = 3 * math.log(2) + 1.5 * math.log(2 * math.pi)
    >>> abs(result.log_partition - truth) < 4 * result.log_partition_std + 0.05
    True
    """
    if int(n_chains) < 2:
        raise ValueError(f"n_chains must be an int >= 2; got {n_chains!r}.")
    if int(n_leapfrog_steps) < 1:
        raise ValueError(f"n_leapfrog_steps must be a positive int; got {n_leapfrog_steps!r}.")
    if not 0.0 < float(target_acceptance) < 1.0:
        raise ValueError(f"target_acceptance must be in (0, 1); got {target_acceptance!r}.")
    if not float(step_size) > 0.0:
        raise ValueError(f"step_size must be positive; got {step_size!r}.")
    if generator is None:
        generator = torch.Generator().manual_seed(0)

    if isinstance(initial, GaussianProposal):
        # Whitened coordinates: Z = |det L| int exp(-E(mean + L u)) du.
        whitened_energy = initial.whitened_energy(energy_fn)
        start = initial.sample_whitened(int(n_chains), generator)

        def initial_energy_fn(u):
            return 0.5 * u.pow(2).sum(-1) + 0.5 * u.shape[-1] * math.log(2 * math.pi)

        target_fn = whitened_energy
    else:
        start = initial.sample(int(n_chains), generator).detach()

        def initial_energy_fn(x):
            return -initial.log_prob(x)

        target_fn = energy_fn

    betas = sigmoid_schedule(n_temperatures).tolist()
    piece = _evaluate(target_fn, initial_energy_fn, start)
    log_weights = torch.zeros(start.shape[0], dtype=torch.float64, device=start.device)
    size = float(step_size)
    step_sizes, acceptances, n_divergences = [], [], 0
    for k in range(1, len(betas)):
        # log f_k(x) - log f_(k-1)(x) at the current point, then a move leaving pi_k invariant.
        increment = (betas[k] - betas[k - 1]) * (piece.initial_energy - piece.energy)
        log_weights = log_weights + increment.to(torch.float64)
        piece, probability, divergent = _hmc_transition(
            target_fn, initial_energy_fn, piece, betas[k], size, int(n_leapfrog_steps), generator
        )
        step_sizes.append(size)
        rate = float(probability.mean())
        acceptances.append(rate)
        n_divergences += int(divergent.sum())
        # Multiplicative Robbins-Monro step toward the target acceptance.
        size = size * math.exp(1.0 * (rate - float(target_acceptance)))
    forward = log_partition_importance(log_weights)

    reverse_value, reverse_std = float("nan"), float("nan")
    if bidirectional:
        reverse_weights = torch.zeros_like(log_weights)
        for k in range(len(betas) - 1, 0, -1):
            increment = (betas[k] - betas[k - 1]) * (piece.initial_energy - piece.energy)
            reverse_weights = reverse_weights - increment.to(torch.float64)
            if k > 1:
                piece, _, divergent = _hmc_transition(
                    target_fn,
                    initial_energy_fn,
                    piece,
                    betas[k - 1],
                    step_sizes[k - 2],
                    int(n_leapfrog_steps),
                    generator,
                )
                n_divergences += int(divergent.sum())
        # E[w_rev] = Z_0 / Z_K = 1 / Z for exact starts.
        backward = log_partition_importance(reverse_weights)
        reverse_value, reverse_std = -backward.log_partition, backward.log_partition_std

    return AISResult(
        forward.log_partition,
        forward.log_partition_std,
        forward.effective_sample_size,
        int(n_chains),
        int(n_temperatures),
        float(sum(acceptances) / len(acceptances)),
        step_sizes,
        reverse_value,
        reverse_std,
        n_divergences,
    )
