"""``log Z`` estimators as parameter objects: what an estimator's ``partition`` parameter holds
besides the shortcut strings ``"auto"``, ``"quadrature"``, ``"importance"`` and ``"ais"``."""

from numbers import Integral

from sklearn.utils._param_validation import Interval

from .._components import Component


class PartitionConfig(Component):
    """Base class of the ``log Z`` parameter objects; ``kind`` is the shortcut string."""

    kind = None


class Quadrature(PartitionConfig):
    """Midpoint quadrature over a grid on the data's box (``n_features <= 3``); its error is
    the larger of the change from a grid twice as coarse and the change on a wider box.

    Parameters
    ----------
    resolution : int, default=400
        Grid cells per axis in 1 or 2 dimensions (64 in 3 dimensions).

    Examples
    --------
    >>> from adesk.partition import Quadrature
    >>> Quadrature(resolution=128)
    Quadrature(resolution=128)
    """

    kind = "quadrature"
    _parameter_constraints = {"resolution": [Interval(Integral, 8, None, closed="left")]}

    def __init__(self, resolution=400):
        self.resolution = resolution


class ImportanceSampling(PartitionConfig):
    """Importance sampling from the estimator's own sampler when its density is tractable,
    else from a defensive proposal (a kernel density estimate of the data mixed with a broad
    Gaussian).

    Parameters
    ----------
    n_samples : int, default=10000
        Proposal draws.

    Examples
    --------
    >>> from adesk.partition import ImportanceSampling
    >>> ImportanceSampling(n_samples=2000)
    ImportanceSampling(n_samples=2000)
    """

    kind = "importance"
    _parameter_constraints = {"n_samples": [Interval(Integral, 2, None, closed="left")]}

    def __init__(self, n_samples=10000):
        self.n_samples = n_samples


class AIS(PartitionConfig):
    """Annealed importance sampling from a Gaussian fitted to the data to ``exp(-E)`` with HMC
    transitions (5 leapfrog steps each).

    Parameters
    ----------
    n_samples : int, default=512
        Annealed chains.
    n_temperatures : int, default=500
        Annealing steps; the variance of the estimate falls roughly as
        ``1 / n_temperatures``.

    Examples
    --------
    >>> from adesk.partition import AIS
    >>> AIS(n_temperatures=1000)
    AIS(n_temperatures=1000)
    """

    kind = "ais"
    _parameter_constraints = {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_temperatures": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_samples=512, n_temperatures=500):
        self.n_samples = n_samples
        self.n_temperatures = n_temperatures


class AutoPartition(PartitionConfig):
    """The method chosen from the data (the shortcut ``partition="auto"``, with these
    settings): quadrature for ``n_features <= 2``, else importance sampling when its effective
    sample size is at least 10% of the draws, else AIS.

    Parameters
    ----------
    resolution : int, default=400
        Quadrature cells per axis (1 or 2 features).
    n_samples : int or None, default=None
        Importance-sampling draws (``None``: 10,000) or AIS chains (``None``: 512).
    n_temperatures : int, default=500
        AIS annealing steps, when it comes to AIS.

    Examples
    --------
    >>> from adesk.partition import AutoPartition
    >>> AutoPartition(resolution=100, n_samples=2000)
    AutoPartition(n_samples=2000, resolution=100)
    """

    kind = "auto"
    _parameter_constraints = {
        "resolution": [Interval(Integral, 8, None, closed="left")],
        "n_samples": [Interval(Integral, 2, None, closed="left"), None],
        "n_temperatures": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, resolution=400, n_samples=None, n_temperatures=500):
        self.resolution = resolution
        self.n_samples = n_samples
        self.n_temperatures = n_temperatures
