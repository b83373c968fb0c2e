"""Primal-dual maximum likelihood with a normalizing-flow dual sampler (the paper's "NF")."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..initial import FlowInitial
from ..initial._flow import FLOWS
from ._ade import _as_sizes
from ._base import BaseEnergyEstimator
from ._docs import fill_shared_docs


@fill_shared_docs
class FlowDualEstimator(BaseEnergyEstimator):
    """Primal-dual maximum likelihood whose dual sampler is a normalizing flow.

    The baseline "NF" of the ADE paper (Section 5.1, Table 2): the primal-dual form of maximum
    likelihood (paper eq. 5), written with ``p(x) = exp(-E(x)) / Z``,

    ``min_E max_q  E_data[E(x)] - E_q[E(x)] + H(q)``,

    with the dual distribution ``q`` a normalizing flow (:class:`~adesk.initial.FlowInitial`,
    position part only) and no dynamics. The flow gives reparametrized samples and their exact
    log-density, so each iteration the flow's parameters decrease
    ``E_q[E(x)] + E_q[log q(x)] = KL(q || p) - log Z`` and the energy decreases
    ``E_data[E(x)] - E_q[E(x)]`` with the flow's samples held fixed, plus the gradient penalty
    (Algorithm 1 of the paper with ``T = 0`` dynamics steps). For a fixed energy the flow's
    optimum is ``q = p``; there the energy's gradient is that of the log-likelihood, so the
    game's solution is the maximum likelihood estimate whenever the flow can represent the
    model.

    All computation happens on standardized data ``z`` (see ``standardize``); the flow's base
    distribution starts at ``N(0, I)`` and every layer at the identity.

    Parameters
    ----------
    flow : {"planar", "realnvp"}, default="planar"
        Layers of the flow: planar flows (the paper's) or RealNVP affine couplings. Both act
        on a learnable diagonal Gaussian base.
    n_flow_layers : int, default=10
        Number of flow layers (10 in the paper).
    flow_hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden widths of the RealNVP conditioners (unused by ``"planar"``).
    sampler_learning_rate : float or None, default=None
        Learning rate of the flow's Adam optimizer; ``None`` uses ``learning_rate_init``.
    sampler_updates : int, default=1
        Flow updates per energy update: ``sampler_updates - 1`` flow-only updates, then one
        joint update of both players (Algorithm 1 uses 1).
    gradient_penalty : float, default=0.01
        Weight of ``mean |grad_x E(x_data)|^2`` (standardized units) in the energy loss, as
        in ADE. It biases the fit toward flatter energies; 0 leaves the maximum likelihood
        game unchanged.
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
        Weight of a fixed quadratic ``|z|^2 / 2`` term in the MLP energy, which keeps
        ``exp(-E)`` integrable far from the data.
    alpha : float, default=0.0
        L2 weight decay of the energy network (Adam's ``weight_decay``).
    batch_size : int, default=256
        Data points and flow samples per iteration.
    learning_rate_init : float, default=1e-3
        Adam learning rate of the energy (``betas=(0.5, 0.999)`` for both players, as usual
        for adversarial games).
    learning_rate_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays both learning rates to 5% over ``max_iter`` iterations.
    max_iter : int, default=5000
        Training iterations (joint updates).
    ema_decay : float in [0, 1) or None, default=None
        If set, the fitted energy is the exponential moving average of the energy weights.
    tol : float or None, default=None
        ``None``: run ``max_iter`` iterations. A float: the windowed energy loss must settle
        within ``tol`` (see :class:`~adesk.ADEDensityEstimator`), else a ConvergenceWarning.
    {{early_stopping}}
    warm_start : bool, default=False
        Reuse the fitted modules and optimizers when ``fit`` is called again.
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
        The energy network, acting on standardized inputs.
    flow_ : FlowInitial
        The dual sampler, a flow on standardized inputs (built with no momentum).
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
        Energy loss ``mean E(data) - mean E(samples)`` per iteration.
    history_ : dict of list of float
        ``loss_energy``, ``loss_sampler`` (``E_q[E] + E_q[log q]``), ``energy_data``,
        ``energy_samples`` per iteration.
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
        Always 0 (no Metropolis test during training).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has feature names.

    See Also
    --------
    adesk.ADEDensityEstimator : the same game with a dynamics embedding as the sampler.

    Notes
    -----
    ``score_samples`` is the normalised energy model; :meth:`flow_log_prob` is the flow's own
    exact density, a second density estimate. ``sample`` draws from the flow.

    Examples
    --------
    >>> from adesk.datasets import make_toy
    >>> from adesk.estimators._flow_dual import FlowDualEstimator
    >>> X = make_toy("moons", 200, random_state=0)
    >>> est = FlowDualEstimator(
    ...     max_iter=5, hidden_layer_sizes=(16,), n_flow_layers=2, batch_size=32,
    ...     partition_resolution=32, random_state=0, device="cpu",
    ... ).fit(X)
    >>> est.sample(3, random_state=0).shape
    (3, 2)
    >>> est.flow_log_prob(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **BaseEnergyEstimator._parameter_constraints,
        "flow": [StrOptions(set(FLOWS))],
        "n_flow_layers": [Interval(Integral, 1, None, closed="left")],
        "flow_hidden_layer_sizes": ["array-like"],
        "sampler_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "sampler_updates": [Interval(Integral, 1, None, closed="left")],
        "gradient_penalty": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        flow="planar",
        n_flow_layers=10,
        flow_hidden_layer_sizes=(64, 64),
        sampler_learning_rate=None,
        sampler_updates=1,
        gradient_penalty=0.01,
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
        self.flow = flow
        self.n_flow_layers = n_flow_layers
        self.flow_hidden_layer_sizes = flow_hidden_layer_sizes
        self.sampler_learning_rate = sampler_learning_rate
        self.sampler_updates = sampler_updates
        self.gradient_penalty = gradient_penalty
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
        _as_sizes(self.flow_hidden_layer_sizes, "flow_hidden_layer_sizes")

    def _build_modules(self, data):
        # momentum_dim=0: the flow's momentum factor is then empty and contributes exactly
        # zero to log q, so FlowInitial's densities are those of the position flow alone.
        self.flow_ = FlowInitial(
            data.shape[1],
            momentum_dim=0,
            flow=self.flow,
            n_layers=self.n_flow_layers,
            hidden_layer_sizes=_as_sizes(self.flow_hidden_layer_sizes, "flow_hidden_layer_sizes"),
        ).to(device=self._device, dtype=self._dtype)

    def _build_optimizers(self):
        energy_optimizer = torch.optim.Adam(
            self.energy_model_.parameters(),
            lr=self.learning_rate_init,
            betas=(0.5, 0.999),
            weight_decay=self.alpha,
        )
        rate = self.sampler_learning_rate or self.learning_rate_init
        flow_optimizer = torch.optim.Adam(self.flow_.parameters(), lr=rate, betas=(0.5, 0.999))
        self._optimizers = [energy_optimizer, flow_optimizer]

    def _modules_to_train(self):
        return [self.energy_model_, self.flow_]

    # ------------------------------------------------------------ training
    def _sampler_objective(self, n_samples):
        """Reparametrized flow samples and ``E_q[E(x)] + E_q[log q(x)]`` on them."""
        position, _, log_q = self.flow_.sample(n_samples, self._generator)
        loss = self.energy_model_(position).mean() + log_q.mean()
        return position, loss

    def _training_step(self, data, iteration):
        energy_optimizer, flow_optimizer = self._optimizers
        flow_params = [p for p in self.flow_.parameters() if p.requires_grad]
        energy_params = [p for p in self.energy_model_.parameters() if p.requires_grad]

        for _ in range(self.sampler_updates - 1):
            _, sampler_loss = self._sampler_objective(self._local_batch_size)
            flow_optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(sampler_loss, inputs=flow_params)
            flow_optimizer.step()

        batch = self._draw_batch(data)
        position, sampler_loss = self._sampler_objective(self._local_batch_size)
        energy_optimizer.zero_grad(set_to_none=True)
        flow_optimizer.zero_grad(set_to_none=True)
        # Only the flow's parameters take this gradient: the energy's own gradient is that of
        # its loss below (the primal-dual game has opposite signs for the two players).
        torch.autograd.backward(sampler_loss, inputs=flow_params)

        # The samples are constants for the energy (the maximiser over q is plugged in).
        samples_energy = self.energy_model_(position.detach())
        data_loss, data_mean = self._data_energy_and_penalty(batch)
        if energy_params:
            torch.autograd.backward(data_loss - samples_energy.mean(), inputs=energy_params)
        # Both players step from the same point, as in ADE's joint update.
        energy_optimizer.step()
        flow_optimizer.step()

        samples_mean = float(samples_energy.detach().mean())
        return {
            "loss_energy": data_mean - samples_mean,
            "loss_sampler": float(sampler_loss.detach()),
            "energy_data": data_mean,
            "energy_samples": samples_mean,
        }

    def _data_energy_and_penalty(self, batch):
        """The energy's data term ``mean E(batch)`` plus the gradient penalty, and its value."""
        energies, loss = self._data_energy_with_gradient_penalty(batch, self.gradient_penalty)
        return loss, float(energies.detach().mean())

    # ------------------------------------------------------------ sampling
    def _draw_standardized(self, n_samples, generator):
        with torch.no_grad():
            position, _, _ = self.flow_.sample(n_samples, generator)
        return position

    def _has_tractable_sampler(self):
        return True

    def _sampler_log_weights(self, n_samples, generator):
        position, _, log_q = self.flow_.sample(n_samples, generator)
        return (-self.energy_model_(position) - log_q).detach()

    def flow_log_prob(self, X):
        """Exact log-density of the fitted flow ``q`` at ``X``, in the original coordinates.

        The flow lives on standardized data ``z`` (see ``standardize``), so
        ``log q_x(x) = log q_z(z) - log|dx/dz|`` (``sum(log scale_)`` without whitening).
        Planar layers are inverted numerically
        to floating-point precision (:meth:`adesk.initial.PlanarFlow.inverse`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self, "flow_")
        X = self._validate_X(X, reset=False)
        data = self._to_standardized_tensor(X)
        pieces = []
        with torch.no_grad():
            for start in range(0, data.shape[0], 65536):
                pieces.append(self.flow_.position_log_prob(data[start : start + 65536]))
        if not pieces:
            return np.empty(0)
        log_q = torch.cat(pieces).to(torch.float64).cpu().numpy()
        return log_q - self._log_volume()
