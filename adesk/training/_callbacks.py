"""Callbacks: objects whose hooks the training engine calls (all hooks are no-ops by default)."""


class Callback:
    """Base class for training callbacks.

    Subclass it and override any hook. ``logs`` is the dict of floats the training step
    returned (losses, step sizes, ...).
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
