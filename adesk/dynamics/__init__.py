"""Dynamics embeddings: differentiable sampler layers built from an energy's gradient.

Every layer maps a :class:`PhaseState` to a new one and returns its ``log|det J|`` so that a
composed embedding can track the density of its output
(``log q_T = log q_0 - sum_t log|det J_t|``). The layers take any callable energy
``E: (n, d) -> (n,)``; they never import an estimator.
"""

from ._embedding import HMCEmbedding
from ._leapfrog import energy_and_gradient, leapfrog_step
from ._state import PhaseState

__all__ = ["HMCEmbedding", "PhaseState", "energy_and_gradient", "leapfrog_step"]
