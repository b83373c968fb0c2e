"""Score matching: fit the energy's score ``-grad E`` to the data without ``log Z`` or samples."""

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseEnergyEstimator
from ._docs import fill_shared_docs

#: Training objectives of :class:`ScoreMatchingEstimator` (its ``method`` parameter).
SCORE_MATCHING_METHODS = ("exact", "sliced", "denoising")


def _energy_gradient(energy, z):
    """Energies ``E(z)`` and ``grad_z E(z)``, with the graph kept for second derivatives."""
    z = z.detach().requires_grad_(True)
    energies = energy(z)
    (grad,) = torch.autograd.grad(energies.sum(), z, create_graph=True)
    return z, grad


def score_matching_loss(
    energy, z, method="exact", *, n_projections=1, noise_std=0.1, generator=None
):
    """Per-sample score-matching loss of the model ``p(z) ~ exp(-energy(z))``.

    The model score is ``s(z) = -grad_z E(z)``. Each loss equals the Fisher divergence
    ``E_data 0.5 |s(z) - grad log p_data(z)|^2`` up to a constant that does not depend on the
    energy (Hyvarinen 2005; Vincent 2011 for ``"denoising"``, whose constant and minimiser
    differ: see below).

    Parameters
    ----------
    energy : callable
        Maps ``(n, d)`` inputs to ``(n,)`` energies, twice differentiable (for ``"exact"`` and
        ``"sliced"``; a ReLU network has a zero Hessian almost everywhere).
    z : torch.Tensor of shape (n, d)
        Data points.
    method : {"exact", "sliced", "denoising"}, default="exact"
        - ``"exact"``: ``0.5 |grad E|^2 - tr(Hess E)`` (that is ``0.5 |s|^2 + tr(ds/dz)``).
          The trace takes ``d`` extra backward passes, one per coordinate, so the cost grows
          as ``O(d)`` times a gradient: fine for tabular data, not for images.
        - ``"sliced"``: sliced score matching (Song et al. 2019) in its variance-reduced form
          ``0.5 |grad E|^2 - v^T (Hess E) v`` with ``n_projections`` standard **Gaussian**
          vectors ``v`` per sample (``E[v v^T] = I``, so it is unbiased for ``"exact"``); one
          Hessian-vector product per projection, whatever ``d``.
        - ``"denoising"``: ``0.5 |s(z + sigma eps) + eps / sigma|^2`` with
          ``eps ~ N(0, I)`` and ``sigma = noise_std`` (Vincent 2011). It matches the score of
          the data convolved with ``N(0, sigma^2 I)``, so its minimiser is the smoothed
          density (for Gaussian data: the variance is inflated by ``sigma^2``).
    n_projections : int, default=1
        Projection vectors per sample (``"sliced"`` only).
    noise_std : float, default=0.1
        ``sigma`` of ``"denoising"``, in the units of ``z``.
    generator : torch.Generator or None, default=None
        Source of the projections and the noise (``None``: torch's global generator).

    Returns
    -------
    loss : torch.Tensor of shape (n,)
        Differentiable with respect to the energy's parameters; average it for the objective.

    Examples
    --------
    >>> import torch
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> score_matching_loss(energy, z).tolist()  # 0.5 |z|^2 - tr(I)
    [-1.5, 0.0]
    """
    if method not in SCORE_MATCHING_METHODS:
        raise ValueError(f"method must be one of {SCORE_MATCHING_METHODS}; got {method!r}.")
    n_samples, n_features = z.shape
    if method == "denoising":
        eps = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        _, grad = _energy_gradient(energy, z + noise_std * eps)
        # s(z~) + eps / sigma = -grad E(z~) + eps / sigma.
        return 0.5 * (grad - eps / noise_std).pow(2).sum(-1)
    if method == "sliced":
        # All projections in one batched pass: each point is repeated once per projection.
        z_rep = z.repeat(n_projections, 1)
        v = torch.randn(z_rep.shape, generator=generator, device=z.device, dtype=z.dtype)
        z_rep, grad = _energy_gradient(energy, z_rep)
        (hess_v,) = torch.autograd.grad((grad * v).sum(), z_rep, create_graph=True)
        losses = 0.5 * grad.pow(2).sum(-1) - (v * hess_v).sum(-1)
        return losses.reshape(n_projections, n_samples).mean(0)
    z, grad = _energy_gradient(energy, z)
    laplacian = torch.zeros(n_samples, device=z.device, dtype=z.dtype)
    for i in range(n_features):
        # Row i of the Hessian; its i-th entry is d^2 E / dz_i^2 (samples are independent,
        # so summing over the batch before differentiating keeps rows apart).
        (row,) = torch.autograd.grad(grad[:, i].sum(), z, create_graph=True)
        laplacian = laplacian + row[:, i]
    return 0.5 * grad.pow(2).sum(-1) - laplacian


@fill_shared_docs
class ScoreMatchingEstimator(BaseEnergyEstimator):
    """Energy-based density estimator trained by score matching (the paper's SM baseline).

    Score matching (Hyvarinen 2005; paper Appendix D.2, eq. 43) fits the model score
    ``s(x) = -grad_x E(x)`` to the data's score by minimising the Fisher divergence, which
    integration by parts turns into ``E_data[0.5 |grad E|^2 - tr(Hess E)]``: it needs neither
    the partition function nor samples from the model. ``log_partition_`` is estimated once
    after training (as for every adesk estimator), and :meth:`sample` runs
    Metropolis-corrected HMC on the fitted energy, since score matching trains no sampler.

    All computation happens on standardized data ``z`` (see ``standardize``); ``noise_std``
    is in those units.

    Parameters
    ----------
    method : {"exact", "sliced", "denoising"}, default="exact"
        Objective (see :func:`score_matching_loss`): ``"exact"`` computes the Hessian trace
        with ``n_features`` backward passes (cost ``O(d)`` gradients per iteration);
        ``"sliced"`` replaces it by ``n_projections`` Gaussian Hessian-vector products
        (Song et al. 2019, variance-reduced form); ``"denoising"`` matches the score of the
        data blurred by ``N(0, noise_std^2 I)`` (Vincent 2011), which biases the fit toward
        that blurred density. The score-based objectives need a smooth energy: with
        ``activation="relu"`` the MLP's Hessian vanishes almost everywhere.
    n_projections : int, default=1
        Gaussian projection vectors per sample for ``method="sliced"`` (ignored otherwise).
    noise_std : float, default=0.1
        Noise scale ``sigma`` of ``method="denoising"`` (standardized units; ignored
        otherwise).
    {{energy_model}}
    {{standardize}}
    alpha : float, default=0.0
        L2 weight decay of the energy network (Adam's ``weight_decay``).
    batch_size : int, default=256
        Data points per iteration.
    learning_rate_init : float, default=1e-3
        Adam learning rate (default ``betas=(0.9, 0.999)``: the objective is a plain
        minimisation, not an adversarial game).
    learning_rate_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays the learning rate to 5% over ``max_iter`` iterations.
    max_iter : int, default=5000
        Training iterations (minibatch updates).
    ema_decay : float in [0, 1) or None, default=None
        If set, the fitted energy is the exponential moving average of the weights.
    tol : float or None, default=None
        ``None``: run ``max_iter`` iterations. A float: the loss averaged over windows of
        ``validation_interval`` iterations must have varied by less than ``tol`` over the last
        ``n_iter_no_change`` windows, else a ConvergenceWarning.
    {{early_stopping}}
    warm_start : bool, default=False
        Reuse the fitted energy and optimizer when ``fit`` is called again.
    {{runtime}}
    {{partition}}

    Attributes
    ----------
    energy_model_ : torch.nn.Module
        The energy network, acting on standardized inputs.
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
        Score-matching loss per iteration (for ``"denoising"`` it includes a positive
        constant, so it is not comparable across methods).
    history_ : dict of list of float
        ``loss_energy`` per iteration.
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

    See Also
    --------
    score_matching_loss : The per-sample objectives.
    adesk.ADEDensityEstimator : Maximum likelihood with a learned dual sampler.

    Examples
    --------
    >>> from adesk.datasets import make_toy
    >>> X = make_toy("moons", 300, random_state=0)
    >>> from adesk.energies import MLP
    >>> sm = ScoreMatchingEstimator(max_iter=20, energy_model=MLP((16, 16)), random_state=0)
    >>> sm = sm.fit(X)
    >>> sm.sample(3, random_state=0, n_transitions=4).shape
    (3, 2)
    >>> sm.score_samples(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **BaseEnergyEstimator._parameter_constraints,
        "method": [StrOptions(set(SCORE_MATCHING_METHODS))],
        "n_projections": [Interval(Integral, 1, None, closed="left")],
        "noise_std": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        method="exact",
        n_projections=1,
        noise_std=0.1,
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
        self.method = method
        self.n_projections = n_projections
        self.noise_std = noise_std
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
    def _build_modules(self, data):
        # Score matching trains the energy alone: no sampler, no auxiliary network.
        pass

    def _build_optimizers(self):
        optimizer = torch.optim.Adam(
            self.energy_model_.parameters(), lr=self.learning_rate_init, weight_decay=self.alpha
        )
        self._optimizers = [optimizer]

    def _modules_to_train(self):
        return [self.energy_model_]

    # ------------------------------------------------------------ training
    def _training_step(self, data, iteration):
        losses = score_matching_loss(
            self.energy_model_,
            self._draw_batch(data),
            self.method,
            n_projections=self.n_projections,
            noise_std=self.noise_std,
            generator=self._generator,
        )
        loss = losses.mean()
        optimizer = self._optimizers[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss_energy": float(loss.detach())}

    # ------------------------------------------------------------ sampling
    _draws_by_mcmc = True
