"""The leapfrog integrator (paper eq. 10) with the clipping stabilisers of Appendix F.1."""

import threading
from contextlib import contextmanager

import torch
from torch.utils.checkpoint import checkpoint

from ._state import PhaseState


@contextmanager
def frozen_parameters(energy_fn):
    """Turn off ``requires_grad`` of a module energy's parameters for the block.

    Sampling needs gradients with respect to the positions only; with the parameters frozen,
    autograd records no weight-gradient paths and keeps fewer tensors, which makes each energy
    gradient a few percent cheaper. The flags are restored on exit; a plain function is left
    alone.

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics import energy_and_gradient, frozen_parameters
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2), learnable=True)
    >>> with frozen_parameters(energy):
    ...     _, gradient = energy_and_gradient(energy, torch.ones(3, 2))
    ...     print(energy.mean.requires_grad)
    False
    >>> energy.mean.requires_grad, gradient.shape
    (True, torch.Size([3, 2]))
    """
    if not isinstance(energy_fn, torch.nn.Module):
        yield
        return
    trainable = [p for p in energy_fn.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)


_CHECKPOINTING = threading.local()


@contextmanager
def checkpointed_gradients(enabled=True):
    """Recompute, instead of store, the energy's activations of every differentiable gradient.

    Inside the block, :func:`energy_and_gradient` with ``create_graph=True`` runs under
    non-reentrant activation checkpointing (:func:`torch.utils.checkpoint.checkpoint`): the
    graph of a back-propagation-through-time unroll then keeps only each step's inputs and
    outputs, and the energy's forward and input-gradient pass is recomputed during the backward
    pass. Memory becomes roughly constant in the number of steps for about one more energy
    gradient per step. Gradients are unchanged.

    Examples
    --------
    The gradient of a loss built on the energy gradient is the same with and without
    checkpointing:

    >>> import torch
    >>> from adesk.dynamics import checkpointed_gradients, energy_and_gradient
    >>> energy = lambda x: 0.25 * x.pow(4).sum(-1)  # gradient x^3
    >>> x = torch.tensor([[1.0, 2.0]], requires_grad=True)
    >>> with checkpointed_gradients():
    ...     _, gradient = energy_and_gradient(energy, x, create_graph=True)
    >>> gradient.pow(2).sum().backward()  # d/dx sum x^6 = 6 x^5
    >>> x.grad
    tensor([[  6., 192.]])
    """
    previous = getattr(_CHECKPOINTING, "enabled", False)
    _CHECKPOINTING.enabled = bool(enabled)
    try:
        yield
    finally:
        _CHECKPOINTING.enabled = previous


def _energy_and_gradient_graph(energy_fn, x):
    with torch.enable_grad():
        energy = energy_fn(x)
        (gradient,) = torch.autograd.grad(energy.sum(), x, create_graph=True)
    return energy, gradient


def energy_and_gradient(energy_fn, x, create_graph=False):
    """Evaluate ``E(x)`` and ``grad_x E(x)`` with one forward and one backward pass.

    Parameters
    ----------
    energy_fn : callable
        Maps ``(n, d)`` tensors to ``(n,)`` energies.
    x : torch.Tensor of shape (n, d)
    create_graph : bool, default=False
        Keep the graph of the gradient so that a loss can be differentiated through it
        (needed to learn step sizes and for back-propagation through time).

    Returns
    -------
    energy : torch.Tensor of shape (n,)
    gradient : torch.Tensor of shape (n, d)

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics import energy_and_gradient
    >>> energy, gradient = energy_and_gradient(
    ...     lambda x: 0.5 * x.pow(2).sum(-1), torch.tensor([[1.0, 2.0]]))
    >>> energy, gradient
    (tensor([2.5000]), tensor([[1., 2.]]))
    """
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        if create_graph and getattr(_CHECKPOINTING, "enabled", False):
            return checkpoint(_energy_and_gradient_graph, energy_fn, x, use_reentrant=False)
        energy = energy_fn(x)
        (gradient,) = torch.autograd.grad(energy.sum(), x, create_graph=create_graph)
    if not create_graph:
        energy = energy.detach()
    return energy, gradient


def clip_norm(vectors, max_norm):
    """Rescale each row whose Euclidean norm exceeds ``max_norm`` (``None`` disables).

    The scaling factor is a function of the row itself, so a momentum update that uses a clipped
    gradient (a function of the position only) is still a shear and keeps volume.

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics import clip_norm
    >>> clip_norm(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), 1.0)  # norms 5 and 0.5
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    """
    if max_norm is None:
        return vectors
    norms = vectors.norm(dim=-1, keepdim=True)
    if torch.is_grad_enabled() and vectors.requires_grad:
        factor = torch.clamp(max_norm / (norms + 1e-12), max=1.0)
        return vectors * factor
    # Without a graph the same operations run in place on the (n, 1) column: the same values
    # (``max_norm / t`` is ``t.reciprocal() * max_norm``), four fewer allocations.
    factor = norms.add_(1e-12).reciprocal_().mul_(max_norm).clamp_(max=1.0)
    return vectors * factor


def leapfrog_step(
    energy_fn,
    state,
    step_size,
    momentum_penalty=1.0,
    gradient_clip=None,
    momentum_clip=None,
    create_graph=False,
):
    """One leapfrog step for the Hamiltonian ``E(x) + momentum_penalty / 2 * |v|^2``.

    ``v_half = v - eta/2 * g(x)``, ``x' = x + eta * lambda * c(v_half)``,
    ``v' = v_half - eta/2 * g(x')`` with ``g`` the (norm-clipped) energy gradient and ``c`` the
    (norm-clipped) momentum. With ``lambda = 1`` and no clipping this is the paper's eq. (10)
    with ``f = -E``. Each sub-update adds to one block of variables a function of the other
    block, so the step preserves volume exactly, clipped or not: its ``log|det J|`` is zero.

    Parameters
    ----------
    energy_fn : callable
        Maps ``(n, d)`` tensors to ``(n,)`` energies.
    state : PhaseState
        Current position, momentum and the energy and gradient cached at the position.
    step_size : torch.Tensor or float
        ``eta``; a scalar or a tensor broadcastable to ``(n, d)`` (per-dimension step sizes).
    momentum_penalty : float, default=1.0
        ``lambda``: the inverse mass; the momentum's stationary law is ``N(0, I / lambda)``.
    gradient_clip, momentum_clip : float or None
        Maximum Euclidean norm of the energy gradient in the momentum update and of the momentum
        in the position update (Appendix F.1). ``None`` disables.
    create_graph : bool, default=False
        Keep the graph for differentiating through the step.

    Returns
    -------
    new_state : PhaseState
    log_det_jacobian : torch.Tensor of shape (n,)
        Zeros: the step is volume-preserving.

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics import PhaseState, energy_and_gradient, leapfrog_step
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> x, v = torch.ones(1, 2), torch.zeros(1, 2)
    >>> state = PhaseState(x, v, *energy_and_gradient(energy, x))
    >>> new_state, log_det = leapfrog_step(energy, state, step_size=0.1)
    >>> new_state.position, log_det
    (tensor([[0.9950, 0.9950]]), tensor([0.]))
    >>> def hamiltonian(s):
    ...     return s.energy + 0.5 * s.momentum.pow(2).sum(-1)
    >>> float((hamiltonian(new_state) - hamiltonian(state)).abs()) < 1e-4  # nearly conserved
    True
    """
    if not isinstance(step_size, torch.Tensor):
        step_size = torch.tensor(
            step_size, dtype=state.position.dtype, device=state.position.device
        )
    # Each update is one fused multiply-add (also in the graph kept for BPTT).
    momentum_half = torch.addcmul(
        state.momentum, step_size, clip_norm(state.energy_grad, gradient_clip), value=-0.5
    )
    position = torch.addcmul(
        state.position, step_size * momentum_penalty, clip_norm(momentum_half, momentum_clip)
    )
    energy, energy_grad = energy_and_gradient(energy_fn, position, create_graph=create_graph)
    momentum = torch.addcmul(
        momentum_half, step_size, clip_norm(energy_grad, gradient_clip), value=-0.5
    )
    log_det = torch.zeros(position.shape[0], dtype=position.dtype, device=position.device)
    return PhaseState(position, momentum, energy, energy_grad), log_det
