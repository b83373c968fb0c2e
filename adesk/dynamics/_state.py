"""The state a dynamics layer reads and writes."""

from typing import NamedTuple

import torch


class PhaseState(NamedTuple):
    """Position, momentum and the energy quantities cached at the position.

    Caching ``energy`` and ``energy_grad`` at ``position`` is what lets a leapfrog step cost one
    energy gradient: the last half-step of step ``t`` and the first half-step of step ``t + 1``
    read the same gradient.
    """

    position: torch.Tensor
    momentum: torch.Tensor
    energy: torch.Tensor
    energy_grad: torch.Tensor
