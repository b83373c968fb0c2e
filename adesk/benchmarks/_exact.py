"""Maximum likelihood with an exact normaliser: the ceiling of network, optimiser and budget.

In one or two dimensions ``log Z`` and its gradient can be computed on a grid, so the energy
network can be trained by maximum likelihood with no sampler at all. Whatever gap remains
between this reference and a tuned Gaussian mixture belongs to the network, the optimiser and
the iteration budget; whatever gap separates an estimator from the reference (same network,
optimiser, schedule and iterations) belongs to its sampler or its objective.
"""

from numbers import Integral

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..estimators._base import BaseEnergyEstimator
from ..partition import Quadrature, data_bounds


class ExactGradientReference(BaseEnergyEstimator):
    """Energy network trained by exact maximum likelihood, ``log Z`` from a shifted grid.

    Each iteration minimises ``mean E(batch) + log Z`` where ``log Z`` is the midpoint sum of
    ``exp(-E)`` over a ``grid_resolution x grid_resolution`` grid covering the standardized
    data's box widened by half its range on each side. The grid is shifted by a uniform random
    offset (a fraction of a cell) every iteration, which makes the estimate of ``Z``
    unbiased for the box and stops the network from exploiting the gaps between fixed grid
    points. Only for one or two features. The network, the base measure, Adam and the cosine
    schedule are those of :class:`~adesk.ADEDensityEstimator` (same parameter names and
    defaults), so that the two differ only in how the normaliser's gradient is obtained.

    Parameters
    ----------
    grid_resolution : int, default=128
        Grid points per axis in each training iteration (``grid_resolution**d`` energy
        evaluations per iteration).
    energy_model, alpha, batch_size, learning_rate_init, learning_rate_schedule, max_iter, \
random_state, device, dtype
        As for :class:`~adesk.ADEDensityEstimator` (``energy_model="mlp"`` is its default MLP,
        ``MLP(hidden_layer_sizes=(128, 128, 128))`` with SiLU and base precision 0.1).
    partition : "quadrature" or Quadrature, default="quadrature"
        The ``log Z`` of the fitted model (:class:`~adesk.partition.Quadrature`, 400 cells
        per axis by default).

    Examples
    --------
    >>> from adesk.benchmarks import ExactGradientReference
    >>> from adesk.datasets import make_toy
    >>> from adesk.energies import MLP
    >>> X = make_toy("moons", 500, random_state=0)
    >>> ref = ExactGradientReference(max_iter=20, energy_model=MLP((16,)), random_state=0)
    >>> ref.fit(X).score_samples(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **BaseEnergyEstimator._parameter_constraints,
        "grid_resolution": [Interval(Integral, 4, None, closed="left")],
        "partition": [StrOptions({"quadrature"}), Quadrature],
    }

    def __init__(
        self,
        *,
        grid_resolution=128,
        energy_model="mlp",
        alpha=0.0,
        batch_size=256,
        learning_rate_init=4e-3,
        learning_rate_schedule="cosine",
        max_iter=1000,
        verbose=0,
        device="auto",
        dtype="float32",
        random_state=None,
        partition="quadrature",
    ):
        self.grid_resolution = grid_resolution
        self.energy_model = energy_model
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate_schedule = learning_rate_schedule
        self.max_iter = max_iter
        self.verbose = verbose
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.partition = partition

    # The base class reads these plumbing parameters; the reference has no use for them.
    standardize = "per_feature"
    tol = None
    early_stopping = False
    validation_fraction = 0.1
    n_iter_no_change = 10
    validation_interval = 100
    warm_start = False
    ema_decay = None
    callbacks = None
    max_rollbacks = 0
    distributed = "none"

    def _build_modules(self, data):
        if data.shape[1] > 2:
            raise ValueError(
                "ExactGradientReference integrates exp(-E) on a grid, so it needs 1 or 2 "
                f"features; got {data.shape[1]}."
            )
        bounds = data_bounds(data.detach().cpu().numpy(), margin=0.5)
        self._grid_bounds = torch.as_tensor(bounds, dtype=self._dtype, device=self._device)

    def _build_optimizers(self):
        self._optimizers = [
            torch.optim.Adam(
                self.energy_model_.parameters(),
                lr=self.learning_rate_init,
                betas=(0.5, 0.999),
                weight_decay=self.alpha,
            )
        ]

    def _modules_to_train(self):
        return [self.energy_model_]

    def _shifted_grid(self):
        low, high = self._grid_bounds[:, 0], self._grid_bounds[:, 1]
        n = self.grid_resolution
        width = (high - low) / n
        offset = torch.rand(
            low.shape, generator=self._generator, device=low.device, dtype=low.dtype
        )
        axes = [
            low[i] + width[i] * (torch.arange(n, device=low.device, dtype=low.dtype) + offset[i])
            for i in range(low.shape[0])
        ]
        mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))
        return mesh, float(torch.log(width).sum())

    def _training_step(self, data, iteration):
        batch = self._draw_batch(data)
        grid, log_cell = self._shifted_grid()
        energy_data = self.energy_model_(batch).mean()
        log_partition = torch.logsumexp(-self.energy_model_(grid), 0) + log_cell
        loss = energy_data + log_partition
        optimizer = self._optimizers[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        values = torch.stack([loss.detach(), energy_data.detach(), log_partition.detach()])
        loss_value, data_value, log_z = values.tolist()
        return {"loss_energy": loss_value, "energy_data": data_value, "log_partition": log_z}

    def _draw_standardized(self, n_samples, generator):
        return self._mcmc_from_gaussian(n_samples, 200, generator)


def exact_reference_floors(grid_resolution, batch_size, n_features=2):
    """Floors (forward + gradient on one minibatch) per iteration of the reference."""
    return 1.0 + grid_resolution**n_features / batch_size
