"""scikit-learn's estimator checks on every estimator configuration."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from ._configs import fast_ade

ESTIMATORS = [
    fast_ade(),
    fast_ade(initial="gaussian"),
    fast_ade(initial="data", replay_buffer_size=0, metropolis=False, gradient="bptt"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
