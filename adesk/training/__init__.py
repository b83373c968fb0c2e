"""The training engine shared by every estimator, its callbacks, cost accounting and alarms."""

from ._callbacks import Callback, Checkpoint, SampleRecorder
from ._cost import EnergyEvaluationCounter
from ._engine import TrainingDivergedError, run_training
from ._lag import SamplerLagWarning, lagging_stretch

__all__ = [
    "Callback",
    "Checkpoint",
    "EnergyEvaluationCounter",
    "SampleRecorder",
    "SamplerLagWarning",
    "TrainingDivergedError",
    "lagging_stretch",
    "run_training",
]
