"""Samplers as parameter objects: what an estimator's ``sampler`` parameter holds.

Each class names one family of dynamics and holds its settings; an estimator turns it into
torch modules in ``fit`` (:mod:`adesk.dynamics` has the modules themselves). The same objects
configure ADE's learned dual sampler and contrastive divergence's fixed MCMC chains, so a
setting has one name everywhere:

- ``n_steps``: integrator steps in one trajectory (ADE's ``T``; the leapfrog steps of one HMC
  transition);
- ``n_transitions``: Metropolis-corrected transitions without an autograd graph (the ``k`` of
  CD-k; ADE's corrections applied after its learned trajectory);
- ``step_size``, ``adaptation``, ``metropolis``: the step size, how it changes during training,
  and the Metropolis test.

:class:`HMC`, :class:`GHMC`, :class:`Langevin` and :class:`DeterministicLangevin` are the
paper's four dynamics; the strings ``"hmc"``, ``"ghmc"``, ``"langevin"`` and
``"deterministic_langevin"`` stand for their defaults.

>>> from sklearn.base import clone
>>> from adesk import ADEDensityEstimator
>>> from adesk.samplers import HMC
>>> est = ADEDensityEstimator(sampler=HMC(n_steps=10))
>>> est.get_params()["sampler__n_steps"]
10
>>> clone(est).sampler is est.sampler
False
"""

from ._configs import GHMC, HMC, DeterministicLangevin, Langevin, SamplerConfig

__all__ = ["DeterministicLangevin", "GHMC", "HMC", "Langevin", "SamplerConfig"]
