"""scikit-learn's estimator checks on every estimator configuration.

Every ``sampler`` x ``initial`` combination of ADE runs the full check suite in a small
configuration, plus the non-default gradient and Metropolis settings.
"""

import itertools

from sklearn.utils.estimator_checks import parametrize_with_checks

from adesk.initial import Empirical, Flow, Gaussian, Latent
from adesk.samplers import GHMC, HMC, DeterministicLangevin, Langevin

from ._configs import fast_ade

SAMPLERS = [HMC(2), GHMC(2), Langevin(2), DeterministicLangevin(2)]
INITIALS = [
    Empirical(max_points=50, replay_buffer_size=64),
    Gaussian(),
    Flow(n_layers=2),
    Latent(hidden_layer_sizes=(8,)),
]

ESTIMATORS = [
    fast_ade(sampler=sampler, initial=initial)
    for sampler, initial in itertools.product(SAMPLERS, INITIALS)
] + [
    fast_ade(
        initial=Empirical(max_points=50, replay_buffer_size=0),
        sampler=HMC(2, metropolis=False),
        gradient="bptt",
    ),
    fast_ade(sampler=GHMC(2, latent_dim=1, metropolis=True), gradient="bptt"),
    fast_ade(sampler=DeterministicLangevin(2, logdet="chebyshev"), gradient="bptt"),
    fast_ade(sampler=Langevin(2, metropolis=False), initial=Gaussian(), gradient="bptt"),
    # The string shortcuts, as a user writes them.
    fast_ade(sampler="langevin", initial="gaussian", energy_model="mlp", partition="auto"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
