"""log Z estimators against analytic normalisers."""

import math

import numpy as np
import pytest
import torch

from adesk.energies import GaussianEnergy
from adesk.initial import GaussianInitial
from adesk.partition import data_bounds, log_partition_importance, log_partition_quadrature


@pytest.mark.parametrize(
    "mean, std",
    [([0.0, 0.0], [1.0, 1.0]), ([1.5, -2.0], [0.3, 2.0])],
)
def test_quadrature_matches_gaussian_log_partition(mean, std):
    energy = GaussianEnergy(torch.tensor(mean), torch.tensor(std)).double()
    bounds = [(m - 9 * s, m + 9 * s) for m, s in zip(mean, std)]
    result = log_partition_quadrature(energy, bounds, resolution=400)
    exact = float(energy.log_partition())
    assert abs(result.log_partition - exact) < 1e-3
    # The reported error (difference to a coarser grid) bounds the actual error.
    assert abs(result.log_partition - exact) <= result.error + 1e-9


def test_quadrature_one_dimension():
    energy = GaussianEnergy(torch.tensor([0.5]), torch.tensor([0.7])).double()
    result = log_partition_quadrature(energy, [(-8, 8)], resolution=1000)
    assert abs(result.log_partition - float(energy.log_partition())) < 1e-6


def test_quadrature_nan_energy_gives_nan():
    result = log_partition_quadrature(lambda x: torch.full(x.shape[:1], float("nan")), [(0, 1)])
    assert math.isnan(result.log_partition)


@pytest.mark.parametrize("bounds", [[(1, 0)], [(0, 1)] * 4, [(0, np.inf)]])
def test_quadrature_rejects_bad_bounds(bounds):
    with pytest.raises(ValueError, match="bounds"):
        log_partition_quadrature(lambda x: x.sum(-1), bounds)


def test_data_bounds_margin():
    X = np.array([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_allclose(data_bounds(X, margin=0.5), [[-1.0, 3.0], [0.0, 4.0]])


@pytest.mark.parametrize("d", [2, 10])
def test_importance_sampling_with_gaussian_proposal(d):
    """A proposal close to the target: estimate within 3 standard errors and 0.05 nats."""
    energy = GaussianEnergy(torch.full((d,), 0.3), torch.full((d,), 1.2)).double()
    proposal = GaussianInitial(torch.zeros(d), torch.full((d,), 1.4)).double()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        x, v, log_q = proposal.sample(20000, generator)
        # Marginal proposal density of x: subtract the momentum part, which integrates to one.
        log_q_x = (
            log_q
            - proposal._standard_log_prob(
                (v - proposal.momentum_mean) * torch.exp(-proposal.momentum_log_std)
            )
            + proposal.momentum_log_std.sum()
        )
        result = log_partition_importance(-energy(x) - log_q_x)
    exact = float(energy.log_partition())
    assert abs(result.log_partition - exact) < max(3 * result.log_partition_std, 1e-3)
    assert abs(result.log_partition - exact) < 0.05
    assert 0 < result.effective_sample_size <= 20000


def test_importance_sampling_flags_non_finite_weights():
    result = log_partition_importance(torch.tensor([0.0, float("nan"), 1.0]))
    assert math.isnan(result.log_partition)
