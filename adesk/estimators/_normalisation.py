"""Normalising a fitted energy: ``log Z`` by quadrature, importance sampling or AIS.

:class:`LogPartitionMixin` estimates ``log_partition_`` after ``fit`` (and at every
early-stopping check) with the method chosen by ``partition``, and re-estimates it on demand
(:meth:`estimate_log_partition`). :class:`~adesk.estimators.BaseEnergyEstimator` inherits it.
"""

import math

import torch
from sklearn.utils.validation import check_is_fitted

from .._config import with_thread_policy
from ..partition import (
    DefensiveProposal,
    GaussianProposal,
    data_bounds,
    log_partition_ais,
    log_partition_importance,
    log_partition_quadrature,
)
from ..partition._configs import AIS, AutoPartition, ImportanceSampling, Quadrature
from ._device import derived_seed, make_generator

PARTITION_METHODS = ("auto", "quadrature", "importance", "ais")
#: The ``log Z`` parameter objects by shortcut name.
PARTITION_SHORTCUTS = {
    "auto": AutoPartition,
    "quadrature": Quadrature,
    "importance": ImportanceSampling,
    "ais": AIS,
}

# partition_n_samples=None: proposal draws for importance sampling, chains for AIS.
DEFAULT_IMPORTANCE_SAMPLES = 10000
DEFAULT_AIS_CHAINS = 512

# partition="auto" in d > 2 keeps importance sampling when its effective sample size is at
# least this fraction of the draws; otherwise it runs AIS.
AUTO_IMPORTANCE_MIN_ESS_FRACTION = 0.1


class LogPartitionMixin:
    """``log Z`` estimation; mixed into :class:`~adesk.estimators.BaseEnergyEstimator`."""

    def _estimate_log_partition(self, X, budget=1.0):
        """Set ``log_partition_``, ``log_partition_std_``, ``partition_method_`` and
        ``partition_info_`` with the method chosen by ``partition``; ``budget`` scales the
        number of samples (or chains) and temperatures."""
        # The quadrature box is three times the data's range per axis; a box five times the
        # range checks how much mass lies outside it.
        self._partition_bounds = data_bounds(X, margin=1.0)
        self._partition_bounds_wide = data_bounds(X, margin=2.0)
        n_samples = self._hp.partition_n_samples
        if n_samples is not None:
            n_samples = max(2, int(budget * n_samples))
        estimate = self._compute_log_partition(
            self._hp.partition,
            n_samples=n_samples,
            n_temperatures=max(1, int(budget * self._hp.partition_n_temperatures)),
            bidirectional=False,
            # The same seed at every call of one fit: early-stopping checks compare models
            # with common random numbers.
            generator=torch.Generator(device=self._device).manual_seed(
                derived_seed(self._seed, "partition")
            ),
            budget=budget,
        )
        self.log_partition_ = estimate["log_partition"]
        self.log_partition_std_ = estimate["log_partition_std"]
        self.partition_method_ = estimate["method"]
        self.partition_info_ = estimate

    @with_thread_policy
    def estimate_log_partition(
        self,
        method="ais",
        n_samples=None,
        n_temperatures=None,
        bidirectional=False,
        random_state=0,
    ):
        """Estimate ``log Z`` of the fitted energy again, without changing the estimator.

        Use it to check the stored ``log_partition_``: with another method, more samples,
        another seed, or a bidirectional AIS run whose gap bounds the error.

        Parameters
        ----------
        method : {"ais", "importance", "quadrature", "auto"}, default="ais"
        n_samples : int or None, default=None
            Importance draws or AIS chains; ``None`` uses the ``partition`` object's ``n_samples``
            or its default.
        n_temperatures : int or None, default=None
            AIS annealing steps; ``None`` uses the ``partition`` object's ``n_temperatures``.
        bidirectional : bool, default=False
            AIS only: also anneal back from the end points (``log_partition_reverse``).
        random_state : int, RandomState instance or None, default=0

        Returns
        -------
        estimate : dict
            ``log_partition`` and ``log_partition_std`` in the original coordinates, the
            ``method`` used and its diagnostics (effective sample size, acceptance rate, ...).
        """
        check_is_fitted(self, "log_partition_")
        if method not in PARTITION_METHODS:
            raise ValueError(f"method must be one of {PARTITION_METHODS}; got {method!r}.")
        return self._compute_log_partition(
            method,
            n_samples=self._hp.partition_n_samples if n_samples is None else n_samples,
            n_temperatures=(
                self._hp.partition_n_temperatures if n_temperatures is None else n_temperatures
            ),
            bidirectional=bidirectional,
            generator=make_generator(random_state, self._device),
        )

    def _compute_log_partition(
        self, method, n_samples, n_temperatures, bidirectional, generator, budget=1.0
    ):
        n_features = self.n_features_in_
        if method == "quadrature" and n_features > 3:
            raise ValueError(
                f"partition='quadrature' needs n_features <= 3; got n_features={n_features}. "
                "Use partition='ais', 'importance' or 'auto'."
            )
        # Every estimate below is of the standardized energy; Z_x = Z_z * prod(scale_).
        log_scale = self._log_volume()
        if method == "quadrature" or (method == "auto" and n_features <= 2):
            return self._quadrature_estimate()
        rejected = None
        if method in ("importance", "auto"):
            estimate = self._importance_estimate(
                n_samples or int(budget * DEFAULT_IMPORTANCE_SAMPLES), generator
            )
            enough = (
                estimate["effective_sample_size"]
                >= AUTO_IMPORTANCE_MIN_ESS_FRACTION * estimate["n_samples"]
            )
            if method == "importance" or (enough and math.isfinite(estimate["log_partition"])):
                estimate["log_partition"] += log_scale
                return estimate
            rejected = estimate
        estimate = self._ais_estimate(
            n_samples or int(budget * DEFAULT_AIS_CHAINS), n_temperatures, bidirectional, generator
        )
        if rejected is not None:
            # Why "auto" fell back to AIS: the importance estimate's effective sample size.
            estimate["importance_effective_sample_size"] = rejected["effective_sample_size"]
            estimate["importance_n_samples"] = rejected["n_samples"]
        estimate["log_partition"] += log_scale
        estimate["log_partition_reverse"] += log_scale
        return estimate

    def _quadrature_estimate(self):
        """Midpoint rule on the box around the data (three times its range per axis).

        The error is the larger of two checks: the change from a grid twice as coarse on the
        same box (resolution), and the change from the same number of points on a box five
        times the data's range (mass outside the box, plus the coarser cells' own error).
        """
        n_features = self.n_features_in_
        resolution = self._hp.partition_resolution if n_features <= 2 else 64
        result = log_partition_quadrature(
            self._raw_energy_tensor,
            self._partition_bounds,
            resolution=resolution,
            device=self._device,
            dtype=self._dtype,
        )
        wide = log_partition_quadrature(
            self._raw_energy_tensor,
            getattr(self, "_partition_bounds_wide", result.bounds),
            resolution=resolution,
            device=self._device,
            dtype=self._dtype,
        )
        truncation = abs(wide.log_partition - result.log_partition)
        return {
            "method": "quadrature",
            "log_partition": result.log_partition,
            "log_partition_std": max(result.error, truncation),
            "resolution_error": result.error,
            "wide_box_change": truncation,
            "bounds": result.bounds,
            "resolution": result.resolution,
        }

    def _importance_estimate(self, n_samples, generator):
        """Importance sampling with the estimator's own sampler when its density is tractable
        (``_sampler_log_weights``), else with the defensive data proposal."""
        own = self._has_tractable_sampler()
        proposal = DefensiveProposal(self._proposal_points)
        log_weights = []
        with torch.no_grad():
            for start in range(0, n_samples, 8192):
                count = min(8192, n_samples - start)
                if own:
                    log_weights.append(self._sampler_log_weights(count, generator))
                else:
                    z = proposal.sample(count, generator)
                    log_weights.append(-self.energy_model_(z) - proposal.log_prob(z))
        result = log_partition_importance(torch.cat(log_weights))
        return {
            "method": "importance",
            "proposal": "sampler" if own else "defensive",
            "log_partition": result.log_partition,
            "log_partition_std": result.log_partition_std,
            "effective_sample_size": result.effective_sample_size,
            "n_samples": result.n_samples,
        }

    def _ais_estimate(self, n_chains, n_temperatures, bidirectional, generator):
        """AIS from a Gaussian fitted to (a subset of) the standardized training data."""
        initial = GaussianProposal.fit(self._proposal_points)
        result = log_partition_ais(
            self.energy_model_,
            initial,
            n_chains=n_chains,
            n_temperatures=n_temperatures,
            bidirectional=bidirectional,
            generator=generator,
        )
        return {
            "method": "ais",
            "log_partition": result.log_partition,
            "log_partition_std": result.log_partition_std,
            "effective_sample_size": result.effective_sample_size,
            "n_chains": result.n_chains,
            "n_temperatures": result.n_temperatures,
            "acceptance_rate": result.acceptance_rate,
            "final_step_size": result.step_sizes[-1],
            "n_divergences": result.n_divergences,
            "log_partition_reverse": result.log_partition_reverse,
            "log_partition_reverse_std": result.log_partition_reverse_std,
        }

    def _has_tractable_sampler(self):
        """Whether the estimator's own sampler has a tractable density (False by default).

        Subclasses that return True also define ``_sampler_log_weights(n_samples, generator)``
        returning ``-E(z) - log q(z)`` (standardized) for ``n_samples`` draws of the sampler.
        """
        return False

    def _sampler_log_weights(self, n_samples, generator):
        """``-E(z) - log q(z)`` (standardized) for ``n_samples`` draws of the estimator's own
        sampler; defined by the estimators whose :meth:`_has_tractable_sampler` is True."""
        raise NotImplementedError(f"{type(self).__name__} has no sampler with a tractable density.")

    def _raw_energy_tensor(self, x):
        shift = torch.as_tensor(self.mean_, dtype=x.dtype, device=x.device)
        scale = torch.as_tensor(self.scale_, dtype=x.dtype, device=x.device)
        z = (x - shift) / scale
        whitening = getattr(self, "whitening_", None)
        if whitening is not None:
            z = z @ torch.as_tensor(whitening, dtype=x.dtype, device=x.device)
        return self.energy_model_(z)
