"""What a fitted ADE model offers beyond drawing and scoring: ``q_0`` alone, completion of
missing entries with the learned dynamics, and the paper's image configuration."""

from numbers import Integral

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .._config import with_thread_policy
from ..energies import Conv
from ..initial._configs import Empirical, Latent
from ..partition import AutoPartition
from ..samplers import GHMC
from ._device import make_generator


def _fill_missing(X, missing):
    """``X`` with zeros at the ``missing`` entries (which may be NaN), same container type."""
    if hasattr(X, "columns") and hasattr(X, "mask"):  # a pandas DataFrame keeps its names
        return X.mask(missing, 0.0)
    values = np.asarray(X)
    if values.dtype.kind == "f":
        return np.where(missing, 0.0, values).astype(values.dtype, copy=False)
    return X


class ADEExtrasMixin:
    """:meth:`sample_initial`, :meth:`complete` and :meth:`image_preset` of
    :class:`~adesk.ADEDensityEstimator`."""

    @with_thread_policy
    def sample_initial(self, n_samples=1, random_state=None):
        """Draw from the learned initial distribution ``q_0`` alone, without the dynamics.

        The ablation of the paper's Table 3 ("Deep LVM init w/o HMC"): compare these draws
        with :meth:`sample` to see what the learned dynamics add.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features) or (n_samples, C, H, W)
            In the layout of the training data.
        """
        check_is_fitted(self, "log_partition_")
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int; got {n_samples!r}.")
        generator = make_generator(random_state, self._device)
        pieces = []
        with torch.no_grad():
            for start in range(0, int(n_samples), 8192):
                count = min(8192, int(n_samples) - start)
                position, _ = self._draw_initial(count, generator)
                pieces.append(position)
        Z = torch.cat(pieces).to(torch.float64).cpu().numpy()
        return self._to_output_layout(self._unstandardize(Z))

    # -------------------------------------------------------------- images
    @classmethod
    def image_preset(cls, nonparametric=False, **overrides):
        """ADE configured as the paper's image models (Section 5.2, Appendix F.2).

        * energy: :class:`~adesk.energies.Conv` (Table 4(a)) with spectral normalisation on
          every layer and no quadratic base term, on globally standardized pixels
          (``standardize="global"``);
        * sampler: :class:`~adesk.samplers.GHMC` with ``S = 0`` (``scale="none"``), ``g_v``
          the clipped energy gradient (``momentum_map="gradient"``), ``g_x`` the identity,
          per-pixel step sizes learned by the paper's objective and shared across the steps
          (``step_size_shape="per_dimension"``, ``adaptation="learned"``), ``T = 30`` steps
          (60 for the nonparametric variant), samples clipped to the training data's range
          after every step (``sample_clip=0``), no extra MCMC transitions
          (``n_transitions=0``) and entropy weight ``1e-5``;
        * ``q_0``: the deconvolutional deep latent model of Table 4(b)
          (:class:`~adesk.initial.ImageLatentInitial`, ``initial=Latent()``); with
          ``nonparametric=True`` the data with a replay buffer of 10,000 chains instead
          (``Empirical``: a tenth restarted each iteration, half from the data and half from
          ``N(0, 4 I)``);
        * training: Adam with learning rate ``1e-4`` and ``beta1 = 0`` for the energy and a
          separate Adam optimizer for the sampler; batch 64;
        * normalisation: 128 AIS chains (or importance draws) and 100 temperatures
          (``AutoPartition(n_samples=128, n_temperatures=100)``): the default budget (512 x
          500, 2,500 gradients of the convolutional energy on 512 images) takes tens of minutes
          on a CPU. Check a fitted model with :meth:`estimate_log_partition` when it matters.

        One departure: the paper weights the squared norm of the *last* momentum by ``1e-5``
        in the sampler's loss. adesk's ``momentum_penalty`` is also the precision of the
        momentum law, and ``1e-5`` there would draw momenta of scale 300, so the preset keeps
        ``sampler__momentum_penalty=1``.

        Parameters
        ----------
        nonparametric : bool, default=False
            The paper's nonparametric variant (replay buffer, 60 steps).
        **overrides
            Any constructor parameter, e.g. ``max_iter``, ``device`` or
            ``energy_model=Conv(image_shape=(1, 28, 28), spectral_norm=True,
            base_precision=0.0)`` for flat image rows.

        Returns
        -------
        ADEDensityEstimator

        Examples
        --------
        >>> from adesk import ADEDensityEstimator
        >>> est = ADEDensityEstimator.image_preset(max_iter=100)
        >>> est.sampler.n_steps, est.get_params()["energy_model__spectral_norm"]
        (30, True)
        """
        if nonparametric:
            # A tenth of the chains restart each iteration, half from the data and half from
            # N(0, 4 I).
            initial = Empirical(replay_buffer_size=10000, reinit_probability=0.1, reinit_scale=2.0)
        else:
            # The paper's scheme: chains restart from q0 every iteration.
            initial = Latent(replay_buffer_size=0)
        params = {
            "energy_model": Conv(spectral_norm=True, base_precision=0.0),
            "standardize": "global",
            "sampler": GHMC(
                n_steps=60 if nonparametric else 30,
                scale="none",
                momentum_map="gradient",
                position_map="identity",
                step_size_shape="per_dimension",
                adaptation="learned",
                n_transitions=0,
                sample_clip=0.0,
                entropy_weight=1e-5,
            ),
            "initial": initial,
            # The paper trains for a fixed budget; a validation split would also cost one
            # AIS log Z of the convolutional energy per check.
            "early_stopping": False,
            "learning_rate_init": 1e-4,
            "adam_beta1": 0.0,
            "batch_size": 64,
            "gradient_penalty": 0.0,
            "partition": AutoPartition(n_samples=128, n_temperatures=100),
        }
        params.update(overrides)
        return cls(**params)

    @with_thread_policy
    def complete(self, X, mask=None, n_rounds=20, random_state=None, return_steps=False):
        """Fill the masked entries of ``X`` with the learned dynamics (paper Figure 4).

        The masked entries start from draws of the initial distribution ``q_0``; then, for
        ``n_rounds`` rounds, the learned ``T``-step dynamics run on the energy with the observed
        entries held fixed (the energy sees them at their observed values, and they are reset
        after every round). Observed entries are returned unchanged, bit for bit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
            The values at the masked entries are ignored (they may be NaN); the observed
            entries must be finite.
        mask : array-like of bool, broadcastable to the shape of ``X``, or None
            ``True`` where the entry is missing and must be completed; ``None`` completes the
            NaN entries of ``X``.
        n_rounds : int, default=20
            Rounds of the learned dynamics.
        random_state : int, RandomState instance or None, default=None
        return_steps : bool, default=False
            Also return the state after every round (the start first).

        Returns
        -------
        completed : ndarray of the shape of ``X``
        steps : list of ndarray, only if ``return_steps``
            ``n_rounds + 1`` arrays of the shape of ``X``.
        """
        check_is_fitted(self, "log_partition_")
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, Integral) or n_rounds < 1:
            raise ValueError(f"n_rounds must be a positive int; got {n_rounds!r}.")
        shape = np.shape(X)
        if mask is None:
            values = np.asarray(X)
            mask = np.isnan(values) if values.dtype.kind == "f" else np.zeros(shape, bool)
        try:
            missing_full = np.broadcast_to(np.asarray(mask, dtype=bool), shape)
        except ValueError as error:
            raise ValueError(
                f"mask of shape {np.shape(mask)} does not broadcast to X's shape {shape}."
            ) from error
        values = np.asarray(X)
        if values.dtype.kind == "f" and np.isnan(values[~missing_full]).any():
            raise ValueError(
                "X contains NaN at observed entries (mask False); set mask True there to "
                "complete them, or pass mask=None to complete every NaN entry."
            )
        # Missing entries may hold NaN; only the observed ones go through validation.
        flat = self._validate_X(_fill_missing(X, missing_full), reset=False)
        missing = missing_full.reshape(flat.shape)
        generator = make_generator(random_state, self._device)
        # The dynamics run in per-feature scaled coordinates, where each coordinate is one
        # feature (whitening mixes features): the energy sees them whitened.
        observed = torch.as_tensor(
            (flat - self.mean_) / self.scale_, dtype=self._dtype, device=self._device
        )
        missing_t = torch.as_tensor(np.array(missing), device=self._device)
        whitening = None
        if getattr(self, "whitening_", None) is not None:
            whitening = torch.as_tensor(self.whitening_, dtype=self._dtype, device=self._device)

        def conditional_energy(u):
            # The observed entries enter at their observed values, so the gradient with
            # respect to them is zero and the dynamics only move the missing ones.
            u = torch.where(missing_t, u, observed)
            return self.energy_model_(u if whitening is None else u @ whitening)

        self._set_training_mode(False)
        with torch.no_grad():
            start, _ = self._draw_initial(flat.shape[0], generator)
            if whitening is not None:
                start = torch.linalg.solve(whitening, start.to(self._dtype).T).T
        state = torch.where(missing_t, start.to(observed.dtype), observed)
        steps = [state]
        for _ in range(int(n_rounds)):
            moved = self._dynamics_pass(conditional_energy, state, generator)
            state = torch.where(missing_t, moved, observed)
            steps.append(state)

        def to_input(u):
            values = u.to(torch.float64).cpu().numpy() * self.scale_ + self.mean_
            return np.where(missing, values, flat).reshape(shape)

        completed = to_input(steps[-1])
        if return_steps:
            return completed, [to_input(u) for u in steps]
        return completed
