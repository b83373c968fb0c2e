"""Metrics for comparing samples and parameters with the truth."""

from ._mmd import mmd2, parameter_rmse

__all__ = ["mmd2", "parameter_rmse"]
