"""Matrix-free log-determinant estimators against dense and eigenvalue-based references.

The estimators' error has two parts: the deterministic truncation of the series (checked
against an independent reference computed from the eigenvalues: numpy's Chebyshev interpolation
and the plain Taylor sum) and Hutchinson's Monte Carlo noise (checked with standard errors
measured from the probe-to-probe spread, at 4 standard errors).
"""

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev

from adesk.dynamics._logdet import (
    chebyshev_coefficients,
    chebyshev_truncation_bound,
    dense_from_matvec,
    logdet,
    logdet_chebyshev,
    logdet_exact,
    logdet_taylor,
    power_iteration_bound,
    rademacher_probes,
    taylor_truncation_bound,
)

LOW, HIGH = 0.3, 1.7
ESTIMATORS = {"taylor": logdet_taylor, "chebyshev": logdet_chebyshev}


def _spd_batch(n, d, seed, low=LOW, high=HIGH, include_endpoints=True):
    """Symmetric matrices ``Q diag(lam) Q^T`` with eigenvalues in ``[low, high]``."""
    rng = np.random.default_rng(seed)
    eigenvalues = rng.uniform(low, high, size=(n, d))
    if include_endpoints and d >= 2:
        # The endpoints are the worst case for both series.
        eigenvalues[:, 0], eigenvalues[:, 1] = low, high
    q, _ = np.linalg.qr(rng.standard_normal((n, d, d)))
    matrices = q @ (eigenvalues[..., None] * np.swapaxes(q, -1, -2))
    return torch.from_numpy(matrices), eigenvalues


def _matvec(matrices):
    return lambda u: (matrices @ u[..., None])[..., 0]


def _taylor_reference(eigenvalues, low, high, n_terms):
    """Truncated Taylor series of ``log det`` evaluated exactly on the eigenvalues."""
    scale = (low + high) / 2
    c = 1 - np.asarray(eigenvalues) / scale
    series = sum(c**k / k for k in range(1, n_terms + 1))
    return (math.log(scale) - series).sum(axis=-1)


def _chebyshev_reference(eigenvalues, low, high, n_terms):
    """numpy's first-kind Chebyshev interpolant of ``log`` evaluated on the eigenvalues."""
    center, half = (low + high) / 2, (high - low) / 2
    coefficients = chebyshev.chebinterpolate(lambda t: np.log(center + half * t), n_terms)
    t = (np.asarray(eigenvalues) - center) / half
    return chebyshev.chebval(t, coefficients).sum(axis=-1)


REFERENCES = {"taylor": _taylor_reference, "chebyshev": _chebyshev_reference}


def _bound(method, d, low, high, n_terms):
    if method == "taylor":
        return taylor_truncation_bound(d, (high - low) / (high + low), n_terms)
    return chebyshev_truncation_bound(d, low, high, n_terms)


def _mean_and_se(samples):
    samples = torch.as_tensor(samples)
    return samples.mean(0), samples.std(0) / math.sqrt(samples.shape[0])


def test_rademacher_probes_are_signs_reproducible_and_spare_the_global_rng():
    state = torch.get_rng_state()
    a = rademacher_probes(200, 3, 4, generator=torch.Generator().manual_seed(5))
    b = rademacher_probes(200, 3, 4, generator=torch.Generator().manual_seed(5))
    rademacher_probes(2, 3, 4)  # generator=None must not fall back to the global RNG
    assert torch.equal(torch.get_rng_state(), state)
    assert a.shape == (200, 3, 4) and a.dtype == torch.get_default_dtype()
    assert torch.equal(a, b)
    assert set(a.unique().tolist()) == {-1.0, 1.0}
    assert abs(a.mean().item()) < 0.05  # 2400 fair signs: SE 0.02


def test_estimators_do_not_touch_the_global_rng():
    matrices, _ = _spd_batch(2, 3, seed=0)
    state = torch.get_rng_state()
    for method in ESTIMATORS:
        logdet(_matvec(matrices), 2, 3, method, (LOW, HIGH), dtype=torch.float64)
    power_iteration_bound(_matvec(matrices), 2, 3, dtype=torch.float64)
    assert torch.equal(torch.get_rng_state(), state)


def test_dense_from_matvec_recovers_the_matrices():
    matrices, _ = _spd_batch(4, 6, seed=1)
    dense = dense_from_matvec(_matvec(matrices), 4, 6, dtype=torch.float64)
    torch.testing.assert_close(dense, matrices, rtol=0, atol=1e-14)


@pytest.mark.parametrize("d", [2, 5, 20])
def test_exact_matches_numpy_slogdet(d):
    matrices, _ = _spd_batch(3, d, seed=d)
    expected = np.linalg.slogdet(matrices.numpy())[1]
    np.testing.assert_allclose(logdet_exact(matrices).numpy(), expected, rtol=1e-12, atol=1e-12)
    via_matvec = logdet(_matvec(matrices), 3, d, dtype=torch.float64)
    np.testing.assert_allclose(via_matvec.numpy(), expected, rtol=1e-12, atol=1e-12)
    # Also for indefinite matrices (log|det|).
    indefinite = matrices - 1.0
    np.testing.assert_allclose(
        logdet_exact(indefinite).numpy(), np.linalg.slogdet(indefinite.numpy())[1], rtol=1e-10
    )


@pytest.mark.parametrize("method", list(ESTIMATORS))
@pytest.mark.parametrize("n_terms", [1, 3, 8, 15])
def test_series_part_matches_independent_reference_on_diagonal_matrices(method, n_terms):
    # For diagonal matrices z^T p(A) z = tr p(A) for every Rademacher z, so the estimator is
    # exactly the truncated series and can be compared with the reference to rounding.
    rng = np.random.default_rng(n_terms)
    eigenvalues = rng.uniform(LOW, HIGH, size=(3, 7))
    diag = torch.from_numpy(eigenvalues)
    estimate = ESTIMATORS[method](
        lambda u: diag * u,
        3,
        7,
        (LOW, HIGH),
        n_terms=n_terms,
        n_probes=2,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
    )
    reference = REFERENCES[method](eigenvalues, LOW, HIGH, n_terms)
    np.testing.assert_allclose(estimate.numpy(), reference, rtol=0, atol=1e-12)


def test_chebyshev_coefficients_match_numpy_interpolation():
    low = torch.tensor([0.3, 0.01, 2.0], dtype=torch.float64)
    high = torch.tensor([1.7, 1.0, 2.5], dtype=torch.float64)
    ours = chebyshev_coefficients(low, high, 12).numpy()
    for i in range(3):
        c, h = (low[i] + high[i]).item() / 2, (high[i] - low[i]).item() / 2
        theirs = chebyshev.chebinterpolate(lambda t, c=c, h=h: np.log(c + h * t), 12)
        np.testing.assert_allclose(ours[i], theirs, rtol=0, atol=1e-13)


@pytest.mark.parametrize("method", list(ESTIMATORS))
@pytest.mark.parametrize(("low", "high"), [(0.3, 1.7), (0.05, 1.0), (0.9, 1.1)])
def test_truncation_error_decreases_and_stays_below_the_bound(method, low, high):
    d = 12
    # Eigenvalues on a grid including both endpoints, where the series are worst.
    eigenvalues = np.linspace(low, high, d)
    exact = np.log(eigenvalues).sum()
    fine_grid = np.linspace(low, high, 2001)
    worst_errors = []
    for n_terms in [1, 2, 4, 8, 16, 32]:
        error = abs(REFERENCES[method](eigenvalues, low, high, n_terms) - exact)
        bound = _bound(method, d, low, high, n_terms)
        assert error <= bound + 1e-12, (n_terms, error, bound)
        # The bound is d times a bound on the per-eigenvalue error, which is checked as well.
        pointwise = np.abs(
            REFERENCES[method](fine_grid[:, None], low, high, n_terms) - np.log(fine_grid)
        )
        assert pointwise.max() <= bound / d + 1e-13
        worst_errors.append(pointwise.max())
    # The summed error can cancel across eigenvalues, so monotonicity is checked on the worst
    # per-eigenvalue error; rounding floors it near 1e-14.
    assert all(b < a or a < 1e-12 for a, b in zip(worst_errors, worst_errors[1:])), worst_errors
    assert worst_errors[-1] < worst_errors[0] / 10


@pytest.mark.parametrize("method", list(ESTIMATORS))
def test_truncation_bounds_are_monotone_and_broadcast(method):
    low = torch.tensor([0.1, 0.3, 0.9])
    high = torch.tensor([1.0, 1.7, 1.0])
    bounds = [_bound(method, 5, low, high, k) for k in (2, 4, 8)]
    assert all(isinstance(b, torch.Tensor) and b.shape == (3,) for b in bounds)
    assert (bounds[0] > bounds[1]).all() and (bounds[1] > bounds[2]).all()
    # Narrower intervals are easier.
    assert bounds[1][2] < bounds[1][1] < bounds[1][0]
    assert isinstance(_bound(method, 5, 0.3, 1.7, 4), float)
    # A single-point spectrum is reproduced (almost) exactly.
    assert _bound(method, 5, 1.0, 1.0, 3) < 1e-12


@pytest.mark.parametrize("method", list(ESTIMATORS))
@pytest.mark.parametrize("d", [2, 5, 20])
def test_estimate_agrees_with_exact_within_bound_plus_noise(method, d):
    n, n_terms, n_probes = 3, (20 if method == "taylor" else 10), 400
    matrices, eigenvalues = _spd_batch(n, d, seed=10 + d)
    samples = ESTIMATORS[method](
        _matvec(matrices),
        n,
        d,
        (LOW, HIGH),
        n_terms=n_terms,
        n_probes=n_probes,
        generator=torch.Generator().manual_seed(d),
        dtype=torch.float64,
        return_samples=True,
    )
    assert samples.shape == (n_probes, n)
    mean, se = _mean_and_se(samples)
    exact = np.linalg.slogdet(matrices.numpy())[1]
    bound = _bound(method, d, LOW, HIGH, n_terms)
    assert bound < 0.05  # the test would be vacuous otherwise
    assert np.all(np.abs(mean.numpy() - exact) <= bound + 4 * se.numpy() + 1e-12)
    # return_samples=False returns the mean of the same samples.
    estimate = ESTIMATORS[method](
        _matvec(matrices),
        n,
        d,
        (LOW, HIGH),
        n_terms=n_terms,
        n_probes=n_probes,
        generator=torch.Generator().manual_seed(d),
        dtype=torch.float64,
    )
    torch.testing.assert_close(estimate, mean)


@pytest.mark.parametrize("method", list(ESTIMATORS))
def test_hutchinson_estimate_is_unbiased_for_the_truncated_series(method):
    n, d, n_terms, n_sets = 3, 6, 4, 250
    matrices, eigenvalues = _spd_batch(n, d, seed=3)
    generator = torch.Generator().manual_seed(0)
    # Independent probe sets come from successive draws of the same generator.
    estimates = torch.stack(
        [
            ESTIMATORS[method](
                _matvec(matrices),
                n,
                d,
                (LOW, HIGH),
                n_terms=n_terms,
                n_probes=4,
                generator=generator,
                dtype=torch.float64,
            )
            for _ in range(n_sets)
        ]
    )
    mean, se = _mean_and_se(estimates)
    reference = REFERENCES[method](eigenvalues, LOW, HIGH, n_terms)
    assert np.all(se.numpy() > 0)  # non-diagonal matrices: the estimator is really random
    assert np.all(np.abs(mean.numpy() - reference) <= 4 * se.numpy())


def test_per_matrix_bounds():
    # Two matrices on very different scales, each with its own interval.
    matrices, eigenvalues = _spd_batch(2, 4, seed=4)
    matrices = matrices * torch.tensor([1.0, 100.0], dtype=torch.float64)[:, None, None]
    low = torch.tensor([LOW, 100 * LOW], dtype=torch.float64)
    high = torch.tensor([HIGH, 100 * HIGH], dtype=torch.float64)
    reference = _chebyshev_reference(eigenvalues, LOW, HIGH, 12) + np.array([0, 4 * math.log(100)])
    samples = logdet_chebyshev(
        _matvec(matrices),
        2,
        4,
        (low, high),
        n_terms=12,
        n_probes=300,
        generator=torch.Generator().manual_seed(1),
        dtype=torch.float64,
        return_samples=True,
    )
    mean, se = _mean_and_se(samples)
    assert np.all(np.abs(mean.numpy() - reference) <= 4 * se.numpy() + 1e-10)


def _shifted_hessian_problem(n, d, eta, seed):
    """Replicas of ``A = I - eta H`` with one ``eta`` per replica, for per-sample gradients."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    mu = np.linspace(-1.0, 1.0, d)
    hessian = torch.from_numpy(q @ np.diag(mu) @ q.T)
    etas = torch.full((n,), eta, dtype=torch.float64, requires_grad=True)

    def matvec(u):
        return u - etas[:, None] * (u @ hessian)

    return matvec, etas, mu


@pytest.mark.parametrize("method", list(ESTIMATORS))
def test_gradient_wrt_step_size_matches_exact(method):
    # Each replica has its own eta and its own probes, so the per-replica gradients are
    # independent samples of the estimator's gradient.
    n, d, eta, n_terms = 400, 5, 0.3, 12
    low, high = 1 - 0.35, 1 + 0.35  # |eta| * max|mu| = 0.3 < 0.35
    matvec, etas, mu = _shifted_hessian_problem(n, d, eta, seed=7)
    estimate = ESTIMATORS[method](
        matvec,
        n,
        d,
        (low, high),
        n_terms=n_terms,
        n_probes=2,
        generator=torch.Generator().manual_seed(2),
        dtype=torch.float64,
    )
    (grads,) = torch.autograd.grad(estimate.sum(), etas)
    mean, se = _mean_and_se(grads)

    def series(step):
        return REFERENCES[method](1 - step * mu, low, high, n_terms)

    h = 1e-5
    series_grad = (series(eta + h) - series(eta - h)) / (2 * h)
    exact_grad = -np.sum(mu / (1 - eta * mu))  # -tr((I - eta H)^{-1} H)
    assert abs(mean.item() - series_grad) <= 4 * se.item()
    # The truncated series' derivative is close to the exact one at this many terms ...
    assert abs(series_grad - exact_grad) < 1e-3 * abs(exact_grad)
    # ... so the estimator's gradient matches the exact gradient up to that and the noise.
    assert abs(mean.item() - exact_grad) <= abs(series_grad - exact_grad) + 4 * se.item()


@pytest.mark.parametrize("method", list(ESTIMATORS))
def test_gradcheck_with_fixed_probes(method):
    d = 3

    def fn(raw, etas):
        # Fixed seed: the estimator is then a deterministic smooth function of its inputs.
        symmetric = (raw + raw.transpose(-1, -2)) / 2

        def matvec(u):
            return u - etas[:, None] * (symmetric @ u[..., None])[..., 0]

        return ESTIMATORS[method](
            matvec,
            2,
            d,
            (0.4, 1.6),
            n_terms=5,
            n_probes=3,
            generator=torch.Generator().manual_seed(0),
            dtype=torch.float64,
        )

    generator = torch.Generator().manual_seed(3)
    raw = (0.5 * torch.randn(2, d, d, generator=generator, dtype=torch.float64)).requires_grad_()
    etas = torch.tensor([0.2, -0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (raw, etas))


@pytest.mark.parametrize("method", ["taylor", "chebyshev"])
def test_gradient_flows_through_hessian_vector_products(method):
    # E(x) = sum_j w_j x_j^2 / 2 + 0.1 x_j^4 has the diagonal Hessian diag(w + 1.2 x^2), so
    # Hutchinson is exact and the estimator's gradients (through double backward) must equal
    # those of the exact method up to the series' truncation.
    n, d, eta = 4, 3, 0.2
    generator = torch.Generator().manual_seed(0)
    weights = torch.linspace(0.5, 2.0, d, dtype=torch.float64, requires_grad=True)
    x = (0.5 * torch.randn(n, d, generator=generator, dtype=torch.float64)).requires_grad_()

    def logdet_of(method_name):
        energy = (weights * x**2 / 2 + 0.1 * x**4).sum()
        (grad,) = torch.autograd.grad(energy, x, create_graph=True)

        def matvec(u):
            (hvp,) = torch.autograd.grad(grad, x, grad_outputs=u, create_graph=True)
            return u - eta * hvp

        value = logdet(
            matvec,
            n,
            d,
            method_name,
            eigenvalue_bounds=(0.2, 1.0),
            n_terms=40,
            generator=torch.Generator().manual_seed(1),
            dtype=torch.float64,
        )
        return value, torch.autograd.grad(value.sum(), (weights, x))

    hessian_diag = (weights + 1.2 * x**2).detach()
    assert ((1 - eta * hessian_diag) > 0.2).all() and ((1 - eta * hessian_diag) < 1.0).all()
    exact, exact_grads = logdet_of("exact")
    estimate, estimate_grads = logdet_of(method)
    torch.testing.assert_close(exact, torch.log(1 - eta * hessian_diag).sum(1))
    torch.testing.assert_close(estimate, exact, rtol=0, atol=1e-4)
    for ours, theirs in zip(estimate_grads, exact_grads):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-3)


@pytest.mark.parametrize("d", [5, 20])
def test_power_iteration_bound_is_close_and_safe(d):
    # Dominant eigenvalue 3 (or -3) against the rest in [-1, 1]: well separated.
    n = 4
    rng = np.random.default_rng(d)
    eigenvalues = rng.uniform(-1.0, 1.0, size=(n, d))
    eigenvalues[:, 0] = [3.0, -3.0, 2.0, -2.5]
    q, _ = np.linalg.qr(rng.standard_normal((n, d, d)))
    matrices = torch.from_numpy(q @ (eigenvalues[..., None] * np.swapaxes(q, -1, -2)))
    radius = np.abs(eigenvalues).max(axis=1)
    weight = torch.ones((), dtype=torch.float64, requires_grad=True)

    def matvec(u):
        return weight * (matrices @ u[..., None])[..., 0]

    kwargs = {"generator": torch.Generator().manual_seed(0), "dtype": torch.float64}
    raw = power_iteration_bound(matvec, n, d, safety_factor=1.0, **kwargs).numpy()
    assert np.all(raw <= radius * (1 + 1e-12))  # |A u| never exceeds the spectral norm
    assert np.all(raw >= 0.99 * radius)
    kwargs["generator"] = torch.Generator().manual_seed(0)
    bound = power_iteration_bound(matvec, n, d, **kwargs)
    assert not bound.requires_grad
    assert np.all(bound.numpy() >= radius) and np.all(bound.numpy() <= 1.06 * radius)
    zero = power_iteration_bound(lambda u: 0 * u, 2, 3, dtype=torch.float64)
    assert torch.equal(zero, torch.zeros(2, dtype=torch.float64))


def test_validation_errors():
    matrices, _ = _spd_batch(2, 3, seed=0)
    matvec = _matvec(matrices)
    kwargs = {"dtype": torch.float64}
    with pytest.raises(ValueError, match=r"method must be one of .*'exact'.*; got 'lanczos'"):
        logdet(matvec, 2, 3, "lanczos", **kwargs)
    for method in ESTIMATORS:
        with pytest.raises(ValueError, match="eigenvalue_bounds=\\(low, high\\) is required"):
            logdet(matvec, 2, 3, method, **kwargs)
    estimator = logdet_taylor
    with pytest.raises(ValueError, match="0 < low"):
        estimator(matvec, 2, 3, (0.0, 1.0), **kwargs)
    with pytest.raises(ValueError, match="low <= high"):
        estimator(matvec, 2, 3, (2.0, 1.0), **kwargs)
    with pytest.raises(ValueError, match="finite"):
        estimator(matvec, 2, 3, (0.5, math.inf), **kwargs)
    with pytest.raises(ValueError, match="pair"):
        estimator(matvec, 2, 3, 1.0, **kwargs)
    with pytest.raises(ValueError, match="shape \\(2,\\)"):
        estimator(matvec, 2, 3, (torch.ones(3), 2.0), **kwargs)
    with pytest.raises(ValueError, match="n_terms"):
        logdet_chebyshev(matvec, 2, 3, (0.5, 2.0), n_terms=0, **kwargs)
    with pytest.raises(ValueError, match="n_probes"):
        logdet_chebyshev(matvec, 2, 3, (0.5, 2.0), n_probes=1.5, **kwargs)
    with pytest.raises(ValueError, match="matvec must map"):
        logdet_taylor(lambda u: u[:, :2], 2, 3, (0.5, 2.0), **kwargs)
    with pytest.raises(ValueError, match="safety_factor"):
        power_iteration_bound(matvec, 2, 3, safety_factor=0.9, **kwargs)
    with pytest.raises(ValueError, match="rho"):
        taylor_truncation_bound(3, 1.0, 5)
    with pytest.raises(ValueError, match="0 < low"):
        chebyshev_truncation_bound(3, -1.0, 1.0, 5)
    with pytest.raises(ValueError, match=r"shape \(n, d, d\)"):
        logdet_exact(torch.ones(3, 3))
