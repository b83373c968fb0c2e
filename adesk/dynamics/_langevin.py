"""Langevin embeddings: stochastic (eq. 14-15, density eq. 19) and deterministic (App. B.1)."""

import math

import torch
from torch import nn

from .._kde import LOG_2PI
from ._embedding import DynamicsEmbedding, EmbeddingOutput
from ._leapfrog import clip_norm, energy_and_gradient
from ._logdet import logdet, power_iteration_bound
from ._state import PhaseState

LOGDET_METHODS = ("exact", "taylor", "chebyshev")


class LangevinEmbedding(DynamicsEmbedding):
    """``n_steps`` stochastic Langevin layers with learned (eq. 14-15) or step-tied noise laws.

    Step ``t`` draws fresh noise ``xi_t ~ q_t = N(0, diag(sigma_t^2))`` (reparametrized, with
    learned ``sigma_t`` per step and coordinate, initialised to ``sqrt(eta)``) and moves::

        v_t = xi_t - eta_t/2 * clip(grad E(x_{t-1}))
        x_t = x_{t-1} + v_t

    With ``sigma = sqrt(eta)`` this is the unadjusted Langevin algorithm with step
    ``eta / 2``. Each move is a shear of ``(x, xi) -> (x, v) -> (x', v)``, so the density of
    ``(x_T, v_1, ..., v_T)`` is ``q_0(x_0, .) prod_t q_t(xi_t)`` (eq. 19): no Jacobian, only
    the noise densities. The matching augmented model (multi-momenta, eq. 9) is
    ``exp(-E(x) - sum_t lambda_t/2 |v_t|^2)`` with ``lambda_t = momentum_penalty / step_size``
    (the initial ``eta``), so each ``v_t``'s stationary scale matches the noise scale. The
    momentum drawn by ``q_0`` is carried through unchanged (an extra augmented variable with
    penalty ``momentum_penalty``), which keeps every initial distribution usable.

    Parameters
    ----------
    n_features : int
    n_steps : int
    step_size : float
    step_size_shape, learn_step_size, momentum_penalty, position_bounds
        As in :class:`DynamicsEmbedding`.
    learn_noise : bool, default=True
        Learn the noise scales ``sigma_t`` (eq. 14-15). ``False`` ties them to the step sizes,
        ``sigma_t = sqrt(eta_t)`` in every coordinate, recomputed at each call so that they
        follow step sizes that are learned or adapted: each step is then the unadjusted
        Langevin algorithm with step ``eta_t / 2`` (MALA under the Metropolis test).
    gradient_clip : float or None, default=None
        Norm clipping of the energy gradient in the drift.
    metropolis : bool, default=False
        Metropolis-adjust every step (MALA): accept ``x_t`` with the ratio of the target times
        the reverse proposal density ``N(x_{t-1}; x_t - eta/2 clip(grad E(x_t)), sigma^2)`` to
        the forward one; exact for any learned ``eta``, ``sigma`` and clipping. The draw carries
        no gradient. A rejected step keeps ``x_{t-1}``, so the density bookkeeping (eq. 19)
        becomes an approximation for chains with rejections.

    Examples
    --------
    >>> import torch
    >>> from adesk.energies import GaussianEnergy
    >>> embedding = LangevinEmbedding(2, n_steps=4, step_size=0.1)
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> out = embedding(energy, torch.randn(3, 2), torch.randn(3, 2),
    ...                 generator=torch.Generator().manual_seed(0))
    >>> out.state.position.shape, out.log_noise_density.shape
    (torch.Size([3, 2]), torch.Size([3]))
    """

    def __init__(
        self,
        n_features,
        n_steps,
        step_size,
        step_size_shape="scalar",
        learn_step_size=True,
        momentum_penalty=1.0,
        learn_noise=True,
        gradient_clip=None,
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
        self.learn_noise = bool(learn_noise)
        if self.learn_noise:
            self.log_noise_std = nn.Parameter(
                torch.full((n_steps, n_features), 0.5 * math.log(step_size))
            )
        self.noise_penalty = float(momentum_penalty) / float(step_size)
        self.gradient_clip = gradient_clip
        self.metropolis = bool(metropolis)

    def _prepare_to_load(self, state_dict):
        """Called by adesk's persistence before ``load_state_dict``: a state with learned noise
        scales (saved before they were tied to the step by default) keeps them, and the module
        becomes the learned-noise variant."""
        if "log_noise_std" in state_dict and not self.learn_noise:
            self.learn_noise = True
            self.log_noise_std = nn.Parameter(torch.empty_like(state_dict["log_noise_std"]))

    def noise_stds(self):
        """The ``(n_steps, n_features)`` noise scales ``sigma_t``."""
        return torch.exp(self._log_noise_stds())

    def _log_noise_stds(self):
        if self.learn_noise:
            return self.log_noise_std
        log_steps = torch.log(self.step_sizes())
        return (0.5 * log_steps).expand(self.n_steps, self.n_features)

    def forward(
        self,
        energy_fn,
        position,
        momentum,
        create_graph=True,
        return_trajectory=False,
        generator=None,
        track_density=True,
        noise=None,
        start_cache=None,
    ):
        """Run the layers; ``generator`` draws the noise (and the Metropolis uniforms).

        ``noise`` optionally gives the standard normal draws ``eps_t`` (shape
        ``(n_steps, n, d)``; ``xi_t = sigma_t * eps_t``) instead of drawing them.

        See :meth:`HMCEmbedding.forward` for the parameters; returns an
        :class:`EmbeddingOutput` whose ``hamiltonian`` is
        ``E(x_T) + sum_t lambda_t/2 |v_t|^2 + lambda/2 |v_0|^2``.
        """
        state = self._start(energy_fn, position, momentum, create_graph, start_cache)
        n, d = position.shape
        step_sizes = self.step_sizes().to(position.dtype)
        log_stds = self._log_noise_stds().to(position.dtype)
        log_noise = self._zeros(position)
        kinetic = self.kinetic_energy(momentum)
        trajectory = [position.detach()] if return_trajectory else None
        accepted, divergent = 0, 0
        for t in range(self.n_steps):
            if noise is None:
                eps = torch.randn(
                    (n, d), generator=generator, device=position.device, dtype=position.dtype
                )
            else:
                eps = noise[t]
            xi = torch.exp(log_stds[t]) * eps
            log_noise = log_noise - 0.5 * eps.pow(2).sum(-1) - log_stds[t].sum() - 0.5 * d * LOG_2PI
            drift = 0.5 * step_sizes[t] * clip_norm(state.energy_grad, self.gradient_clip)
            velocity = xi - drift
            kinetic = kinetic + 0.5 * self.noise_penalty * velocity.pow(2).sum(-1)
            proposal_x = state.position + velocity
            energy, energy_grad = energy_and_gradient(
                energy_fn, proposal_x, create_graph=create_graph
            )
            proposal = PhaseState(proposal_x, state.momentum, energy, energy_grad)
            if self.metropolis:
                proposal, n_accept, n_divergent = self._mala_test(
                    state, proposal, step_sizes[t], log_stds[t], generator
                )
                accepted, divergent = accepted + n_accept, divergent + n_divergent
            state = self._clamp(energy_fn, proposal, create_graph)
            if trajectory is not None:
                trajectory.append(state.position.detach())
        if self.metropolis:
            self.last_acceptance_rate = accepted / max(n * self.n_steps, 1)
            self.last_n_divergences = divergent
        hamiltonian = state.energy + kinetic
        return EmbeddingOutput(state, self._zeros(position), log_noise, hamiltonian, trajectory)

    def _mala_test(self, state, proposal, step_size, log_std, generator):
        def log_proposal(to, frm, grad):
            mean = frm - 0.5 * step_size * clip_norm(grad, self.gradient_clip)
            return -0.5 * ((to - mean) * torch.exp(-log_std)).pow(2).sum(-1)

        with torch.no_grad():
            log_ratio = (
                state.energy
                - proposal.energy
                + log_proposal(state.position, proposal.position, proposal.energy_grad)
                - log_proposal(proposal.position, state.position, state.energy_grad)
            )
            finite = torch.isfinite(log_ratio)
            uniform = torch.rand(
                log_ratio.shape, generator=generator, device=log_ratio.device, dtype=log_ratio.dtype
            )
            accept = finite & (torch.log(uniform) < torch.where(finite, log_ratio, 0.0))
        keep = accept[:, None]
        chosen = PhaseState(
            torch.where(keep, proposal.position, state.position),
            state.momentum,
            torch.where(accept, proposal.energy, state.energy),
            torch.where(keep, proposal.energy_grad, state.energy_grad),
        )
        return chosen, accept.sum(), (~finite).sum()


class DeterministicLangevinEmbedding(DynamicsEmbedding):
    """``n_steps`` gradient-descent layers ``x' = x - eta * grad E(x)`` (Appendix B.1).

    The map is not volume-preserving: ``log|det J| = log|det(I - eta H(x))|`` with ``H`` the
    Hessian of ``E``, computed by exact ``slogdet`` of the Hessian (``d`` Hessian-vector
    products per step: small ``d``) or estimated from Hessian-vector products by a stochastic
    Taylor or Chebyshev expansion with Rademacher probes (:mod:`adesk.dynamics._logdet`). The
    eigenvalue interval these expansions need is ``1 +- 1.1 r`` with ``r`` a power-iteration
    estimate of the spectral radius of ``eta H``; the map is invertible only while ``r < 1``
    and ``last_max_curvature`` records the largest ``r`` of the last call. The raw gradient is
    used (no clipping), so the Jacobian stays ``I - eta H``. The momentum drawn by ``q_0`` is
    carried through unchanged.

    Parameters
    ----------
    n_features : int
    n_steps : int
    step_size : float
    step_size_shape, learn_step_size, momentum_penalty, position_bounds
        As in :class:`DynamicsEmbedding`.
    logdet : {"exact", "taylor", "chebyshev"}, default="exact"
    logdet_terms : int, default=10
        Expansion order of the stochastic estimators.
    logdet_probes : int, default=2
        Rademacher probe vectors per sample for the stochastic estimators.
    power_iterations : int, default=5
        Power-iteration steps for the spectral radius (stochastic estimators only).

    Examples
    --------
    >>> import torch
    >>> from adesk.energies import GaussianEnergy
    >>> embedding = DeterministicLangevinEmbedding(2, n_steps=3, step_size=0.1)
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> out = embedding(energy, torch.ones(1, 2), torch.zeros(1, 2))
    >>> round(float(out.log_det_jacobian[0].detach()), 4)  # 3 steps of 2 * log(1 - 0.1)
    -0.6322
    """

    def __init__(
        self,
        n_features,
        n_steps,
        step_size,
        step_size_shape="scalar",
        learn_step_size=True,
        momentum_penalty=1.0,
        logdet="exact",
        logdet_terms=10,
        logdet_probes=2,
        power_iterations=5,
        position_bounds=None,
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
        if logdet not in LOGDET_METHODS:
            raise ValueError(f"logdet must be one of {LOGDET_METHODS}; got {logdet!r}.")
        self.momentum_dim = int(n_features)
        self.logdet = logdet
        self.logdet_terms = int(logdet_terms)
        self.logdet_probes = int(logdet_probes)
        self.power_iterations = int(power_iterations)
        self.metropolis = False
        self.last_max_curvature = float("nan")

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
        """Run the layers; ``generator`` draws the probes of the stochastic log-det estimators.

        See :meth:`HMCEmbedding.forward` for the parameters; returns an
        :class:`EmbeddingOutput`.
        """
        n, d = position.shape
        step_sizes = self.step_sizes().to(position.dtype)
        log_det = self._zeros(position)
        trajectory = [position.detach()] if return_trajectory else None
        max_curvature = 0.0
        x = position
        for t in range(self.n_steps):
            step = step_sizes[t]
            if not track_density:
                _, grad = energy_and_gradient(energy_fn, x, create_graph=create_graph)
                x = x - step * grad
                if trajectory is not None:
                    trajectory.append(x.detach())
                continue
            # The log-det needs Hessian-vector products, hence the gradient's graph, always.
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            _, grad = energy_and_gradient(energy_fn, x, create_graph=True)

            def jacobian_matvec(u, x=x, grad=grad, step=step):
                (hessian_u,) = torch.autograd.grad(
                    grad, x, grad_outputs=u, create_graph=True, retain_graph=True
                )
                return u - step * hessian_u

            bounds = None
            if self.logdet != "exact":

                def curvature_matvec(u, x=x, grad=grad, step=step):
                    (hessian_u,) = torch.autograd.grad(grad, x, grad_outputs=u, retain_graph=True)
                    return step * hessian_u

                radius = power_iteration_bound(
                    curvature_matvec,
                    n,
                    d,
                    n_iterations=self.power_iterations,
                    generator=generator,
                    dtype=x.dtype,
                    device=x.device,
                )
                max_curvature = max(max_curvature, float(radius.max()))
                low = torch.clamp(1.0 - 1.1 * radius, min=0.05)
                bounds = (low, 1.0 + 1.1 * radius)
            step_log_det = logdet(
                jacobian_matvec,
                n,
                d,
                method=self.logdet,
                n_terms=self.logdet_terms,
                n_probes=self.logdet_probes,
                eigenvalue_bounds=bounds,
                generator=generator,
                dtype=x.dtype,
                device=x.device,
            )
            log_det = log_det + (step_log_det if create_graph else step_log_det.detach())
            x = x - step * grad
            if not create_graph:
                x = x.detach()
            if self.lower_bound is not None:
                x = torch.maximum(torch.minimum(x, self.upper_bound), self.lower_bound)
            if trajectory is not None:
                trajectory.append(x.detach())
        self.last_max_curvature = max_curvature if self.logdet != "exact" else float("nan")
        energy, energy_grad = energy_and_gradient(energy_fn, x, create_graph=create_graph)
        state = PhaseState(x, momentum, energy, energy_grad)
        return EmbeddingOutput(
            state, log_det, self._zeros(position), self.hamiltonian(state), trajectory
        )
