"""Noise-contrastive estimation (Gutmann & Hyvarinen, 2010): the paper's NCE baseline.

The energy and a scalar log-normalizer are fitted by logistic regression of the training data
against samples of a fixed noise distribution (paper Appendix D.7, eq. 50). No sampler is
learned; ``sample`` runs Metropolis-corrected HMC on the fitted energy.
"""

import copy
import math
from numbers import Real

import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from torch import nn
from torch.nn import functional as F

from ._base import BaseEnergyEstimator
from ._docs import fill_shared_docs

#: Names of the built-in noise distributions (``noise`` also accepts an object).
NCE_NOISES = ("gaussian", "diagonal")

# Added to the variances of the fitted noise: a constant feature or collinear features give a
# singular covariance, whose Cholesky factor does not exist. Standardized non-constant features
# have unit variance, so this is a 0.1% widening at most.
NOISE_RIDGE = 1e-3


class GaussianNoise(torch.nn.Module):
    """Gaussian noise distribution ``N(mean, L L^T)`` with the protocol NCE expects.

    A module only to hold its two tensors as buffers (so it moves between devices and is
    saved with the estimator); it has no trainable parameters.

    A noise object for :class:`NoiseContrastiveEstimator` needs two methods, both acting in
    the estimator's standardized coordinates ``z = ((x - mean_) / scale_) @ whitening_``:

    - ``sample(n, generator) -> tensor of shape (n, n_features)``: ``n`` independent draws,
      using only the given ``torch.Generator`` for randomness (so fits are reproducible);
    - ``log_prob(z) -> tensor of shape (n,)``: the *normalized* log-density at each row.

    Parameters
    ----------
    mean : torch.Tensor of shape (n_features,)
    scale_tril : torch.Tensor of shape (n_features, n_features)
        Lower-triangular Cholesky factor ``L`` of the covariance (positive diagonal).

    Examples
    --------
    >>> import torch
    >>> noise = GaussianNoise(torch.zeros(2), torch.eye(2))
    >>> noise.sample(4, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 2])
    >>> round(float(noise.log_prob(torch.zeros(1, 2))[0]), 4)  # -log(2 pi)
    -1.8379
    """

    def __init__(self, mean, scale_tril):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean))
        self.register_buffer("scale_tril", torch.as_tensor(scale_tril))

    @classmethod
    def fit(cls, data, diagonal=False, ridge=NOISE_RIDGE):
        """Maximum-likelihood Gaussian of ``data`` (full or diagonal covariance).

        The moments are computed in float64 and the result is cast back to ``data``'s dtype
        and device; ``ridge`` is added to the variances.
        """
        values = data.detach().to(torch.float64)
        mean = values.mean(0)
        centred = values - mean
        covariance = centred.T @ centred / values.shape[0]
        if diagonal:
            covariance = torch.diag(torch.diagonal(covariance))
        covariance = covariance + ridge * torch.eye(
            values.shape[1], dtype=torch.float64, device=values.device
        )
        scale_tril = torch.linalg.cholesky(covariance)
        return cls(mean.to(data), scale_tril.to(data))

    def sample(self, n, generator):
        """``n`` draws, shape ``(n, n_features)``."""
        eps = torch.randn(
            (n, self.mean.shape[0]),
            generator=generator,
            device=self.mean.device,
            dtype=self.mean.dtype,
        )
        return self.mean + eps @ self.scale_tril.T

    def log_prob(self, x):
        """Normalized log-density of each row of ``x``, shape ``(n,)``."""
        white = torch.linalg.solve_triangular(self.scale_tril, (x - self.mean).T, upper=False).T
        d = self.mean.shape[0]
        log_det = torch.log(torch.diagonal(self.scale_tril)).sum()
        return -0.5 * white.pow(2).sum(-1) - log_det - 0.5 * d * math.log(2 * math.pi)


class LogNormalizer(nn.Module):
    """The learned scalar ``c`` of ``log p(z) = -E(z) - c`` (standardized coordinates)."""

    def __init__(self, value=0.0):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(float(value)))

    def forward(self):
        return self.c


@fill_shared_docs
class NoiseContrastiveEstimator(BaseEnergyEstimator):
    """Energy-based density estimation by noise-contrastive estimation (NCE).

    The model is ``log p(x) = -E(x) - c`` with an energy ``E`` (an MLP by default) and a
    learned scalar log-normalizer ``c``. Both are fitted by logistic regression that tells the
    training data from ``nu = noise_ratio`` times as many samples of a fixed noise distribution
    ``p_n`` (Gutmann & Hyvarinen, 2010; paper Appendix D.7). With the log-odds

    ``G(u) = log p(u) - log(nu * p_n(u))``

    each iteration minimises, over a minibatch of data and a fresh batch of noise,

    ``-E_data[log sigmoid(G(x))] - nu * E_noise[log sigmoid(-G(y))]``.

    The minimiser is the data density itself (when the model family contains it), and
    ``c`` is then the log-partition function of ``exp(-E)``: NCE needs no sampling from the
    model and no normalisation during training. It only sees the model where the data or the
    noise go, so the noise must cover the data's support; the estimator's variance is larger
    than maximum likelihood's, and grows when the noise is a poor match of the data.

    All computation happens on standardized data ``z`` (see ``standardize``); the built-in
    noise is fitted there and a user noise object must work there too.

    Parameters
    ----------
    noise : {"gaussian", "diagonal"} or object, default="gaussian"
        The noise distribution ``p_n``, fixed during training. ``"gaussian"``: the
        full-covariance Gaussian fitted (maximum likelihood) to the standardized training data;
        ``"diagonal"``: the same with a diagonal covariance (``N(0, I)`` up to constant
        features). Both get ``1e-3`` added to their variances (see :class:`GaussianNoise`). An
        object must provide ``sample(n, generator)`` returning an ``(n, n_features)`` tensor of
        draws made with that ``torch.Generator``, and ``log_prob(z)`` returning the ``(n,)``
        *normalized* log-densities, both in standardized coordinates
        (an unnormalized ``log_prob`` shifts ``c`` by its log-normalizer).
    noise_ratio : float, default=1.0
        ``nu``, the number of noise samples per data sample: each iteration draws
        ``max(1, round(noise_ratio * batch_size))`` noise points. Larger values lower the
        estimator's variance toward maximum likelihood's, at proportional cost.
    {{energy_model}}
    {{standardize}}
    alpha : float, default=0.0
        L2 weight decay of the energy network (Adam's ``weight_decay``; not applied to ``c``).
    batch_size : int, default=256
        Data points per iteration (the noise batch is ``noise_ratio`` times larger).
    learning_rate_init : float, default=1e-3
        Adam learning rate (default ``betas=(0.9, 0.999)``: NCE is a plain minimisation)
        of the energy and of ``c``.
    learning_rate_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays the learning rate to 5% over ``max_iter`` iterations.
    max_iter : int, default=5000
        Training iterations (minibatch updates).
    ema_decay : float in [0, 1) or None, default=None
        If set, the fitted energy is the exponential moving average of the energy weights
        over training with this decay. ``c`` is not averaged (it is the last iterate).
    tol : float or None, default=None
        ``None``: run ``max_iter`` iterations. A float: after training, the NCE loss averaged
        over windows of ``validation_interval`` iterations must have varied by less than
        ``tol`` over the last ``n_iter_no_change`` windows, else a ConvergenceWarning.
    {{early_stopping}}
    warm_start : bool, default=False
        Reuse the fitted modules, noise and optimizer when ``fit`` is called again.
    {{runtime}}
    {{partition}}

    Attributes
    ----------
    energy_model_ : torch.nn.Module
        The energy network, acting on standardized inputs.
    normalizer_ : LogNormalizer
        Holds the learned ``c`` (``normalizer_.c``, a ``torch.nn.Parameter``) in standardized
        coordinates.
    log_normalizer_ : float
        The learned log-normalizer in the *original* coordinates,
        ``c + sum(log(scale_))`` (standardizing divides the density by ``prod(scale_)``).
        It is NCE's own estimate of ``log Z`` and is comparable with ``log_partition_``;
        ``score_samples`` uses ``log_partition_``.
    noise_ : object
        The noise distribution used for training (a :class:`GaussianNoise` for the built-in
        options, else a deep copy of the ``noise`` object), in standardized coordinates.
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
        NCE loss per iteration.
    history_ : dict of list of float
        ``loss_energy`` (the NCE loss) and ``log_normalizer`` (``c`` in original units) per
        iteration.
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
        Always 0 (no chains run during training).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has feature names.

    Notes
    -----
    ``c`` starts at ``mean_data(-E(z) - log p_n(z))``, the value at which the model and the
    noise have the same mean log-density on the training data (so the classifier starts
    undecided there), instead of 0: with a learning rate of ``1e-3``, Adam would need
    thousands of iterations to move ``c`` by the several nats an MLP energy's initial
    ``log Z`` can be.

    Examples
    --------
    >>> from adesk.datasets import make_toy
    >>> from adesk import NoiseContrastiveEstimator
    >>> from adesk.energies import MLP
    >>> X = make_toy("moons", 500, random_state=0)
    >>> nce = NoiseContrastiveEstimator(max_iter=20, energy_model=MLP((16, 16)), random_state=0)
    >>> nce = nce.fit(X)
    >>> nce.sample(3, random_state=0, n_transitions=10).shape
    (3, 2)
    >>> nce.score_samples(X[:2]).shape
    (2,)
    >>> isinstance(nce.log_normalizer_, float)
    True
    """

    _parameter_constraints = {
        **BaseEnergyEstimator._parameter_constraints,
        "noise": [StrOptions(set(NCE_NOISES)), HasMethods(["sample", "log_prob"])],
        "noise_ratio": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        noise="gaussian",
        noise_ratio=1.0,
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
        self.noise = noise
        self.noise_ratio = noise_ratio
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
    def _build_noise(self, data):
        if isinstance(self.noise, str):
            return GaussianNoise.fit(data, diagonal=self.noise == "diagonal")
        # A copy, so that a stateful noise object passed as a parameter is not mutated by fit.
        noise = copy.deepcopy(self.noise)
        # Check the protocol once on two points, so that a wrong shape fails here with a
        # message naming the parameter rather than deep inside a broadcast.
        draws = torch.as_tensor(noise.sample(2, self._generator))
        if tuple(draws.shape) != (2, data.shape[1]):
            raise ValueError(
                f"noise.sample(n, generator) must return an (n, n_features) tensor; the noise "
                f"{noise!r} returned shape {tuple(draws.shape)} for n=2, "
                f"n_features={data.shape[1]}."
            )
        log_prob = torch.as_tensor(noise.log_prob(draws.to(data)))
        if tuple(log_prob.shape) != (2,):
            raise ValueError(
                f"noise.log_prob(z) must return an (n,) tensor; the noise {noise!r} returned "
                f"shape {tuple(log_prob.shape)} for n=2."
            )
        return noise

    def _noise_sample(self, n):
        with torch.no_grad():
            draws = torch.as_tensor(self.noise_.sample(n, self._generator))
        return draws.to(device=self._device, dtype=self._dtype)

    def _noise_log_prob(self, z):
        with torch.no_grad():
            values = torch.as_tensor(self.noise_.log_prob(z))
        return values.to(device=self._device, dtype=self._dtype)

    def _build_modules(self, data):
        self.noise_ = self._build_noise(data)
        with torch.no_grad():
            gap = -self.energy_model_(data) - self._noise_log_prob(data)
            start = float(gap.mean())
        # See Notes: start c where the classifier is undecided on average over the data.
        self.normalizer_ = LogNormalizer(start if math.isfinite(start) else 0.0)
        self.normalizer_.to(device=self._device, dtype=self._dtype)

    def _build_optimizers(self):
        # Weight decay would pull c toward 0, which is no simpler a density than any other c.
        optimizer = torch.optim.Adam(
            [
                {"params": list(self.energy_model_.parameters()), "weight_decay": self.alpha},
                {"params": list(self.normalizer_.parameters()), "weight_decay": 0.0},
            ],
            lr=self.learning_rate_init,
        )
        self._optimizers = [optimizer]

    def _modules_to_train(self):
        return [self.energy_model_, self.normalizer_]

    # ------------------------------------------------------------ training
    def _noise_batch_size(self):
        return max(1, int(round(self.noise_ratio * self._local_batch_size)))

    def _nce_loss(self, data_batch, noise_batch):
        """The NCE loss of a data batch against a noise batch (standardized coordinates).

        ``-mean_data log sigmoid(G) - nu * mean_noise log sigmoid(-G)`` with the log-odds
        ``G(u) = -E(u) - c - log(nu) - log p_n(u)``.
        """
        n_data = data_batch.shape[0]
        points = torch.cat([data_batch, noise_batch.to(data_batch)])
        log_odds = (
            -self.energy_model_(points)
            - self.normalizer_()
            - math.log(self.noise_ratio)
            - self._noise_log_prob(points)
        )
        data_term = F.logsigmoid(log_odds[:n_data]).mean()
        noise_term = F.logsigmoid(-log_odds[n_data:]).mean()
        return -data_term - self.noise_ratio * noise_term

    def _training_step(self, data, iteration):
        (optimizer,) = self._optimizers
        batch = self._draw_batch(data)
        noise_batch = self._noise_sample(self._noise_batch_size())
        loss = self._nce_loss(batch, noise_batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss_energy": float(loss.detach()), "log_normalizer": self.log_normalizer_}

    # ------------------------------------------------------------ sampling
    _draws_by_mcmc = True

    @property
    def log_normalizer_(self):
        """Learned ``c`` in the original coordinates: ``c + sum(log(scale_))``."""
        c = float(self.normalizer_.c.detach())
        return c + self._log_volume()
