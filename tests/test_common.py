"""scikit-learn's estimator checks on every estimator configuration.

Every ``sampler`` x ``initial`` combination of ADE runs the full check suite in a small
configuration, plus the non-default gradient and Metropolis settings.
"""

import itertools

from sklearn.utils.estimator_checks import parametrize_with_checks

from adesk.estimators._ade import INITIALS, SAMPLERS

from ._configs import fast_ade

ESTIMATORS = [
    fast_ade(sampler=sampler, initial=initial, initial_hidden_layer_sizes=(8,), n_flow_layers=2)
    for sampler, initial in itertools.product(SAMPLERS, INITIALS)
] + [
    fast_ade(initial="data", replay_buffer_size=0, metropolis=False, gradient="bptt"),
    fast_ade(sampler="ghmc", latent_dim=1, metropolis=True, gradient="bptt"),
    fast_ade(sampler="deterministic_langevin", logdet="chebyshev", gradient="bptt"),
    fast_ade(sampler="langevin", initial="gaussian", metropolis=False, gradient="bptt"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
