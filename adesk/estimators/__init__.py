"""Density estimators with the scikit-learn API."""

from ._ade import ADEDensityEstimator
from ._base import BaseEnergyEstimator

__all__ = ["ADEDensityEstimator", "BaseEnergyEstimator"]
