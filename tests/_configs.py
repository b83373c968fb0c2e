"""The one set of small, fast estimator settings the tests share.

``FAST_COMMON`` holds what every estimator takes (a small network, a few iterations, a coarse
log Z); ``FAST_OWN`` the few estimator-specific sizes. Tests that need something else pass it
as an override, so what a test depends on is written in the test.
"""

import copy
import functools

from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    FlowDualEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
)
from adesk.energies import MLP
from adesk.initial import Empirical, Flow
from adesk.partition import AutoPartition
from adesk.samplers import HMC

FAST_COMMON = dict(
    energy_model=MLP((16, 16)),
    max_iter=8,
    batch_size=16,
    partition=AutoPartition(resolution=16, n_samples=64, n_temperatures=10),
    random_state=0,
    device="cpu",
)

FAST_OWN = {
    ADEDensityEstimator: dict(
        sampler=HMC(n_steps=2), initial=Empirical(max_points=50, replay_buffer_size=64)
    ),
    ContrastiveDivergenceEstimator: dict(sampler=HMC(n_steps=2, n_transitions=3)),
    ScoreMatchingEstimator: dict(),
    NoiseContrastiveEstimator: dict(),
    FlowDualEstimator: dict(flow=Flow(n_layers=2)),
}

#: Every estimator class, in a fixed order (for parametrised tests).
ESTIMATOR_CLASSES = list(FAST_OWN)

#: ADE's fast settings as one dict (the common ones and its own).
FAST_ADE = {**FAST_COMMON, **FAST_OWN[ADEDensityEstimator]}


def fast(cls, **overrides):
    """``cls`` with the shared fast settings (fresh copies of the parameter objects) and
    ``overrides``."""
    return cls(**{**copy.deepcopy({**FAST_COMMON, **FAST_OWN[cls]}), **overrides})


fast_ade = functools.partial(fast, ADEDensityEstimator)
fast_cd = functools.partial(fast, ContrastiveDivergenceEstimator)
fast_sm = functools.partial(fast, ScoreMatchingEstimator)
fast_nce = functools.partial(fast, NoiseContrastiveEstimator)
fast_flow_dual = functools.partial(fast, FlowDualEstimator)
