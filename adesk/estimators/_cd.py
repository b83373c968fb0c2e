"""Contrastive divergence (CD-k) and persistent contrastive divergence with a replay buffer."""

import math
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..dynamics import HMCKernel, MALAKernel, clip_norm, energy_and_gradient, run_mcmc
from ._base import BaseEnergyEstimator
from ._docs import fill_shared_docs

# Acceptance rates the step size is adapted towards: about 0.65 is optimal for HMC
# (Neal 2011, Beskos et al. 2013) and 0.574 for MALA (Roberts & Rosenthal 1998).
_TARGET_ACCEPTANCE = {"hmc": 0.65, "langevin": 0.574}
# Gain of the multiplicative update log(step) += gain * (acceptance - target), applied once per
# training iteration. The acceptance is averaged over batch_size chains and n_mcmc_steps
# transitions, so it is nearly noiseless and a small gain is enough to track the energy as it
# changes, while the step size cannot jump by more than exp(0.1) in one iteration.
_ADAPTATION_GAIN = 0.1
# Bounds of the adapted step size (standardized units): a flat energy accepts everything and
# would otherwise let the step size grow without limit.
_STEP_SIZE_BOUNDS = (1e-6, 10.0)


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

    Each iteration draws a minibatch of the data, runs ``n_mcmc_steps`` MCMC transitions of
    the current energy from chain starts, and descends
    ``mean E(data) - mean E(samples)`` with the samples held fixed (no gradient flows through
    the chains), as in Hinton (2002). With ``persistent=False`` the chains start at the data
    minibatch itself (CD-k; the paper's CD-15 baseline, Table 1 and Appendix D.1, uses
    ``n_mcmc_steps=15`` HMC transitions whose step size follows the rejection rate). With
    ``persistent=True`` they start from a replay buffer of earlier chain states, a fraction
    ``reinit_probability`` of them restarted from ``N(0, I)`` each iteration, and their end
    states are written back (persistent CD, Tieleman 2008, with Du & Mordatch's 2019 replay
    buffer).

    Compared with ADE (:class:`~adesk.ADEDensityEstimator`) the sampler is fixed, not learned:
    this is the special case of the primal-dual objective with an empirical initial
    distribution, a hand-designed MCMC kernel and a truncated gradient (paper Appendix D.1).

    All computation happens on standardized data ``z`` (see ``standardize``); ``step_size``,
    ``gradient_clip`` and the buffer's restarts are in those units.

    Parameters
    ----------
    mcmc : {"hmc", "langevin"}, default="hmc"
        Transition kernel of the negative chains. ``"hmc"``: Hamiltonian Monte Carlo
        (:class:`~adesk.dynamics.HMCKernel`) with ``n_leapfrog_steps`` leapfrog steps and a
        Metropolis test per transition. ``"langevin"``: Langevin steps
        ``x' = x - step_size * grad E(x) + sqrt(2 step_size) * xi``, Metropolis-adjusted
        (MALA, :class:`~adesk.dynamics.MALAKernel`) when ``metropolis=True``.
    n_mcmc_steps : int, default=15
        Transitions per iteration (``k`` of CD-k; 15 is the paper's CD-15).
    step_size : float, default=0.1
        Initial step size: the leapfrog step for ``"hmc"``, ``epsilon`` for ``"langevin"``.
    n_leapfrog_steps : int, default=5
        Leapfrog steps per HMC transition (ignored by ``"langevin"``).
    adapt_step_size : bool, default=True
        After every iteration multiply the step size by
        ``exp(0.1 * (acceptance - target))``, with ``acceptance`` the mean Metropolis
        acceptance probability of that iteration's transitions and ``target`` 0.65 for HMC and
        0.574 for MALA: the step size follows the rejection rate as the energy changes (the
        paper's CD baseline). It is kept within ``[1e-6, 10]``. Without a Metropolis test
        (unadjusted Langevin) there is no rejection rate, and the step size stays fixed.
    metropolis : bool, default=True
        Metropolis-Hastings correction of ``"langevin"`` (MALA; ``False`` gives the
        unadjusted Langevin algorithm of Du & Mordatch, biased by the step size).
        ``"hmc"`` is always Metropolis-corrected: ``mcmc="hmc"`` with ``metropolis=False``
        raises a ValueError rather than silently keeping the test.
    persistent : bool, default=False
        Start the chains from the replay buffer (persistent CD) instead of the data batch.
    replay_buffer_size : int, default=10000
        Number of stored chain states of ``persistent=True`` (ignored otherwise). Each
        iteration moves ``min(batch_size, replay_buffer_size)`` distinct buffer chains.
        ``replay_buffer_size * n_features`` floats of memory.
    reinit_probability : float in [0, 1], default=0.05
        Probability that a chain drawn from the buffer restarts from ``N(0, I)``
        (standardized units) instead, so that the buffer keeps exploring (Du & Mordatch use
        0.05).
    energy_penalty : float, default=0.0
        Weight of ``mean(E(x_data)^2) + mean(E(x_samples)^2)`` in the loss: Du & Mordatch's
        regulariser, which keeps the energies near zero without changing the density.
    gradient_clip : float or None, default=10.0
        Maximum Euclidean norm of ``grad E`` inside the sampler (the HMC momentum updates,
        the Langevin drift). MALA uses the clipped drift in both proposal densities, and
        clipped leapfrog stays volume-preserving and reversible, so the Metropolis-corrected
        chains remain exact.
    sampling_steps : int, default=200
        HMC transitions (10 leapfrog steps each, started from ``N(0, I)`` in standardized
        units, step size adapted during the first half) that :meth:`sample` runs on the
        fitted energy.
    energy_model : {"mlp", "gaussian", "conv"} or callable, default="mlp"
        The energy: an MLP (``hidden_layer_sizes``, ``activation``, ``spectral_norm``,
        ``base_precision``), a learnable diagonal Gaussian
        (:class:`~adesk.energies.GaussianEnergy`, for parameter recovery), or a callable
        ``f(n_features) -> torch.nn.Module`` mapping ``(n, n_features)`` standardized inputs
        to ``(n,)`` energies.
    image_shape : tuple of 3 ints or None, default=None
        ``(channels, height, width)`` of flat image rows. Not needed when ``X`` is passed as an
        ``(n, C, H, W)`` array, whose layout is recorded (``image_shape_``) and used by
        :meth:`sample`. ``energy_model="conv"`` is the paper's convolutional energy
        (:class:`~adesk.energies.ConvEnergy`, Table 4(a)) on images of this shape (flat rows
        without an image shape are treated as ``(1, 1, n_features)`` images).
    {{standardize}}
    hidden_layer_sizes : tuple of int, default=(128, 128, 128)
        Hidden widths of the MLP energy.
    activation : str, default="silu"
        Hidden activation of the MLP: "relu", "silu", "softplus", "tanh", "elu", "leaky_relu".
    spectral_norm : bool, default=False
        Spectral normalization of every linear layer of the energy.
    base_precision : float, default=0.1
        Weight of a fixed quadratic ``|z|^2 / 2`` term in the energy, which keeps
        ``exp(-E)`` integrable far from the data where no chain goes.
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
    verbose : int, default=0
        1 shows a progress bar on stderr (rate, time left, latest losses); 2 or more prints
        a line of losses every 100 iterations.
    device : str, default="auto"
        "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState instance or None, default=None
        Seeds a ``torch.Generator`` created in ``fit``; the global RNGs are untouched.
    partition : {"auto", "quadrature", "importance", "ais"}, default="auto"
        How ``log_partition_`` is estimated after fitting (:mod:`adesk.partition`):
        ``"quadrature"`` is a midpoint grid over the data's box (``d <= 3``);
        ``"importance"`` samples the estimator's own sampler when its density is tractable
        and a defensive proposal (kernel density estimate of the data mixed with a broad
        Gaussian) otherwise; ``"ais"`` anneals from a Gaussian fitted to the data to
        ``exp(-E)`` with HMC transitions; ``"auto"`` uses quadrature for ``d <= 2``, else
        importance sampling when its effective sample size is at least 10% of the draws,
        else AIS. The method used is ``partition_method_``.
    partition_resolution : int, default=400
        Grid cells per axis for quadrature in 1 or 2 dimensions.
    partition_n_samples : int or None, default=None
        Importance-sampling draws (``None``: 10,000) or AIS chains (``None``: 512).
    partition_n_temperatures : int, default=500
        AIS annealing steps (5 leapfrog steps each); the variance of the AIS estimate falls
        roughly as ``1 / partition_n_temperatures``.
    callbacks : list of Callback or callables, default=None
        Objects with ``on_train_begin(est)``, ``on_iteration_end(est, iteration, logs)``,
        ``on_train_end(est)`` hooks (:class:`~adesk.training.Callback`), or callables
        ``f(est, iteration, logs)`` called after every iteration.
    divergence : {"raise", "rollback"}, default="raise"
        What a NaN or infinite energy, loss, gradient or parameter does: ``"raise"`` stops
        with :class:`~adesk.training.TrainingDivergedError`; ``"rollback"`` restores the last
        finite state (kept every 10 iterations), halves every learning rate
        (``learning_rate_scale_``) and goes on. Either way the event is in ``divergences_``.
    max_rollbacks : int, default=5
        Rollbacks allowed per ``fit`` / ``partial_fit`` call before the error is raised.
    checkpoint_path : str, path-like or None, default=None
        Write :meth:`save` checkpoints during training to this path (``"{iteration}"`` in it
        is replaced by the iteration count; otherwise the file is overwritten).
        :func:`adesk.load` reads them; ``warm_start=True`` then continues training.
    checkpoint_interval : int, default=1000
        Iterations between checkpoints.
    distributed : {"none", "ddp"}, default="none"
        ``"ddp"``: data-parallel training on the current ``torch.distributed`` process group
        (launch with ``torchrun``; see :mod:`adesk.train` and ``doc/scaling.md``). Each process
        trains on its share of every global minibatch of ``batch_size`` rows and the gradients
        of the energy and of the sampler are averaged over the processes before each step.

    Attributes
    ----------
    energy_model_ : torch.nn.Module
        The energy, acting on standardized inputs.
    step_size_ : float
        Current (adapted) step size of the training chains, standardized units.
    replay_buffer_ : torch.Tensor of shape (replay_buffer_size, n_features) or None
        Persistent chain states (standardized units) with ``persistent=True``, else None.
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
    >>> from adesk.estimators._cd import ContrastiveDivergenceEstimator
    >>> X = make_toy("moons", 300, random_state=0)
    >>> cd = ContrastiveDivergenceEstimator(
    ...     max_iter=10, hidden_layer_sizes=(16, 16), batch_size=64, sampling_steps=10,
    ...     partition_resolution=64, random_state=0, device="cpu",
    ... ).fit(X)
    >>> cd.sample(3, random_state=0).shape
    (3, 2)
    >>> cd.score_samples(X[:2]).shape
    (2,)
    >>> pcd = cd.set_params(persistent=True, replay_buffer_size=500).fit(X)
    >>> tuple(pcd.replay_buffer_.shape)
    (500, 2)
    """

    _parameter_constraints = {
        **BaseEnergyEstimator._parameter_constraints,
        "mcmc": [StrOptions({"hmc", "langevin"})],
        "n_mcmc_steps": [Interval(Integral, 1, None, closed="left")],
        "step_size": [Interval(Real, 0, None, closed="neither")],
        "n_leapfrog_steps": [Interval(Integral, 1, None, closed="left")],
        "adapt_step_size": ["boolean"],
        "metropolis": ["boolean"],
        "persistent": ["boolean"],
        "replay_buffer_size": [Interval(Integral, 1, None, closed="left")],
        "reinit_probability": [Interval(Real, 0, 1, closed="both")],
        "energy_penalty": [Interval(Real, 0, None, closed="left")],
        "gradient_clip": [Interval(Real, 0, None, closed="neither"), None],
        "sampling_steps": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        mcmc="hmc",
        n_mcmc_steps=15,
        step_size=0.1,
        n_leapfrog_steps=5,
        adapt_step_size=True,
        metropolis=True,
        persistent=False,
        replay_buffer_size=10000,
        reinit_probability=0.05,
        energy_penalty=0.0,
        gradient_clip=10.0,
        sampling_steps=200,
        energy_model="mlp",
        image_shape=None,
        standardize="auto",
        hidden_layer_sizes=(128, 128, 128),
        activation="silu",
        spectral_norm=False,
        base_precision=0.1,
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
        partition_resolution=400,
        partition_n_samples=None,
        partition_n_temperatures=500,
        callbacks=None,
        divergence="raise",
        max_rollbacks=5,
        checkpoint_path=None,
        checkpoint_interval=1000,
        distributed="none",
    ):
        self.mcmc = mcmc
        self.n_mcmc_steps = n_mcmc_steps
        self.step_size = step_size
        self.n_leapfrog_steps = n_leapfrog_steps
        self.adapt_step_size = adapt_step_size
        self.metropolis = metropolis
        self.persistent = persistent
        self.replay_buffer_size = replay_buffer_size
        self.reinit_probability = reinit_probability
        self.energy_penalty = energy_penalty
        self.gradient_clip = gradient_clip
        self.sampling_steps = sampling_steps
        self.energy_model = energy_model
        self.image_shape = image_shape
        self.standardize = standardize
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.spectral_norm = spectral_norm
        self.base_precision = base_precision
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
        self.partition_resolution = partition_resolution
        self.partition_n_samples = partition_n_samples
        self.partition_n_temperatures = partition_n_temperatures
        self.callbacks = callbacks
        self.divergence = divergence
        self.max_rollbacks = max_rollbacks
        self.checkpoint_path = checkpoint_path
        self.checkpoint_interval = checkpoint_interval
        self.distributed = distributed

    # ------------------------------------------------------------ building
    def _validate_own_params(self):
        super()._validate_own_params()
        if self.mcmc == "hmc" and not self.metropolis:
            raise ValueError(
                "metropolis=False is only available with mcmc='langevin' (unadjusted "
                "Langevin); mcmc='hmc' is always Metropolis-corrected. Got mcmc='hmc' with "
                "metropolis=False."
            )

    def _build_modules(self, data):
        self.step_size_ = float(self.step_size)
        self.replay_buffer_ = None
        if self.persistent:
            # Du & Mordatch start the buffer from noise; N(0, I) is the standardized data's
            # Gaussian, so the first chains are already on the data's scale.
            self.replay_buffer_ = torch.randn(
                (self.replay_buffer_size, data.shape[1]),
                generator=self._generator,
                device=self._device,
                dtype=self._dtype,
            )

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
        """``n_mcmc_steps`` transitions of the current energy from ``starts``.

        Returns the detached end states, the mean acceptance probability and the number of
        divergent proposals.
        """
        step_size = self.step_size_
        if self.mcmc == "langevin" and not self.metropolis:
            positions, n_divergences = _unadjusted_langevin(
                self.energy_model_,
                starts,
                self.n_mcmc_steps,
                step_size,
                self.gradient_clip,
                generator,
            )
            return positions, 1.0, n_divergences
        if self.mcmc == "hmc":
            kernel = HMCKernel(
                step_size=step_size,
                n_leapfrog_steps=self.n_leapfrog_steps,
                gradient_clip=self.gradient_clip,
            )
        else:
            kernel = MALAKernel(step_size=step_size, gradient_clip=self.gradient_clip)
        result = run_mcmc(
            self.energy_model_,
            starts,
            kernel=kernel,
            n_steps=self.n_mcmc_steps,
            generator=generator,
        )
        return result.positions.detach(), result.acceptance_rate, result.n_divergences

    def _adapt_step_size(self, acceptance_rate):
        if not self.adapt_step_size or (self.mcmc == "langevin" and not self.metropolis):
            return
        target = _TARGET_ACCEPTANCE[self.mcmc]
        step = self.step_size_ * math.exp(_ADAPTATION_GAIN * (acceptance_rate - target))
        self.step_size_ = float(min(max(step, _STEP_SIZE_BOUNDS[0]), _STEP_SIZE_BOUNDS[1]))

    def _training_step(self, data, iteration):
        generator = self._generator
        batch = self._draw_batch(data)
        if self.replay_buffer_ is not None:
            starts, buffer_index, _ = self._buffer_starts(generator)
        else:
            # CD-k: the chains start at the positive minibatch itself (Hinton 2002).
            starts = batch
        step_size = self.step_size_
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
    def _draw_standardized(self, n_samples, generator):
        return self._mcmc_from_gaussian(n_samples, self.sampling_steps, generator)

    def _mcmc_step_size(self):
        # One leapfrog step with step h is a Langevin proposal with epsilon = h^2 / 2, so the
        # adapted Langevin step translates into h = sqrt(2 epsilon) for the sampling HMC.
        if self.mcmc == "langevin":
            return math.sqrt(2.0 * self.step_size_)
        return self.step_size_
