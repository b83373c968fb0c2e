"""The one minibatch loop: history, progress display, callbacks, divergence handling."""

import math
import time

from ._progress import make_progress_bar


class TrainingDivergedError(FloatingPointError):
    """Raised when an energy, loss, gradient or parameter becomes NaN or infinite in training.

    Attributes
    ----------
    iteration : int or None
        The iteration whose step produced the value.
    quantity : str or None
        What was not finite (a logged value such as ``"loss_energy"``, or
        ``"gradient of energy_model_.layers.0.weight"``, or a parameter's name).
    value : float or None
        The offending value (NaN or +-inf).

    Examples
    --------
    :func:`run_training` raises it as soon as a training step logs a non-finite value (so does
    ``fit`` with the default ``max_rollbacks=0``):

    >>> from types import SimpleNamespace
    >>> from adesk.training import TrainingDivergedError, run_training
    >>> estimator = SimpleNamespace(history_={}, verbose=0, callbacks=None)
    >>> try:
    ...     run_training(estimator, lambda iteration: {"loss_energy": float("nan")}, n_iter=3)
    ... except TrainingDivergedError as error:
    ...     print(error.iteration, error.quantity, error.value)
    1 loss_energy nan
    >>> issubclass(TrainingDivergedError, FloatingPointError)
    True
    """

    def __init__(self, message, iteration=None, quantity=None, value=None):
        super().__init__(message)
        self.iteration = iteration
        self.quantity = quantity
        self.value = value


def diverged_error(iteration, quantity, value):
    """The :class:`TrainingDivergedError` for ``quantity = value`` at ``iteration``."""
    return TrainingDivergedError(
        f"Training diverged at iteration {iteration}: {quantity} = {value}. Lower "
        "learning_rate_init or the sampler's step_size, enable gradient and momentum clipping "
        "(the sampler's gradient_clip and momentum_clip), or set max_rollbacks >= 1 to restart "
        "from the last finite state at a lower learning rate.",
        iteration=iteration,
        quantity=quantity,
        value=value,
    )


def _callback_list(callbacks):
    if callbacks is None:
        return []
    return list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]


def run_training(
    estimator,
    step_fn,
    n_iter,
    start_iteration=0,
    print_every=100,
    recover=None,
    after_step=None,
):
    """Call ``step_fn(iteration)`` until ``n_iter`` iterations have succeeded, keeping the books.

    ``step_fn`` performs one optimisation step and returns a dict of Python floats. The engine
    checks that each is finite (nothing is ever replaced by a number), appends every value to
    ``estimator.history_[name]``, shows progress (``estimator.verbose``: 1 redraws a progress
    bar on stderr, 2 or more prints a line every ``print_every`` iterations), calls
    ``after_step`` and the estimator's callbacks. A ``KeyboardInterrupt`` (Ctrl-C) ends the
    loop without losing the iterations already done.

    A :class:`TrainingDivergedError` (raised by ``step_fn`` or by the check of its values)
    propagates unless ``recover`` is given: then ``recover(error)`` restores an earlier state
    and returns the iteration count it restored, and training goes on from there (or
    ``recover`` re-raises).

    Parameters
    ----------
    estimator : BaseEnergyEstimator
        Provides ``history_``, ``verbose`` and ``callbacks``.
    step_fn : callable
        ``step_fn(iteration) -> dict[str, float]``.
    n_iter : int
        Number of successful iterations to run.
    start_iteration : int, default=0
        Iterations already done (``warm_start`` / ``partial_fit``).
    print_every : int, default=100
    recover : callable or None, default=None
        ``recover(error) -> int``: the iteration count to continue after.
    after_step : callable or None, default=None
        ``after_step(iteration)`` after each successful iteration (checkpoints).

    Returns
    -------
    n_done : int
        Iterations performed: ``n_iter`` unless a callback asked to stop
        (``estimator.stop_training()``, which sets ``estimator._stop_training``) or the user
        interrupted training (``KeyboardInterrupt``, recorded as ``estimator._interrupted``).

    Examples
    --------
    Any object with ``history_``, ``verbose`` and ``callbacks`` attributes can be trained:

    >>> from types import SimpleNamespace
    >>> from adesk.training import run_training
    >>> estimator = SimpleNamespace(history_={}, verbose=0, callbacks=None)
    >>> run_training(estimator, lambda iteration: {"loss_energy": 1.0 / iteration}, n_iter=4)
    4
    >>> estimator.history_
    {'loss_energy': [1.0, 0.5, 0.3333333333333333, 0.25]}
    """
    callbacks = _callback_list(estimator.callbacks)
    for callback in callbacks:
        if hasattr(callback, "on_train_begin"):
            callback.on_train_begin(estimator)
    verbose = int(estimator.verbose or 0)
    progress = make_progress_bar(n_iter, type(estimator).__name__) if verbose == 1 else None
    start = time.perf_counter()
    estimator._stop_training = False
    estimator._interrupted = False
    n_done = 0
    logs = {}
    try:
        while n_done < n_iter:
            iteration = start_iteration + n_done + 1
            try:
                logs = step_fn(iteration)
                for name, value in logs.items():
                    if not math.isfinite(value):
                        raise diverged_error(iteration, name, value)
            except TrainingDivergedError as error:
                if recover is None:
                    raise
                n_done = recover(error) - start_iteration
                continue
            for name, value in logs.items():
                estimator.history_.setdefault(name, []).append(value)
            n_done += 1
            if progress is not None:
                progress.update(n_done, logs)
            elif verbose >= 2 and (n_done % print_every == 0 or n_done == n_iter):
                elapsed = time.perf_counter() - start
                shown = ", ".join(f"{name}={value:.4g}" for name, value in logs.items())
                print(
                    f"[{type(estimator).__name__}] iter {iteration:6d}  {shown}  ({elapsed:.1f}s)"
                )
            if after_step is not None:
                after_step(iteration)
            for callback in callbacks:
                if hasattr(callback, "on_iteration_end"):
                    callback.on_iteration_end(estimator, iteration, logs)
                elif callable(callback):
                    callback(estimator, iteration, logs)
            if estimator._stop_training:
                break
    except KeyboardInterrupt:
        # Ctrl-C keeps what was trained (as skorch does): the caller finishes the fit with
        # the iterations done so far and says so.
        estimator._interrupted = True
    finally:
        if progress is not None:
            progress.close(logs)
    for callback in callbacks:
        if hasattr(callback, "on_train_end"):
            callback.on_train_end(estimator)
    return n_done
