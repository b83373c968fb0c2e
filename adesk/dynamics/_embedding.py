"""T composed leapfrog layers with learnable step sizes: the HMC dynamics embedding (eq. 11)."""

import math

import torch
from torch import nn

from ._leapfrog import energy_and_gradient, leapfrog_step
from ._state import PhaseState

STEP_SIZE_SHAPES = ("scalar", "per_dimension", "per_step", "per_step_dimension")


class HMCEmbedding(nn.Module):
    """Compose ``n_steps`` leapfrog layers that share the energy and learn their step sizes.

    The step sizes are stored as logarithms, so they stay positive by construction. Because
    every leapfrog layer preserves volume, the density of the output equals the density of the
    input (Theorem 4, eq. 16): ``log q_T(x_T, v_T) = log q_0(x_0, v_0)``. Optional clamping of
    positions to a box (the paper's "clip samples in HMC") is *not* volume-preserving; it only
    acts on samples that leave the box, and the bookkeeping ignores it.

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
        ``exp(-E(x) - lambda/2 |v|^2)`` invariant. The acceptance is computed without gradient
        (as in the paper's reference code). The accept/reject step is a random choice between
        two volume-preserving maps, so the output density is no longer ``q_0`` at the
        pre-image: ``log_det_jacobian`` stays zero but the importance weights and entropy of
        the embedded sampler become approximations for rejected samples.

    Examples
    --------
    >>> import torch
    >>> from adesk.energies import GaussianEnergy
    >>> embedding = HMCEmbedding(2, n_steps=3, step_size=0.1)
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> state, log_det = embedding(energy, torch.randn(4, 2), torch.randn(4, 2))
    >>> state.position.shape, float(log_det.abs().max())
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
        self.n_steps = int(n_steps)
        self.momentum_penalty = float(momentum_penalty)
        self.gradient_clip = gradient_clip
        self.momentum_clip = momentum_clip
        self.metropolis = bool(metropolis)
        self.last_acceptance_rate = float("nan")
        self.last_n_divergences = 0
        self.last_expected_hamiltonian = None
        if position_bounds is None:
            self.lower_bound = self.upper_bound = None
        else:
            self.register_buffer("lower_bound", torch.as_tensor(position_bounds[0]).float())
            self.register_buffer("upper_bound", torch.as_tensor(position_bounds[1]).float())

    def step_sizes(self):
        """The ``(n_steps, n_features or 1)`` step sizes used by the layers, as a tensor."""
        rows = torch.exp(self.log_step_size)
        if rows.shape[0] == 1:
            rows = rows.expand(self.n_steps, rows.shape[1])
        return rows

    def forward(
        self,
        energy_fn,
        position,
        momentum,
        create_graph=True,
        return_trajectory=False,
        generator=None,
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
            Also return the list of positions ``[x_0, ..., x_T]`` (detached).
        generator : torch.Generator, optional
            Source of the uniform draws of the Metropolis test.
        generator : torch.Generator, optional
            Source of the uniform draws of the Metropolis test.

        Returns
        -------
        state : PhaseState
            The final state ``(x_T, v_T)`` with the energy and gradient at ``x_T``.
        log_det_jacobian : torch.Tensor of shape (n,)
            ``sum_t log|det J_t|`` (zero for leapfrog).
        trajectory : list of torch.Tensor
            Only when ``return_trajectory`` is true.
        """
        energy, energy_grad = energy_and_gradient(energy_fn, position, create_graph=create_graph)
        state = PhaseState(position, momentum, energy, energy_grad)
        initial_state = state
        log_det = torch.zeros(position.shape[0], dtype=position.dtype, device=position.device)
        step_sizes = self.step_sizes().to(position.dtype)
        trajectory = [position.detach()]
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
            if self.lower_bound is not None:
                state = self._clamp(energy_fn, state, create_graph)
            trajectory.append(state.position.detach())
        if self.metropolis:
            state = self._metropolis(initial_state, state, generator)
            trajectory[-1] = state.position.detach()
        if return_trajectory:
            return state, log_det, trajectory
        return state, log_det

    def hamiltonian(self, state):
        """``E(x) + lambda/2 |v|^2`` per sample."""
        return state.energy + 0.5 * self.momentum_penalty * state.momentum.pow(2).sum(-1)

    def _metropolis(self, start, end, generator):
        with torch.no_grad():
            log_ratio = self.hamiltonian(start) - self.hamiltonian(end)
            # A non-finite proposal is a divergence: reject it, never accept it.
            log_ratio = torch.where(
                torch.isfinite(log_ratio), log_ratio, torch.full_like(log_ratio, -torch.inf)
            )
            uniform = torch.rand(
                log_ratio.shape, generator=generator, device=log_ratio.device, dtype=log_ratio.dtype
            )
            accept = torch.log(uniform) < log_ratio
            self.last_acceptance_rate = float(accept.float().mean())
            self.last_n_divergences = int((~torch.isfinite(self.hamiltonian(end))).sum())
        # Expected Hamiltonian after the test, differentiable through the acceptance
        # probability: a step-size objective built on it pays for the proposals it gets
        # rejected, which the sampled (stop-gradient) acceptance alone does not.
        start_h, end_h = self.hamiltonian(start), self.hamiltonian(end)
        finite = torch.isfinite(end_h)
        safe_end_h = torch.where(finite, end_h, start_h)
        probability = torch.where(
            finite, torch.exp(torch.clamp(start_h - safe_end_h, max=0.0)), 0.0 * start_h
        )
        expected = probability * safe_end_h + (1 - probability) * start_h
        self.last_expected_hamiltonian = expected if expected.requires_grad else None
        keep = accept[:, None]
        return PhaseState(
            torch.where(keep, end.position, start.position),
            torch.where(keep, end.momentum, start.momentum),
            torch.where(accept, end.energy, start.energy),
            torch.where(keep, end.energy_grad, start.energy_grad),
        )

    def _clamp(self, energy_fn, state, create_graph):
        outside = (state.position < self.lower_bound) | (state.position > self.upper_bound)
        if not bool(outside.any()):
            return state
        position = torch.maximum(torch.minimum(state.position, self.upper_bound), self.lower_bound)
        energy, energy_grad = energy_and_gradient(energy_fn, position, create_graph=create_graph)
        return PhaseState(position, state.momentum, energy, energy_grad)
