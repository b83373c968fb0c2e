"""adesk: energy-based density estimation with Adversarial Dynamics Embedding.

Estimators follow the scikit-learn API (``fit``, ``score_samples``, ``score``, ``sample``) and
train on PyTorch, on a GPU when there is one.
"""

from .estimators import ADEDensityEstimator

__version__ = "0.1.0"

__all__ = ["ADEDensityEstimator", "__version__"]
