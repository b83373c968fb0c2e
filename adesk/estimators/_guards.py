"""Watchers the training loop consults after every step: validation and divergence."""

import copy
import warnings

import numpy as np
import torch

from ..training._engine import TrainingDivergedError, diverged_error

# With max_rollbacks > 0, the in-memory copy of the last finite state is refreshed every
# this many iterations: often enough that little work is lost, rarely enough that copying the
# modules and optimizer moments costs a small fraction of training.
ROLLBACK_INTERVAL = 10

# Each rollback multiplies every learning rate by this factor.
ROLLBACK_LEARNING_RATE_FACTOR = 0.5


class ValidationTracker:
    """Early stopping on the held-out log-likelihood, normalised like ``score_samples``.

    Every ``validation_interval`` iterations it estimates ``log Z`` (as after ``fit``), scores
    the validation split, keeps a copy of the best model so far and asks the engine to stop
    after ``n_iter_no_change`` checks without an improvement larger than ``tol`` (0 if None).
    """

    def __init__(self, estimator, X_val, X_bounds):
        self.estimator = estimator
        self.X_val = X_val
        self.X_bounds = X_bounds
        self.best_score = -np.inf
        self.best_state = None
        self.checks_without_gain = 0
        self.stopped = False
        estimator.validation_scores_ = []

    def check(self, iteration):
        est = self.estimator
        est._set_training_mode(False)
        try:
            # A quarter of the sampling budget: checks compare models against each other,
            # and the final normalisation after fit uses the full budget.
            est._estimate_log_partition(self.X_bounds, budget=0.25)
            score = float(np.mean(-est.energy(self.X_val) - est.log_partition_))
        finally:
            est._set_training_mode(True)
        est.validation_scores_.append(score)
        if np.isfinite(score) and score > self.best_score + (est.tol or 0.0):
            self.best_score = score
            self.best_state = est._snapshot()
            est.best_iteration_ = iteration
            self.checks_without_gain = 0
        else:
            self.checks_without_gain += 1
            if self.checks_without_gain >= est.n_iter_no_change:
                self.stopped = True
                est._stop_training = True

    def restore_best(self):
        if self.best_state is not None:
            self.estimator._restore(self.best_state)


class DivergenceGuard:
    """Finite checks after every step and, with ``max_rollbacks > 0``, recovery.

    :meth:`check` raises :class:`~adesk.training.TrainingDivergedError` naming the first
    non-finite logged value (energies, losses), gradient or parameter of any trained module.
    :meth:`recover` (the engine's ``recover`` hook) records the event in
    ``estimator.divergences_`` and either re-raises (``max_rollbacks=0``, or after
    ``max_rollbacks`` rollbacks in this call) or restores the last finite in-memory copy
    (modules, optimizer moments, replay buffer, moving averages, history), halves
    ``learning_rate_scale_`` and lets training go on from the restored iteration.

    Parameters
    ----------
    estimator : BaseEnergyEstimator
    extra_tensors : list of torch.Tensor, default=()
        Further training state restored in place on rollback (the moving average of
        ``ema_decay``).
    """

    def __init__(self, estimator, extra_tensors=()):
        self.estimator = estimator
        self.extra_tensors = list(extra_tensors)
        self.rollback = estimator.max_rollbacks > 0
        self.n_rollbacks = 0
        self.saved = None
        self.watched = self._watched_tensors()
        if self.rollback:
            self.save(estimator.n_iter_)

    def _watched_tensors(self):
        """``(label, parameter)`` for every parameter of every trained module."""
        est = self.estimator
        names = {id(module): name for name, module in est._fitted_modules().items()}
        watched = []
        for module in est._modules_to_train():
            prefix = names.get(id(module), type(module).__name__)
            for name, parameter in module.named_parameters():
                watched.append((f"{prefix}.{name}", parameter))
        return watched

    def check(self, iteration, logs):
        """Raise if a logged value, a gradient or a parameter is not finite."""
        for name, value in logs.items():
            if not np.isfinite(value):
                raise diverged_error(iteration, name, value)
        tensors, labels = [], []
        for label, parameter in self.watched:
            if parameter.grad is not None:
                tensors.append(parameter.grad)
                labels.append(f"gradient of {label}")
        for label, parameter in self.watched:
            tensors.append(parameter)
            labels.append(label)
        if not tensors:
            return
        with torch.no_grad():
            finite = torch.stack([torch.isfinite(t).all() for t in tensors])
            # One device-to-host transfer per iteration in the common, all-finite case.
            if bool(finite.all()):
                return
            first = int((~finite).nonzero()[0, 0])
            bad = tensors[first][~torch.isfinite(tensors[first])][0]
        raise diverged_error(iteration, labels[first], float(bad))

    def after_step(self, iteration):
        if self.rollback and iteration % ROLLBACK_INTERVAL == 0:
            self.save(iteration)

    def save(self, iteration):
        est = self.estimator
        self.saved = {
            "iteration": iteration,
            "modules": est._snapshot(),
            "optimizers": [copy.deepcopy(opt.state_dict()) for opt in est._optimizers],
            "history": {name: len(values) for name, values in est.history_.items()},
            "n_divergences": est.n_divergences_,
            "extra": [t.detach().clone() for t in self.extra_tensors],
        }

    def recover(self, error):
        """Record ``error``; re-raise it or roll back and return the restored iteration."""
        est = self.estimator
        record = {"iteration": error.iteration, "quantity": error.quantity, "value": error.value}
        est.divergences_.append(record)
        if not self.rollback:
            record["action"] = "raised"
            raise error
        if self.n_rollbacks >= est.max_rollbacks:
            record["action"] = "raised"
            raise TrainingDivergedError(
                f"{error} Gave up after max_rollbacks={est.max_rollbacks} rollbacks in this "
                f"fit (learning_rate_scale_={est.learning_rate_scale_:g}); see divergences_.",
                iteration=error.iteration,
                quantity=error.quantity,
                value=error.value,
            ) from error
        self.n_rollbacks += 1
        saved = self.saved
        est._restore(saved["modules"])
        for optimizer, state in zip(est._optimizers, saved["optimizers"]):
            optimizer.load_state_dict(copy.deepcopy(state))
        for name in list(est.history_):
            del est.history_[name][saved["history"].get(name, 0) :]
        est.n_divergences_ = saved["n_divergences"]
        with torch.no_grad():
            for tensor, copy_ in zip(self.extra_tensors, saved["extra"]):
                tensor.copy_(copy_)
        est.learning_rate_scale_ *= ROLLBACK_LEARNING_RATE_FACTOR
        record.update(
            action="rolled_back",
            restored_iteration=saved["iteration"],
            learning_rate_scale=est.learning_rate_scale_,
        )
        warnings.warn(
            f"{type(est).__name__}: {error.quantity} = {error.value} at iteration "
            f"{error.iteration}; rolled back to iteration {saved['iteration']} and lowered the "
            f"learning rates to {est.learning_rate_scale_:g} x their schedule.",
            RuntimeWarning,
            stacklevel=2,
        )
        return saved["iteration"]
