"""Callbacks: objects whose hooks the training engine calls (all hooks are no-ops by default)."""

import os


class Callback:
    """Base class for training callbacks.

    Subclass it and override any hook. ``logs`` is the dict of floats the training step
    returned (losses, step sizes, ...).

    Examples
    --------
    A callback that keeps the energy loss of every iteration and ends training after a budget
    of iterations (``estimator.stop_training()`` ends the loop after the current iteration;
    the fit then finishes as usual):

    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_moons
    >>> from adesk.training import Callback
    >>> class LossLog(Callback):
    ...     def __init__(self, budget):
    ...         self.budget = budget
    ...         self.losses = []
    ...     def on_iteration_end(self, estimator, iteration, logs):
    ...         self.losses.append(logs["loss_energy"])
    ...         if iteration >= self.budget:
    ...             estimator.stop_training()
    >>> log = LossLog(budget=3)
    >>> from adesk.energies import MLP
    >>> from adesk.partition import AutoPartition
    >>> from adesk.samplers import HMC
    >>> est = ADEDensityEstimator(max_iter=10, energy_model=MLP((8,)), sampler=HMC(n_steps=2),
    ...                           partition=AutoPartition(resolution=16), random_state=0,
    ...                           device="cpu",
    ...                           callbacks=[log]).fit(make_moons(100, random_state=0))
    >>> len(log.losses), log.losses == est.history_["loss_energy"]
    (3, True)
    """

    def on_train_begin(self, estimator):
        """Called once before the first iteration of a ``fit`` / ``partial_fit`` call."""

    def on_iteration_end(self, estimator, iteration, logs):
        """Called after every iteration; ``iteration`` counts from 1 over the whole fit."""

    def on_train_end(self, estimator):
        """Called once after the last iteration."""


class SampleRecorder(Callback):
    """Record ``estimator.sample(n_samples)`` every ``every`` iterations (paper Figure 2).

    Parameters
    ----------
    every : int, default=100
    n_samples : int, default=500
    random_state : int, default=0
        Seed of every recorded draw, so snapshots differ only through training.

    Attributes
    ----------
    snapshots : list of (int, ndarray)
        ``(iteration, samples)`` pairs.

    Examples
    --------
    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_moons
    >>> from adesk.training import SampleRecorder
    >>> recorder = SampleRecorder(every=2, n_samples=5)
    >>> from adesk.energies import MLP
    >>> from adesk.partition import AutoPartition
    >>> from adesk.samplers import HMC
    >>> est = ADEDensityEstimator(max_iter=4, energy_model=MLP((8,)), sampler=HMC(n_steps=2),
    ...                           partition=AutoPartition(resolution=16), random_state=0,
    ...                           device="cpu",
    ...                           callbacks=[recorder]).fit(make_moons(100, random_state=0))
    >>> [(iteration, samples.shape) for iteration, samples in recorder.snapshots]
    [(2, (5, 2)), (4, (5, 2))]
    """

    def __init__(self, every=100, n_samples=500, random_state=0):
        self.every = every
        self.n_samples = n_samples
        self.random_state = random_state
        self.snapshots = []

    def on_iteration_end(self, estimator, iteration, logs):
        if iteration % self.every == 0:
            samples = estimator._sample_during_training(self.n_samples, self.random_state)
            self.snapshots.append((iteration, samples))


class Checkpoint(Callback):
    """Save the estimator (:meth:`save`) every ``interval`` iterations during training.

    :func:`adesk.load` reads the files; ``warm_start=True`` then continues training from them.
    Under data-parallel training only rank 0 writes.

    Parameters
    ----------
    path : str or path-like
        File to write; ``"{iteration}"`` in it is replaced by the iteration count (otherwise
        the file is overwritten at every checkpoint).
    interval : int, default=1000
        Iterations between checkpoints.

    Examples
    --------
    >>> import os, tempfile
    >>> import adesk
    >>> from adesk.datasets import make_moons
    >>> from adesk.energies import MLP
    >>> from adesk.training import Checkpoint
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "ade-{iteration}.pt")
    >>> est = adesk.ADEDensityEstimator(max_iter=4, energy_model=MLP((8,)), random_state=0,
    ...     partition="quadrature", callbacks=[Checkpoint(path, interval=2)], device="cpu")
    >>> est = est.fit(make_moons(100, random_state=0))
    >>> sorted(os.listdir(folder))
    ['ade-2.pt', 'ade-4.pt']
    >>> adesk.load(os.path.join(folder, "ade-2.pt")).n_iter_
    2
    """

    def __init__(self, path, interval=1000):
        self.path = path
        self.interval = interval

    def on_train_begin(self, estimator):
        if not isinstance(self.path, (str, os.PathLike)):
            raise ValueError(f"Checkpoint's path must be a str or path-like; got {self.path!r}.")
        if (
            not isinstance(self.interval, int)
            or isinstance(self.interval, bool)
            or (self.interval < 1)
        ):
            raise ValueError(
                f"Checkpoint's interval must be a positive int; got {self.interval!r}."
            )

    def on_iteration_end(self, estimator, iteration, logs):
        if iteration % self.interval == 0:
            estimator._save_checkpoint(str(self.path).format(iteration=iteration), iteration)
