"""Metrics for comparing samples, parameters and densities with the truth."""

from ._image_quality import (
    FeatureClassifier,
    classifier_score,
    frechet_distance,
    image_quality,
    train_feature_classifier,
)
from ._likelihood import log_likelihood, log_likelihood_scorer, transform_log_det
from ._mmd import mmd2, parameter_rmse

__all__ = [
    "FeatureClassifier",
    "classifier_score",
    "frechet_distance",
    "image_quality",
    "train_feature_classifier",
    "log_likelihood",
    "log_likelihood_scorer",
    "mmd2",
    "parameter_rmse",
    "transform_log_det",
]
