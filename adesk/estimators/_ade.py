"""Adversarial Dynamics Embedding: the dual sampler is q0 followed by T learned leapfrog steps.

This module is long (about 700 lines) because the estimator's docstring, which documents every
parameter and attribute, is a third of it; building the sampler and ``q_0`` from the parameter
objects lives in ``_ade_building`` and the extras of a fitted model (``sample_initial``,
``complete``, ``image_preset``) in ``_ade_extras``.
"""

import contextlib
import math
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..dynamics._leapfrog import checkpointed_gradients, frozen_parameters
from ..dynamics._mcmc import HMCKernel
from ..dynamics._state import PhaseState
from ..initial._common import isotropic_momentum_log_prob
from ..initial._configs import INITIAL_SHORTCUTS, InitialConfig
from ..samplers import SamplerConfig
from ..samplers._configs import SAMPLER_SHORTCUTS
from ._ade_building import (  # noqa: F401 (re-exported: the names tests and benchmarks use)
    EXACT_LOGDET_MAX_FEATURES,
    INITIALS,
    SAMPLERS,
    STEP_SIZE_ADAPTATIONS,
    ADEBuildingMixin,
)
from ._ade_extras import ADEExtrasMixin, _fill_missing  # noqa: F401
from ._base import AUTO_EARLY_STOPPING_MAX_SAMPLES, BaseEnergyEstimator
from ._docs import fill_shared_docs

#: Acceptance rate that ``adaptation="acceptance"`` steers towards: the usual target
#: of HMC (Neal 2011; Beskos et al. 2013 derive 0.651) and of MALA (0.574, Roberts & Rosenthal).
TARGET_ACCEPTANCE = {"hmc": 0.65, "langevin": 0.574, "ghmc": 0.65}
#: Extra passes of the dynamics that ``sample`` runs when it draws more points than there are
#: persistent chains (copies of one chain must move apart before they count as draws).
DECORRELATION_PASSES = 10
#: ``learning_rate_init="auto"`` in two dimensions; it shrinks as ``sqrt(2 / n_features)`` above.
AUTO_LEARNING_RATE = 4e-3
#: ... and at most this below ``AUTO_EARLY_STOPPING_MAX_SAMPLES`` training samples, where the
#: default rate overfits within a few hundred iterations (iris and wine, 3 seeds: -3.22 and
#: -16.42 nats at the dimension rule's 2.8e-3 and 1.6e-3, -2.70 and -15.87 at 1e-3).
AUTO_LEARNING_RATE_SMALL_DATA = 1e-3
#: Gain of the multiplicative acceptance rule ``eta <- eta exp(gain (accepted - target))``.
ADAPTATION_GAIN = 0.05
#: Step sizes (standardized units) the acceptance rule keeps within.
ADAPTED_STEP_SIZE_BOUNDS = (1e-4, 2.0)


def _end_cache(state):
    """``(energy, gradient)`` at a trajectory's end, for the next pass's ``start_cache``
    (None where the embedding does not keep them)."""
    if state.energy is None or state.energy_grad is None:
        return None
    return state.energy.detach(), state.energy_grad.detach()


@fill_shared_docs
class ADEDensityEstimator(ADEBuildingMixin, ADEExtrasMixin, BaseEnergyEstimator):
    """Maximum likelihood for an energy-based density via Adversarial Dynamics Embedding.

    The energy ``E`` (an MLP) and a dual sampler are trained against each other on the
    primal-dual form of maximum likelihood for the momentum-augmented model
    ``p(x, v) ~ exp(-E(x) - lambda/2 |v|^2)`` (paper eq. 8 and 20). The sampler draws
    ``(x_0, v_0)`` from an initial distribution ``q_0`` and applies ``n_steps`` leapfrog steps of
    the energy itself with learned step sizes; leapfrog preserves volume, so the sampler's
    density and entropy stay those of ``q_0`` (Theorem 4). Each iteration the sampler parameters
    decrease ``E_q[E(x_T) + lambda/2 |v_T|^2] - H(q_0)`` and the energy decreases
    ``E_data[E] - E_q[E(x_T) + lambda/2 |v_T|^2]`` (Algorithm 1).

    All computation happens on standardized data ``z`` (see ``standardize``); the sampler's
    step sizes, clipping thresholds and ``sample_clip`` and the initial noise are in those
    units.

    Parameters
    ----------
    sampler : {"hmc", "ghmc", "langevin", "deterministic_langevin"} or SamplerConfig, \
default="hmc"
        The dynamics of the embedding, a parameter object of :mod:`adesk.samplers` whose
        settings are reachable as ``sampler__n_steps`` and so on (the names stand for the
        objects' defaults):

        - :class:`~adesk.samplers.HMC` (``"hmc"``): leapfrog steps of Hamiltonian dynamics
          (eq. 10-11); volume-preserving, so ``q_T`` has the density of ``q_0`` (Theorem 4).
        - :class:`~adesk.samplers.GHMC` (``"ghmc"``): generalized leapfrog in a latent
          momentum space (eq. 13) with learned scalings and maps; its ``log|det J|`` (eq. 18)
          enters the entropy.
        - :class:`~adesk.samplers.Langevin` (``"langevin"``): stochastic Langevin steps with
          fresh learned Gaussian noise per step and the multi-momenta objective (eq. 9, 14-15,
          density eq. 19).
        - :class:`~adesk.samplers.DeterministicLangevin` (``"deterministic_langevin"``):
          gradient-descent steps ``x - eta grad E(x)`` (Appendix B.1) whose Hessian
          log-determinants enter the entropy.

        Their ``n_steps`` is ``T`` (5), ``step_size`` the initial ``eta`` (0.1).
        ``adaptation="auto"`` follows the Metropolis acceptance rate when the embedding runs a
        test (HMC and Langevin by default) and learns the step sizes by the paper's objective
        otherwise: for a Metropolis-corrected, volume-preserving leapfrog that objective has
        zero expected gradient at equilibrium, and measured with these defaults (``python -m
        adesk.benchmarks adaptation``, moons and Ring, 3 seeds) the learned step sizes move
        (up to 1.6x) but the held-out log-likelihood is the same as with the acceptance rule
        within the seed spread, for 1.7 times the wall time; the faithful variant stays
        available as ``adaptation="learned"``. ``n_transitions="auto"`` adds one
        Metropolis-corrected HMC transition without graph (``n_steps`` leapfrog steps, its own
        step size ``mcmc_step_size_`` adapted to an acceptance of 0.65) to the sampler's
        output before the energy sees it as its negatives (measured: with ``n_steps=5`` it
        took Ring from -3.39 to -3.26 nats and a thin Gaussian from a 0.21-nat miss to 0.02,
        for 5 more gradients per iteration); with ``gradient="bptt"`` it is 0 (an int above 0
        raises there). The alarm :class:`~adesk.training.SamplerLagWarning` says when the
        negatives lag the model.
    initial : {"data", "gaussian", "flow", "latent"} or InitialConfig, default="data"
        ``q_0``, a parameter object of :mod:`adesk.initial`. :class:`~adesk.initial.Empirical`
        (``"data"``): the nonparametric initial distribution of Appendix C.2 (stored training
        points plus learned Gaussian noise, ``v_0 ~ N(0, I / lambda)``), whose chains then
        continue from a replay buffer of persistent states. :class:`~adesk.initial.Gaussian`
        (``"gaussian"``): a learnable diagonal Gaussian on ``(x, v)`` initialised from the
        data's mean and scale. :class:`~adesk.initial.Flow` (``"flow"``): a normalizing flow
        for ``x`` times the momentum Gaussian. :class:`~adesk.initial.Latent` (``"latent"``):
        the deep latent variable model of eq. (39-40), ``x = phi(v) + eps``, whose latent
        variable is the sampler's momentum. ``"data"`` is the default because it is the one
        that trains to an accurate density without tuning (see ``benchmarks/README.md``); a
        volume-preserving Hamiltonian flow cannot reduce the KL divergence of ``q_0`` to the
        model, so a parametric ``q_0`` must itself learn the model's shape.
    gradient : {"truncated", "bptt"}, default="truncated"
        ``"truncated"``: samples are treated as constants for the energy (eq. 38).
        ``"bptt"``: the energy's gradient also flows through the sampler's trajectory
        (eq. 21). Because leapfrog nearly conserves ``E + lambda/2 |v|^2``, that gradient
        contrasts the data with the chain *starts* rather than the samples; measured on
        moons it ran away (see ``doc/ade.md``), hence the truncated default.
    sampler_updates : int, default=1
        Sampler-only updates before each joint update (Algorithm 1 uses 1).
    sampler_learning_rate : float or None, default=None
        Learning rate of the sampler's Adam optimizer; ``None`` uses ``learning_rate_init``.
        Both are refused (rather than ignored) when nothing in the sampler learns: with the
        defaults the step sizes follow the acceptance rate and the chains start from the
        replay buffer, so there is no sampler parameter to train.
    adam_beta1 : float, default=0.5
        First-moment decay of both Adam optimizers (the paper's image models use 0).
    gradient_penalty : float, default=0.0
        Weight ``gamma`` of ``mean |grad_x E(x_data)|^2`` in the energy loss (the paper used
        0.01). It is a smoothness prior, and it biases the density: along a Gaussian direction
        of variance ``v`` (standardized units) the penalised optimum has variance
        ``s = (v + sqrt(v^2 + 16 gamma v)) / 2``, which costs
        ``(log(s / v) + v / s - 1) / 2`` nats of held-out log-likelihood per such direction
        (0.37 nats for ``gamma = 0.01`` on a direction of standard deviation 0.05; measured
        0.327 on Ring). With chains that follow the model it is not needed for stability;
        on small data it can still help, so choose it by held-out likelihood (e.g.
        ``GridSearchCV``) and report it as a bias.
    energy_penalty : float, default=0.0
        Weight of ``mean(E(x_data)^2 + E(x_T)^2)`` in the energy loss, which keeps energies
        near zero without changing the density (the energy's offset is free).
    {{energy_model}}
    {{standardize}}
    alpha : float, default=0.0
        L2 weight decay of the energy network (Adam's ``weight_decay``).
    batch_size : int, default=256
        Data points and sampler chains per iteration.
    learning_rate_init : float or "auto", default="auto"
        Adam learning rate of the energy (``betas=(adam_beta1, 0.999)``; 0.5 by default, as
        usual for adversarial games). ``"auto"``: ``4e-3 * min(1, sqrt(2 / n_features))``,
        i.e. 4e-3 in two dimensions (where 1e-3 left the network short of the tuned mixture
        at 1,000 iterations) and 1.6e-3, 1e-3, 7e-4 for 13, 30, 64 features: with 4e-3 the
        energy outran the chains on the real data sets (wine, breast_cancer, digits) and ran
        away, with the lag alarm firing. Below 5,000 training samples it is at most 1e-3: small
        data sets overfit within a few hundred iterations at the higher rates (iris, wine; see
        ``benchmarks/README.md``).
    learning_rate_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays both learning rates to 5% over ``max_iter`` iterations.
    max_iter : int, default=1000
        Training iterations (minibatch updates).
    ema_decay : float in [0, 1) or None, default=None
        If set, the fitted energy is the exponential moving average of the energy weights
        over training with this decay (e.g. 0.995 averages about the last 200 updates).
    tol : float or None, default=None
        ``None``: run ``max_iter`` iterations. A float: after training, the energy loss
        averaged over windows of ``validation_interval`` iterations must have varied by less
        than ``tol`` over the last ``n_iter_no_change`` windows, else a ConvergenceWarning.
    {{early_stopping}}
    warm_start : bool, default=False
        Reuse the fitted modules and optimizers when ``fit`` is called again.
    {{runtime}}
    {{partition}}

    Attributes
    ----------
    energy_model_ : torch.nn.Module
        The energy network, acting on standardized inputs.
    sampler_ : DynamicsEmbedding
        The learned dynamics layers (:class:`~adesk.dynamics.HMCEmbedding`,
        :class:`~adesk.dynamics.GeneralizedHMCEmbedding`,
        :class:`~adesk.dynamics.LangevinEmbedding` or
        :class:`~adesk.dynamics.DeterministicLangevinEmbedding`).
    initial_ : torch.nn.Module
        The learned initial distribution ``q_0``.
    {{standardization_attributes}}
    step_size_ : ndarray of shape (n_steps, 1 or n_features)
        Learned step sizes (standardized units).
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
        Energy loss per iteration.
    history_ : dict of list of float
        ``loss_energy``, ``loss_sampler``, ``energy_data``, ``energy_samples``,
        ``step_size`` (mean) per iteration.
    validation_scores_ : list of float
        Validation log-likelihood at every check (``early_stopping=True`` only).
    best_iteration_ : int
        Iteration of the returned model (``early_stopping=True`` only).
    divergences_ : list of dict
        One record per divergence: ``iteration``, ``quantity``, ``value``, ``action``
        (``"raised"`` or ``"rolled_back"``) and, for rollbacks, ``restored_iteration`` and
        ``learning_rate_scale``.
    learning_rate_scale_ : float
        Factor on every learning rate (1.0, halved by each rollback).
    n_divergences_ : int
        Proposals with a non-finite Hamiltonian during training; the Metropolis test rejects
        them (always 0 without a Metropolis test).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has feature names.

    Notes
    -----
    ``sample`` starts chains from the replay buffer when there is one (the persistent chain
    states are part of the fitted model), otherwise from ``q_0``, and runs the learned leapfrog
    steps (with the sampler's Metropolis test, if it runs one). When it draws more points than
    there are persistent chains (``batch_size`` by default), several draws share a chain, and
    10 more passes of the dynamics with fresh momenta move the copies apart (about ten times
    the cost per draw). With ``initial="data"`` the
    stored training points and the buffer travel with the pickled estimator.

    ``partition="importance"`` uses the dual sampler itself as the proposal when its density
    is tractable: no replay buffer, no Metropolis test, no ``sample_clip``, and a deterministic
    embedding (``"hmc"``, ``"ghmc"``, or ``"deterministic_langevin"`` with ``logdet="exact"``).
    The weight of a draw is ``exp(-E(x_T)) N(v_T; 0, I / lambda) / q_T(x_T, v_T)`` on the
    augmented space, with ``log q_T = log q_0(x_0, v_0) - log|det J|``. Otherwise the
    defensive data proposal is used. See :mod:`adesk.partition`.

    Examples
    --------
    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_toy
    >>> from adesk.energies import MLP
    >>> from adesk.samplers import HMC
    >>> X = make_toy("moons", 500, random_state=0)
    >>> ade = ADEDensityEstimator(
    ...     sampler=HMC(n_steps=5), energy_model=MLP((32, 32)), max_iter=20, random_state=0
    ... )
    >>> ade = ade.fit(X)
    >>> ade.sample(3, random_state=0).shape
    (3, 2)
    >>> ade.score_samples(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **BaseEnergyEstimator._parameter_constraints,
        "sampler": [StrOptions(set(SAMPLER_SHORTCUTS)), SamplerConfig],
        "initial": [StrOptions(set(INITIAL_SHORTCUTS)), InitialConfig],
        "learning_rate_init": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "gradient": [StrOptions({"bptt", "truncated"})],
        "sampler_updates": [Interval(Integral, 1, None, closed="left")],
        "sampler_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "adam_beta1": [Interval(Real, 0, 1, closed="left")],
        "gradient_penalty": [Interval(Real, 0, None, closed="left")],
        "energy_penalty": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        sampler="hmc",
        initial="data",
        gradient="truncated",
        sampler_updates=1,
        sampler_learning_rate=None,
        adam_beta1=0.5,
        gradient_penalty=0.0,
        energy_penalty=0.0,
        energy_model="mlp",
        standardize="auto",
        alpha=0.0,
        batch_size=256,
        learning_rate_init="auto",
        learning_rate_schedule="cosine",
        max_iter=1000,
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
        self.initial = initial
        self.gradient = gradient
        self.sampler_updates = sampler_updates
        self.sampler_learning_rate = sampler_learning_rate
        self.adam_beta1 = adam_beta1
        self.gradient_penalty = gradient_penalty
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
    def _learning_rate(self):
        """``learning_rate_init``; ``"auto"`` is ``4e-3 * min(1, sqrt(2 / n_features))``, at
        most 1e-3 below 5,000 training samples."""
        if self.learning_rate_init != "auto":
            return float(self.learning_rate_init)
        rate = AUTO_LEARNING_RATE * min(1.0, math.sqrt(2.0 / self.n_features_in_))
        if getattr(self, "_n_fit_samples", math.inf) < AUTO_EARLY_STOPPING_MAX_SAMPLES:
            rate = min(rate, AUTO_LEARNING_RATE_SMALL_DATA)
        return rate

    def _build_modules(self, data):
        self.mcmc_step_size_ = float(self._hp.step_size)
        self.sampler_ = self._build_sampler(data)
        self.initial_ = self._build_initial(data, self.sampler_.momentum_dim)
        self.initial_.to(device=self._device, dtype=self._dtype)
        self.sampler_.to(device=self._device, dtype=self._dtype)
        self.replay_buffer_ = None
        n_chains = self._n_persistent_chains()
        if n_chains > 0:
            with torch.no_grad():
                position, _ = self._draw_initial(n_chains, self._generator)
            self.replay_buffer_ = position.detach()
        self._refuse_settings_without_effect()

    def _refuse_settings_without_effect(self):
        """Raise when a sampler-learning setting is set but nothing in the sampler learns.

        A sampler whose step sizes follow the acceptance rate (or stay fixed) and whose chains
        continue from a replay buffer has no parameter that training changes, so these
        settings would be silently ignored.
        """
        if self.replay_buffer_ is not None and not self._hp.learn_initial_noise:
            raise ValueError(
                "initial__learn_noise=False has no effect with a replay buffer: q0's noise is "
                "not trained then (it only shapes the buffer's start and the restarts). Use "
                "initial__replay_buffer_size=0 or leave learn_noise at True."
            )
        if self._sampler_parameters():
            return
        # Nothing learns through the trajectory. A parametric q0 behind a replay buffer is
        # still fitted on its own draws (learning rate and entropy weight act there); with
        # BPTT the energy's gradient runs through the trajectory (entropy weight and
        # checkpointing act there).
        fitted_q0 = bool(self._initial_parameters_by_kl())
        bptt = self.gradient == "bptt"
        settings = {"sampler_updates": (self.sampler_updates, 1)}
        if not fitted_q0:
            settings["sampler_learning_rate"] = (self.sampler_learning_rate, None)
        if not (fitted_q0 or bptt):
            settings["sampler__entropy_weight"] = (self._hp.entropy_weight, 1.0)
        if not bptt:
            settings["sampler__gradient_checkpointing"] = (self._hp.gradient_checkpointing, False)
        changed = [name for name, (value, default) in settings.items() if value != default]
        if changed:
            raise ValueError(
                f"{', '.join(changed)} set, but nothing in this sampler learns: its step sizes "
                f"follow the acceptance rate or stay fixed (sampler__adaptation resolved to "
                f"{self._step_size_adaptation()!r}) and its chains start from the replay buffer, "
                "so no trajectory is trained. Use sampler__adaptation='learned', a learned "
                "sampler (GHMC) or initial__replay_buffer_size=0 (the paper's restarts from "
                "q0), or leave these settings at their defaults."
            )

    def _lag_advice(self):
        return (
            "Give the sampler more transitions per iteration (sampler__n_transitions, "
            "sampler__n_steps), lower learning_rate_init, and keep "
            "initial__replay_buffer_size=None (one chain per minibatch row) and "
            "initial__reinit_scale=None (no broad restarts)."
        )

    def _n_persistent_chains(self):
        """``replay_buffer_size``, where ``None`` means one chain per minibatch row."""
        if self._hp.replay_buffer_size is None:
            return int(self.batch_size)
        return int(self._hp.replay_buffer_size)

    def _initial_parameters_by_kl(self):
        """Parameters of a parametric ``q_0`` trained on its own draws by ``KL(q_0 || p)``.

        With a replay buffer the energy's negatives continue persistent chains and ``q_0``
        only starts and restarts them, so it is fitted to the model directly (the sampler
        objective with no dynamics, ``E_q0[E(x) + lambda/2 |v|^2] - w H(q_0)``). The
        nonparametric ``q_0`` is not (its noise only shapes the buffer's start and the
        restarts from the data, and its entropy is a sum over every stored point).
        """
        if self.replay_buffer_ is None or self._hp.initial == "data":
            return []
        return [p for p in self.initial_.parameters() if p.requires_grad]

    def _initial_kl_loss(self):
        """``E_q0[E(x) + lambda/2 |v|^2] - w H(q_0)`` on fresh draws; the energy is frozen."""
        position, momentum, log_q0 = self.initial_.sample(self._local_batch_size, self._generator)
        kinetic = self.sampler_.kinetic_energy(momentum)
        hamiltonian = (self.energy_model_(position) + kinetic).mean()
        return hamiltonian - self._hp.entropy_weight * self.initial_.entropy(log_q0)

    def _sampler_parameters(self):
        """Trainable parameters of the dual sampler's objective.

        With a replay buffer the chains do not start from ``q_0``, so only the dynamics'
        parameters are trained by it (a parametric ``q_0`` is then fitted on its own draws,
        :meth:`_initial_parameters_by_kl`; the noise of the nonparametric one only shapes
        the buffer's start and the data restarts).
        """
        modules = (
            [self.sampler_] if self.replay_buffer_ is not None else [self.initial_, self.sampler_]
        )
        return [p for module in modules for p in module.parameters() if p.requires_grad]

    def _build_optimizers(self):
        energy_optimizer = torch.optim.Adam(
            self.energy_model_.parameters(),
            lr=self._learning_rate(),
            betas=(self.adam_beta1, 0.999),
            weight_decay=self.alpha,
        )
        optimizers = [energy_optimizer]
        sampler_params = [
            p
            for module in (self.initial_, self.sampler_)
            for p in module.parameters()
            if p.requires_grad
        ]
        if sampler_params:
            rate = self.sampler_learning_rate or self._learning_rate()
            optimizers.append(
                torch.optim.Adam(sampler_params, lr=rate, betas=(self.adam_beta1, 0.999))
            )
        self._optimizers = optimizers

    def _modules_to_train(self):
        return [self.energy_model_, self.initial_, self.sampler_]

    # ------------------------------------------------------------ training
    def _run_sampler(
        self, n_samples, generator, create_graph, from_buffer=False, restart=True, track=True
    ):
        """Draw ``(x_0, v_0)`` and run the embedding.

        Returns the :class:`~adesk.dynamics.EmbeddingOutput`, ``log q_0(x_0, v_0)`` and the
        buffer rows used (or ``None``). With ``from_buffer``, ``x_0`` comes from the replay
        buffer of persistent chain states (with ``restart``, a fraction
        ``reinit_probability`` restarts) and ``v_0`` is fresh; the density of such an ``x_0``
        is unknown, so ``log q_0`` is ``None``.
        """
        if from_buffer:
            position, momentum, index = self._buffer_draw(n_samples, generator, restart)
            log_q0 = None
        elif track:
            position, momentum, log_q0 = self.initial_.sample(n_samples, generator)
            index = None
        else:
            position, momentum = self._draw_initial(n_samples, generator)
            log_q0 = index = None
        output = self.sampler_(
            self.energy_model_,
            position,
            momentum,
            create_graph=create_graph,
            generator=generator,
            track_density=track,
        )
        return output, log_q0, index

    def _draw_initial(self, n_samples, generator):
        """``(x_0, v_0)`` from ``q_0`` without its density, when only the draw is needed (the
        nonparametric q0's density is a log-sum-exp over all stored points)."""
        position, momentum, _ = self.initial_.sample(n_samples, generator, with_log_prob=False)
        return position, momentum

    def _buffer_draw(self, n_samples, generator, restart=True):
        buffer = self.replay_buffer_
        device, dtype = buffer.device, buffer.dtype
        if n_samples <= buffer.shape[0]:
            # Distinct rows, so that every drawn chain's new state is written back (with
            # repeats, one copy's transition would overwrite the other's).
            index = torch.randperm(buffer.shape[0], generator=generator, device=device)
            index = index[:n_samples]
        else:
            index = torch.randint(buffer.shape[0], (n_samples,), generator=generator, device=device)
        position = buffer[index]
        if restart:
            # Restarts from the data keep chains near every part of the data (no sharp spikes
            # where chains never go); restarts from a broad Gaussian find spurious wells far
            # from the data, which the energy then raises.
            uniform = torch.rand(n_samples, generator=generator, device=device, dtype=dtype)
            broad_share = 0.0 if self._hp.reinit_scale is None else 0.5
            from_data = uniform < (1.0 - broad_share) * self._hp.reinit_probability
            from_broad = (uniform >= (1.0 - broad_share) * self._hp.reinit_probability) & (
                uniform < self._hp.reinit_probability
            )
            with torch.no_grad():
                data_start, _ = self._draw_initial(n_samples, generator)
            broad_start = (self._hp.reinit_scale or 0.0) * torch.randn(
                position.shape, generator=generator, device=device, dtype=dtype
            )
            position = torch.where(from_data[:, None], data_start.detach(), position)
            position = torch.where(from_broad[:, None], broad_start, position)
        return position, self._fresh_momentum(position, generator), index

    def _fresh_momentum(self, like, generator):
        """``v ~ N(0, I / lambda)``, one row per row of ``like`` (on its device and dtype)."""
        return torch.randn(
            (like.shape[0], self.sampler_.momentum_dim),
            generator=generator,
            device=like.device,
            dtype=like.dtype,
        ) / math.sqrt(self._hp.momentum_penalty)

    def _dynamics_pass(self, energy_fn, position, generator, start_cache=None, return_cache=False):
        """One pass of the fitted dynamics from ``position`` with a fresh momentum, no graph.

        ``start_cache`` is ``(energy, gradient)`` at ``position`` if known (then the pass costs
        ``n_steps`` gradients instead of ``n_steps + 1``); ``return_cache=True`` also returns
        that pair at the end position (None where the embedding does not keep it), so that
        consecutive passes chain without evaluating the same gradient twice.
        """
        with torch.no_grad(), frozen_parameters(self.energy_model_):
            output = self.sampler_(
                energy_fn,
                position,
                self._fresh_momentum(position, generator),
                create_graph=False,
                generator=generator,
                track_density=False,
                start_cache=start_cache,
            )
        if not return_cache:
            return output.state.position.detach()
        return output.state.position.detach(), _end_cache(output.state)

    def _sampler_objective(self, output, log_q0):
        """``E_q[H(x_T, v_T)]`` and the entropy estimate ``H(q_T)``.

        ``H(q_T) = H(q_0) + E[log|det J|] - E[sum_t log q_t(xi_t)]`` (Theorem 4). With a replay
        buffer ``H(q_0)`` is unknown but does not depend on any trained parameter, so it is
        left out.
        """
        hamiltonian = output.hamiltonian.mean()
        change = (output.log_det_jacobian - output.log_noise_density).mean()
        if log_q0 is None:
            return hamiltonian, change
        return hamiltonian, self.initial_.entropy(log_q0) + change

    def _training_step(self, data, iteration):
        energy_optimizer = self._optimizers[0]
        sampler_optimizer = self._optimizers[1] if len(self._optimizers) > 1 else None
        sampler_params = self._sampler_parameters()
        use_buffer = self.replay_buffer_ is not None
        needs_graph = self.gradient == "bptt" or bool(sampler_params)

        bptt = self.gradient == "bptt"

        @contextlib.contextmanager
        def sampler_pass():
            # With the truncated gradient the energy's parameters get no gradient through the
            # trajectory: frozen, autograd records only the position paths the sampler's own
            # parameters need (about a third fewer matrix products in the backward pass). The
            # freeze covers the backward pass too, which checkpointing recomputes in.
            freeze = contextlib.nullcontext() if bptt else frozen_parameters(self.energy_model_)
            with freeze, checkpointed_gradients(self._hp.gradient_checkpointing):
                yield

        for _ in range(self.sampler_updates - 1 if sampler_params else 0):
            with sampler_pass():
                output, log_q0, _ = self._run_sampler(
                    self._local_batch_size, self._generator, True, use_buffer
                )
                hamiltonian, entropy = self._sampler_objective(output, log_q0)
                sampler_optimizer.zero_grad(set_to_none=True)
                torch.autograd.backward(
                    hamiltonian - self._hp.entropy_weight * entropy, inputs=sampler_params
                )
            sampler_optimizer.step()

        batch = self._draw_batch(data)
        energy_params = list(self.energy_model_.parameters())
        with sampler_pass():
            output, log_q0, buffer_index = self._run_sampler(
                self._local_batch_size, self._generator, needs_graph, from_buffer=use_buffer
            )
            state = output.state
            hamiltonian, entropy = self._sampler_objective(output, log_q0)

            energy_optimizer.zero_grad(set_to_none=True)
            if sampler_optimizer is not None:
                sampler_optimizer.zero_grad(set_to_none=True)
            # One backward pass through the trajectory serves both players: the sampler
            # descends H_q - w * H(q_T); with BPTT the energy ascends the same objective.
            sampler_loss = hamiltonian - self._hp.entropy_weight * entropy
            if needs_graph:
                targets = sampler_params + (energy_params if bptt else [])
                torch.autograd.backward(sampler_loss, inputs=targets)
        if bptt:
            for p in energy_params:
                if p.grad is not None:
                    p.grad.neg_()
            sample_term = torch.zeros((), dtype=batch.dtype, device=batch.device)
            samples_energy = state.energy.detach()
            negatives = state.position.detach()
            mcmc_acceptance = float("nan")
        else:
            negatives = state.position.detach()
            mcmc_acceptance = float("nan")
            if self._n_mcmc_steps() > 0:
                negatives, mcmc_acceptance = self._refine_negatives(state)
            # Truncated gradient (eq. 38): E at the negatives as constant points. The cached
            # state.energy cannot serve, because its graph also runs back through x_T's
            # trajectory; one more forward pass on the batch is the price.
            samples_energy = self.energy_model_(negatives)
            sample_term = samples_energy.mean()
        if use_buffer:
            self.replay_buffer_[buffer_index] = negatives

        data_energy = self._data_energy_and_penalty(batch, samples_energy)
        (data_energy["loss"] - sample_term).backward()
        initial_params = self._initial_parameters_by_kl()
        if initial_params:
            with frozen_parameters(self.energy_model_):
                torch.autograd.backward(self._initial_kl_loss(), inputs=initial_params)
        energy_optimizer.step()
        if sampler_optimizer is not None:
            sampler_optimizer.step()
        sampler = self.sampler_
        accepted = sampler._last_acceptance if sampler.metropolis else 1.0
        diverged = sampler._last_divergences if sampler.metropolis else 0

        # Every logged number leaves the device in one transfer (one host sync per iteration).
        values = torch.stack(
            [
                torch.as_tensor(value, device=batch.device).to(batch.dtype)
                for value in (
                    data_energy["mean"] - hamiltonian.detach(),
                    sampler_loss.detach(),
                    data_energy["mean"],
                    samples_energy.detach().mean(),
                    sampler.step_sizes().detach().mean(),
                    accepted,
                    mcmc_acceptance,
                    diverged,
                )
            ]
        ).tolist()
        self.n_divergences_ += int(values.pop())
        mcmc_acceptance = values.pop()
        names = ("loss_energy", "loss_sampler", "energy_data", "energy_samples", "step_size")
        logs = dict(zip(names + ("acceptance_rate",), values))
        if self._n_mcmc_steps() > 0:
            logs["mcmc_acceptance_rate"] = mcmc_acceptance
        return logs

    def _after_step_logs(self, logs):
        # The acceptance rates arrive averaged over the processes under DDP, so every rank
        # moves its step sizes identically.
        if self._step_size_adaptation() == "acceptance":
            self._adapt_step_sizes(logs["acceptance_rate"])
        if "mcmc_acceptance_rate" in logs:
            self._adapt_mcmc_step_size(logs["mcmc_acceptance_rate"])

    def _adapt_step_sizes(self, accepted):
        """Multiply every step size by ``exp(gain (accepted - target))``."""
        target = TARGET_ACCEPTANCE.get(self._hp.sampler, 0.65)
        low, high = (math.log(b) for b in ADAPTED_STEP_SIZE_BOUNDS)
        with torch.no_grad():
            log_step = self.sampler_.log_step_size
            log_step.add_(ADAPTATION_GAIN * (float(accepted) - target)).clamp_(low, high)

    def _adapt_mcmc_step_size(self, accepted):
        step = self.mcmc_step_size_ * math.exp(
            ADAPTATION_GAIN * (accepted - TARGET_ACCEPTANCE["hmc"])
        )
        self.mcmc_step_size_ = float(
            min(max(step, ADAPTED_STEP_SIZE_BOUNDS[0]), ADAPTED_STEP_SIZE_BOUNDS[1])
        )

    def _refine_negatives(self, state):
        """``sampler__n_transitions`` Metropolis-corrected HMC transitions of the current energy
        from the sampler's output ``state``, with a fresh momentum each and no graph: the energy's
        negatives, closer to the model than the sampler's output (and, with a replay buffer,
        the chains' next state). The energy and gradient at the start come from the
        embedding's last step, so each transition costs ``n_steps`` gradients.

        Returns the refined positions and the mean acceptance probability (a tensor)."""
        kernel = HMCKernel(
            step_size=self.mcmc_step_size_,
            n_leapfrog_steps=self._hp.n_steps,
            momentum_penalty=self._hp.momentum_penalty,
            gradient_clip=self._hp.gradient_clip,
            momentum_clip=self._hp.momentum_clip,
        )
        position = state.position.detach()
        current = PhaseState(
            position,
            torch.zeros_like(position),
            state.energy.detach(),
            state.energy_grad.detach(),
        )
        acceptance = []
        with frozen_parameters(self.energy_model_):
            for _ in range(self._n_mcmc_steps()):
                transition = kernel._transition(
                    self.energy_model_, current, self._generator, self.mcmc_step_size_
                )
                current = transition.state
                acceptance.append(transition.acceptance_probability.mean())
        return current.position.detach(), torch.stack(acceptance).mean()

    def _data_energy_and_penalty(self, batch, samples_energy):
        energies, loss = self._data_energy_with_gradient_penalty(batch, self.gradient_penalty)
        if self.energy_penalty > 0:
            loss = loss + self.energy_penalty * (
                energies.pow(2).mean() + samples_energy.pow(2).mean()
            )
        return {"loss": loss, "mean": energies.detach().mean()}

    # ------------------------------------------------------------ sampling
    def _draw_standardized(self, n_samples, generator):
        from_buffer = self.replay_buffer_ is not None
        # No graph: the learned step sizes and q0's parameters would otherwise make autograd
        # record the whole trajectory (the energy gradients enable grad locally).
        with torch.no_grad():
            output, _, _ = self._run_sampler(
                n_samples, generator, False, from_buffer=from_buffer, restart=False, track=False
            )
            position = output.state.position
            if from_buffer and n_samples > self.replay_buffer_.shape[0]:
                # More draws than persistent chains: several draws start from the same chain,
                # and further passes of the dynamics with fresh momenta separate the copies.
                cache = _end_cache(output.state)
                for _ in range(DECORRELATION_PASSES):
                    position, cache = self._dynamics_pass(
                        self.energy_model_, position, generator, cache, return_cache=True
                    )
        return position

    def _mcmc_step_size(self):
        return float(self.sampler_.step_sizes().detach().mean())

    def _has_tractable_sampler(self):
        if self.replay_buffer_ is not None or self.sampler_.metropolis:
            return False
        if self._hp.sample_clip is not None or self._hp.sampler == "langevin":
            return False
        return self._hp.sampler != "deterministic_langevin" or self.sampler_.logdet == "exact"

    def _sampler_log_weights(self, n_samples, generator):
        # The augmented target exp(-E(x)) N(v; 0, I / lambda) has the same normaliser as
        # exp(-E(x)), and the embedding's output density is q_0 / |det J| (no noise terms).
        output, log_q0, _ = self._run_sampler(n_samples, generator, False)
        state = output.state
        log_q = log_q0 - output.log_det_jacobian
        log_target = -state.energy
        if state.momentum is not None and state.momentum.shape[-1] > 0:
            log_target = log_target + isotropic_momentum_log_prob(
                state.momentum, self._hp.momentum_penalty
            )
        return (log_target - log_q).detach()

    @property
    def step_size_(self):
        """Learned step sizes, shape ``(n_steps, 1 or n_features)`` (standardized units)."""
        return self.sampler_.step_sizes().detach().to(torch.float64).cpu().numpy()
