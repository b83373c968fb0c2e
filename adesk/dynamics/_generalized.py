"""Generalized leapfrog in a latent momentum space (paper eq. 13, log-det eq. 17-18)."""

import torch
from torch import nn

from ._embedding import DynamicsEmbedding
from ._leapfrog import clip_norm, energy_and_gradient
from ._state import PhaseState

GHMC_SCALES = ("learned", "decay", "none")
GHMC_MOMENTUM_MAPS = ("learned", "gradient")
GHMC_POSITION_MAPS = ("learned", "identity")


def _small_mlp(n_inputs, n_outputs, hidden_layer_sizes, output_bias=True):
    """A SiLU MLP whose last layer starts at zero, so the learned correction starts at zero."""
    layers, width = [], n_inputs
    for size in hidden_layer_sizes:
        layers += [nn.Linear(width, size), nn.SiLU()]
        width = size
    last = nn.Linear(width, n_outputs, bias=output_bias)
    nn.init.zeros_(last.weight)
    if output_bias:
        nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)


class GeneralizedLeapfrog(nn.Module):
    """The learnable functions ``S_v, g_v, S_x, g_x`` of one generalized leapfrog layer.

    One step of eq. (13), read as in ``architecture.md``::

        v_half = v * exp(S_v(x)) - eta/2 * g_v(x)
        x'     = x * exp(S_x(v_half)) + eta * g_x(v_half)
        v'     = v_half * exp(S_v(x')) - eta/2 * g_v(x')

    where ``S_v, g_v`` read ``(grad E(x), x)``. Each sub-update rescales one block of
    variables coordinatewise by a function of the other block and shifts it by another such
    function, so its Jacobian is triangular with diagonal ``exp(S)``:
    ``log|det J| = sum S_v(x) + sum S_x(v_half) + sum S_v(x')``. The density of the output is
    the density of the input *divided* by ``|det J|`` (a change of variables).

    The momentum lives in ``R^l`` with ``l = latent_dim``. ``g_v = P clip(grad E) + MLP`` and
    ``g_x = lambda * P^T clip(v) + MLP`` with a learned ``l x d`` matrix ``P`` (identity
    when ``l = d``, orthonormal rows otherwise) and MLP corrections that start at zero; the
    scales ``S`` start at zero too. So with ``l = d`` the layer starts as the vanilla leapfrog
    (10) and learning moves it away only where that pays.

    Parameters
    ----------
    n_features : int
    latent_dim : int
        Momentum dimension ``l`` (may be smaller than ``n_features``).
    hidden_layer_sizes : tuple of int, default=(32,)
        Hidden widths of the small MLPs.
    scale : {"learned", "decay", "none"}, default="learned"
        ``"learned"``: ``S_v`` and ``S_x`` are ``tanh``-bounded MLPs. ``"decay"``: ``S_x = 0``
        and ``S_v`` is a learned constant per momentum coordinate (a momentum decay, one of
        the paper's image settings). ``"none"``: ``S = 0`` (volume-preserving).
    momentum_map : {"learned", "gradient"}, default="learned"
        ``"gradient"``: ``g_v`` is the clipped energy gradient itself (needs ``l = d``).
    position_map : {"learned", "identity"}, default="learned"
        ``"identity"``: ``g_x(v) = lambda * clip(v)`` (needs ``l = d``).
    momentum_penalty : float, default=1.0
    gradient_clip, momentum_clip : float or None
        Norm clipping of the energy gradient and of the momentum fed to ``g_v`` and ``g_x``.

    Examples
    --------
    With ``latent_dim == n_features`` the learned corrections and scales start at zero, so the
    layer starts as the vanilla leapfrog: ``S_v = 0`` and ``g_v`` is the energy gradient.

    >>> import torch
    >>> from adesk.dynamics import GeneralizedLeapfrog
    >>> functions = GeneralizedLeapfrog(2, 2, hidden_layer_sizes=(8,))
    >>> x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    >>> grad = x  # the gradient of 0.5 |x|^2
    >>> log_scale, shift = functions.momentum_terms(x, grad)
    >>> log_scale.shape, bool((log_scale == 0).all()), bool(torch.allclose(shift, grad))
    (torch.Size([4, 2]), True, True)
    """

    def __init__(
        self,
        n_features,
        latent_dim,
        hidden_layer_sizes=(32,),
        scale="learned",
        momentum_map="learned",
        position_map="learned",
        momentum_penalty=1.0,
        gradient_clip=None,
        momentum_clip=None,
    ):
        super().__init__()
        for name, value, allowed in (
            ("scale", scale, GHMC_SCALES),
            ("momentum_map", momentum_map, GHMC_MOMENTUM_MAPS),
            ("position_map", position_map, GHMC_POSITION_MAPS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
        d, k = int(n_features), int(latent_dim)
        if k != d and (momentum_map == "gradient" or position_map == "identity"):
            raise ValueError(
                "momentum_map='gradient' and position_map='identity' need latent_dim == "
                f"n_features; got latent_dim={k} and n_features={d}."
            )
        self.n_features, self.latent_dim = d, k
        self.scale, self.momentum_map, self.position_map = scale, momentum_map, position_map
        self.momentum_penalty = float(momentum_penalty)
        self.gradient_clip, self.momentum_clip = gradient_clip, momentum_clip
        hidden = tuple(int(h) for h in hidden_layer_sizes)
        if momentum_map == "learned" or position_map == "learned":
            if k == d:
                projection = torch.eye(d)
            else:
                # Orthonormal rows: the latent momentum starts as a random k-dim subspace.
                q, _ = torch.linalg.qr(torch.randn(d, k))
                projection = q.T.contiguous()
            self.projection = nn.Parameter(projection)
        if momentum_map == "learned":
            self.momentum_net = _small_mlp(2 * d, k, hidden)
        if position_map == "learned":
            # Used as net(v) - net(-v): an output bias would cancel, so there is none.
            self.position_net = _small_mlp(k, d, hidden, output_bias=False)
        if scale == "learned":
            self.momentum_scale_net = _small_mlp(2 * d, k, hidden)
            self.position_scale_net = _small_mlp(k, d, hidden)
        elif scale == "decay":
            self.log_momentum_decay = nn.Parameter(torch.zeros(k))

    def momentum_terms(self, position, energy_grad):
        """``(S_v, g_v)`` at a position, each of shape ``(n, l)``."""
        grad = clip_norm(energy_grad, self.gradient_clip)
        features = None
        if self.momentum_map == "gradient":
            shift = grad
        else:
            features = torch.cat([grad, position], dim=-1)
            shift = grad @ self.projection.T + self.momentum_net(features)
        if self.scale == "learned":
            if features is None:
                features = torch.cat([grad, position], dim=-1)
            log_scale = torch.tanh(self.momentum_scale_net(features))
        elif self.scale == "decay":
            log_scale = self.log_momentum_decay.expand(shift.shape)
        else:
            log_scale = torch.zeros_like(shift)
        return log_scale, shift

    def position_terms(self, momentum):
        """``(S_x, g_x)`` at a latent momentum, each of shape ``(n, d)``."""
        clipped = clip_norm(momentum, self.momentum_clip)
        if self.position_map == "identity":
            shift = self.momentum_penalty * clipped
        else:
            # The correction is odd in the momentum, so that with S = 0 the step is reversible
            # under momentum flip and a Metropolis test on it is exact.
            correction = self.position_net(clipped) - self.position_net(-clipped)
            shift = self.momentum_penalty * clipped @ self.projection + correction
        if self.scale == "learned":
            log_scale = torch.tanh(self.position_scale_net(clipped))
        else:
            log_scale = torch.zeros_like(shift)
        return log_scale, shift


def generalized_leapfrog_step(
    energy_fn,
    state,
    functions,
    position_step,
    momentum_step,
    create_graph=False,
    momentum_terms=None,
):
    """One generalized leapfrog step (eq. 13) and its ``log|det J|`` (eq. 18).

    Parameters
    ----------
    energy_fn : callable
    state : PhaseState
        Position ``(n, d)``, latent momentum ``(n, l)`` and the cached energy and gradient.
    functions : GeneralizedLeapfrog
    position_step, momentum_step : torch.Tensor or float
        Step sizes broadcastable to ``(n, d)`` and ``(n, l)``.
    create_graph : bool, default=False
    momentum_terms : tuple of two tensors or None, default=None
        ``(S_v, g_v)`` at ``state.position`` when already known (the previous step's last
        half-step computed them at the same point); ``None`` computes them.

    Returns
    -------
    new_state : PhaseState
    log_det_jacobian : torch.Tensor of shape (n,)
    new_momentum_terms : tuple of two tensors
        ``(S_v, g_v)`` at the new position, for the next step.

    Examples
    --------
    At initialisation (``latent_dim == n_features``) the step equals :func:`leapfrog_step`:

    >>> import torch
    >>> from adesk.dynamics import (
    ...     GeneralizedLeapfrog, PhaseState, energy_and_gradient, generalized_leapfrog_step,
    ...     leapfrog_step)
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> functions = GeneralizedLeapfrog(2, 2, hidden_layer_sizes=(8,))
    >>> generator = torch.Generator().manual_seed(0)
    >>> x, v = torch.randn(4, 2, generator=generator), torch.randn(4, 2, generator=generator)
    >>> state = PhaseState(x, v, *energy_and_gradient(energy, x))
    >>> new_state, log_det, _ = generalized_leapfrog_step(energy, state, functions, 0.1, 0.1)
    >>> reference, _ = leapfrog_step(energy, state, 0.1)
    >>> bool(torch.allclose(new_state.position, reference.position)), log_det.shape
    (True, torch.Size([4]))
    """
    if momentum_terms is None:
        momentum_terms = functions.momentum_terms(state.position, state.energy_grad)
    log_scale_v0, shift_v0 = momentum_terms
    momentum_half = state.momentum * torch.exp(log_scale_v0) - 0.5 * momentum_step * shift_v0
    log_scale_x, shift_x = functions.position_terms(momentum_half)
    position = state.position * torch.exp(log_scale_x) + position_step * shift_x
    energy, energy_grad = energy_and_gradient(energy_fn, position, create_graph=create_graph)
    log_scale_v1, shift_v1 = functions.momentum_terms(position, energy_grad)
    momentum = momentum_half * torch.exp(log_scale_v1) - 0.5 * momentum_step * shift_v1
    log_det = log_scale_v0.sum(-1) + log_scale_x.sum(-1) + log_scale_v1.sum(-1)
    new_state = PhaseState(position, momentum, energy, energy_grad)
    return new_state, log_det, (log_scale_v1, shift_v1)


def generalized_leapfrog_inverse(
    energy_fn, position, momentum, functions, position_step, momentum_step
):
    """Invert :func:`generalized_leapfrog_step`: the ``(x, v)`` that the step maps to the input.

    Every sub-update is an affine map of one block given the other, so it inverts in closed
    form, in reverse order. Returns ``(position, momentum, log_det_jacobian)`` where the
    log-det is that of the *forward* step at the recovered point.

    Examples
    --------
    A step followed by its inverse returns to the start, with the same log-determinant:

    >>> import torch
    >>> from adesk.dynamics import (
    ...     GeneralizedLeapfrog, PhaseState, energy_and_gradient, generalized_leapfrog_inverse,
    ...     generalized_leapfrog_step)
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> functions = GeneralizedLeapfrog(2, 2, scale="decay", hidden_layer_sizes=(8,))
    >>> with torch.no_grad():
    ...     _ = functions.log_momentum_decay.fill_(-0.1)  # a momentum decay: log|det J| != 0
    >>> generator = torch.Generator().manual_seed(0)
    >>> x, v = torch.randn(4, 2, generator=generator), torch.randn(4, 2, generator=generator)
    >>> state = PhaseState(x, v, *energy_and_gradient(energy, x))
    >>> end, log_det, _ = generalized_leapfrog_step(energy, state, functions, 0.1, 0.1)
    >>> x0, v0, inverse_log_det = generalized_leapfrog_inverse(
    ...     energy, end.position, end.momentum, functions, 0.1, 0.1)
    >>> bool(torch.allclose(x0, x, atol=1e-5)), bool(torch.allclose(v0, v, atol=1e-5))
    (True, True)
    >>> [round(value, 4) for value in inverse_log_det.tolist()]  # 2 half-steps x 2 coordinates
    [-0.4, -0.4, -0.4, -0.4]
    """
    _, energy_grad = energy_and_gradient(energy_fn, position, create_graph=position.requires_grad)
    log_scale_v1, shift_v1 = functions.momentum_terms(position, energy_grad)
    momentum_half = (momentum + 0.5 * momentum_step * shift_v1) * torch.exp(-log_scale_v1)
    log_scale_x, shift_x = functions.position_terms(momentum_half)
    previous = (position - position_step * shift_x) * torch.exp(-log_scale_x)
    _, previous_grad = energy_and_gradient(energy_fn, previous, create_graph=position.requires_grad)
    log_scale_v0, shift_v0 = functions.momentum_terms(previous, previous_grad)
    previous_momentum = (momentum_half + 0.5 * momentum_step * shift_v0) * torch.exp(-log_scale_v0)
    log_det = log_scale_v0.sum(-1) + log_scale_x.sum(-1) + log_scale_v1.sum(-1)
    return previous, previous_momentum, log_det


class GeneralizedHMCEmbedding(DynamicsEmbedding):
    """``n_steps`` generalized leapfrog layers in a latent momentum space (eq. 13, 17-18).

    The learnable functions are shared across steps; the step sizes follow
    ``step_size_shape``. Per-dimension step sizes act on the position update; when
    ``latent_dim == n_features`` the momentum half-steps use the same ones (so that the
    layer with ``S = 0``, identity maps is exactly :class:`HMCEmbedding`), otherwise the
    momentum half-steps use their mean per layer.

    Parameters
    ----------
    n_features : int
    n_steps : int
    step_size : float
    latent_dim : int or None, default=None
        Momentum dimension ``l``; ``None`` means ``n_features``.
    step_size_shape, learn_step_size, momentum_penalty, position_bounds
        As in :class:`DynamicsEmbedding`.
    hidden_layer_sizes, scale, momentum_map, position_map, gradient_clip, momentum_clip
        As in :class:`GeneralizedLeapfrog`.
    metropolis : bool, default=False
        End with a Metropolis test of ratio ``exp(H_0 - H_T) |det J|``. It is an exact MCMC
        correction only when the step is reversible under momentum flip: the learned
        ``g_x`` is odd in the momentum by construction, so that holds whenever ``S = 0``
        (``scale="none"``) whatever ``g_v``; with learned scales or a momentum decay the step
        is not reversible and the test is a heuristic.

    Examples
    --------
    >>> import torch
    >>> from adesk.energies import GaussianEnergy
    >>> embedding = GeneralizedHMCEmbedding(3, n_steps=2, step_size=0.1, latent_dim=2)
    >>> energy = GaussianEnergy(torch.zeros(3), torch.ones(3))
    >>> out = embedding(energy, torch.randn(5, 3), torch.randn(5, 2))
    >>> out.state.position.shape, out.state.momentum.shape, out.log_det_jacobian.shape
    (torch.Size([5, 3]), torch.Size([5, 2]), torch.Size([5]))
    """

    def __init__(
        self,
        n_features,
        n_steps,
        step_size,
        latent_dim=None,
        step_size_shape="scalar",
        learn_step_size=True,
        momentum_penalty=1.0,
        hidden_layer_sizes=(32,),
        scale="learned",
        momentum_map="learned",
        position_map="learned",
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
        self.momentum_dim = int(n_features if latent_dim is None else latent_dim)
        self.functions = GeneralizedLeapfrog(
            n_features,
            self.momentum_dim,
            hidden_layer_sizes=hidden_layer_sizes,
            scale=scale,
            momentum_map=momentum_map,
            position_map=position_map,
            momentum_penalty=momentum_penalty,
            gradient_clip=gradient_clip,
            momentum_clip=momentum_clip,
        )
        self.metropolis = bool(metropolis)

    def step_size_parameters(self):
        """Step sizes and the learnable functions (they are all part of the sampler)."""
        return [p for p in self.parameters() if p.requires_grad]

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
        """Run the layers from ``(position, momentum)``; momentum has ``latent_dim`` columns.

        See :meth:`HMCEmbedding.forward` for the parameters; returns an
        :class:`~adesk.dynamics.EmbeddingOutput`.
        """
        state = self._start(energy_fn, position, momentum, create_graph, start_cache)
        initial_state = state
        log_det = self._zeros(position)
        step_sizes = self._step_schedule(position, generator)
        same_space = self.momentum_dim == self.n_features
        trajectory = [position.detach()] if return_trajectory else None
        terms = None
        for t in range(self.n_steps):
            position_step = step_sizes[t]
            momentum_step = position_step if same_space else position_step.mean(-1, keepdim=True)
            state, step_log_det, terms = generalized_leapfrog_step(
                energy_fn,
                state,
                self.functions,
                position_step,
                momentum_step,
                create_graph,
                momentum_terms=terms,
            )
            log_det = log_det + step_log_det
            if self.lower_bound is not None:
                # A clamped position invalidates the terms cached at the unclamped one.
                state, terms = self._clamp(energy_fn, state, create_graph), None
            if trajectory is not None:
                trajectory.append(state.position.detach())
        return self._finish_trajectory(initial_state, state, log_det, trajectory, generator)

    def inverse(self, energy_fn, position, momentum):
        """Map ``(x_T, v_T)`` back to ``(x_0, v_0)`` (no clamping, no Metropolis test).

        Returns ``(x_0, v_0, log_det_jacobian)`` with the forward log-det, so that
        ``log q_T(x_T, v_T) = log q_0(x_0, v_0) - log_det_jacobian`` at any point.
        """
        step_sizes = self.step_sizes().to(position.dtype)
        same_space = self.momentum_dim == self.n_features
        log_det = self._zeros(position)
        for t in reversed(range(self.n_steps)):
            position_step = step_sizes[t]
            momentum_step = position_step if same_space else position_step.mean(-1, keepdim=True)
            position, momentum, step_log_det = generalized_leapfrog_inverse(
                energy_fn, position, momentum, self.functions, position_step, momentum_step
            )
            log_det = log_det + step_log_det
        return position, momentum, log_det
