"""Generalized HMC and Langevin embeddings against exact references.

Every log-det is checked against ``slogdet`` of ``torch.autograd.functional.jacobian`` of the
layer's map in float64; the density bookkeeping of whole embeddings is checked end to end
with 200k pushed samples through the identity ``E_q[h(z) / q(z)] = integral of h`` for box
indicators ``h`` (any error in the claimed ``log q_T`` biases it).
"""

import math

import pytest
import torch

from adesk.dynamics import (
    DeterministicLangevinEmbedding,
    GeneralizedHMCEmbedding,
    HMCEmbedding,
    LangevinEmbedding,
    clip_norm,
    energy_and_gradient,
)
from adesk.energies import GaussianEnergy, MLPEnergy
from adesk.initial import GaussianInitial

GHMC_VARIANTS = [
    {"scale": "learned"},
    {"scale": "decay"},
    {"scale": "none"},
    {"scale": "none", "momentum_map": "gradient", "position_map": "identity"},
]


def _energy(d, seed=0):
    torch.manual_seed(seed)
    return MLPEnergy(d, hidden_layer_sizes=(16, 16), activation="tanh").double()


def _perturb(module, scale=0.3, seed=1):
    """Move every parameter away from its (often identity-like) initial value."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            parameter.add_(scale * noise)
    return module


def _ghmc(d, latent_dim, n_steps=3, **variant):
    embedding = GeneralizedHMCEmbedding(
        d,
        n_steps=n_steps,
        step_size=0.2,
        latent_dim=latent_dim,
        step_size_shape="per_step_dimension",
        hidden_layer_sizes=(8,),
        gradient_clip=3.0,
        momentum_clip=3.0,
        **variant,
    ).double()
    return _perturb(embedding)


def _jacobian_log_det(function, point):
    jacobian = torch.autograd.functional.jacobian(function, point)
    return torch.linalg.slogdet(jacobian).logabsdet.item()


@pytest.mark.parametrize("variant", GHMC_VARIANTS, ids=lambda v: "-".join(v.values()))
@pytest.mark.parametrize("d,latent_dim", [(1, 1), (2, 2), (2, 1), (5, 5), (5, 3)])
def test_ghmc_log_det_matches_autograd_jacobian(variant, d, latent_dim):
    if latent_dim != d and len(variant) > 1:
        pytest.skip("gradient / identity maps need latent_dim == n_features")
    energy = _energy(d)
    embedding = _ghmc(d, latent_dim, **variant)

    def flow(phase):
        out = embedding(energy, phase[:d][None], phase[d:][None], create_graph=True)
        return torch.cat([out.state.position[0], out.state.momentum[0]])

    generator = torch.Generator().manual_seed(2)
    for _ in range(3):
        phase = torch.randn(d + latent_dim, generator=generator, dtype=torch.float64)
        out = embedding(energy, phase[:d][None], phase[d:][None], create_graph=False)
        expected = _jacobian_log_det(flow, phase)
        assert abs(out.log_det_jacobian.item() - expected) < 1e-6
        if variant["scale"] != "none":
            assert abs(expected) > 1e-3  # the test would be vacuous on a volume-preserving map


@pytest.mark.parametrize("variant", GHMC_VARIANTS[:3], ids=lambda v: v["scale"])
def test_ghmc_inverse_round_trip(variant):
    energy = _energy(3)
    embedding = _ghmc(3, 2, n_steps=4, **variant)
    x0 = torch.randn(16, 3, dtype=torch.float64)
    v0 = torch.randn(16, 2, dtype=torch.float64)
    out = embedding(energy, x0, v0, create_graph=False)
    x, v, log_det = embedding.inverse(energy, out.state.position, out.state.momentum)
    torch.testing.assert_close(x, x0, atol=1e-9, rtol=0)
    torch.testing.assert_close(v, v0, atol=1e-9, rtol=0)
    torch.testing.assert_close(log_det, out.log_det_jacobian, atol=1e-9, rtol=0)


def test_ghmc_reduces_to_leapfrog():
    """``S = 0``, ``g_v`` = gradient, ``g_x`` = identity: exactly the vanilla leapfrog (10)."""
    energy = _energy(2, seed=4)
    settings = {"n_steps": 5, "step_size": 0.15, "step_size_shape": "per_dimension"}
    ghmc = GeneralizedHMCEmbedding(
        2, scale="none", momentum_map="gradient", position_map="identity", **settings
    ).double()
    hmc = HMCEmbedding(2, **settings).double()
    x0, v0 = torch.randn(10, 2, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64)
    a = ghmc(energy, x0, v0, create_graph=False).state
    b = hmc(energy, x0, v0, create_graph=False).state
    torch.testing.assert_close(a.position, b.position, atol=1e-12, rtol=0)
    torch.testing.assert_close(a.momentum, b.momentum, atol=1e-12, rtol=0)


def test_ghmc_learned_maps_start_as_leapfrog():
    """Zero-initialised corrections and an identity projection: starts as leapfrog."""
    energy = _energy(2, seed=5)
    torch.manual_seed(0)
    ghmc = GeneralizedHMCEmbedding(2, n_steps=3, step_size=0.1).double()
    hmc = HMCEmbedding(2, n_steps=3, step_size=0.1).double()
    x0, v0 = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    a = ghmc(energy, x0, v0, create_graph=False)
    b = hmc(energy, x0, v0, create_graph=False)
    torch.testing.assert_close(a.state.position, b.state.position, atol=1e-12, rtol=0)
    assert a.log_det_jacobian.abs().max() < 1e-12


def test_ghmc_metropolis_exact_without_scales():
    """``S = 0`` with learned (odd) position map: MH-corrected chains keep N(mu, s^2)."""
    mean, std = torch.tensor([0.5, -1.0]), torch.tensor([0.7, 1.5])
    energy = GaussianEnergy(mean, std).double()
    embedding = _ghmc(2, 2, n_steps=4, scale="none")
    embedding.metropolis = True
    generator = torch.Generator().manual_seed(3)
    n = 4000
    x = mean.double() + std.double() * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    rates = []
    for _ in range(15):
        v = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        x = embedding(energy, x, v, create_graph=False, generator=generator).state.position
        rates.append(embedding.last_acceptance_rate)
    z_mean = (x.mean(0) - mean) / (std / math.sqrt(n))
    z_var = (x.var(0) / std**2 - 1) / math.sqrt(2 / n)
    assert z_mean.abs().max() < 4.5 and z_var.abs().max() < 4.5
    assert sum(rates) / len(rates) > 0.05  # the chains moved


@pytest.mark.parametrize("d", [1, 2, 5])
def test_langevin_step_preserves_volume(d):
    """One step maps ``(x, xi) -> (x', v')`` with ``|det J| = 1`` (proof of eq. 19)."""
    energy = _energy(d, seed=6)
    embedding = _perturb(
        LangevinEmbedding(d, n_steps=1, step_size=0.3, step_size_shape="per_dimension"),
        scale=0.2,
    ).double()
    noise_std = embedding.noise_stds()[0].detach()

    def step(point):
        x0, xi = point[:d][None], point[d:][None]
        noise = (xi / noise_std)[None]
        out = embedding(energy, x0, torch.zeros_like(x0), create_graph=True, noise=noise)
        x1 = out.state.position[0]
        return torch.cat([x1, x1 - x0[0]])

    point = torch.randn(2 * d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert abs(_jacobian_log_det(step, point)) < 1e-9


@pytest.mark.parametrize("d", [1, 2, 5])
def test_deterministic_langevin_exact_log_det(d):
    energy = _energy(d, seed=7)
    embedding = _perturb(
        DeterministicLangevinEmbedding(d, n_steps=3, step_size=0.2, step_size_shape="per_step"),
        scale=0.2,
    ).double()

    def flow(x):
        return embedding(energy, x[None], torch.zeros(1, d, dtype=x.dtype)).state.position[0]

    generator = torch.Generator().manual_seed(1)
    for _ in range(3):
        x = torch.randn(d, generator=generator, dtype=torch.float64)
        out = embedding(energy, x[None], torch.zeros(1, d, dtype=x.dtype))
        expected = _jacobian_log_det(flow, x)
        assert abs(out.log_det_jacobian.item() - expected) < 1e-6
        assert abs(expected) > 1e-5


@pytest.mark.parametrize("method", ["taylor", "chebyshev"])
def test_deterministic_langevin_stochastic_log_det_is_consistent(method):
    """Many probes: the estimate agrees with the exact log-det within its noise."""
    energy = _energy(3, seed=8)
    x = torch.randn(1, 3, dtype=torch.float64).repeat(400, 1)
    momentum = torch.zeros_like(x)
    exact = DeterministicLangevinEmbedding(3, n_steps=1, step_size=0.05).double()
    stochastic = DeterministicLangevinEmbedding(
        3, n_steps=1, step_size=0.05, logdet=method, logdet_terms=12, logdet_probes=1
    ).double()
    reference = exact(energy, x[:1], momentum[:1]).log_det_jacobian.item()
    generator = torch.Generator().manual_seed(0)
    estimates = stochastic(energy, x, momentum, generator=generator).log_det_jacobian
    standard_error = estimates.std().item() / math.sqrt(len(estimates))
    assert abs(estimates.mean().item() - reference) < 4 * standard_error + 1e-4
    assert stochastic.last_max_curvature < 1.0


EMBEDDINGS = {
    "hmc": lambda d: HMCEmbedding(d, n_steps=3, step_size=0.3, step_size_shape="per_dimension"),
    # Mildly perturbed: strongly non-linear maps give q_T such heavy tails that the
    # importance identity below has no usable standard error.
    "ghmc": lambda d: _perturb(
        GeneralizedHMCEmbedding(d, n_steps=3, step_size=0.3, hidden_layer_sizes=(8,)), 0.1
    ),
    "langevin": lambda d: _perturb(LangevinEmbedding(d, n_steps=3, step_size=0.2), 0.2),
    "deterministic_langevin": lambda d: DeterministicLangevinEmbedding(
        d, n_steps=3, step_size=0.25, step_size_shape="per_step_dimension"
    ),
}


@pytest.mark.parametrize(
    "name,d",
    # GHMC in d = 2 (4-D phase space) gives h / q such heavy tails that the sample standard
    # error is meaningless; it is covered by the Jacobian tests and, end to end, by the
    # histogram test below, which evaluates q_T through the exact inverse.
    [(name, d) for d in (1, 2) for name in EMBEDDINGS if (name, d) != ("ghmc", 2)],
)
def test_density_bookkeeping_end_to_end(name, d):
    """``E_q[h / q_T] = integral of h``, with the claimed ``q_T`` and 200k pushed samples.

    ``h(z) = 1[x_T in B] * g(v | x_T)`` with ``v`` every momentum in ``z`` (the last one,
    and for stochastic Langevin the ``v_t = x_t - x_{t-1}`` too), ``g`` a Gaussian
    conditional density and boxes ``B`` tiling the bulk, both set from an independent pilot
    run. The estimate of each box's volume has a standard error read off the samples.
    """
    torch.manual_seed(0)
    energy = GaussianEnergy(torch.full((d,), 0.3), torch.linspace(0.8, 1.3, d)).double()
    embedding = EMBEDDINGS[name](d).double()
    initial = GaussianInitial(torch.zeros(d), torch.full((d,), 1.2), momentum_std=0.9).double()
    generator = torch.Generator().manual_seed(11)
    n = 200_000
    with torch.no_grad():
        # Boxes from a pilot run's central quantiles, so that each box holds many samples
        # (the standard error below is only trustworthy there).
        pilot_x0, pilot_v0, _ = initial.sample(20_000, generator)
        pilot = embedding(
            energy,
            pilot_x0,
            pilot_v0,
            create_graph=False,
            generator=generator,
            return_trajectory=True,
        )
        x0, v0, log_q0 = initial.sample(n, generator)
    out = embedding(energy, x0, v0, create_graph=False, generator=generator, return_trajectory=True)
    log_q = log_q0 - out.log_det_jacobian + out.log_noise_density

    def momenta_of(output):
        momenta = [output.state.momentum]
        if name == "langevin":
            path = output.trajectory
            momenta += [b - a for a, b in zip(path[:-1], path[1:], strict=True)]
        return momenta

    # h's momentum factor: the conditional law of the momenta given x_T of a Gaussian fitted
    # to the pilot run, a little narrower, so that h / q has a finite variance whatever the
    # embedding does to the momenta. It integrates to one over the momenta for every x_T.
    v, v_pilot = torch.cat(momenta_of(out), 1), torch.cat(momenta_of(pilot), 1)
    joint = torch.cat([pilot.state.position, v_pilot], 1)
    mean, cov = joint.mean(0), torch.cov(joint.T)
    gain = torch.linalg.solve(cov[:d, :d], cov[:d, d:]).T
    conditional_cov = 0.64 * (cov[d:, d:] - gain @ cov[:d, d:])
    conditional_mean = mean[d:] + (out.state.position - mean[:d]) @ gain.T
    log_h_momenta = torch.distributions.MultivariateNormal(
        conditional_mean, covariance_matrix=conditional_cov
    ).log_prob(v)
    weights = torch.exp(log_h_momenta - log_q.detach())
    x = out.state.position
    low = torch.quantile(pilot.state.position, 0.1, dim=0)
    high = torch.quantile(pilot.state.position, 0.9, dim=0)
    middle = (low + high) / 2
    z_scores = []
    for corner_choice in torch.cartesian_prod(*[torch.arange(2)] * d).reshape(-1, d).bool():
        lower = torch.where(corner_choice, middle, low)
        upper = torch.where(corner_choice, high, middle)
        volume = float(torch.prod(upper - lower))
        inside = ((x >= lower) & (x < upper)).all(-1)
        values = weights * inside
        estimate = values.mean().item() / volume
        standard_error = values.std().item() / math.sqrt(n) / volume
        z_scores.append((estimate - 1.0) / standard_error)
    assert max(abs(z) for z in z_scores) < 4.5, z_scores


@pytest.mark.parametrize("scale", ["learned", "decay"])
def test_ghmc_density_matches_histogram(scale):
    """1-D data, 2-D phase space: a 2-D histogram of 200k pushed samples against the claimed
    ``q_T(x, v) = q_0(L^{-1}(x, v)) / |det J|``, evaluated at every bin through the inverse
    and integrated over the bin by a 4 x 4 midpoint rule."""
    torch.manual_seed(0)
    energy = _energy(1, seed=12)
    embedding = _perturb(
        GeneralizedHMCEmbedding(1, n_steps=3, step_size=0.3, hidden_layer_sizes=(8,), scale=scale),
        0.3,
    ).double()
    initial = GaussianInitial(torch.zeros(1), torch.ones(1), momentum_std=0.8).double()
    n = 200_000
    with torch.no_grad():
        x0, v0, _ = initial.sample(n, torch.Generator().manual_seed(4))
    out = embedding(energy, x0, v0, create_graph=False)
    points = torch.cat([out.state.position, out.state.momentum], 1)
    low, high = torch.quantile(points, 0.05, dim=0), torch.quantile(points, 0.95, dim=0)
    n_bins, n_sub = 12, 4
    width = (high - low) / n_bins
    counts = torch.zeros(n_bins, n_bins, dtype=torch.float64)
    index = torch.floor((points - low) / width).long()
    inside = ((index >= 0) & (index < n_bins)).all(1)
    counts.index_put_(
        (index[inside, 0], index[inside, 1]),
        torch.ones(int(inside.sum()), dtype=torch.float64),
        accumulate=True,
    )
    offsets = (torch.arange(n_bins * n_sub, dtype=torch.float64) + 0.5) / n_sub
    grid = torch.cartesian_prod(low[0] + offsets * width[0], low[1] + offsets * width[1])
    x, v, log_det = embedding.inverse(energy, grid[:, :1], grid[:, 1:])
    density = torch.exp(initial.log_prob(x, v) - log_det).detach()
    assert log_det.abs().max() > 0.1  # a map that changes volume
    expected = density.reshape(n_bins, n_sub, n_bins, n_sub).mean((1, 3)) * width.prod() * n
    tested = expected > 20  # bins with a usable Poisson error
    z = (counts - expected)[tested] / torch.sqrt(expected[tested])
    assert tested.sum() >= 60
    assert z.abs().max() < 5.0, z.abs().max()


@pytest.mark.parametrize("name", list(EMBEDDINGS))
def test_gradients_reach_every_parameter(name):
    energy = _energy(2, seed=9).float()
    embedding = EMBEDDINGS[name](2).float()
    initial = GaussianInitial(torch.zeros(2), torch.ones(2))
    x0, v0, log_q0 = initial.sample(64, torch.Generator().manual_seed(0))
    out = embedding(energy, x0, v0, generator=torch.Generator().manual_seed(1))
    loss = (out.hamiltonian + log_q0 - out.log_det_jacobian + out.log_noise_density).mean()
    loss.backward()
    for parameter_name, parameter in embedding.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name
    assert all(p.grad is not None for p in energy.parameters())


def test_langevin_metropolis_is_exact_mala():
    """MH-adjusted Langevin steps with learned noise scales keep N(mu, s^2) invariant."""
    mean, std = torch.tensor([1.0, -0.5]), torch.tensor([0.5, 2.0])
    energy = GaussianEnergy(mean, std).double()
    embedding = LangevinEmbedding(2, n_steps=5, step_size=0.4, metropolis=True).double()
    with torch.no_grad():
        embedding.log_noise_std.add_(torch.tensor([0.3, -0.4], dtype=torch.float64))
    generator = torch.Generator().manual_seed(5)
    n = 4000
    x = mean.double() + std.double() * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    for _ in range(10):
        out = embedding(energy, x, torch.zeros_like(x), create_graph=False, generator=generator)
        x = out.state.position
    z_mean = (x.mean(0) - mean) / (std / math.sqrt(n))
    z_var = (x.var(0) / std**2 - 1) / math.sqrt(2 / n)
    assert z_mean.abs().max() < 4.5 and z_var.abs().max() < 4.5
    assert 0.2 < embedding.last_acceptance_rate < 1.0


def test_deterministic_langevin_rejects_bad_logdet():
    with pytest.raises(ValueError, match="logdet"):
        DeterministicLangevinEmbedding(2, n_steps=1, step_size=0.1, logdet="lanczos")


def test_ghmc_rejects_identity_maps_with_smaller_latent_space():
    with pytest.raises(ValueError, match="latent_dim"):
        GeneralizedHMCEmbedding(3, n_steps=1, step_size=0.1, latent_dim=2, position_map="identity")


@pytest.mark.parametrize("kind", ["hmc", "ghmc", "langevin"])
def test_a_known_start_gradient_gives_the_same_trajectory(kind):
    """``start_cache`` (the energy and gradient already known at the start) replaces their
    evaluation and changes nothing else: same end state, bit for bit, one gradient fewer."""
    d = 3
    energy = _energy(d)
    embeddings = {
        "hmc": lambda: HMCEmbedding(d, n_steps=3, step_size=0.2, metropolis=True).double(),
        "ghmc": lambda: _ghmc(d, latent_dim=2),
        "langevin": lambda: LangevinEmbedding(d, n_steps=3, step_size=0.1).double(),
    }
    embedding = embeddings[kind]()
    x = torch.randn(5, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    momentum_dim = 2 if kind == "ghmc" else d
    v = torch.randn(5, momentum_dim, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    cache = energy_and_gradient(energy, x)
    runs = {}
    for label, start_cache in (("evaluated", None), ("known", cache)):
        calls = []
        hook = energy.register_forward_pre_hook(lambda module, args, calls=calls: calls.append(1))
        out = embedding(
            energy,
            x,
            v,
            create_graph=False,
            generator=torch.Generator().manual_seed(2),
            start_cache=start_cache,
        )
        hook.remove()
        runs[label] = (out.state.position, len(calls))
    assert torch.equal(runs["evaluated"][0], runs["known"][0])
    assert runs["known"][1] == runs["evaluated"][1] - 1


@pytest.mark.parametrize(
    "settings",
    [
        dict(step_size_shape="scalar"),
        dict(step_size_shape="per_step_dimension", metropolis=True),
        dict(step_size_shape="per_step", momentum_penalty=0.5, gradient_clip=0.05),
        dict(gradient_clip=0.05, momentum_clip=0.4),
    ],
)
def test_sampling_without_a_graph_is_the_step_by_step_trajectory(settings):
    """Without a graph the embedding runs a loop that clips each gradient once; it must give
    the trajectory of the graph-keeping step-by-step loop, bit for bit (where set, the clipping
    is active: the start gradients and momenta exceed the limits)."""
    d = 3
    energy = _energy(d)
    embedding = HMCEmbedding(d, n_steps=4, step_size=0.15, **settings).double()
    with torch.no_grad():
        # Distinct step sizes per layer and dimension, so a mixed-up schedule would show.
        embedding.log_step_size.add_(
            0.3
            * torch.randn(
                embedding.log_step_size.shape,
                generator=torch.Generator().manual_seed(3),
                dtype=torch.float64,
            )
        )
    x = 3 * torch.randn(6, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v = torch.randn(6, d, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    if "gradient_clip" in settings:
        assert energy_and_gradient(energy, x)[1].norm(dim=-1).max() > settings["gradient_clip"]
    fast = embedding(energy, x, v, create_graph=False, generator=torch.Generator().manual_seed(2))
    graph = embedding(energy, x, v, create_graph=True, generator=torch.Generator().manual_seed(2))
    for got, expected in zip(fast.state, graph.state):
        assert torch.equal(got, expected.detach())
    assert torch.equal(fast.hamiltonian, graph.hamiltonian.detach())


def test_clip_norm_without_a_graph_matches_the_differentiable_form():
    vectors = torch.randn(50, 4, generator=torch.Generator().manual_seed(0)) * 3
    with torch.no_grad():
        plain = clip_norm(vectors, 2.5)
    tracked = clip_norm(vectors.clone().requires_grad_(True), 2.5)
    assert torch.equal(plain, tracked.detach())
    assert torch.allclose(plain.norm(dim=-1).max(), torch.tensor(2.5))


def test_langevin_noise_tied_to_the_step_sizes():
    """``learn_noise=False``: sigma_t = sqrt(eta_t) in every coordinate, following the steps."""
    embedding = LangevinEmbedding(
        3, n_steps=2, step_size=0.2, step_size_shape="per_step", learn_noise=False
    )
    assert list(dict(embedding.named_parameters())) == ["log_step_size"]
    with torch.no_grad():
        embedding.log_step_size.copy_(torch.log(torch.tensor([[0.1], [0.4]])))
    expected = torch.tensor([[0.1] * 3, [0.4] * 3]).sqrt()
    torch.testing.assert_close(embedding.noise_stds(), expected)
    # The draws are scaled by the tied stds: the first step of a flat energy moves by xi_1.
    flat = lambda x: 0.0 * x.sum(-1)  # noqa: E731
    x = torch.zeros(4000, 3)
    out = embedding(
        flat,
        x,
        torch.zeros_like(x),
        create_graph=False,
        return_trajectory=True,
        generator=torch.Generator().manual_seed(0),
    )
    moved = out.trajectory[1].std(0)
    assert torch.allclose(moved, expected[0], rtol=0.05)


def test_a_saved_learned_noise_state_loads_into_a_tied_embedding():
    """Files saved when ADE's Langevin noise was always learned keep their learned scales."""
    from adesk.estimators._persistence import _load_module_state

    learned = LangevinEmbedding(2, n_steps=3, step_size=0.1)
    with torch.no_grad():
        learned.log_noise_std.add_(torch.linspace(-0.3, 0.3, 6).reshape(3, 2))
    tied = LangevinEmbedding(2, n_steps=3, step_size=0.1, learn_noise=False)
    _load_module_state(tied, learned.state_dict(), "sampler_")
    assert tied.learn_noise
    torch.testing.assert_close(tied.noise_stds(), learned.noise_stds())
