"""The one minibatch loop: history, progress lines, callbacks, divergence checks."""

import math
import time


class TrainingDivergedError(FloatingPointError):
    """Raised when a loss, gradient or parameter becomes NaN or infinite during training."""


def _callback_list(callbacks):
    if callbacks is None:
        return []
    return list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]


def run_training(estimator, step_fn, n_iter, start_iteration=0, print_every=100):
    """Call ``step_fn(iteration)`` ``n_iter`` times and keep the books.

    ``step_fn`` performs one optimisation step and returns a dict of Python floats. The engine
    appends every value to ``estimator.history_[name]``, checks that each is finite (a NaN or
    infinite value raises :class:`TrainingDivergedError` naming the quantity and the
    iteration; nothing is replaced by a number), prints a progress line every ``print_every``
    iterations when ``estimator.verbose`` is set, and calls the estimator's callbacks.

    Parameters
    ----------
    estimator : BaseEnergyEstimator
        Provides ``history_``, ``verbose`` and ``callbacks``.
    step_fn : callable
        ``step_fn(iteration) -> dict[str, float]``.
    n_iter : int
        Number of iterations to run.
    start_iteration : int, default=0
        Iterations already done (``warm_start`` / ``partial_fit``).
    print_every : int, default=100

    Returns
    -------
    n_done : int
        Iterations performed (``n_iter`` unless a callback sets ``estimator._stop_training``).
    """
    callbacks = _callback_list(estimator.callbacks)
    for callback in callbacks:
        if hasattr(callback, "on_train_begin"):
            callback.on_train_begin(estimator)
    start = time.perf_counter()
    estimator._stop_training = False
    n_done = 0
    for offset in range(1, n_iter + 1):
        iteration = start_iteration + offset
        logs = step_fn(iteration)
        for name, value in logs.items():
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"Training diverged at iteration {iteration}: {name} = {value}. "
                    "Lower learning_rate_init or step_size, or enable gradient and momentum "
                    "clipping."
                )
            estimator.history_.setdefault(name, []).append(value)
        n_done = offset
        if estimator.verbose and (offset % print_every == 0 or offset == n_iter):
            elapsed = time.perf_counter() - start
            shown = ", ".join(f"{name}={value:.4g}" for name, value in logs.items())
            print(f"[{type(estimator).__name__}] iter {iteration:6d}  {shown}  ({elapsed:.1f}s)")
        for callback in callbacks:
            if hasattr(callback, "on_iteration_end"):
                callback.on_iteration_end(estimator, iteration, logs)
            elif callable(callback):
                callback(estimator, iteration, logs)
        if estimator._stop_training:
            break
    for callback in callbacks:
        if hasattr(callback, "on_train_end"):
            callback.on_train_end(estimator)
    return n_done
