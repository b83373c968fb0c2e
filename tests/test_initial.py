"""Initial distributions: densities against scipy, entropies against closed forms."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from adesk.initial import EmpiricalInitial, GaussianInitial


def test_gaussian_initial_log_prob_matches_scipy():
    q0 = GaussianInitial(torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.5]), momentum_std=0.7)
    q0 = q0.double()
    x, v, log_q = q0.sample(10, torch.Generator().manual_seed(0))
    reference = stats.norm(loc=[0.5, -1.0], scale=[2.0, 0.5]).logpdf(x.detach().numpy()).sum(1)
    reference += stats.norm(scale=0.7).logpdf(v.detach().numpy()).sum(1)
    np.testing.assert_allclose(log_q.detach().numpy(), reference, rtol=1e-6)
    np.testing.assert_allclose(q0.log_prob(x, v).detach().numpy(), reference, rtol=1e-6)


def test_gaussian_initial_entropy_closed_form():
    q0 = GaussianInitial(torch.zeros(3), torch.tensor([1.0, 2.0, 3.0]), momentum_std=0.5)
    expected = sum(stats.norm(scale=s).entropy() for s in [1.0, 2.0, 3.0, 0.5, 0.5, 0.5])
    assert abs(float(q0.entropy().detach()) - expected) < 1e-5


def test_empirical_initial_log_prob_matches_brute_force():
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(30, 2, generator=generator, dtype=torch.float64)
    q0 = EmpiricalInitial(points, noise_std=0.3, momentum_penalty=2.0).double()
    x, v, log_q = q0.sample(7, generator)
    x_np, v_np, p_np = x.detach().numpy(), v.detach().numpy(), points.numpy()
    kernel = np.array(
        [[stats.multivariate_normal(p, 0.09 * np.eye(2)).pdf(xi) for p in p_np] for xi in x_np]
    )
    reference = np.log(kernel.mean(1)) + stats.norm(scale=1 / math.sqrt(2.0)).logpdf(v_np).sum(1)
    np.testing.assert_allclose(log_q.detach().numpy(), reference, rtol=1e-6)


def test_empirical_initial_entropy_gradient_is_finite_at_zero_distance():
    points = torch.zeros(1, 2)
    q0 = EmpiricalInitial(points, noise_std=1e-3)
    x, v, log_q = q0.sample(16, torch.Generator().manual_seed(0))
    q0.entropy(log_q).backward()
    assert torch.isfinite(q0.log_noise_std.grad)


@pytest.mark.parametrize("learn", [True, False])
def test_empirical_noise_learnable_flag(learn):
    q0 = EmpiricalInitial(torch.zeros(4, 2), noise_std=0.1, learn_noise=learn)
    assert (len(list(q0.parameters())) == 1) is learn
