"""Fit one ADE variant on one toy dataset beside the tuned GaussianMixture; print one line.

Usage: ``python benchmarks/ade_variant.py moons '{"gradient_penalty": 0.001, "max_iter": 3000}'``
(a ``"seed"`` key sets ``random_state``). Settings of a parameter object are named by their
path, e.g. ``'{"sampler__n_steps": 10, "initial__replay_buffer_size": 0}'``
(:func:`adesk.train.estimator_from_params`). This is the script behind the variant table in
``benchmarks/README.md``; splits and seeds are those of ``python -m adesk.benchmarks quick``.
"""

import json
import sys
import time

import numpy as np

from adesk import ADEDensityEstimator
from adesk.benchmarks._quick import tuned_gaussian_mixture
from adesk.datasets import make_toy
from adesk.train import estimator_from_params


def _worst_window(gaps, window=100):
    """Largest mean energy gap over consecutive windows after the first 10% of training."""
    gaps = np.asarray(gaps)[len(gaps) // 10 :]
    n = len(gaps) // window
    if n == 0:
        return float(np.mean(gaps))
    return float(gaps[: n * window].reshape(n, window).mean(1).max())


def main(name, params):
    seed = params.pop("seed", 0)
    X_train = make_toy(name, 10000, random_state=0)
    X_val = make_toy(name, 2000, random_state=1000)
    X_test = make_toy(name, 5000, random_state=2000)
    start = time.perf_counter()
    ade = estimator_from_params(ADEDensityEstimator, {"random_state": seed, **params})
    ade.fit(X_train)
    fit_time = time.perf_counter() - start
    gmm_ll = tuned_gaussian_mixture(X_train, X_val).score(X_test)
    ade_ll = ade.score(X_test)
    print(
        f"{name} {json.dumps(params)} seed={seed} ade={ade_ll:.3f} gmm={gmm_ll:.3f} "
        f"gap={ade_ll - gmm_ll:+.3f} fit={fit_time:.0f}s "
        f"acceptance={ade.history_['acceptance_rate'][-1]:.2f} step={ade.step_size_.mean():.3f} "
        f"gap_last100={np.mean(ade.history_['energy_gap'][-100:]):+.2f} "
        f"gap_max_window={_worst_window(ade.history_['energy_gap']):+.2f}"
    )


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
