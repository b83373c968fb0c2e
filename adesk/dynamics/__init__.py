"""Dynamics embeddings and MCMC kernels built from an energy's gradient.

Every embedding maps ``(x_0, v_0)`` through ``T`` layers that share a callable energy
``E: (n, d) -> (n,)`` and returns an :class:`EmbeddingOutput` whose ``log_det_jacobian`` and
``log_noise_density`` give the density of the output
(``log q_T = log q_0 - log|det J| + sum_t log q_t(xi_t)``, Theorem 4):

- :class:`HMCEmbedding`: leapfrog (eq. 10-11), volume-preserving;
- :class:`GeneralizedHMCEmbedding`: generalized leapfrog in a latent momentum space (eq. 13);
- :class:`LangevinEmbedding`: stochastic Langevin, noise learned (eq. 14-15) or tied to the
  step, density eq. 19;
- :class:`DeterministicLangevinEmbedding`: gradient-descent layers with Hessian log-dets
  (Appendix B.1).

The MCMC kernels (:class:`HMCKernel`, :class:`MALAKernel`, :func:`run_mcmc`) sample from any
fitted energy with Metropolis correction and step-size adaptation. Nothing here imports an
estimator.
"""

from ._embedding import STEP_SIZE_SHAPES, DynamicsEmbedding, EmbeddingOutput, HMCEmbedding
from ._generalized import (
    GeneralizedHMCEmbedding,
    GeneralizedLeapfrog,
    generalized_leapfrog_inverse,
    generalized_leapfrog_step,
)
from ._langevin import DeterministicLangevinEmbedding, LangevinEmbedding
from ._leapfrog import (
    checkpointed_gradients,
    clip_norm,
    energy_and_gradient,
    frozen_parameters,
    leapfrog_step,
)
from ._mcmc import (
    DualAveragingStepSize,
    HMCKernel,
    MALAKernel,
    MCMCResult,
    MCMCStep,
    run_mcmc,
)
from ._state import PhaseState

__all__ = [
    "STEP_SIZE_SHAPES",
    "DeterministicLangevinEmbedding",
    "DualAveragingStepSize",
    "DynamicsEmbedding",
    "EmbeddingOutput",
    "GeneralizedHMCEmbedding",
    "GeneralizedLeapfrog",
    "HMCEmbedding",
    "HMCKernel",
    "LangevinEmbedding",
    "MALAKernel",
    "MCMCResult",
    "MCMCStep",
    "PhaseState",
    "clip_norm",
    "checkpointed_gradients",
    "energy_and_gradient",
    "frozen_parameters",
    "generalized_leapfrog_inverse",
    "generalized_leapfrog_step",
    "leapfrog_step",
    "run_mcmc",
]
