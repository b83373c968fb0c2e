"""Flow and latent-variable initial distributions: bijections, densities and sampling."""

import math

import pytest
import torch

from adesk.initial._common import isotropic_momentum_log_prob
from adesk.initial._flow import AffineCoupling, FlowInitial, PlanarFlow
from adesk.initial._latent import LatentInitial

FLOWS = ["planar", "realnvp"]


def _perturb(module, generator, scale):
    """Add ``N(0, scale^2)`` noise to every parameter, so that no layer is the identity."""
    with torch.no_grad():
        for parameter in module.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            parameter.add_(scale * noise)
    return module


def _make_layer(kind, dim, generator):
    torch.manual_seed(0)
    if kind == "planar":
        layer = PlanarFlow(dim)
    else:
        layer = AffineCoupling(dim, parity=dim % 2, hidden_layer_sizes=(16, 16))
    return _perturb(layer.double(), generator, 1.0 if kind == "planar" else 0.5)


def _trapezoid_weights(grid):
    step = grid[1] - grid[0]
    weights = torch.full_like(grid, step)
    weights[0] = weights[-1] = 0.5 * step
    return weights


def _integrate(log_density, dim, half_width, n_points):
    """Tensor-product trapezoid rule of ``exp(log_density)`` on ``[-half_width, half_width]^d``."""
    grid = torch.linspace(-half_width, half_width, n_points, dtype=torch.float64)
    weights = _trapezoid_weights(grid)
    points = torch.cartesian_prod(*[grid] * dim).reshape(-1, dim)
    cell = torch.cartesian_prod(*[weights] * dim).reshape(-1, dim).prod(1)
    with torch.no_grad():
        return float((torch.exp(log_density(points)) * cell).sum())


@pytest.mark.parametrize("kind", ["planar", "coupling"])
@pytest.mark.parametrize("dim", [1, 2, 5])
def test_layer_log_det_matches_autograd_jacobian(kind, dim):
    generator = torch.Generator().manual_seed(dim)
    layer = _make_layer(kind, dim, generator)
    z = torch.randn(6, dim, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        _, log_det = layer(z)
    for i in range(z.shape[0]):
        jacobian = torch.autograd.functional.jacobian(lambda row: layer(row[None])[0][0], z[i])
        sign, reference = torch.linalg.slogdet(jacobian)
        assert float(sign) == 1.0
        assert abs(float(log_det[i]) - float(reference)) < 1e-6
    # The perturbation must have made the map non-trivial.
    assert float(log_det.abs().max()) > 1e-3


@pytest.mark.parametrize("kind", ["planar", "coupling"])
@pytest.mark.parametrize("dim", [1, 2, 5])
def test_layer_inverse_round_trip(kind, dim):
    generator = torch.Generator().manual_seed(10 + dim)
    layer = _make_layer(kind, dim, generator)
    z = 2.0 * torch.randn(500, dim, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        y, log_det = layer(z)
        z_back, inverse_log_det = layer.inverse(y)
    atol = 1e-6 if kind == "planar" else 1e-9
    torch.testing.assert_close(z_back, z, atol=atol, rtol=0)
    torch.testing.assert_close(inverse_log_det, -log_det, atol=atol, rtol=0)
    assert float((y - z).abs().max()) > 1e-2


def test_planar_inverse_is_accurate_near_the_invertibility_limit():
    # w^T u_hat close to -1 makes the scalar equation nearly flat at its root.
    layer = PlanarFlow(2).double()
    with torch.no_grad():
        layer.w.copy_(torch.tensor([1.0, 0.5], dtype=torch.float64))
        layer.u.copy_(-8.0 * layer.w / layer.w.pow(2).sum())
        layer.b.fill_(0.3)
    assert float((layer.w @ layer.u_hat()).detach()) < -0.999
    z = torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        z_back, _ = layer.inverse(layer(z)[0])
    torch.testing.assert_close(z_back, z, atol=1e-6, rtol=0)


def test_planar_inverse_gradient_matches_implicit_function():
    # The inverse's gradients come from one Newton step at the root; compare them with the
    # gradients of the forward map pulled back by the implicit function theorem.
    layer = _make_layer("planar", 3, torch.Generator().manual_seed(3))
    y = torch.randn(4, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    y.requires_grad_(True)
    z, _ = layer.inverse(y)
    (grad_y,) = torch.autograd.grad(z.sum(), y)
    for i in range(y.shape[0]):
        jacobian = torch.autograd.functional.jacobian(
            lambda row: layer(row[None])[0][0], z[i].detach()
        )
        expected = torch.linalg.inv(jacobian).sum(0)
        torch.testing.assert_close(grad_y[i], expected, atol=1e-8, rtol=0)


def test_layers_start_as_identity():
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    for width, layer in [
        (3, PlanarFlow(3)),
        (1, PlanarFlow(1)),
        (3, AffineCoupling(3)),
        (3, AffineCoupling(3, parity=1)),
        (1, AffineCoupling(1)),
    ]:
        y, log_det = layer(z[:, :width])
        torch.testing.assert_close(y, z[:, :width])
        torch.testing.assert_close(log_det, torch.zeros(8))


@pytest.mark.parametrize("flow", FLOWS)
def test_flow_initial_starts_standard_normal(flow):
    q0 = FlowInitial(3, flow=flow, n_layers=3, hidden_layer_sizes=(8,)).double()
    x, v, log_q = q0.sample(10, torch.Generator().manual_seed(0))
    expected = isotropic_momentum_log_prob(x, 1.0) + isotropic_momentum_log_prob(v, 1.0)
    torch.testing.assert_close(log_q, expected)


def _make_initial(name, n_features, momentum_dim, seed, scale=0.2, **kwargs):
    torch.manual_seed(seed)
    if name == "latent":
        q0 = LatentInitial(n_features, latent_dim=momentum_dim, hidden_layer_sizes=(16,), **kwargs)
    else:
        kwargs.setdefault("n_layers", 4)
        q0 = FlowInitial(
            n_features, momentum_dim=momentum_dim, flow=name, hidden_layer_sizes=(16,), **kwargs
        )
    return _perturb(q0.double(), torch.Generator().manual_seed(seed), scale)


@pytest.mark.parametrize("name", [*FLOWS, "latent"])
@pytest.mark.parametrize("n_features, momentum_dim", [(3, None), (4, 2), (1, 1)])
def test_sample_log_q_matches_log_prob_and_shapes(name, n_features, momentum_dim):
    q0 = _make_initial(name, n_features, momentum_dim, seed=1, momentum_penalty=2.0)
    x, v, log_q = q0.sample(64, torch.Generator().manual_seed(0))
    expected_momentum_dim = n_features if momentum_dim is None else momentum_dim
    assert x.shape == (64, n_features)
    assert v.shape == (64, expected_momentum_dim)
    assert log_q.shape == (64,)
    assert x.dtype == v.dtype == log_q.dtype == torch.float64
    torch.testing.assert_close(q0.log_prob(x, v), log_q, atol=1e-9, rtol=0)
    assert q0.entropy(log_q).shape == ()
    torch.testing.assert_close(q0.entropy(log_q), -log_q.mean())
    # The momentum law is N(0, I / 2).
    v_many = q0.sample(20000, torch.Generator().manual_seed(1))[1]
    assert abs(float(v_many.var()) - 0.5) < 0.03


@pytest.mark.parametrize("name", [*FLOWS, "latent"])
def test_gradients_reach_every_parameter(name):
    q0 = _make_initial(name, 3, 2, seed=2)
    x, v, log_q = q0.sample(32, torch.Generator().manual_seed(0))
    (x.sum() + log_q.sum()).backward()
    for parameter_name, parameter in q0.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert float(parameter.grad.abs().sum()) > 0, parameter_name


@pytest.mark.parametrize("name", [*FLOWS, "latent"])
def test_log_prob_gradients_are_finite(name):
    q0 = _make_initial(name, 2, 1, seed=3)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v = torch.randn(16, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    q0.log_prob(x, v).sum().backward()
    for parameter in q0.parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all()


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("n_features, half_width, n_points", [(1, 14.0, 4001), (2, 12.0, 481)])
def test_flow_position_marginal_is_normalised(flow, n_features, half_width, n_points):
    # Couplings compound their scale factors, so they get a milder perturbation to keep the
    # density's tails inside the grid.
    q0 = _make_initial(flow, n_features, 1, seed=4, scale=0.3 if flow == "planar" else 0.05)

    def marginal(x):
        momentum = torch.zeros(x.shape[0], 1, dtype=x.dtype)
        marginal = q0.log_prob(x, momentum) - isotropic_momentum_log_prob(momentum, 1.0)
        torch.testing.assert_close(marginal, q0.position_log_prob(x))
        return marginal

    assert abs(_integrate(marginal, n_features, half_width, n_points) - 1.0) < 1e-3


def test_latent_joint_is_normalised_in_one_dimension():
    q0 = _make_initial("latent", 1, 1, seed=5, scale=0.15)
    total = _integrate(lambda xv: q0.log_prob(xv[:, :1], xv[:, 1:]), 2, 10.0, 501)
    assert abs(total - 1.0) < 1e-3


@pytest.mark.parametrize("n_features", [1, 2])
def test_latent_conditional_and_momentum_are_normalised(n_features):
    q0 = _make_initial("latent", n_features, 1, seed=6, scale=0.15, momentum_penalty=3.0)
    for value in (-1.0, 0.0, 0.7):
        momentum = torch.full((1, 1), value, dtype=torch.float64)

        def conditional(x, momentum=momentum):
            v = momentum.expand(x.shape[0], 1)
            conditional = q0.log_prob(x, v) - isotropic_momentum_log_prob(v, 3.0)
            torch.testing.assert_close(conditional, q0.conditional_log_prob(x, v))
            return conditional

        total = _integrate(conditional, n_features, 10.0, 2001 if n_features == 1 else 401)
        assert abs(total - 1.0) < 1e-3
    momentum_total = _integrate(lambda v: isotropic_momentum_log_prob(v, 3.0), 1, 10.0, 2001)
    assert abs(momentum_total - 1.0) < 1e-3


@pytest.mark.parametrize("flow", FLOWS)
def test_flow_samples_match_density_histogram(flow):
    # Stronger perturbation than elsewhere so that the 1-D planar density is visibly
    # non-Gaussian; each bin's expected mass comes from fine quadrature of the density.
    q0 = _make_initial(flow, 1, 1, seed=7, scale=0.5)
    n_samples = 100_000
    with torch.no_grad():
        x = q0.sample(n_samples, torch.Generator().manual_seed(0))[0][:, 0]
    low, high = float(x.quantile(0.001)), float(x.quantile(0.999))
    n_bins, n_sub = 40, 50
    counts = torch.histc(x, bins=n_bins, min=low, max=high)
    width = (high - low) / n_bins
    # Midpoint rule on n_sub sub-cells per bin.
    mids = low + (torch.arange(n_bins * n_sub, dtype=torch.float64) + 0.5) * width / n_sub
    with torch.no_grad():
        density = torch.exp(q0.position_log_prob(mids[:, None]))
    expected_mass = density.reshape(n_bins, n_sub).mean(1) * width
    observed_mass = counts / n_samples
    # Binomial standard deviation of each bin's observed mass.
    noise = torch.sqrt(expected_mass * (1 - expected_mass) / n_samples)
    assert float(((observed_mass - expected_mass).abs() / noise).max()) < 5.0


@pytest.mark.parametrize("name", [*FLOWS, "latent"])
def test_same_seed_same_samples_and_dtypes(name):
    torch.manual_seed(0)
    if name == "latent":
        q0 = LatentInitial(3, latent_dim=2, hidden_layer_sizes=(8,))
    else:
        q0 = FlowInitial(3, momentum_dim=2, flow=name, n_layers=3, hidden_layer_sizes=(8,))
    first = q0.sample(5, torch.Generator().manual_seed(42))
    second = q0.sample(5, torch.Generator().manual_seed(42))
    assert all(a.dtype == torch.float32 for a in first)
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    q0.double()
    x, v, log_q = q0.sample(5, torch.Generator().manual_seed(42))
    assert x.dtype == v.dtype == log_q.dtype == torch.float64
    torch.testing.assert_close(x.float(), first[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(q0.log_prob(x, v), log_q, atol=1e-9, rtol=0)


def test_flow_initial_float32_log_prob_is_consistent():
    torch.manual_seed(0)
    q0 = _perturb(FlowInitial(2, n_layers=6), torch.Generator().manual_seed(0), 0.3)
    x, v, log_q = q0.sample(100, torch.Generator().manual_seed(1))
    torch.testing.assert_close(q0.log_prob(x, v), log_q, atol=1e-4, rtol=1e-5)


def test_flow_initial_rejects_unknown_flow():
    with pytest.raises(ValueError, match=r"\['planar', 'realnvp'\].*'maf'"):
        FlowInitial(2, flow="maf")


@pytest.mark.parametrize("learn", [True, False])
def test_latent_noise_learnable_flag(learn):
    q0 = LatentInitial(2, hidden_layer_sizes=(4,), noise_std=0.3, learn_noise=learn)
    names = {name for name, _ in q0.named_parameters()}
    assert ("log_noise_std" in names) is learn
    torch.testing.assert_close(q0.log_noise_std, torch.full((2,), math.log(0.3)))


def test_latent_initial_marginal_is_roughly_standard():
    torch.manual_seed(0)
    q0 = LatentInitial(3, latent_dim=2)
    with torch.no_grad():
        x = q0.sample(20000, torch.Generator().manual_seed(0))[0]
    assert float(x.mean(0).abs().max()) < 0.15
    assert float((x.std(0) - 1.0).abs().max()) < 0.15
