"""Primal-dual maximum likelihood with a normalizing-flow dual sampler (the paper's "NF")."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._components import refuse_unused_fields, resolve_component
from ..initial import Flow, FlowInitial
from ._base import BaseEnergyEstimator
from ._docs import fill_shared_docs

#: Shortcut strings accepted by ``flow``: factories of the :class:`~adesk.initial.Flow` they
#: stand for.
FLOW_SHORTCUTS = {"planar": Flow, "realnvp": lambda: Flow(layer="realnvp")}


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
    flow : {"planar", "realnvp"} or Flow, default="planar"
        The dual sampler, a flow on a learnable diagonal Gaussian base
        (:class:`~adesk.initial.Flow`: ``n_layers``, ``layer``, ``hidden_layer_sizes``,
        reachable as ``flow__n_layers`` and so on). ``"planar"`` is ``Flow()``, 10 planar
        layers (the paper's); ``"realnvp"`` is ``Flow(layer="realnvp")``, 10 RealNVP affine
        couplings.
    sampler_learning_rate : float or None, default=1e-2
        Learning rate of the flow's Adam optimizer; ``None`` uses ``learning_rate_init``.
    sampler_updates : int, default=3
        Flow updates per energy update: ``sampler_updates - 1`` flow-only updates, then one
        joint update of both players (Algorithm 1 uses 1). The flow must keep up with the
        energy: the energy is fitted against the flow's samples, and where the flow lags, mass
        goes where its samples do not. With Algorithm 1's single update at the energy's rate
        (``sampler_updates=1, sampler_learning_rate=None``) the defaults scored -10.51 +- 4.58
        nats on moons (10,000 points, 3 seeds; flow MMD x 1e3 5.4-12.1); with 3 updates at
        1e-2, -2.542 +- 0.015 (MMD 0.28-1.84, the paper's NF: 0.80) for 1.8 times the wall time
        (``benchmarks/README.md``).
    gradient_penalty : float, default=0.01
        Weight of ``mean |grad_x E(x_data)|^2`` (standardized units) in the energy loss, as
        in ADE. It biases the fit toward flatter energies; 0 leaves the maximum likelihood
        game unchanged.
    {{energy_model}}
    {{standardize}}
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
    {{runtime}}
    {{partition}}

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
    >>> from adesk import FlowDualEstimator
    >>> from adesk.energies import MLP
    >>> from adesk.initial import Flow
    >>> from adesk.partition import Quadrature
    >>> X = make_toy("moons", 200, random_state=0)
    >>> est = FlowDualEstimator(
    ...     flow=Flow(n_layers=2), energy_model=MLP((16,)), max_iter=5, batch_size=32,
    ...     partition=Quadrature(32), random_state=0, device="cpu",
    ... ).fit(X)
    >>> est.sample(3, random_state=0).shape
    (3, 2)
    >>> est.flow_log_prob(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **BaseEnergyEstimator._parameter_constraints,
        "flow": [StrOptions(set(FLOW_SHORTCUTS)), Flow],
        "sampler_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "sampler_updates": [Interval(Integral, 1, None, closed="left")],
        "gradient_penalty": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        flow="planar",
        sampler_learning_rate=1e-2,
        sampler_updates=3,
        gradient_penalty=0.01,
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
        self.flow = flow
        self.sampler_learning_rate = sampler_learning_rate
        self.sampler_updates = sampler_updates
        self.gradient_penalty = gradient_penalty
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
        flow = self.flow
        if isinstance(flow, str) and flow in FLOW_SHORTCUTS:
            flow = FLOW_SHORTCUTS[flow]()
        flow = resolve_component(flow, "flow", {"flow": Flow}, type(self).__name__)
        refuse_unused_fields(
            flow,
            "flow",
            ("n_layers", "layer", "hidden_layer_sizes"),
            type(self).__name__,
            "the flow is the dual sampler itself; it has no persistent chains.",
        )
        settings.update(
            flow=flow.layer,
            n_flow_layers=int(flow.n_layers),
            flow_hidden_layer_sizes=flow.conditioner_sizes(),
        )
        return settings

    def _build_modules(self, data):
        # momentum_dim=0: the flow's momentum factor is then empty and contributes exactly
        # zero to log q, so FlowInitial's densities are those of the position flow alone.
        self.flow_ = FlowInitial(
            data.shape[1],
            momentum_dim=0,
            flow=self._hp.flow,
            n_layers=self._hp.n_flow_layers,
            hidden_layer_sizes=self._hp.flow_hidden_layer_sizes,
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
