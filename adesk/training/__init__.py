"""The training engine shared by every estimator, and its callbacks."""

from ._callbacks import Callback, SampleRecorder
from ._engine import TrainingDivergedError, run_training

__all__ = ["Callback", "SampleRecorder", "TrainingDivergedError", "run_training"]
