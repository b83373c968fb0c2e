"""The shared machinery of dynamics embeddings and the HMC embedding (eq. 10-11, 16)."""

import math
from typing import NamedTuple

import torch
from torch import nn

from ._leapfrog import clip_norm, energy_and_gradient, leapfrog_step
from ._state import PhaseState

STEP_SIZE_SHAPES = ("scalar", "per_dimension", "per_step", "per_step_dimension")


class EmbeddingOutput(NamedTuple):
    """What a dynamics embedding returns.

    The density of the output follows from the density of the input by
    ``log q_T(output) = log q_0(x_0, v_0) - log_det_jacobian + log_noise_density``.

    Attributes
    ----------
    state : PhaseState
        Final position, momentum, and the energy and gradient cached at the position.
    log_det_jacobian : torch.Tensor of shape (n,)
        ``sum_t log|det J_t|`` of the deterministic maps (zero for leapfrog).
    log_noise_density : torch.Tensor of shape (n,)
        ``sum_t log q_t(xi_t)`` of the fresh noise drawn inside the embedding (stochastic
        Langevin; zero for the deterministic embeddings).
    hamiltonian : torch.Tensor of shape (n,)
        The augmented model's energy at the output: ``E(x_T)`` plus the kinetic energy of every
        momentum it carries. After a Metropolis test it is the *expected* value under the
        acceptance probability, which stays differentiable in the sampler's parameters.
    trajectory : list of torch.Tensor or None
        Detached positions ``[x_0, ..., x_T]`` when asked for.

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics import HMCEmbedding
    >>> from adesk.energies import GaussianEnergy
    >>> embedding = HMCEmbedding(2, n_steps=3, step_size=0.1)
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> generator = torch.Generator().manual_seed(0)
    >>> x0, v0 = torch.randn(4, 2, generator=generator), torch.randn(4, 2, generator=generator)
    >>> out = embedding(energy, x0, v0, return_trajectory=True)
    >>> out.state.position.shape, out.hamiltonian.shape, len(out.trajectory)  # x_0, ..., x_3
    (torch.Size([4, 2]), torch.Size([4]), 4)
    >>> float(out.log_det_jacobian.abs().max()), float(out.log_noise_density.abs().max())
    (0.0, 0.0)
    """

    state: PhaseState
    log_det_jacobian: torch.Tensor
    log_noise_density: torch.Tensor
    hamiltonian: torch.Tensor
    trajectory: list | None


class DynamicsEmbedding(nn.Module):
    """Base class: ``n_steps`` layers sharing the energy, with learnable step sizes.

    Subclasses implement :meth:`forward`. The base class stores the step sizes as logarithms
    (positive by construction) in one of four shapes, the momentum penalty ``lambda`` of the
    augmented model ``exp(-E(x) - lambda/2 |v|^2)``, the optional clamping box and the
    diagnostics of the last call (``last_acceptance_rate``, ``last_n_divergences``).

    Parameters
    ----------
    n_features : int
    n_steps : int
    step_size : float
        Initial step size ``eta``.
    step_size_shape : {"scalar", "per_dimension", "per_step", "per_step_dimension"}
        One step size overall, per coordinate, per layer, or per layer and coordinate.
    learn_step_size : bool
        Whether the step sizes are parameters (otherwise buffers).
    momentum_penalty : float
        ``lambda``.
    position_bounds : tuple of two tensors or None
        Corners of a box that positions are clamped to after every step (not
        volume-preserving; only samples leaving the box are affected and the bookkeeping
        ignores it).

    Examples
    --------
    The concrete embeddings (here :class:`HMCEmbedding`) inherit the step-size bookkeeping:

    >>> import torch
    >>> from adesk.dynamics import DynamicsEmbedding, HMCEmbedding
    >>> embedding = HMCEmbedding(2, n_steps=3, step_size=0.1, step_size_shape="per_dimension")
    >>> isinstance(embedding, DynamicsEmbedding)
    True
    >>> step_sizes = embedding.step_sizes().detach()  # learnable: detach to read them
    >>> step_sizes.shape  # (n_steps, n_features)
    torch.Size([3, 2])
    >>> round(float(step_sizes[0, 0]), 4)
    0.1
    >>> float(embedding.kinetic_energy(torch.tensor([[3.0, 4.0]])))  # lambda / 2 |v|^2
    12.5
    """

    momentum_dim = None

    def __init__(
        self,
        n_features,
        n_steps,
        step_size,
        step_size_shape="scalar",
        learn_step_size=True,
        momentum_penalty=1.0,
        position_bounds=None,
    ):
        super().__init__()
        if step_size_shape not in STEP_SIZE_SHAPES:
            raise ValueError(
                f"step_size_shape must be one of {STEP_SIZE_SHAPES}; got {step_size_shape!r}."
            )
        rows = n_steps if step_size_shape.startswith("per_step") else 1
        cols = n_features if step_size_shape.endswith("dimension") else 1
        log_step_size = torch.full((rows, cols), math.log(step_size))
        if learn_step_size:
            self.log_step_size = nn.Parameter(log_step_size)
        else:
            self.register_buffer("log_step_size", log_step_size)
        self.n_features = int(n_features)
        self.n_steps = int(n_steps)
        self.momentum_penalty = float(momentum_penalty)
        self._last_acceptance = float("nan")
        self._last_divergences = 0
        if position_bounds is None:
            self.lower_bound = self.upper_bound = None
        else:
            self.register_buffer("lower_bound", torch.as_tensor(position_bounds[0]).float())
            self.register_buffer("upper_bound", torch.as_tensor(position_bounds[1]).float())

    # The Metropolis diagnostics stay on the device until read: reading them is a host sync,
    # which a GPU training loop should pay once per iteration at most.
    @property
    def last_acceptance_rate(self):
        """Acceptance rate of the last call's Metropolis test(s) (NaN before any)."""
        value = self._last_acceptance
        return float(value) if isinstance(value, torch.Tensor) else value

    @last_acceptance_rate.setter
    def last_acceptance_rate(self, value):
        self._last_acceptance = value

    @property
    def last_n_divergences(self):
        """Number of non-finite proposals rejected in the last call."""
        value = self._last_divergences
        return int(value) if isinstance(value, torch.Tensor) else value

    @last_n_divergences.setter
    def last_n_divergences(self, value):
        self._last_divergences = value

    def step_sizes(self):
        """The ``(n_steps, n_features or 1)`` step sizes used by the layers, as a tensor."""
        rows = torch.exp(self.log_step_size)
        if rows.shape[0] == 1:
            rows = rows.expand(self.n_steps, rows.shape[1])
        return rows

    def _step_schedule(self, position, generator):
        """Step sizes of each layer, shaped to broadcast against ``(n, d)``.

        Under a Metropolis test with a different step size per layer, each chain runs the
        layers forward or backward (a fair coin per chain): flipping the momentum inverts a
        leapfrog trajectory only when the layers run in reverse order, so the random
        direction is what makes the proposal an involution and the test exact.
        """
        step_sizes = self.step_sizes().to(position.dtype)
        if not (getattr(self, "metropolis", False) and self.log_step_size.shape[0] > 1):
            return list(step_sizes)
        n = position.shape[0]
        backward = torch.rand(n, generator=generator, device=position.device) < 0.5
        reversed_sizes = torch.flip(step_sizes, dims=[0])
        return [
            torch.where(backward[:, None], reversed_sizes[t], step_sizes[t])
            for t in range(self.n_steps)
        ]

    def step_size_parameters(self):
        """The parameters that set step sizes (learned even when ``q_0`` is a replay buffer)."""
        return [p for p in self.parameters() if p.requires_grad]

    def kinetic_energy(self, momentum):
        """``lambda/2 |v|^2`` per row."""
        return 0.5 * self.momentum_penalty * momentum.pow(2).sum(-1)

    def hamiltonian(self, state):
        """``E(x) + lambda/2 |v|^2`` per sample."""
        return state.energy + self.kinetic_energy(state.momentum)

    def _start(self, energy_fn, position, momentum, create_graph, start_cache=None):
        if start_cache is not None and not create_graph:
            # The energy and gradient at ``position`` are already known (the end of a previous
            # trajectory): the first half-step costs nothing.
            energy, energy_grad = start_cache
            return PhaseState(position, momentum, energy, energy_grad)
        energy, energy_grad = energy_and_gradient(energy_fn, position, create_graph=create_graph)
        return PhaseState(position, momentum, energy, energy_grad)

    def _zeros(self, position):
        return torch.zeros(position.shape[0], dtype=position.dtype, device=position.device)

    def _clamp(self, energy_fn, state, create_graph):
        if self.lower_bound is None:
            return state
        outside = (state.position < self.lower_bound) | (state.position > self.upper_bound)
        if not bool(outside.any()):
            return state
        position = torch.maximum(torch.minimum(state.position, self.upper_bound), self.lower_bound)
        energy, energy_grad = energy_and_gradient(energy_fn, position, create_graph=create_graph)
        return PhaseState(position, state.momentum, energy, energy_grad)

    def _finish_trajectory(self, start, end, log_det, trajectory, generator):
        """The :class:`EmbeddingOutput` of a deterministic trajectory, Metropolis-tested if
        ``self.metropolis``."""
        if self.metropolis:
            end, log_det, hamiltonian = self._trajectory_metropolis(start, end, log_det, generator)
            if trajectory is not None:
                trajectory[-1] = end.position.detach()
        else:
            hamiltonian = self.hamiltonian(end)
        noise = self._zeros(end.position)
        return EmbeddingOutput(end, log_det, noise, hamiltonian, trajectory)

    def _trajectory_metropolis(self, start, end, log_det, generator):
        """Accept ``end`` with probability ``min(1, exp(H_0 - H_T + log|det J|))``.

        Returns the chosen state, the log-det of the chosen map (zero where rejected) and the
        Hamiltonian expected under the acceptance probability. The accept/reject draw itself
        carries no gradient (as in the paper's reference code); the expected Hamiltonian
        does, so a step-size objective built on it pays for the proposals it gets rejected.
        """
        start_h, end_h = self.hamiltonian(start), self.hamiltonian(end)
        finite = torch.isfinite(end_h) & torch.isfinite(log_det)
        safe_end_h = torch.where(finite, end_h, start_h)
        safe_log_det = torch.where(finite, log_det, torch.zeros_like(log_det))
        log_ratio = start_h - safe_end_h + safe_log_det
        with torch.no_grad():
            uniform = torch.rand(
                log_ratio.shape, generator=generator, device=log_ratio.device, dtype=log_ratio.dtype
            )
            # A non-finite proposal is a divergence: always rejected, never propagated.
            accept = (torch.log(uniform) < log_ratio.detach()) & finite
            self.last_acceptance_rate = accept.float().mean()
            self.last_n_divergences = (~finite).sum()
        probability = torch.where(
            finite, torch.exp(torch.clamp(log_ratio, max=0.0)), torch.zeros_like(log_ratio)
        )
        expected = probability * safe_end_h + (1 - probability) * start_h
        keep = accept[:, None]
        chosen = PhaseState(
            torch.where(keep, end.position, start.position),
            torch.where(keep, end.momentum, start.momentum),
            torch.where(accept, end.energy, start.energy),
            torch.where(keep, end.energy_grad, start.energy_grad),
        )
        return chosen, torch.where(accept, safe_log_det, torch.zeros_like(log_det)), expected


class HMCEmbedding(DynamicsEmbedding):
    """Compose ``n_steps`` leapfrog layers that share the energy and learn their step sizes.

    Every leapfrog layer preserves volume, so the density of the output equals the density of
    the input (Theorem 4, eq. 16): ``log q_T(x_T, v_T) = log q_0(x_0, v_0)``.

    Parameters
    ----------
    n_features : int
    n_steps : int
        Number of leapfrog layers ``T``.
    step_size : float
        Initial step size ``eta`` (same for all layers and dimensions).
    step_size_shape : {"scalar", "per_dimension", "per_step", "per_step_dimension"}
        Which step sizes are learned separately: one overall, one per coordinate, one per layer,
        or one per layer and coordinate.
    learn_step_size : bool, default=True
        Whether the step sizes are parameters (otherwise buffers).
    momentum_penalty : float, default=1.0
        ``lambda`` of the augmented model (eq. 6): the Hamiltonian is ``E + lambda/2 |v|^2``.
    gradient_clip, momentum_clip : float or None
        Norm clipping of the energy gradient and of the momentum inside each step.
    position_bounds : tuple of two tensors or None
        Lower and upper corner of the clamping box, or ``None`` for no clamping.
    metropolis : bool, default=False
        Accept the end of the trajectory with probability ``min(1, exp(H_0 - H_T))`` and return
        the start otherwise, which makes the layer stack an exact HMC transition that leaves
        ``exp(-E(x) - lambda/2 |v|^2)`` invariant (with step sizes that differ per layer,
        each chain runs the layers in a random direction, which keeps the test exact). The
        acceptance is computed without gradient (as in the paper's reference code). The
        accept/reject step is a random choice between two volume-preserving maps, so
        ``log_det_jacobian`` stays zero, but the output density is no longer ``q_0`` at the
        pre-image: the importance weights and entropy of the embedded sampler become
        approximations for rejected samples.

    Examples
    --------
    >>> import torch
    >>> from adesk.energies import GaussianEnergy
    >>> embedding = HMCEmbedding(2, n_steps=3, step_size=0.1)
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> out = embedding(energy, torch.randn(4, 2), torch.randn(4, 2))
    >>> out.state.position.shape, float(out.log_det_jacobian.abs().max())
    (torch.Size([4, 2]), 0.0)
    """

    def __init__(
        self,
        n_features,
        n_steps,
        step_size,
        step_size_shape="scalar",
        learn_step_size=True,
        momentum_penalty=1.0,
        gradient_clip=None,
        momentum_clip=None,
        position_bounds=None,
        metropolis=False,
    ):
        super().__init__(
            n_features,
            n_steps,
            step_size,
            step_size_shape=step_size_shape,
            learn_step_size=learn_step_size,
            momentum_penalty=momentum_penalty,
            position_bounds=position_bounds,
        )
        self.momentum_dim = int(n_features)
        self.gradient_clip = gradient_clip
        self.momentum_clip = momentum_clip
        self.metropolis = bool(metropolis)

    def forward(
        self,
        energy_fn,
        position,
        momentum,
        create_graph=True,
        return_trajectory=False,
        generator=None,
        track_density=True,
        start_cache=None,
    ):
        """Run the ``n_steps`` layers from ``(position, momentum)``.

        Parameters
        ----------
        energy_fn : callable
            Maps ``(n, d)`` tensors to ``(n,)`` energies.
        position, momentum : torch.Tensor of shape (n, d)
        create_graph : bool, default=True
            Keep the graph so that losses can be differentiated through the trajectory (to
            learn the sampler and for BPTT); ``False`` for plain sampling.
        return_trajectory : bool, default=False
            Also return the positions ``[x_0, ..., x_T]`` (detached).
        generator : torch.Generator, optional
            Source of the uniform draws of the Metropolis test.
        track_density : bool, default=True
            Compute ``log_det_jacobian`` where it costs extra work (the deterministic Langevin
            embedding); ``False`` returns zeros there, for plain sampling.
        start_cache : tuple of torch.Tensor or None, default=None
            ``(energy, energy_grad)`` already known at ``position`` (e.g. the end state of a
            previous trajectory), used instead of evaluating them when ``create_graph`` is
            False. The deterministic Langevin embedding evaluates no separate start gradient
            and ignores it.

        Returns
        -------
        EmbeddingOutput
        """
        state = self._start(energy_fn, position, momentum, create_graph, start_cache)
        initial_state = state
        log_det = self._zeros(position)
        step_sizes = self._step_schedule(position, generator)
        if not (create_graph or return_trajectory) and self.lower_bound is None:
            # Plain sampling: the same arithmetic as the loop below, with each clipped gradient
            # computed once (it serves two half-steps) and no per-step bookkeeping.
            state = _leapfrog_without_graph(
                energy_fn,
                state,
                step_sizes,
                self.momentum_penalty,
                self.gradient_clip,
                self.momentum_clip,
            )
            return self._finish_trajectory(initial_state, state, log_det, None, generator)
        trajectory = [position.detach()] if return_trajectory else None
        for t in range(self.n_steps):
            state, step_log_det = leapfrog_step(
                energy_fn,
                state,
                step_sizes[t],
                momentum_penalty=self.momentum_penalty,
                gradient_clip=self.gradient_clip,
                momentum_clip=self.momentum_clip,
                create_graph=create_graph,
            )
            log_det = log_det + step_log_det
            state = self._clamp(energy_fn, state, create_graph)
            if trajectory is not None:
                trajectory.append(state.position.detach())
        return self._finish_trajectory(initial_state, state, log_det, trajectory, generator)


def _leapfrog_without_graph(
    energy_fn, state, step_sizes, momentum_penalty, gradient_clip, momentum_clip
):
    """``len(step_sizes)`` calls of :func:`leapfrog_step` without a graph, bit for bit.

    Each half momentum update keeps its own step size (layers may differ), so the values are
    exactly those of the step-by-step loop; what is saved is the second clipping of each
    gradient and the zero log-determinants. Used only when no graph is needed.
    """
    position, momentum = state.position, state.momentum
    energy, energy_grad = state.energy, state.energy_grad
    clipped_grad = clip_norm(energy_grad, gradient_clip)
    for step_size in step_sizes:
        momentum = torch.addcmul(momentum, step_size, clipped_grad, value=-0.5)
        position = torch.addcmul(
            position, step_size * momentum_penalty, clip_norm(momentum, momentum_clip)
        )
        energy, energy_grad = energy_and_gradient(energy_fn, position)
        clipped_grad = clip_norm(energy_grad, gradient_clip)
        momentum = torch.addcmul(momentum, step_size, clipped_grad, value=-0.5)
    return PhaseState(position, momentum, energy, energy_grad)
