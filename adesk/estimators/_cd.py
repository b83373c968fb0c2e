"""Contrastive divergence (CD-k) and persistent contrastive divergence with a replay buffer."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._components import refuse_unused_fields, resolve_component
from ..dynamics import HMCKernel, MALAKernel, clip_norm, energy_and_gradient, run_mcmc
from ..samplers import HMC, Langevin
from ._base import BaseEnergyEstimator
from ._docs import fill_shared_docs

# Acceptance rates the step size is adapted towards: about 0.65 is optimal for HMC
# (Neal 2011, Beskos et al. 2013) and 0.574 for MALA (Roberts & Rosenthal 1998).
_TARGET_ACCEPTANCE = {"hmc": 0.65, "langevin": 0.574}
# Gain of the multiplicative update log(step) += gain * (acceptance - target), applied once per
# training iteration. The acceptance is averaged over batch_size chains and n_transitions
# transitions, so it is nearly noiseless and a small gain is enough to track the energy as it
# changes, while the step size cannot jump by more than exp(0.1) in one iteration.
_ADAPTATION_GAIN = 0.1
# Bounds of the adapted step size (standardized units): a flat energy accepts everything and
# would otherwise let the step size grow without limit.
_STEP_SIZE_BOUNDS = (1e-6, 10.0)
#: ``n_transitions="auto"``: the paper's CD-15.
CD_TRANSITIONS = 15
#: Sampler fields that contrastive divergence reads; the others belong to ADE's learned sampler.
CD_SAMPLER_FIELDS = (
    "n_steps",
    "step_size",
    "n_transitions",
    "adaptation",
    "metropolis",
    "gradient_clip",
)


def _unadjusted_langevin(energy_fn, positions, n_steps, step_size, gradient_clip, generator):
    """``n_steps`` unadjusted Langevin steps ``x - eps g(x) + sqrt(2 eps) xi`` (no test).

    A step whose proposal is not finite (position, energy or gradient) is refused for that
    chain, which keeps its position, and counted as a divergence.

    Returns
    -------
    positions : torch.Tensor of shape (n, d)
    n_divergences : int
    """
    energy, grad = energy_and_gradient(energy_fn, positions)
    divergences = torch.zeros((), dtype=torch.long, device=positions.device)
    noise_scale = math.sqrt(2.0 * step_size)
    for _ in range(n_steps):
        noise = torch.randn(
            positions.shape, generator=generator, dtype=positions.dtype, device=positions.device
        )
        with torch.no_grad():
            proposal = positions - step_size * clip_norm(grad, gradient_clip) + noise_scale * noise
        new_energy, new_grad = energy_and_gradient(energy_fn, proposal)
        finite = (
            torch.isfinite(proposal).all(-1)
            & torch.isfinite(new_energy)
            & torch.isfinite(new_grad).all(-1)
        )
        divergences = divergences + (~finite).sum()
        positions = torch.where(finite[:, None], proposal, positions).detach()
        grad = torch.where(finite[:, None], new_grad, grad)
    return positions, int(divergences)


@fill_shared_docs
class ContrastiveDivergenceEstimator(BaseEnergyEstimator):
    """Energy-based density estimation by contrastive divergence (CD-k) or persistent CD.

    Each iteration draws a minibatch of the data, runs ``n_transitions`` Metropolis-corrected
    MCMC transitions of the current energy from chain starts, and descends
    ``mean E(data) - mean E(samples)`` with the samples held fixed (no gradient flows through
    the chains), as in Hinton (2002). With ``replay_buffer_size=0`` the chains start at the
    data minibatch itself (CD-k; the paper's CD-15 baseline, Table 1 and Appendix D.1, uses 15
    HMC transitions whose step size follows the rejection rate: the defaults). With a replay
    buffer they start from earlier chain states, a fraction ``reinit_probability`` of them
    restarted from ``N(0, I)`` each iteration, and their end states are written back
    (persistent CD, Tieleman 2008, with Du & Mordatch's 2019 replay buffer).

    Compared with ADE (:class:`~adesk.ADEDensityEstimator`) the sampler is fixed, not learned:
    this is the special case of the primal-dual objective with an empirical initial
    distribution, a hand-designed MCMC kernel and a truncated gradient (paper Appendix D.1).

    All computation happens on standardized data ``z`` (see ``standardize``); the sampler's
    step size and clipping threshold and the buffer's restarts are in those units.

    Parameters
    ----------
    sampler : {"hmc", "langevin"}, HMC or Langevin, default="hmc"
        The chains' MCMC (:mod:`adesk.samplers`), with its settings reachable as
        ``sampler__n_transitions`` and so on:

        - :class:`~adesk.samplers.HMC` (``"hmc"``): ``n_transitions`` Hamiltonian Monte
          Carlo transitions (:class:`~adesk.dynamics.HMCKernel`) of ``n_steps`` leapfrog
          steps each, with a Metropolis test per transition (always: ``metropolis=False`` is
          refused). ``n_transitions="auto"`` is 15, the paper's CD-15.
        - :class:`~adesk.samplers.Langevin` (``"langevin"``): ``n_transitions * n_steps``
          Langevin steps ``x' = x - eps grad E(x) + sqrt(2 eps) xi``, each Metropolis-adjusted
          (MALA, :class:`~adesk.dynamics.MALAKernel`) unless ``metropolis=False`` (the
          unadjusted Langevin algorithm of Du & Mordatch, biased by the step size).

        Step-size ``adaptation`` (``"auto"``: ``"acceptance"`` with a Metropolis test, else
        ``"fixed"``) multiplies the step size after every iteration by
        ``exp(0.1 (acceptance - target))``, with target 0.65 for HMC and 0.574 for MALA,
        within ``[1e-6, 10]``: the step size follows the rejection rate as the energy changes
        (the paper's CD baseline). The fields that only ADE uses (``step_size_shape``,
        ``entropy_weight``, ``gradient_checkpointing``, ``sample_clip``, ``momentum_clip``,
        ``momentum_penalty``) must stay at their defaults.
    replay_buffer_size : int, default=0
        Number of persistent chain states (persistent CD); 0 starts the chains at the data
        batch (CD-k). Each iteration moves ``min(batch_size, replay_buffer_size)`` distinct
        buffer chains. ``replay_buffer_size * n_features`` floats of memory.
    reinit_probability : float in [0, 1], default=0.05
        Probability that a chain drawn from the buffer restarts from ``N(0, I)``
        (standardized units) instead, so that the buffer keeps exploring (Du & Mordatch use
        0.05). Only with a replay buffer.
    energy_penalty : float, default=0.0
        Weight of ``mean(E(x_data)^2) + mean(E(x_samples)^2)`` in the loss: Du & Mordatch's
        regulariser, which keeps the energies near zero without changing the density.
    {{energy_model}}
    {{standardize}}
    alpha : float, default=0.0
        L2 weight decay of the energy network (Adam's ``weight_decay``).
    batch_size : int, default=256
        Data points (and chains) per iteration.
    learning_rate_init : float, default=1e-3
        Adam learning rate (``betas=(0.5, 0.999)``, as for ADE).
    learning_rate_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays the learning rate to 5% over ``max_iter`` iterations.
    max_iter : int, default=5000
        Training iterations (minibatch updates).
    ema_decay : float in [0, 1) or None, default=None
        If set, the fitted energy is the exponential moving average of the energy weights
        over training with this decay.
    tol : float or None, default=None
        ``None``: run ``max_iter`` iterations. A float: the energy loss averaged over windows
        of ``validation_interval`` iterations must have varied by less than ``tol`` over the
        last ``n_iter_no_change`` windows, else a ConvergenceWarning.
    {{early_stopping}}
    warm_start : bool, default=False
        Reuse the fitted energy, optimizer, adapted step size and replay buffer when ``fit``
        is called again.
    {{runtime}}
    {{partition}}

    Attributes
    ----------
    energy_model_ : torch.nn.Module
        The energy, acting on standardized inputs.
    step_size_ : ndarray of shape (1, 1)
        Current (adapted) step size of the training chains, standardized units.
    replay_buffer_ : torch.Tensor of shape (replay_buffer_size, n_features) or None
        Persistent chain states (standardized units) with a replay buffer, else None.
    divergences_ : list of dict
        One record per divergence: ``iteration``, ``quantity``, ``value``, ``action``
        (``"raised"`` or ``"rolled_back"``) and, for rollbacks, ``restored_iteration`` and
        ``learning_rate_scale``.
    learning_rate_scale_ : float
        Factor on every learning rate (1.0, halved by each rollback).
    n_divergences_ : int
        Proposals during training whose position, energy or gradient was not finite, or whose
        Metropolis log ratio was below -1000; they are rejected.
    {{standardization_attributes}}
    log_partition_, log_partition_std_ : float
        ``log Z`` of ``exp(-E)`` in the original coordinates and its error (quadrature: change
        from a grid twice as coarse; importance sampling and AIS: standard error).
    partition_method_ : {"quadrature", "importance", "ais"}
        The method that produced ``log_partition_``.
    partition_info_ : dict
        The estimate with its diagnostics (effective sample size, AIS acceptance rate, ...;
        ``importance_effective_sample_size`` when ``"auto"`` fell back to AIS).
    n_iter_ : int
    {{stopping_attributes}}
    loss_curve_ : list of float
        ``mean E(data) - mean E(samples)`` per iteration (without ``energy_penalty``).
    history_ : dict of list of float
        ``loss_energy``, ``energy_data``, ``energy_samples``, ``acceptance_rate`` (mean
        Metropolis acceptance probability of the iteration's transitions; 1.0 for unadjusted
        Langevin) and ``step_size`` (the one used) per iteration.
    validation_scores_ : list of float
        Validation log-likelihood at every check (``early_stopping=True`` only).
    best_iteration_ : int
        Iteration of the returned model (``early_stopping=True`` only).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has feature names.

    See Also
    --------
    adesk.ADEDensityEstimator : learns the sampler instead of fixing it.

    Notes
    -----
    CD's gradient is biased: short chains started at the data do not reach the model, so the
    fixed point is not the maximum likelihood estimate in general (for a model that equals the
    data distribution it is, since then the chains are already stationary). Persistent chains
    reduce that bias when the learning rate is small relative to their mixing.

    References
    ----------
    G. E. Hinton, "Training products of experts by minimizing contrastive divergence",
    Neural Computation 14(8), 2002. T. Tieleman, "Training restricted Boltzmann machines using
    approximations to the likelihood gradient", ICML 2008. Y. Du and I. Mordatch, "Implicit
    generation and generalization in energy-based models", NeurIPS 2019.

    Examples
    --------
    >>> from adesk.datasets import make_toy
    >>> from adesk import ContrastiveDivergenceEstimator
    >>> from adesk.energies import MLP
    >>> from adesk.partition import Quadrature
    >>> X = make_toy("moons", 300, random_state=0)
    >>> cd = ContrastiveDivergenceEstimator(
    ...     max_iter=10, energy_model=MLP((16, 16)), batch_size=64,
    ...     partition=Quadrature(64), random_state=0, device="cpu",
    ... ).fit(X)
    >>> cd.sample(3, random_state=0).shape
    (3, 2)
    >>> cd.score_samples(X[:2]).shape
    (2,)
    >>> pcd = cd.set_params(replay_buffer_size=500).fit(X)
    >>> tuple(pcd.replay_buffer_.shape)
    (500, 2)
    """

    _parameter_constraints = {
        **BaseEnergyEstimator._parameter_constraints,
        "sampler": [StrOptions({"hmc", "langevin"}), HMC, Langevin],
        "replay_buffer_size": [Interval(Integral, 0, None, closed="left")],
        "reinit_probability": [Interval(Real, 0, 1, closed="both")],
        "energy_penalty": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        sampler="hmc",
        replay_buffer_size=0,
        reinit_probability=0.05,
        energy_penalty=0.0,
        energy_model="mlp",
        standardize="auto",
        alpha=0.0,
        batch_size=256,
        learning_rate_init=1e-3,
        learning_rate_schedule="cosine",
        max_iter=5000,
        ema_decay=None,
        tol=None,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        validation_interval=50,
        warm_start=False,
        verbose=0,
        device="auto",
        dtype="float32",
        random_state=None,
        partition="auto",
        callbacks=None,
        max_rollbacks=0,
        distributed="none",
    ):
        self.sampler = sampler
        self.replay_buffer_size = replay_buffer_size
        self.reinit_probability = reinit_probability
        self.energy_penalty = energy_penalty
        self.energy_model = energy_model
        self.standardize = standardize
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate_schedule = learning_rate_schedule
        self.max_iter = max_iter
        self.ema_decay = ema_decay
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.validation_interval = validation_interval
        self.warm_start = warm_start
        self.verbose = verbose
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.partition = partition
        self.callbacks = callbacks
        self.max_rollbacks = max_rollbacks
        self.distributed = distributed

    # ------------------------------------------------------------ building
    def _resolve_components(self):
        settings = super()._resolve_components()
        caller = type(self).__name__
        sampler = resolve_component(
            self.sampler, "sampler", {"hmc": HMC, "langevin": Langevin}, caller
        )
        refuse_unused_fields(
            sampler,
            "sampler",
            CD_SAMPLER_FIELDS,
            caller,
            "contrastive divergence's chains are fixed MCMC, not a learned sampler.",
        )
        if sampler.kind == "hmc" and sampler.metropolis is False:
            raise ValueError(
                "sampler__metropolis=False is only available with Langevin (unadjusted "
                "Langevin); HMC chains are always Metropolis-corrected. Got "
                f"sampler={self.sampler!r}."
            )
        if sampler.adaptation == "learned":
            raise ValueError(
                "sampler__adaptation='learned' needs a learned sampler (ADE); contrastive "
                "divergence adapts its step size to the acceptance rate ('acceptance'), or "
                f"keeps it ('fixed'). Got sampler={self.sampler!r}."
            )
        metropolis = sampler.uses_metropolis()
        adaptation = sampler.adaptation
        if adaptation == "auto":
            adaptation = "acceptance" if metropolis else "fixed"
        if adaptation == "acceptance" and not metropolis:
            raise ValueError(
                "sampler__adaptation='acceptance' follows the Metropolis acceptance rate, which "
                "unadjusted Langevin (metropolis=False) does not have; use 'fixed'."
            )
        if self.replay_buffer_size == 0 and self.reinit_probability != 0.05:
            raise ValueError(
                "reinit_probability restarts persistent chains, and replay_buffer_size=0 keeps "
                f"none (CD-k); got reinit_probability={self.reinit_probability!r}."
            )
        n_transitions = sampler.n_transitions
        if n_transitions == 0:
            raise ValueError(
                "sampler__n_transitions must be at least 1 for contrastive divergence (its "
                "negatives are the chains' end states); got 0."
            )
        settings.update(
            mcmc=sampler.kind,
            n_transitions=CD_TRANSITIONS if n_transitions == "auto" else int(n_transitions),
            n_steps=int(sampler.n_steps),
            step_size=float(sampler.step_size),
            adapt_step_size=adaptation == "acceptance",
            metropolis=metropolis,
            gradient_clip=sampler.gradient_clip,
        )
        return settings

    def _build_modules(self, data):
        self._chain_step_size = float(self._hp.step_size)
        self.replay_buffer_ = None
        if self.replay_buffer_size > 0:
            # Du & Mordatch start the buffer from noise; N(0, I) is the standardized data's
            # Gaussian, so the first chains are already on the data's scale.
            self.replay_buffer_ = torch.randn(
                (self.replay_buffer_size, data.shape[1]),
                generator=self._generator,
                device=self._device,
                dtype=self._dtype,
            )

    @property
    def step_size_(self):
        """ndarray of shape (1, 1): the chains' current (adapted) step size, standardized
        units (one step size for every step and dimension; ADE's may vary per step)."""
        check_is_fitted(self, "energy_model_")
        return np.full((1, 1), self._chain_step_size)

    def _build_optimizers(self):
        optimizer = torch.optim.Adam(
            self.energy_model_.parameters(),
            lr=self.learning_rate_init,
            betas=(0.5, 0.999),
            weight_decay=self.alpha,
        )
        self._optimizers = [optimizer]

    def _modules_to_train(self):
        return [self.energy_model_]

    # ------------------------------------------------------------ training
    def _buffer_starts(self, generator):
        """Chain starts drawn from the replay buffer, some of them restarted from noise.

        Returns the starts, the buffer rows they came from (distinct, so writing the chains
        back is well defined) and the boolean mask of restarted chains.
        """
        buffer = self.replay_buffer_
        device, dtype = buffer.device, buffer.dtype
        n_chains = min(self._local_batch_size, buffer.shape[0])
        index = torch.randperm(buffer.shape[0], generator=generator, device=device)[:n_chains]
        starts = buffer[index]
        restart = (
            torch.rand(n_chains, generator=generator, device=device, dtype=dtype)
            < self.reinit_probability
        )
        noise = torch.randn(starts.shape, generator=generator, device=device, dtype=dtype)
        return torch.where(restart[:, None], noise, starts), index, restart

    def _run_chains(self, starts, generator):
        """``n_transitions`` transitions of the current energy from ``starts``.

        Returns the detached end states, the mean acceptance probability and the number of
        divergent proposals.
        """
        settings = self._hp
        step_size = self._chain_step_size
        if settings.mcmc == "langevin":
            # A Langevin transition is n_steps Langevin steps (each MALA-tested).
            n_langevin_steps = settings.n_transitions * settings.n_steps
            if not settings.metropolis:
                positions, n_divergences = _unadjusted_langevin(
                    self.energy_model_,
                    starts,
                    n_langevin_steps,
                    step_size,
                    settings.gradient_clip,
                    generator,
                )
                return positions, 1.0, n_divergences
            kernel = MALAKernel(step_size=step_size, gradient_clip=settings.gradient_clip)
            n_kernel_steps = n_langevin_steps
        else:
            kernel = HMCKernel(
                step_size=step_size,
                n_leapfrog_steps=settings.n_steps,
                gradient_clip=settings.gradient_clip,
            )
            n_kernel_steps = settings.n_transitions
        result = run_mcmc(
            self.energy_model_,
            starts,
            kernel=kernel,
            n_steps=n_kernel_steps,
            generator=generator,
        )
        return result.positions.detach(), result.acceptance_rate, result.n_divergences

    def _adapt_step_size(self, acceptance_rate):
        settings = self._hp
        if not settings.adapt_step_size:
            return
        target = _TARGET_ACCEPTANCE[settings.mcmc]
        step = self._chain_step_size * math.exp(_ADAPTATION_GAIN * (acceptance_rate - target))
        self._chain_step_size = float(min(max(step, _STEP_SIZE_BOUNDS[0]), _STEP_SIZE_BOUNDS[1]))

    def _training_step(self, data, iteration):
        generator = self._generator
        batch = self._draw_batch(data)
        if self.replay_buffer_ is not None:
            starts, buffer_index, _ = self._buffer_starts(generator)
        else:
            # CD-k: the chains start at the positive minibatch itself (Hinton 2002).
            starts = batch
        step_size = self._chain_step_size
        samples, acceptance_rate, n_divergences = self._run_chains(starts, generator)
        self.n_divergences_ += int(n_divergences)
        if self.replay_buffer_ is not None:
            self.replay_buffer_[buffer_index] = samples

        # The samples are constants: CD's truncated gradient ignores how they depend on E.
        energy_data = self.energy_model_(batch)
        energy_samples = self.energy_model_(samples)
        contrast = energy_data.mean() - energy_samples.mean()
        loss = contrast
        if self.energy_penalty > 0:
            loss = loss + self.energy_penalty * (
                energy_data.pow(2).mean() + energy_samples.pow(2).mean()
            )
        optimizer = self._optimizers[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        self._adapt_step_size(acceptance_rate)
        return {
            "loss_energy": float(contrast.detach()),
            "energy_data": float(energy_data.detach().mean()),
            "energy_samples": float(energy_samples.detach().mean()),
            "acceptance_rate": float(acceptance_rate),
            "step_size": float(step_size),
        }

    # ------------------------------------------------------------ sampling
    _draws_by_mcmc = True

    def _mcmc_step_size(self):
        # One leapfrog step with step h is a Langevin proposal with epsilon = h^2 / 2, so the
        # adapted Langevin step translates into h = sqrt(2 epsilon) for the sampling HMC.
        if self._hp.mcmc == "langevin":
            return math.sqrt(2.0 * self._chain_step_size)
        return self._chain_step_size
