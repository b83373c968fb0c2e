"""The one set of small, fast estimator settings the tests share.

``FAST_COMMON`` holds what every estimator takes (a small network, a few iterations, a coarse
log Z); ``FAST_OWN`` the few estimator-specific sizes. Tests that need something else pass it
as an override, so what a test depends on is written in the test.
"""

import functools

from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    FlowDualEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
)

FAST_COMMON = dict(
    hidden_layer_sizes=(16, 16),
    max_iter=8,
    batch_size=16,
    partition_resolution=16,
    partition_n_samples=64,
    partition_n_temperatures=10,
    random_state=0,
    device="cpu",
)

FAST_OWN = {
    ADEDensityEstimator: dict(n_steps=2, max_initial_points=50, replay_buffer_size=64),
    ContrastiveDivergenceEstimator: dict(
        n_mcmc_steps=3, n_leapfrog_steps=2, sampling_steps=4, replay_buffer_size=64
    ),
    ScoreMatchingEstimator: dict(sampling_steps=4),
    NoiseContrastiveEstimator: dict(sampling_steps=4),
    FlowDualEstimator: dict(n_flow_layers=2, flow_hidden_layer_sizes=(8,)),
}

#: Every estimator class, in a fixed order (for parametrised tests).
ESTIMATOR_CLASSES = list(FAST_OWN)

#: ADE's fast settings as one dict (the common ones and its own).
FAST_ADE = {**FAST_COMMON, **FAST_OWN[ADEDensityEstimator]}


def fast(cls, **overrides):
    """``cls`` with the shared fast settings and ``overrides``."""
    return cls(**{**FAST_COMMON, **FAST_OWN[cls], **overrides})


fast_ade = functools.partial(fast, ADEDensityEstimator)
fast_cd = functools.partial(fast, ContrastiveDivergenceEstimator)
fast_sm = functools.partial(fast, ScoreMatchingEstimator)
fast_nce = functools.partial(fast, NoiseContrastiveEstimator)
fast_flow_dual = functools.partial(fast, FlowDualEstimator)
