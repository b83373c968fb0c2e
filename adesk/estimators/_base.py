"""The template every adesk estimator follows: validate -> build -> train -> normalise.

This module holds the template itself (``fit``, ``partial_fit``, parameter validation, the
device, generators and standardization, the fitted modules, inference and sampling) and the
subclass interface. Its other jobs live in modules of their own, mixed in here: the training
loop (``_training_loop``), ``log Z`` estimation (``_normalisation``), saving, loading and
pickling (``_state_io``), and the validation and layout of ``X`` (``_inputs``).

This module is long (about 700 lines) because the template's public methods (``fit``,
``partial_fit``, ``energy``, ``score_samples``, ``score``, ``sample``) carry full numpydoc
docstrings, and the resolution of the shared parameter objects (energy, ``log Z``) belongs to
the template that every estimator runs.
"""

import math
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._components import resolve_component
from .._config import with_thread_policy
from ..dynamics import run_mcmc
from ..dynamics._leapfrog import frozen_parameters
from ..energies import ConvEnergy, GaussianEnergy, MLPEnergy
from ..energies._configs import ENERGY_SHORTCUTS, EnergyConfig
from ..partition._configs import AIS, PartitionConfig, Quadrature
from ._device import DTYPES, derived_seed, draw_seed, make_generator, resolve_device
from ._distributed import (
    agreed_seed,
    broadcast_modules,
    distributed_generators,
    local_batch_size,
    process_group,
)
from ._inputs import InputLayoutMixin
from ._normalisation import PARTITION_METHODS, PARTITION_SHORTCUTS, LogPartitionMixin
from ._persistence import (
    register_estimator,
)
from ._standardize import fit_standardization, log_volume, resolve_standardize
from ._state_io import PersistenceMixin
from ._training_loop import TrainingLoopMixin


def random_subset(n_samples, max_size, seed):
    """Indices of at most ``max_size`` rows, drawn without touching the global RNG."""
    if n_samples <= max_size:
        return np.arange(n_samples)
    return np.random.default_rng(seed).choice(n_samples, max_size, replace=False)


#: ``early_stopping="auto"`` holds out a validation split below this many training samples:
#: small data sets overfit within the default budget (ADE on iris, 90 training points: -6.55
#: +- 3.56 nats without, about -3 with; ``python -m adesk.benchmarks realdefaults``), while
#: large ones gain nothing from a smaller training split.
AUTO_EARLY_STOPPING_MAX_SAMPLES = 5000

#: ... and when the validation split would hold at least this many points.
AUTO_EARLY_STOPPING_MIN_VALIDATION = 5

#: Transitions of ``sample()`` for the estimators whose draws are MCMC chains (CD, NCE, SM).
SAMPLING_TRANSITIONS = 200


class BaseEnergyEstimator(
    TrainingLoopMixin,
    LogPartitionMixin,
    PersistenceMixin,
    InputLayoutMixin,
    DensityMixin,
    BaseEstimator,
    metaclass=ABCMeta,
):
    """Shared machinery of adesk's energy-based density estimators.

    ``fit`` validates the parameters and the data, standardizes the data (the energy network and
    the sampler work on ``z = ((x - mean_) / scale_) @ whitening_``), builds the modules
    (:meth:`_build_modules`), runs the training engine on :meth:`_training_step`, and finally
    estimates ``log_partition_`` so that :meth:`score_samples` is a normalized log-density in
    the original coordinates. Subclasses define the modules, the loss and the sampler.

    Examples
    --------
    Every adesk estimator (here :class:`~adesk.ADEDensityEstimator`) is a
    ``BaseEnergyEstimator`` and shares this interface:

    >>> import numpy as np
    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_moons
    >>> from adesk.energies import MLP
    >>> from adesk.estimators import BaseEnergyEstimator
    >>> from adesk.partition import Quadrature
    >>> from adesk.samplers import HMC
    >>> X = make_moons(100, random_state=0)
    >>> est = ADEDensityEstimator(max_iter=2, energy_model=MLP((8,)), sampler=HMC(2),
    ...                           partition=Quadrature(16), random_state=0, device="cpu")
    >>> isinstance(est, BaseEnergyEstimator)
    True
    >>> est = est.fit(X)
    >>> est.energy(X[:3]).shape, est.score_samples(X[:3]).shape, est.sample(4, random_state=0).shape
    ((3,), (3,), (4, 2))
    >>> bool(np.isfinite(est.log_partition_)), len(est.loss_curve_)
    (True, 2)
    """

    def __init_subclass__(cls, **kwargs):
        # Every estimator class can be loaded back from a file by its name (the persistence
        # registry), without the persistence module importing the estimator modules.
        super().__init_subclass__(**kwargs)
        register_estimator(cls)

    _parameter_constraints = {
        "energy_model": [StrOptions(set(ENERGY_SHORTCUTS)), EnergyConfig, callable],
        "standardize": [StrOptions({"auto", "per_feature", "whiten", "global", "none"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions({"constant", "cosine"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "validation_interval": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "device": [str],
        "dtype": [StrOptions(set(DTYPES))],
        "random_state": ["random_state"],
        "ema_decay": [Interval(Real, 0, 1, closed="left"), None],
        "partition": [StrOptions(set(PARTITION_METHODS)), PartitionConfig],
        "callbacks": [list, tuple, callable, None],
        "max_rollbacks": [Interval(Integral, 0, None, closed="left")],
        "distributed": [StrOptions({"none", "ddp"})],
    }

    # ----------------------------------------------------------------- fitting
    @with_thread_policy
    def fit(self, X, y=None):
        """Fit the energy (and the sampler) to ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        self._validate_own_params()
        resume = self.warm_start and hasattr(self, "energy_model_")
        # Resuming keeps the fitted feature count: a different one is refused here, before any
        # fitted state changes (as MLPClassifier does with reset=first_pass).
        X = self._validate_X(X, reset=not resume)
        if X.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples to fit a density (it "
                f"standardizes by the data's spread); got {X.shape[0]} sample."
            )
        self._setup_torch(resume)
        X_fit, X_val = self._split_validation(X)
        if not resume:
            self._start_state(X_fit)
        data = self._to_standardized_tensor(X_fit)
        self._train(
            data, self.max_iter, schedule=self.learning_rate_schedule, validation=(X_val, X)
        )
        self._finalise(X)
        return self

    def _uses_early_stopping(self, n_samples):
        """``early_stopping`` resolved. ``"auto"`` is on below
        :data:`AUTO_EARLY_STOPPING_MAX_SAMPLES` training samples, when the split holds at least
        :data:`AUTO_EARLY_STOPPING_MIN_VALIDATION` points and training runs at least two
        checks (``max_iter >= 2 * validation_interval``); otherwise off."""
        if self.early_stopping != "auto":
            return bool(self.early_stopping)
        if self.ema_decay is not None:
            # The user asked for the moving average of the weights as the fitted model; early
            # stopping would return a checkpoint instead and ignore it.
            return False
        n_validation = int(round(self.validation_fraction * n_samples))
        return (
            n_samples < AUTO_EARLY_STOPPING_MAX_SAMPLES
            and AUTO_EARLY_STOPPING_MIN_VALIDATION <= n_validation < n_samples
            and self.max_iter >= 2 * self.validation_interval
        )

    def _split_validation(self, X):
        """Hold out ``validation_fraction`` of ``X`` when early stopping is on."""
        self.early_stopping_ = self._uses_early_stopping(X.shape[0])
        if not self.early_stopping_:
            return X, None
        n_val = int(round(self.validation_fraction * X.shape[0]))
        if n_val < 1 or n_val >= X.shape[0]:
            raise ValueError(
                f"early_stopping needs 1 <= validation_fraction * n_samples < n_samples; got "
                f"validation_fraction={self.validation_fraction} with n_samples={X.shape[0]}."
            )
        order = np.random.default_rng(derived_seed(self._seed, "split")).permutation(X.shape[0])
        return X[order[n_val:]], X[order[:n_val]]

    @with_thread_policy
    def partial_fit(self, X, y=None):
        """Continue training for one pass over ``X`` (``ceil(n / batch_size)`` iterations).

        The first call builds the model (standardization from that first ``X``); later calls keep
        modules and optimizers and train at the constant rate ``learning_rate_init``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        first_call = not hasattr(self, "energy_model_")
        if first_call:
            self._validate_params()
            self._validate_own_params()
        X = self._validate_X(X, reset=first_call)
        self._setup_torch(resume=not first_call)
        if first_call:
            # partial_fit trains on every row it is given: no validation split.
            self.early_stopping_ = False
            self._start_state(X)
        data = self._to_standardized_tensor(X)
        self._train(data, math.ceil(X.shape[0] / self.batch_size), schedule="constant")
        self._finalise(X)
        return self

    def _validate_own_params(self):
        """Checks that the constraint table cannot express (overridden by subclasses)."""
        for name, value in self.get_params(deep=False).items():
            # sklearn's intervals with no upper bound accept infinity.
            if isinstance(value, Real) and not isinstance(value, bool) and math.isinf(value):
                raise ValueError(f"The {name!r} parameter must be finite; got {value!r}.")
        largest = torch.finfo(DTYPES[self.dtype]).max
        if not isinstance(self.learning_rate_init, str) and self.learning_rate_init > largest:
            raise ValueError(
                f"The 'learning_rate_init' parameter must be at most {largest:.3g} (the largest "
                f"{self.dtype}); got {self.learning_rate_init!r}."
            )
        self._resolved = self._resolve_components()
        if self.early_stopping is True and self.ema_decay is not None:
            raise ValueError(
                "early_stopping=True returns the best checkpoint and ema_decay the moving "
                "average of the weights: the fitted model can be one or the other. Got "
                f"early_stopping=True with ema_decay={self.ema_decay!r}; use "
                "early_stopping='auto' or False with ema_decay, or ema_decay=None."
            )
        try:
            device = resolve_device(self.device)
        except RuntimeError as error:
            raise ValueError(
                f"device must be 'auto', 'cpu', 'cuda' or a torch device string; "
                f"got {self.device!r}."
            ) from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r} but CUDA is not available on this machine; use "
                "device='auto' (CUDA when present, else the CPU) or 'cpu'."
            )
        callbacks = self.callbacks
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            callbacks = [callbacks]
        for callback in callbacks or []:
            hooks = ("on_train_begin", "on_iteration_end", "on_train_end")
            if not callable(callback) and not any(hasattr(callback, h) for h in hooks):
                raise ValueError(
                    "Each element of callbacks must be an adesk.training.Callback (an object "
                    "with on_train_begin / on_iteration_end / on_train_end hooks) or a callable "
                    f"f(estimator, iteration, logs); got {callback!r} in "
                    f"callbacks={self.callbacks!r}."
                )

    def _resolve_components(self):
        """The parameter objects (energy, ``log Z``; subclasses add their own) resolved and
        validated into plain settings, read during the fit through :attr:`_hp`. The objects
        themselves are never modified."""
        caller = type(self).__name__
        settings = {
            "energy_kind": "callable",
            "image_shape": None,
            "spectral_norm": False,
            "base_precision": 0.1,
            "hidden_layer_sizes": (),
            "activation": "silu",
        }
        if isinstance(self.energy_model, (str, EnergyConfig)):
            energy = resolve_component(self.energy_model, "energy_model", ENERGY_SHORTCUTS, caller)
            settings["energy_kind"] = energy.kind
            if energy.kind == "mlp":
                settings["hidden_layer_sizes"] = energy.sizes("energy_model__hidden_layer_sizes")
                settings["activation"] = energy.activation
            if energy.kind in ("mlp", "conv"):
                settings["spectral_norm"] = bool(energy.spectral_norm)
                settings["base_precision"] = float(energy.base_precision)
            if energy.kind == "conv" and energy.image_shape is not None:
                settings["image_shape"] = energy.image_shape
        partition = self.partition
        settings.update(
            partition=partition,
            partition_resolution=Quadrature().resolution,
            partition_n_samples=None,
            partition_n_temperatures=AIS().n_temperatures,
        )
        if not isinstance(partition, str):
            partition = resolve_component(partition, "partition", PARTITION_SHORTCUTS, caller)
            settings["partition"] = partition.kind
            if partition.kind in ("quadrature", "auto"):
                settings["partition_resolution"] = int(partition.resolution)
            if partition.kind != "quadrature" and partition.n_samples is not None:
                settings["partition_n_samples"] = int(partition.n_samples)
            if partition.kind in ("ais", "auto"):
                settings["partition_n_temperatures"] = int(partition.n_temperatures)
        return settings

    @property
    def _hp(self):
        """The resolved settings of the last ``fit`` (see :meth:`_resolve_components`)."""
        return SimpleNamespace(**self._resolved)

    def _setup_torch(self, resume):
        self._device = resolve_device(self.device)
        self._dtype = DTYPES[self.dtype]
        # One draw from random_state per call: every random stream of this fit (validation
        # split, proposal subset, chains and minibatches, log Z) derives from this seed.
        seed = draw_seed(self.random_state)
        if self.distributed == "ddp":
            self._rank, self._world_size = process_group()
            self._local_batch_size = local_batch_size(self.batch_size, self._world_size)
            self._seed = agreed_seed(seed, self._device)
            if not resume:
                self._ddp_generator, self._generator = distributed_generators(
                    self._seed, self._device, self._rank
                )
            return
        self._rank, self._world_size = 0, 1
        self._local_batch_size = self.batch_size
        self._seed = seed
        self.__dict__.pop("_ddp_generator", None)
        if not resume:
            self._generator = torch.Generator(device=self._device).manual_seed(seed)

    @property
    def _shared_generator(self):
        """The generator all ranks share (minibatch indices, initialisation): the estimator's
        own one outside ``distributed="ddp"``."""
        return self.__dict__.get("_ddp_generator", self._generator)

    def _draw_batch(self, data):
        """This process's share of a minibatch of ``batch_size`` rows drawn from ``data``."""
        index = torch.randint(
            data.shape[0], (self.batch_size,), generator=self._shared_generator, device=data.device
        )
        if self._world_size > 1:
            size = self._local_batch_size
            index = index[self._rank * size : (self._rank + 1) * size]
        return data[index]

    def _start_state(self, X):
        """Build a fresh model on ``X``; under ``distributed="ddp"`` every rank then takes rank
        0's modules (buffers included: a nonparametric q0's stored points, spectral-norm
        vectors). Optimizer states are empty at this point, so they need no copy."""
        self._initialise_state(X)
        if self.distributed == "ddp":
            broadcast_modules(self._fitted_modules().values(), self._device)

    def _initialise_state(self, X):
        self._resolve_image_shape(X.shape[1])
        self.standardize_ = resolve_standardize(
            self.standardize, X, is_image=self.image_shape_ is not None
        )
        self.mean_, self.scale_, self.whitening_ = fit_standardization(X, self.standardize_)
        self.history_ = {}
        self.n_iter_ = 0
        # Training-set size: "auto" settings that depend on it (ADE's learning rate) read it.
        self._n_fit_samples = X.shape[0]
        # What training spends, accumulated over warm starts and partial_fit calls.
        self.n_energy_evaluations_ = 0.0
        self.fit_time_ = 0.0
        # Kernel centres of the importance-sampling proposal used for log Z when d > 2.
        subset = random_subset(X.shape[0], 2000, derived_seed(self._seed, "proposal"))
        self._proposal_points = self._to_standardized_tensor(X[subset])
        self.n_divergences_ = 0
        self.divergences_ = []
        self.learning_rate_scale_ = 1.0
        n_features = X.shape[1]
        sizes = self._hp.hidden_layer_sizes
        torch_state = torch.random.get_rng_state()
        try:
            # Module initialisation draws from torch's global generator: seed it from ours and
            # restore it afterwards so the user's global state is untouched.
            torch.manual_seed(
                int(torch.randint(2**62, (1,), generator=self._cpu_generator(shared=True)))
            )
            self.energy_model_ = self._make_energy_model(n_features, sizes).to(
                device=self._device, dtype=self._dtype
            )
            self._build_modules(self._to_standardized_tensor(X))
        finally:
            torch.random.set_rng_state(torch_state)
        self._new_optimizers()

    def _new_optimizers(self):
        """:meth:`_build_optimizers`, recording each group's starting rate (``initial_lr``),
        from which the learning-rate schedule scales it."""
        self._build_optimizers()
        for optimizer in self._optimizers:
            for group in optimizer.param_groups:
                group["initial_lr"] = group["lr"]

    def _make_energy_model(self, n_features, sizes):
        """The energy network selected by ``energy_model`` (on standardized inputs)."""
        settings = self._hp
        if settings.energy_kind == "mlp":
            return MLPEnergy(
                n_features,
                hidden_layer_sizes=sizes,
                activation=settings.activation,
                spectral_norm=settings.spectral_norm,
                base_precision=settings.base_precision,
            )
        if settings.energy_kind == "conv":
            # Flat rows without an image shape are treated as one-row, one-channel images
            # (1-D signals), so the convolutional energy accepts any tabular input.
            shape = self.image_shape_ or (1, 1, n_features)
            return ConvEnergy(
                shape,
                spectral_norm=settings.spectral_norm,
                base_precision=settings.base_precision,
            )
        if settings.energy_kind == "gaussian":
            # Learnable diagonal Gaussian, started at the standardized data's N(0, I).
            return GaussianEnergy(torch.zeros(n_features), torch.ones(n_features), learnable=True)
        choice = self.energy_model
        module = choice(n_features)
        if not isinstance(module, torch.nn.Module):
            raise ValueError(
                "energy_model must be 'mlp', 'gaussian', 'conv' or a callable returning a "
                f"torch.nn.Module for n_features; {choice!r} returned {type(module).__name__}."
            )
        with torch.no_grad():
            out = module(torch.zeros(2, n_features))
        if tuple(out.shape) != (2,):
            raise ValueError(
                "energy_model must map (n, n_features) inputs to (n,) energies; the module "
                f"from {choice!r} returned shape {tuple(out.shape)}."
            )
        return module

    def _cpu_generator(self, shared=False):
        generator = self._shared_generator if shared else self._generator
        if generator.device.type == "cpu":
            return generator
        seed = int(torch.randint(2**62, (1,), generator=generator, device=self._device))
        return torch.Generator().manual_seed(seed)

    def _to_standardized_tensor(self, X):
        return torch.as_tensor(self._standardize(X), dtype=self._dtype, device=self._device)

    def _standardize(self, X):
        """User coordinates -> the energy's: ``((x - mean_) / scale_) @ whitening_``."""
        Z = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        whitening = getattr(self, "whitening_", None)
        return Z if whitening is None else Z @ whitening

    def _unstandardize(self, Z):
        """The energy's coordinates (array or tensor) -> the user's, as float64 numpy."""
        if isinstance(Z, torch.Tensor):
            Z = Z.detach().to(torch.float64).cpu().numpy()
        whitening = getattr(self, "whitening_", None)
        if whitening is not None:
            # whitening_ is symmetric, so Z @ inv(whitening_) is a solve with it.
            Z = np.linalg.solve(whitening, np.asarray(Z, dtype=np.float64).T).T
        return Z * self.scale_ + self.mean_

    def _log_volume(self):
        """``log Z_x - log Z_z``: the log-Jacobian of the standardization (see
        :func:`~adesk.estimators._standardize.log_volume`)."""
        return log_volume(self.scale_, getattr(self, "whitening_", None))

    @property
    def device_(self):
        """The torch device of the fitted modules, as a string (``"cpu"``, ``"cuda:0"``, ...)."""
        check_is_fitted(self, "energy_model_")
        parameter = next(self.energy_model_.parameters(), None)
        return str(self._device if parameter is None else parameter.device)

    # ---------------------------------------------------------- inference
    @with_thread_policy
    def energy(self, X):
        """Energy ``E(x)`` of each sample (lower is more likely).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        energy : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self, "energy_model_")
        X = self._validate_X(X, reset=False)
        data = self._to_standardized_tensor(X)
        pieces = []
        with torch.no_grad():
            for start in range(0, data.shape[0], 65536):
                pieces.append(self.energy_model_(data[start : start + 65536]))
        if not pieces:
            return np.empty(0)
        return torch.cat(pieces).to(torch.float64).cpu().numpy()

    @with_thread_policy
    def score_samples(self, X):
        """Normalized log-density ``-E(x) - log_partition_`` of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self, "log_partition_")
        return -self.energy(X) - self.log_partition_

    def score(self, X, y=None):
        """Mean held-out log-likelihood per sample (``GaussianMixture``'s convention).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
            Never ``+inf``: a failed normalisation gives NaN (with a warning at fit).
        """
        value = float(np.mean(self.score_samples(X)))
        return value if value != np.inf else float("nan")

    #: True for the estimators without a sampler of their own (CD, NCE, score matching):
    #: their draws are MCMC chains of the fitted energy started from the data's Gaussian.
    _draws_by_mcmc = False

    @with_thread_policy
    def sample(self, n_samples=1, random_state=None, n_transitions=None):
        """Draw samples from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            The same value gives the same samples.
        n_transitions : int or None, default=None
            Metropolis-corrected HMC transitions (10 leapfrog steps each) of the fitted energy
            (:func:`adesk.dynamics.run_mcmc`); the step size is adapted by dual averaging toward
            an acceptance of 0.8 during the first half of the transitions and fixed afterwards.
            Each transition leaves ``exp(-energy)`` invariant. For the estimators with a
            learned sampler (ADE, the flow dual) they refine the sampler's output, and
            ``None`` means none. For the others (contrastive divergence, NCE, score matching)
            they are the sampler: chains start from the data's Gaussian (``N(0, I)`` in
            standardized units), ``None`` means 200 and 0 is refused.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float64
            Or ``(n_samples, C, H, W)`` when the estimator was fitted on image arrays.
        """
        check_is_fitted(self, "energy_model_")
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
            raise ValueError(f"n_samples must be a positive int; got {n_samples!r}.")
        if n_samples < 1:
            raise ValueError(f"n_samples must be a positive int; got {n_samples}.")
        if n_transitions is not None and (
            isinstance(n_transitions, bool)
            or not isinstance(n_transitions, (int, np.integer))
            or n_transitions < 0
        ):
            raise ValueError(
                f"n_transitions must be None or a non-negative int; got {n_transitions!r}."
            )
        generator = make_generator(random_state, self._device)
        pieces = []
        # Sampling needs position gradients only (see frozen_parameters).
        with frozen_parameters(self.energy_model_):
            for start in range(0, int(n_samples), 8192):
                count = min(8192, int(n_samples) - start)
                if self._draws_by_mcmc:
                    if n_transitions == 0:
                        raise ValueError(
                            f"{type(self).__name__} draws by MCMC from the data's Gaussian, so "
                            "n_transitions must be None (200) or at least 1; got 0."
                        )
                    n_chain = SAMPLING_TRANSITIONS if n_transitions is None else n_transitions
                    Z = self._mcmc_from_gaussian(count, int(n_chain), generator)
                else:
                    Z = self._draw_standardized(count, generator).detach()
                    if n_transitions:
                        Z = self._refine_standardized(Z, int(n_transitions), generator)
                pieces.append(Z)
        Z = torch.cat(pieces).to(torch.float64).cpu().numpy()
        return self._to_output_layout(self._unstandardize(Z))

    def _data_energy_with_gradient_penalty(self, batch, weight):
        """Energies of a data batch and ``mean E + weight * mean |grad_x E|^2``.

        The penalty keeps the energy smooth where the data are (the paper's regulariser);
        its gradient flows through the input gradient (double backward).
        """
        if weight > 0:
            batch = batch.detach().requires_grad_(True)
        energies = self.energy_model_(batch)
        loss = energies.mean()
        if weight > 0:
            (grad,) = torch.autograd.grad(energies.sum(), batch, create_graph=True)
            loss = loss + weight * grad.pow(2).sum(-1).mean()
        return energies, loss

    def __sklearn_is_fitted__(self):
        return hasattr(self, "log_partition_")

    def _mcmc_from_gaussian(self, n_samples, n_steps, generator):
        """Samples of the fitted energy by Metropolis-corrected HMC from the data's Gaussian.

        Chains start from ``N(0, I)`` in standardized coordinates (the diagonal Gaussian fitted
        to the training data) and run ``n_steps`` HMC transitions of 10 leapfrog steps, the
        first half adapting the step size toward an acceptance of 0.8. This is how the
        estimators without a sampler of their own draw samples.
        """
        n_features = self.n_features_in_
        start = torch.randn(
            (n_samples, n_features), generator=generator, device=self._device, dtype=self._dtype
        )
        return self._refine_standardized(start, n_steps, generator)

    def _mcmc_step_size(self):
        """Initial step size (standardized units) of the refinement kernel."""
        return 0.1

    def _refine_standardized(self, Z, n_transitions, generator):
        result = run_mcmc(
            self.energy_model_,
            Z,
            kernel="hmc",
            n_steps=n_transitions,
            step_size=self._mcmc_step_size(),
            n_adapt=n_transitions // 2,
            generator=generator,
        )
        return result.positions.detach()

    def _sample_during_training(self, n_samples, random_state):
        """:meth:`sample` from inside the training loop (callbacks), in eval mode."""
        self._set_training_mode(False)
        try:
            return self.sample(n_samples, random_state)
        finally:
            self._set_training_mode(True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------ subclass interface
    @abstractmethod
    def _build_modules(self, data):
        """Build the estimator-specific modules from standardized training data (the energy
        network already exists as ``energy_model_``)."""

    @abstractmethod
    def _build_optimizers(self):
        """Create ``self._optimizers`` (the energy's optimizer first).

        The base class records each group's starting rate as ``initial_lr`` afterwards.
        """

    @abstractmethod
    def _modules_to_train(self):
        """The ``torch.nn.Module`` objects switched between train and eval mode."""

    @abstractmethod
    def _training_step(self, data, iteration):
        """One optimisation step on standardized ``data``; returns a dict of floats."""

    def _draw_standardized(self, n_samples, generator):
        """``n_samples`` draws from the fitted sampler, in standardized coordinates.

        Estimators with a sampler of their own override it; the others
        (``_draws_by_mcmc = True``) draw by MCMC from the data's Gaussian.
        """
        if not self._draws_by_mcmc:
            raise NotImplementedError(
                f"{type(self).__name__} must define _draw_standardized or set _draws_by_mcmc."
            )
        return self._mcmc_from_gaussian(n_samples, SAMPLING_TRANSITIONS, generator)
