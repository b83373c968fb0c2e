"""The state a dynamics layer reads and writes."""

from typing import NamedTuple

import torch


class PhaseState(NamedTuple):
    """Position, momentum and the energy quantities cached at the position.

    Caching ``energy`` and ``energy_grad`` at ``position`` is what lets a leapfrog step cost one
    energy gradient: the last half-step of step ``t`` and the first half-step of step ``t + 1``
    read the same gradient.

    Examples
    --------
    >>> import torch
    >>> from adesk.dynamics import PhaseState, energy_and_gradient
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> x = torch.ones(3, 2)
    >>> state = PhaseState(x, torch.zeros(3, 2), *energy_and_gradient(energy, x))
    >>> state.energy
    tensor([1., 1., 1.])
    >>> bool(torch.equal(state.energy_grad, x))  # the gradient of 0.5 |x|^2 is x
    True
    """

    position: torch.Tensor
    momentum: torch.Tensor
    energy: torch.Tensor
    energy_grad: torch.Tensor
