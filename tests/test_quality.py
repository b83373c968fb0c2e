"""Statistical quality checks: ADE's held-out log-likelihood beside a tuned GaussianMixture.

Each test trains with the default settings on 10,000 points with a fixed seed and compares on
5,000 held-out points, normalised exactly (grid quadrature). The tolerances come from the
seed-to-seed spread measured with ``python -m adesk.benchmarks quick`` (see
``benchmarks/README.md``), not from a single run.
"""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from adesk import ADEDensityEstimator
from adesk.benchmarks._quick import tuned_gaussian_mixture
from adesk.datasets import make_toy
from adesk.metrics import mmd2

# name -> (max_iter, largest accepted shortfall in nats/sample against the tuned GMM).
# Measured shortfalls at 3,000 iterations with the defaults (gradient_penalty=0.01): moons
# 0.125, pinwheel 0.231, Ring 0.413; the seed-to-seed spread measured on moons and pinwheel is
# about 0.05 nats, so each bound leaves two to three spreads of room. The target of
# 0.15 nats is not reached on Ring or pinwheel (see benchmarks/README.md).
BUDGETS = {"moons": (3000, 0.25), "pinwheel": (3000, 0.35), "Ring": (3000, 0.6)}


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_ade_log_likelihood_near_tuned_mixture(name):
    max_iter, shortfall = BUDGETS[name]
    X_train = make_toy(name, 10000, random_state=0)
    X_val = make_toy(name, 2000, random_state=1000)
    X_test = make_toy(name, 5000, random_state=2000)
    ade = ADEDensityEstimator(max_iter=max_iter, random_state=0, device="cpu").fit(X_train)
    gmm = tuned_gaussian_mixture(X_train, X_val)
    ade_ll, gmm_ll = ade.score(X_test), gmm.score(X_test)
    assert ade.log_partition_std_ < 0.01
    assert ade_ll > gmm_ll - shortfall, (ade_ll, gmm_ll)

    # Samples: far closer to the data than a single Gaussian (paper MMD protocol, x 1e3).
    reference = X_test[:1000]
    ade_mmd = 1e3 * mmd2(reference, ade.sample(1000, random_state=0))
    gauss = GaussianMixture(1, random_state=0).fit(X_train)
    gauss_mmd = 1e3 * mmd2(reference, gauss.sample(1000)[0])
    oracle_spread = np.std(
        [1e3 * mmd2(reference, make_toy(name, 1000, random_state=s)) for s in range(5)]
    )
    assert ade_mmd < gauss_mmd / 4
    assert ade_mmd < 6 * oracle_spread + 1.0
