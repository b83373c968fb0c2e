"""Tensor-product grid quadrature of ``exp(-E)`` in one or two dimensions."""

import math
from typing import NamedTuple

import numpy as np
import torch


class QuadratureResult(NamedTuple):
    """``log_partition``, an ``error`` estimate (difference to a grid twice as coarse) and the
    ``bounds`` and ``resolution`` of the grid.

    Examples
    --------
    >>> import torch
    >>> from adesk.energies import GaussianEnergy
    >>> from adesk.partition import log_partition_quadrature
    >>> energy = GaussianEnergy(torch.zeros(1), torch.ones(1)).double()
    >>> result = log_partition_quadrature(energy, [(-8, 8)], resolution=100)
    >>> round(result.log_partition, 4), result.error < 1e-6, result.bounds.shape, result.resolution
    (0.9189, True, (1, 2), 100)
    """

    log_partition: float
    error: float
    bounds: np.ndarray
    resolution: int


def data_bounds(X, margin=0.5):
    """Box around the data, widened on each side by ``margin`` times the data range.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    margin : float, default=0.5

    Returns
    -------
    bounds : ndarray of shape (n_features, 2)
        Lower and upper limit per coordinate.

    Examples
    --------
    >>> import numpy as np
    >>> from adesk.partition import data_bounds
    >>> data_bounds(np.array([[0.0, 0.0], [1.0, 2.0]]))  # half the range added on each side
    array([[-0.5,  1.5],
           [-1. ,  3. ]])
    """
    X = np.asarray(X, dtype=np.float64)
    low, high = X.min(axis=0), X.max(axis=0)
    span = np.maximum(high - low, 1e-3 * np.maximum(np.abs(high), 1.0))
    return np.stack([low - margin * span, high + margin * span], axis=1)


def _log_integral(energy_fn, bounds, resolution, device, dtype, chunk_size):
    """Midpoint rule on ``resolution`` cells per axis; returns log of the integral."""
    axes, log_cell = [], 0.0
    for low, high in bounds:
        width = (high - low) / resolution
        axes.append(torch.linspace(low + width / 2, high - width / 2, resolution, dtype=dtype))
        log_cell += math.log(width)
    mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))
    log_terms = []
    with torch.no_grad():
        for start in range(0, mesh.shape[0], chunk_size):
            block = mesh[start : start + chunk_size].to(device)
            log_terms.append(-energy_fn(block).to(torch.float64).cpu())
    log_terms = torch.cat(log_terms)
    # An energy of +inf is a cell of zero density (a bounded support); NaN, an energy of -inf,
    # or no mass anywhere on the grid leave the integral undefined.
    if torch.isnan(log_terms).any() or (log_terms == math.inf).any():
        return float("nan")
    if (log_terms == -math.inf).all():
        return float("nan")
    return float(torch.logsumexp(log_terms, 0)) + log_cell


def log_partition_quadrature(
    energy_fn, bounds, resolution=400, device="cpu", dtype=torch.float64, chunk_size=65536
):
    """Estimate ``log Z`` by the midpoint rule on a grid over a box (``d <= 3``).

    The error estimate is the absolute difference to the same rule on a grid with half the
    resolution; for smooth integrands the midpoint rule's error falls by about four when the
    resolution doubles, so this overstates the error of the fine grid. Mass outside the box is
    not counted: choose a box that covers the data with margin (:func:`data_bounds`).

    Parameters
    ----------
    energy_fn : callable
        Maps ``(n, d)`` tensors to ``(n,)`` energies.
    bounds : array-like of shape (d, 2)
    resolution : int, default=400
        Cells per axis.
    device, dtype
        Where and in which precision the grid is evaluated.
    chunk_size : int, default=65536
        Grid points per energy evaluation.

    Returns
    -------
    QuadratureResult

    Examples
    --------
    >>> import math, torch
    >>> from adesk.energies import GaussianEnergy
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2)).double()
    >>> result = log_partition_quadrature(energy, [(-8, 8), (-8, 8)], resolution=200)
    >>> abs(result.log_partition - math.log(2 * math.pi)) < 1e-3
    True
    """
    bounds = np.asarray(bounds, dtype=np.float64)
    if bounds.ndim != 2 or bounds.shape[1] != 2 or not 1 <= bounds.shape[0] <= 3:
        raise ValueError(
            f"bounds must have shape (d, 2) with 1 <= d <= 3; got shape {bounds.shape}."
        )
    if np.any(bounds[:, 1] <= bounds[:, 0]) or not np.all(np.isfinite(bounds)):
        raise ValueError(f"bounds must be finite with lower < upper; got {bounds.tolist()}.")
    fine = _log_integral(energy_fn, bounds, resolution, device, dtype, chunk_size)
    coarse = _log_integral(energy_fn, bounds, max(resolution // 2, 1), device, dtype, chunk_size)
    return QuadratureResult(fine, abs(fine - coarse), bounds, resolution)
