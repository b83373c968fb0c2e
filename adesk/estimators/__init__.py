"""Density estimators with the scikit-learn API.

:class:`ADEDensityEstimator` learns its dual sampler; the others are the paper's baselines with
a fixed sampler (Table 1), on the same base class, training engine and ``log Z`` machinery.
"""

from ._ade import ADEDensityEstimator
from ._base import BaseEnergyEstimator
from ._cd import ContrastiveDivergenceEstimator
from ._flow_dual import FlowDualEstimator
from ._nce import NoiseContrastiveEstimator
from ._persistence import load
from ._score_matching import ScoreMatchingEstimator

__all__ = [
    "ADEDensityEstimator",
    "BaseEnergyEstimator",
    "ContrastiveDivergenceEstimator",
    "FlowDualEstimator",
    "NoiseContrastiveEstimator",
    "ScoreMatchingEstimator",
    "load",
]
