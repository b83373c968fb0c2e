"""The training loop every adesk estimator shares (one job: run the iterations).

:class:`TrainingLoopMixin` holds the loop around a subclass's ``_training_step``: the learning
rate schedule, the divergence guard, early stopping on the validation likelihood, the
distributed averaging of logs and gradients, the cost counters, the lag alarm, checkpoints and
the convergence verdict. :class:`~adesk.estimators.BaseEnergyEstimator` inherits it.
"""

import math
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from ..training import EnergyEvaluationCounter, SamplerLagWarning, lagging_stretch, run_training
from ..training._engine import diverged_error
from ..training._lag import lag_message
from ._distributed import average_gradients_before_step, average_logs
from ._guards import DivergenceGuard, ValidationTracker


class TrainingLoopMixin:
    """``_train`` and its hooks; mixed into :class:`~adesk.estimators.BaseEnergyEstimator`."""

    def _learning_rate_factor(self, schedule, offset, n_iter):
        if schedule == "constant" or n_iter <= 1:
            return 1.0
        # Cosine decay to 5% of the initial rate: late iterations average out minibatch noise.
        progress = (offset - 1) / (n_iter - 1)
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))

    def _train(self, data, n_iter, schedule, validation=(None, None)):
        X_val, X_bounds = validation
        tracker = ValidationTracker(self, X_val, X_bounds) if X_val is not None else None
        base_rates = [
            [group["initial_lr"] for group in opt.param_groups] for opt in self._optimizers
        ]
        start = self.n_iter_

        averaged = []
        if self.ema_decay is not None and tracker is None:
            averaged = [p.detach().clone() for p in self.energy_model_.parameters()]
        guard = DivergenceGuard(self, extra_tensors=averaged)

        def step(iteration):
            factor = self._learning_rate_factor(schedule, iteration - start, n_iter)
            factor *= self.learning_rate_scale_
            for optimizer, rates in zip(self._optimizers, base_rates):
                for group, rate in zip(optimizer.param_groups, rates):
                    group["lr"] = rate * factor
            try:
                logs = self._training_step(data, iteration)
            except RuntimeError as error:
                # torch refuses an optimizer update whose scalar step overflows the dtype
                # (an absurd learning rate): that is a divergence, reported as one.
                if "overflow" not in str(error):
                    raise
                raise diverged_error(iteration, "optimizer step", math.inf) from error
            if self._world_size > 1:
                logs = average_logs(logs, self._device)
            if "energy_samples" in logs and "energy_data" in logs:
                logs["energy_gap"] = logs["energy_samples"] - logs["energy_data"]
            # Before anything consumes the new state (validation, averages, checkpoints).
            guard.check(iteration, logs)
            self._after_step_logs(logs)
            if tracker is not None and (iteration - start) % self.validation_interval == 0:
                tracker.check(iteration)
            if averaged:
                with torch.no_grad():
                    for mean, p in zip(averaged, self.energy_model_.parameters()):
                        mean.lerp_(p, 1.0 - self.ema_decay)
            return logs

        def after_step(iteration):
            guard.after_step(iteration)

        hooks = []
        if self._world_size > 1:
            hooks = [average_gradients_before_step(opt) for opt in self._optimizers]
        self._set_training_mode(True)
        counter = EnergyEvaluationCounter(self.energy_model_, self._local_batch_size)
        started = time.perf_counter()
        try:
            n_done = run_training(
                self,
                step,
                n_iter,
                start_iteration=start,
                recover=guard.recover,
                after_step=after_step,
            )
        finally:
            counter.remove()
            self.n_energy_evaluations_ += counter.count
            self.fit_time_ += time.perf_counter() - started
            self._set_training_mode(False)
            for hook in hooks:
                hook.remove()
        if averaged and n_done > 0:
            # The returned energy is the exponential moving average of the iterates: it averages
            # out the minibatch and chain noise of the last ~1 / (1 - ema_decay) updates.
            with torch.no_grad():
                for mean, p in zip(averaged, self.energy_model_.parameters()):
                    p.copy_(mean)
        self.n_iter_ = start + n_done
        self.loss_curve_ = list(self.history_.get("loss_energy", []))
        interrupted = getattr(self, "_interrupted", False)
        if interrupted:
            warnings.warn(
                f"{type(self).__name__}: training was interrupted (KeyboardInterrupt) after "
                f"{n_done} of {n_iter} iterations; the model trained so far is kept and "
                "normalised. Call fit again with warm_start=True to continue.",
                UserWarning,
                stacklevel=4,
            )
        # The alarm judges the whole run, also past the check that early stopping returns:
        # the chains' start transient is a fixed number of iterations, so judging only up to
        # an early best check (10% burn-in of a short stretch) mistook it for a lag, and a
        # sampler that falls behind later is worth knowing about either way.
        stretch = lagging_stretch(self.history_.get("energy_gap", [])[start : start + n_done])
        if stretch is not None:
            stretch = (stretch[0] + start, stretch[1] + start, stretch[2])
            warnings.warn(
                lag_message(type(self).__name__, stretch, self._lag_advice()),
                SamplerLagWarning,
                stacklevel=4,
            )
        if tracker is not None:
            tracker.restore_best()
            self.converged_ = tracker.stopped
            if not tracker.stopped and not interrupted:
                warnings.warn(
                    f"{type(self).__name__}: the validation log-likelihood was still improving "
                    f"at max_iter={self.max_iter}; increase max_iter.",
                    ConvergenceWarning,
                    stacklevel=4,
                )
        else:
            self.converged_ = False if interrupted else self._check_convergence()

    # converged_ follows MLPClassifier: True only when a stopping criterion (``tol`` on the
    # loss, or early stopping on the validation score) was met before max_iter.

    def stop_training(self):
        """Ask a running ``fit`` or ``partial_fit`` to stop after the current iteration.

        Meant for callbacks (:class:`adesk.training.Callback`): the fit then finishes as
        usual with the iterations done so far (normalised, ``n_iter_`` set, the best model
        kept under early stopping). Outside training it has no effect.
        """
        self._stop_training = True

    def _save_checkpoint(self, path, iteration):
        """Write a training checkpoint (rank 0 only): what :class:`~adesk.training.Checkpoint`
        calls every ``interval`` iterations."""
        if self._rank != 0:
            return
        self.n_iter_ = iteration
        self.save(path)

    def _after_step_logs(self, logs):
        """Hook called with each iteration's logged floats once they are final (averaged over
        the processes under ``distributed="ddp"``, checked finite): rules that adapt to them
        (step sizes following the acceptance rate) run here, so that every rank applies the
        same update. The base class does nothing."""

    def _lag_advice(self):
        """What to change when the negatives lag the model (see :class:`SamplerLagWarning`)."""
        return (
            "Run more sampler transitions per iteration (sampler__n_transitions) or lower "
            "learning_rate_init."
        )

    def _check_convergence(self):
        """``tol=None`` means "run ``max_iter`` iterations with the schedule": there is no
        criterion, so nothing is claimed (False) and nothing is warned.

        With a ``tol``, training counts as converged when the mean energy loss of the last
        ``n_iter_no_change`` windows of ``validation_interval`` iterations varies by less than
        ``tol``; otherwise a :class:`~sklearn.exceptions.ConvergenceWarning` is raised.
        """
        if self.tol is None:
            return False
        losses = np.asarray(self.history_.get("loss_energy", []))
        window = self.validation_interval
        n_windows = len(losses) // window
        if n_windows >= self.n_iter_no_change + 1:
            means = losses[: n_windows * window].reshape(n_windows, window).mean(axis=1)
            recent = means[-(self.n_iter_no_change + 1) :]
            if np.max(np.abs(np.diff(recent))) < self.tol:
                return True
        warnings.warn(
            f"{type(self).__name__} reached max_iter={self.max_iter} without the energy loss "
            f"settling within tol={self.tol}; increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=4,
        )
        return False

    def _set_training_mode(self, training):
        """Switch every trained module to train or eval mode."""
        for module in self._modules_to_train():
            module.train(training)

    def _finalise(self, X):
        self._estimate_log_partition(X)
        if not math.isfinite(self.log_partition_):
            warnings.warn(
                f"{type(self).__name__}: the log-partition estimate is not finite "
                f"({self.log_partition_}); score_samples will return NaN.",
                RuntimeWarning,
                stacklevel=4,
            )
