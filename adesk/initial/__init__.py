"""Initial distributions ``q_0(x, v)`` of the dual sampler, with tractable densities.

Each one draws reparametrized samples ``(x_0, v_0)`` with their log-density and gives an
estimate of its entropy ``H(q_0)`` for the objective (eq. 20).
"""

from ._empirical import EmpiricalInitial
from ._gaussian import GaussianInitial

__all__ = ["EmpiricalInitial", "GaussianInitial"]
