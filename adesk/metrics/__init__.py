"""Metrics for comparing samples, parameters and densities with the truth."""

from ._likelihood import log_likelihood, log_likelihood_scorer, transform_log_det
from ._mmd import mmd2, parameter_rmse

__all__ = [
    "log_likelihood",
    "log_likelihood_scorer",
    "mmd2",
    "parameter_rmse",
    "transform_log_det",
]
