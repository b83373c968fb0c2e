"""Estimators of the log-partition function ``log Z = log int exp(-E(x)) dx``.

They work on any callable energy and return the estimate with an error or a standard error, so
that ``score_samples = -E(x) - log Z`` is a normalized log-density one can compare across models.

An estimator's ``partition`` parameter takes a method name or one of the parameter objects
:class:`Quadrature`, :class:`ImportanceSampling`, :class:`AIS` and :class:`AutoPartition`
(the choice of ``"auto"`` with its settings), which carry its settings.
"""

from ._ais import AISResult, log_partition_ais, sigmoid_schedule
from ._configs import AIS, AutoPartition, ImportanceSampling, PartitionConfig, Quadrature
from ._importance import ImportanceResult, log_partition_importance
from ._proposal import DefensiveProposal, GaussianProposal
from ._quadrature import QuadratureResult, data_bounds, log_partition_quadrature

__all__ = [
    "AIS",
    "AutoPartition",
    "ImportanceSampling",
    "PartitionConfig",
    "Quadrature",
    "AISResult",
    "GaussianProposal",
    "log_partition_ais",
    "sigmoid_schedule",
    "DefensiveProposal",
    "ImportanceResult",
    "QuadratureResult",
    "data_bounds",
    "log_partition_importance",
    "log_partition_quadrature",
]
