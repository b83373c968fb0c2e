"""Benchmarks: ``python -m adesk.benchmarks quick`` (see ``benchmarks/README.md``).

:class:`ExactGradientReference` trains the estimators' energy network by maximum likelihood
with an exact (grid) normaliser: the ceiling of network, optimiser and budget in 2-D.
"""

from ._exact import ExactGradientReference

__all__ = ["ExactGradientReference"]
