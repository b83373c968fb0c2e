"""adesk: energy-based density estimation with Adversarial Dynamics Embedding.

Estimators follow the scikit-learn API (``fit``, ``score_samples``, ``score``, ``sample``) and
train on PyTorch, on a GPU when there is one.
"""

from ._config import config_context, get_config, set_config
from .estimators import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    FlowDualEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
    load,
)

__version__ = "0.1.0"

__all__ = [
    "ADEDensityEstimator",
    "ContrastiveDivergenceEstimator",
    "FlowDualEstimator",
    "NoiseContrastiveEstimator",
    "ScoreMatchingEstimator",
    "__version__",
    "config_context",
    "get_config",
    "load",
    "set_config",
]
