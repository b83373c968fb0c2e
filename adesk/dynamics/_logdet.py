"""Log-determinants of batches of symmetric matrices known only through matrix-vector products.

This module is long (about 660 lines) because each estimator comes with the truncation bound
that justifies its defaults (Taylor and Chebyshev), and the bounds' derivations are written out
in their docstrings.

The deterministic Langevin layer ``x' = x - eta * grad E(x)`` has the Jacobian ``I - eta H(x)``
with ``H`` the (symmetric) Hessian of the energy, and its density bookkeeping needs
``log|det(I - eta H(x))|`` (paper Appendix B.1). Forming ``H`` costs ``d`` Hessian-vector
products and a dense factorisation, which is fine for small ``d`` (:func:`logdet_exact`) but not
for large ``d``. The stochastic estimators below only need products ``A @ u`` and follow the
paper's two suggestions:

* :func:`logdet_taylor` -- truncated Taylor series of ``log(I - C)`` (Boutsidis et al., 2017);
* :func:`logdet_chebyshev` -- Chebyshev interpolant of ``log`` on the spectrum interval
  (Han, Malioutov and Shin, 2015).

Both replace ``tr(p(A))`` for a polynomial ``p`` by Hutchinson's estimator
``mean_j z_j^T p(A) z_j`` with Rademacher probes ``z_j``.

Every function works on a batch of ``n`` matrices ``A_1, ..., A_n`` of size ``d x d`` given as a
callable ``matvec(u)`` mapping an ``(n, d)`` tensor to the ``(n, d)`` tensor whose row ``i`` is
``A_i @ u_i``. Nothing is detached from ``matvec``'s outputs, so the estimates are differentiable
with respect to whatever the products depend on (for Hessian-vector products, build them with
``create_graph=True``). Probes and eigenvalue bounds are constants. Randomness comes only from the
``generator`` argument; the global torch RNG is never touched.
"""

import math
import numbers

import torch

METHODS = ("exact", "taylor", "chebyshev")

# Chebyshev needs a non-degenerate interval to map onto [-1, 1]; widening it (never shrinking)
# keeps every eigenvalue inside, so the estimator and its error bound stay valid.
_MIN_RELATIVE_HALF_WIDTH = 1e-8

# Number of ellipse parameters tried when minimising the Chebyshev error bound; any single
# parameter gives a valid bound, the grid only makes it tight.
_N_ELLIPSE_GRID = 2000


def _resolve_generator(generator):
    """Return ``generator``, or a freshly (non-deterministically) seeded CPU generator.

    A fresh generator rather than ``None`` keeps the global torch RNG untouched, so callers that
    seed it for other purposes are not disturbed by the probes.
    """
    if generator is not None:
        return generator
    fresh = torch.Generator()
    fresh.seed()
    return fresh


def _resolve_dtype(dtype):
    return torch.get_default_dtype() if dtype is None else dtype


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _apply(matvec, u, n, d):
    """Call ``matvec`` and check the output shape, since a wrong shape would broadcast silently."""
    out = matvec(u)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, d):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"matvec must map an (n, d) = {(n, d)} tensor to one of the same shape; got {shape}."
        )
    return out


def _as_bounds(eigenvalue_bounds, n, device):
    """Validate ``(low, high)`` and return them as detached float64 tensors of shape ``(n,)``."""
    if eigenvalue_bounds is None:
        raise ValueError(
            "eigenvalue_bounds=(low, high) is required for the 'taylor' and 'chebyshev' methods: "
            "the series are only accurate for a positive definite batch whose eigenvalues lie in "
            "[low, high]. power_iteration_bound gives an estimate of high."
        )
    try:
        low, high = eigenvalue_bounds
    except (TypeError, ValueError):
        raise ValueError(
            f"eigenvalue_bounds must be a pair (low, high); got {eigenvalue_bounds!r}."
        ) from None
    # Bounds are constants of the approximation: gradients never flow through them. Plain
    # numbers go straight to float64 (as_tensor alone would round them to float32 first).
    low, high = (
        torch.as_tensor(b, dtype=torch.float64).detach().to(device=device) for b in (low, high)
    )
    low, high = (torch.broadcast_to(b, (n,)) if b.dim() == 0 else b for b in (low, high))
    if low.shape != (n,) or high.shape != (n,):
        raise ValueError(
            f"eigenvalue bounds must be scalars or tensors of shape ({n},); "
            f"got shapes {tuple(low.shape)} and {tuple(high.shape)}."
        )
    if not (torch.isfinite(low).all() and torch.isfinite(high).all()):
        raise ValueError("eigenvalue bounds must be finite.")
    if not (low > 0).all():
        raise ValueError(f"eigenvalue bounds need 0 < low; got low = {low.min().item()!r}.")
    if not (high >= low).all():
        raise ValueError("eigenvalue bounds need low <= high for every matrix.")
    return low, high


def _chebyshev_interval(low, high):
    """Centre and half-width of ``[low, high]``, the half-width floored to stay positive."""
    center = (low + high) / 2
    half_width = torch.maximum((high - low) / 2, _MIN_RELATIVE_HALF_WIDTH * center)
    return center, half_width


def _scalar_or_tensor(result, *inputs):
    """Return a Python float when every input was a plain number, else the tensor."""
    if all(not isinstance(x, torch.Tensor) for x in inputs):
        return float(result)
    return result


def rademacher_probes(n_probes, n, d, generator=None, dtype=None, device=None):
    """Draw independent Rademacher (+1/-1 with equal probability) probe vectors.

    Rademacher probes give the Hutchinson trace estimator with the smallest variance among
    i.i.d. probe distributions with unit second moment (``E[z z^T] = I``).

    Parameters
    ----------
    n_probes : int
        Number of probe sets.
    n, d : int
        Batch size and dimension.
    generator : torch.Generator or None, default=None
        Source of randomness. ``None`` uses a fresh, non-deterministically seeded generator; the
        global torch RNG is never used.
    dtype : torch.dtype or None, default=None
        Defaults to ``torch.get_default_dtype()``.
    device : torch.device or str or None, default=None

    Returns
    -------
    probes : torch.Tensor of shape (n_probes, n, d)

    Examples
    --------
    >>> import torch
    >>> z = rademacher_probes(3, 2, 4, generator=torch.Generator().manual_seed(0))
    >>> z.shape, sorted(z.unique().tolist())
    (torch.Size([3, 2, 4]), [-1.0, 1.0])
    """
    n_probes = _check_positive_int(n_probes, "n_probes")
    generator = _resolve_generator(generator)
    # Draw on the generator's device (torch requires it) and move afterwards.
    bits = torch.randint(0, 2, (n_probes, n, d), generator=generator, device=generator.device)
    return (2 * bits - 1).to(device=device, dtype=_resolve_dtype(dtype))


def dense_from_matvec(matvec, n, d, dtype=None, device=None):
    """Assemble the dense matrices of a batched matvec from its action on basis vectors.

    Costs ``d`` calls to ``matvec``; the result is differentiable through them.

    Parameters
    ----------
    matvec : callable
        Maps ``(n, d)`` to ``(n, d)``; row ``i`` of the output is ``A_i @ u_i``.
    n, d : int
    dtype : torch.dtype or None, default=None
    device : torch.device or str or None, default=None

    Returns
    -------
    matrices : torch.Tensor of shape (n, d, d)
        ``matrices[i] = A_i``.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[[2.0, 1.0], [1.0, 3.0]]])
    >>> dense_from_matvec(lambda u: (a @ u[..., None])[..., 0], 1, 2)
    tensor([[[2., 1.],
             [1., 3.]]])
    """
    eye = torch.eye(d, dtype=_resolve_dtype(dtype), device=device)
    # Column j of A_i is A_i e_j; a fresh copy per call so that a matvec that modifies its input
    # cannot corrupt the identity.
    columns = [_apply(matvec, eye[j].repeat(n, 1), n, d) for j in range(d)]
    return torch.stack(columns, dim=-1)


def logdet_exact(matrices):
    """``log|det A_i|`` for a batch of dense matrices via ``torch.linalg.slogdet``.

    Parameters
    ----------
    matrices : torch.Tensor of shape (n, d, d)

    Returns
    -------
    logabsdet : torch.Tensor of shape (n,)
        Differentiable (``d log|det A| = tr(A^{-1} dA)``); ``-inf`` for singular matrices.

    Examples
    --------
    >>> import torch
    >>> logdet_exact(torch.diag_embed(torch.tensor([[2.0, 3.0], [-1.0, 0.5]])))
    tensor([ 1.7918, -0.6931])
    """
    if matrices.dim() != 3 or matrices.shape[-1] != matrices.shape[-2]:
        raise ValueError(f"matrices must have shape (n, d, d); got {tuple(matrices.shape)}.")
    return torch.linalg.slogdet(matrices).logabsdet


def power_iteration_bound(
    matvec, n, d, n_iterations=10, generator=None, dtype=None, device=None, safety_factor=1.05
):
    """Estimate the spectral radius ``max |lambda|`` of each symmetric ``A_i`` by power iteration.

    After ``k`` iterations the unit vector ``u`` is close to the dominant eigenvector and
    ``|A u|`` estimates the spectral radius. For a symmetric matrix ``|A u| <= ||A||_2``, so the
    raw estimate never overshoots; it approaches the radius from below at the rate
    ``(lambda_2 / lambda_1)^(2k)``. It is therefore multiplied by ``safety_factor`` (default 5 %
    margin) to serve as an upper bound; this holds once the iteration is within 5 % of
    convergence, which needs roughly ``log(0.05 / c) / (2 log |lambda_2 / lambda_1|)``
    iterations with ``c`` depending on the random start. It is not guaranteed for clustered top
    eigenvalues with few iterations.

    The result carries no gradient (outputs of ``matvec`` are detached), since bounds are
    constants of the series approximations.

    Parameters
    ----------
    matvec : callable
        Maps ``(n, d)`` to ``(n, d)``; row ``i`` of the output is ``A_i @ u_i``.
    n, d : int
    n_iterations : int, default=10
        Number of matrix-vector products.
    generator : torch.Generator or None, default=None
        Source of the Gaussian start vector (the global RNG is never used).
    dtype : torch.dtype or None, default=None
    device : torch.device or str or None, default=None
    safety_factor : float, default=1.05
        Multiplier (``>= 1``) applied to the raw estimate.

    Returns
    -------
    radius : torch.Tensor of shape (n,)

    Examples
    --------
    >>> import torch
    >>> diag = torch.tensor([[0.5, -2.0, 1.0], [1.0, 0.1, 0.2]])
    >>> power_iteration_bound(lambda u: diag * u, 2, 3, n_iterations=50, safety_factor=1.0,
    ...                       generator=torch.Generator().manual_seed(0))
    tensor([2., 1.])
    """
    n_iterations = _check_positive_int(n_iterations, "n_iterations")
    if not safety_factor >= 1:
        raise ValueError(f"safety_factor must be >= 1; got {safety_factor!r}.")
    generator = _resolve_generator(generator)
    dtype = _resolve_dtype(dtype)
    # A Gaussian start is almost surely not orthogonal to the dominant eigenvector (a Rademacher
    # one can be, e.g. (1, 1) against (1, -1) in d = 2).
    u = torch.randn((n, d), generator=generator, device=generator.device, dtype=dtype)
    u = u.to(device=device)
    u = u / u.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
    radius = None
    for _ in range(n_iterations):
        # Detach rather than no_grad: Hessian-vector products need autograd enabled to run.
        v = _apply(matvec, u, n, d).detach()
        radius = v.norm(dim=-1)
        # Clamp so that a zero matrix yields radius 0 instead of NaN.
        u = v / radius[:, None].clamp_min(torch.finfo(dtype).tiny)
    return safety_factor * radius


def taylor_truncation_bound(d, rho, n_terms):
    """Bound on the error of the Taylor series of :func:`logdet_taylor` truncated at ``n_terms``.

    With ``C`` symmetric of spectral radius ``rho < 1``,
    ``|sum_{k > K} tr(C^k) / k| <= d sum_{k > K} rho^k / k <= d rho^(K+1) / ((K + 1)(1 - rho))``.
    This is the deterministic part of the error; Hutchinson's noise comes on top.

    Parameters
    ----------
    d : int
        Matrix dimension.
    rho : float or torch.Tensor
        ``(high - low) / (high + low)`` for eigenvalues in ``[low, high]``; ``0 <= rho < 1``.
    n_terms : int
        Number of series terms ``K``.

    Returns
    -------
    bound : float or torch.Tensor
        A float when ``rho`` is a number.

    Examples
    --------
    >>> round(taylor_truncation_bound(10, 0.5, 9), 6)
    0.001953
    """
    n_terms = _check_positive_int(n_terms, "n_terms")
    rho_t = torch.as_tensor(rho, dtype=torch.float64)
    if not ((rho_t >= 0).all() and (rho_t < 1).all()):
        raise ValueError(f"rho must lie in [0, 1); got {rho!r}.")
    bound = d * rho_t ** (n_terms + 1) / ((n_terms + 1) * (1 - rho_t))
    return _scalar_or_tensor(bound, rho)


def chebyshev_truncation_bound(d, low, high, n_terms):
    """Bound on the error of the degree-``n_terms`` Chebyshev interpolant used by
    :func:`logdet_chebyshev`, summed over ``d`` eigenvalues in ``[low, high]``.

    After the affine map ``lambda = c + h t`` (``c``, ``h`` centre and half-width of the
    interval), the interpolated function is ``f(t) = log(c) + log(1 + q t)`` with
    ``q = h / c = (kappa - 1) / (kappa + 1)`` and ``kappa = high / low``. Interpolation
    reproduces the constant ``log(c)`` exactly, so only ``g(t) = log(1 + q t)`` matters. ``g`` is
    analytic inside the Bernstein ellipse ``E_r`` (foci ``+-1``, semi-axes summing to ``r``) for
    every ``1 < r < r_0 = (sqrt(kappa) + 1) / (sqrt(kappa) - 1)``, where ``E_{r_0}`` passes
    through the singularity ``t = -1/q``. On ``E_r``, ``|q t| <= q s`` with
    ``s = (r + 1/r) / 2`` the semi-major axis, hence ``|g| <= M(r) = -log(1 - q s)`` (power
    series of ``log(1 + w)`` for ``|w| < 1``). The standard bound for Chebyshev interpolation of
    an analytic function (Trefethen, *Approximation Theory and Approximation Practice*,
    Thm. 8.2; the argument of Han, Malioutov and Shin, 2015, Thm. 1) gives
    ``max_{[-1, 1]} |g - p_K| <= 4 M(r) / ((r - 1) r^K)``; for the first-kind nodes used here the
    same aliasing argument applies (each aliased ``T_k`` is bounded by one). Summing over the
    ``d`` eigenvalues,

    ``|log det A - tr p_K(B)| <= min_{1 < r < r_0} 4 d M(r) / ((r - 1) r^K)``,

    minimised over a fine grid of ``r`` (any ``r`` gives a valid bound). This is the
    deterministic part of the error; Hutchinson's noise comes on top. It depends on the
    interval only through ``kappa``.

    Parameters
    ----------
    d : int
        Matrix dimension.
    low, high : float or torch.Tensor
        Eigenvalue bounds, ``0 < low <= high`` (broadcast together).
    n_terms : int
        Degree ``K`` of the interpolant.

    Returns
    -------
    bound : float or torch.Tensor
        A float when ``low`` and ``high`` are numbers.

    Examples
    --------
    >>> bounds = [chebyshev_truncation_bound(10, 0.5, 2.0, k) for k in (5, 10, 20)]
    >>> bounds[0] > bounds[1] > bounds[2], f"{bounds[2]:.1e}"
    (True, '3.4e-08')
    """
    n_terms = _check_positive_int(n_terms, "n_terms")
    low_t, high_t = torch.broadcast_tensors(
        torch.as_tensor(low, dtype=torch.float64), torch.as_tensor(high, dtype=torch.float64)
    )
    shape = low_t.shape
    low_t, high_t = _as_bounds((low_t.reshape(-1), high_t.reshape(-1)), low_t.numel(), None)
    center, half_width = _chebyshev_interval(low_t, high_t)
    q = (half_width / center)[:, None]
    # r_0 solves (r + 1/r) / 2 = 1/q; the grid is geometric in r because r_0 can be huge.
    log_r0 = torch.log(1 / q + torch.sqrt(1 / q**2 - 1))
    u = torch.arange(1, _N_ELLIPSE_GRID + 1, dtype=torch.float64) / (_N_ELLIPSE_GRID + 1)
    log_r = u[None, :] * log_r0
    semi_major = torch.cosh(log_r)
    log_m = torch.log(-torch.log1p(-q * semi_major))
    # Log space avoids overflow of r^K; rounding may make q s == 1 near r_0, giving +inf there,
    # which the minimum simply ignores.
    log_bound = math.log(4 * d) + log_m - torch.log(torch.expm1(log_r)) - n_terms * log_r
    bound = torch.exp(log_bound.min(dim=1).values).reshape(shape)
    return _scalar_or_tensor(bound, low, high)


def chebyshev_coefficients(low, high, n_terms):
    """Coefficients of the Chebyshev interpolant of ``log`` on ``[low, high]``.

    The interpolant ``p(t) = sum_j c_j T_j(t)`` of degree ``n_terms`` in the mapped variable
    ``t = (lambda - centre) / half_width`` matches ``log(lambda)`` at the ``n_terms + 1``
    Chebyshev nodes of the first kind ``t_k = cos(pi (k + 1/2) / (n_terms + 1))``; the discrete
    orthogonality of ``T_j`` on these nodes gives the coefficients in closed form.

    Parameters
    ----------
    low, high : float or torch.Tensor of shape (n,)
        Eigenvalue bounds, ``0 < low <= high`` (computed in float64).
    n_terms : int
        Degree of the interpolant.

    Returns
    -------
    coefficients : torch.Tensor of shape (n, n_terms + 1)

    Examples
    --------
    >>> import math
    >>> import torch
    >>> c = chebyshev_coefficients(torch.tensor([1.0]), torch.tensor([3.0]), 12)
    >>> t0 = torch.cos(torch.arange(13) * torch.pi / 2)  # T_j(0): 1, 0, -1, 0, 1, ...
    >>> round(float(c[0] @ t0.double()), 6), round(math.log(2.0), 6)  # p(0) vs log(centre)
    (0.693147, 0.693147)
    """
    n_terms = _check_positive_int(n_terms, "n_terms")
    low = torch.atleast_1d(torch.as_tensor(low, dtype=torch.float64))
    high = torch.atleast_1d(torch.as_tensor(high, dtype=torch.float64, device=low.device))
    center, half_width = _chebyshev_interval(low, high)
    n_nodes = n_terms + 1
    angles = math.pi * (torch.arange(n_nodes, dtype=low.dtype, device=low.device) + 0.5) / n_nodes
    values = torch.log(center[:, None] + half_width[:, None] * torch.cos(angles)[None, :])
    degrees = torch.arange(n_nodes, dtype=low.dtype, device=low.device)
    basis = torch.cos(degrees[:, None] * angles[None, :])  # T_j(t_k), shape (degree, node)
    coefficients = (2.0 / n_nodes) * values @ basis.T
    coefficients[:, 0] /= 2
    return coefficients


def _finish(samples, return_samples):
    samples = torch.stack(samples)
    return samples if return_samples else samples.mean(dim=0)


def logdet_taylor(
    matvec,
    n,
    d,
    eigenvalue_bounds,
    n_terms=10,
    n_probes=4,
    generator=None,
    dtype=None,
    device=None,
    return_samples=False,
):
    """Stochastic truncated-Taylor estimate of ``log det A_i`` (Boutsidis et al., 2017).

    For symmetric positive definite ``A`` with eigenvalues in ``[low, high]``, let
    ``s = (low + high) / 2`` and ``C = I - A / s``; the eigenvalues of ``C`` lie in
    ``[-rho, rho]`` with ``rho = (high - low) / (high + low) < 1``, so

    ``log det A = d log s + tr log(I - C) = d log s - sum_{k >= 1} tr(C^k) / k``.

    The series is truncated after ``n_terms`` terms (error at most
    :func:`taylor_truncation_bound`) and each trace is estimated by Hutchinson's estimator, with
    the same probes for all ``k`` so that ``z^T C^k z`` comes from repeated products
    ``C^k z = C (C^{k-1} z)``: ``n_terms`` calls to ``matvec`` per probe. Centring at ``s``
    rather than at ``high`` (as in Boutsidis et al.) makes the series converge for either sign
    of ``C``'s eigenvalues and halves the worst-case ``rho``.

    Parameters
    ----------
    matvec : callable
        Maps ``(n, d)`` to ``(n, d)``; row ``i`` of the output is ``A_i @ u_i``.
    n, d : int
    eigenvalue_bounds : pair (low, high)
        Floats or tensors of shape ``(n,)`` with ``0 < low <= high`` enclosing each ``A_i``'s
        spectrum. Treated as constants (no gradient).
    n_terms : int, default=10
    n_probes : int, default=4
        Number of Rademacher probe vectors per matrix.
    generator : torch.Generator or None, default=None
        Source of the probes (the global RNG is never used).
    dtype : torch.dtype or None, default=None
        Dtype of the probes; defaults to ``torch.get_default_dtype()``.
    device : torch.device or str or None, default=None
    return_samples : bool, default=False
        Return the per-probe estimates (their mean is the estimate), e.g. to measure the Monte
        Carlo standard error.

    Returns
    -------
    logdet : torch.Tensor of shape (n,), or (n_probes, n) if ``return_samples``
        Unbiased for the truncated series; differentiable through ``matvec``.

    Examples
    --------
    For diagonal matrices Rademacher probes give exact traces, leaving only the truncation error:

    >>> import torch
    >>> diag = torch.tensor([[0.5, 1.0, 1.5], [0.9, 1.0, 1.1]], dtype=torch.float64)
    >>> est = logdet_taylor(lambda u: diag * u, 2, 3, (0.5, 1.5), n_terms=30,
    ...                     generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> [round(v, 8) for v in est.tolist()]
    [-0.28768207, -0.01005034]
    >>> [round(v, 8) for v in diag.log().sum(1).tolist()]
    [-0.28768207, -0.01005034]
    """
    n_terms = _check_positive_int(n_terms, "n_terms")
    n_probes = _check_positive_int(n_probes, "n_probes")
    dtype = _resolve_dtype(dtype)
    low, high = _as_bounds(eigenvalue_bounds, n, device)
    scale = ((low + high) / 2).to(dtype)[:, None]
    log_scale_term = d * torch.log(scale[:, 0])
    probes = rademacher_probes(n_probes, n, d, generator=generator, dtype=dtype, device=device)
    samples = []
    for z in probes:
        w = z
        series = torch.zeros(n, dtype=dtype, device=device)
        for k in range(1, n_terms + 1):
            w = w - _apply(matvec, w, n, d) / scale  # C^k z
            series = series + (z * w).sum(dim=-1) / k
        samples.append(log_scale_term - series)
    return _finish(samples, return_samples)


def logdet_chebyshev(
    matvec,
    n,
    d,
    eigenvalue_bounds,
    n_terms=10,
    n_probes=4,
    generator=None,
    dtype=None,
    device=None,
    return_samples=False,
):
    """Stochastic Chebyshev estimate of ``log det A_i`` (Han, Malioutov and Shin, 2015).

    For symmetric positive definite ``A`` with eigenvalues in ``[low, high]``, the affine map
    ``B = (A - c I) / h`` (``c``, ``h`` centre and half-width of the interval) has its spectrum
    in ``[-1, 1]``. With ``p(t) = sum_{j=0}^{K} c_j T_j(t)`` the degree-``K`` interpolant of
    ``log(c + h t)`` at the Chebyshev nodes (:func:`chebyshev_coefficients`),
    ``log det A = tr log A ~ sum_j c_j tr T_j(B)``. Each ``z^T T_j(B) z`` comes from the
    three-term recurrence ``w_{j+1} = 2 B w_j - w_{j-1}`` applied to the probe, one call to
    ``matvec`` per degree. The interpolation error is at most
    :func:`chebyshev_truncation_bound`; it decays geometrically with a rate set by
    ``sqrt(high / low)``, faster than the Taylor series for ill-conditioned spectra. A
    degenerate interval (``low == high``) is widened by a relative ``1e-8`` to keep ``h > 0``.

    Parameters
    ----------
    matvec : callable
        Maps ``(n, d)`` to ``(n, d)``; row ``i`` of the output is ``A_i @ u_i``.
    n, d : int
    eigenvalue_bounds : pair (low, high)
        Floats or tensors of shape ``(n,)`` with ``0 < low <= high`` enclosing each ``A_i``'s
        spectrum. Treated as constants (no gradient).
    n_terms : int, default=10
        Degree ``K`` of the interpolant.
    n_probes : int, default=4
        Number of Rademacher probe vectors per matrix.
    generator : torch.Generator or None, default=None
        Source of the probes (the global RNG is never used).
    dtype : torch.dtype or None, default=None
        Dtype of the probes; defaults to ``torch.get_default_dtype()``.
    device : torch.device or str or None, default=None
    return_samples : bool, default=False
        Return the per-probe estimates (their mean is the estimate).

    Returns
    -------
    logdet : torch.Tensor of shape (n,), or (n_probes, n) if ``return_samples``
        Unbiased for ``tr p(B)``; differentiable through ``matvec``.

    Examples
    --------
    >>> import torch
    >>> diag = torch.tensor([[0.5, 1.0, 1.5], [0.9, 1.0, 1.1]], dtype=torch.float64)
    >>> est = logdet_chebyshev(lambda u: diag * u, 2, 3, (0.5, 1.5), n_terms=20,
    ...                        generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> [round(v, 8) for v in est.tolist()]
    [-0.28768207, -0.01005034]
    >>> [round(v, 8) for v in diag.log().sum(1).tolist()]
    [-0.28768207, -0.01005034]
    """
    n_terms = _check_positive_int(n_terms, "n_terms")
    n_probes = _check_positive_int(n_probes, "n_probes")
    dtype = _resolve_dtype(dtype)
    low, high = _as_bounds(eigenvalue_bounds, n, device)
    coefficients = chebyshev_coefficients(low, high, n_terms).to(dtype)
    center, half_width = (t.to(dtype)[:, None] for t in _chebyshev_interval(low, high))

    def mapped(u):
        return (_apply(matvec, u, n, d) - center * u) / half_width

    probes = rademacher_probes(n_probes, n, d, generator=generator, dtype=dtype, device=device)
    samples = []
    for z in probes:
        w_prev, w = z, mapped(z)  # T_0(B) z, T_1(B) z
        total = coefficients[:, 0] * (z * z).sum(dim=-1) + coefficients[:, 1] * (z * w).sum(-1)
        for j in range(2, n_terms + 1):
            w_prev, w = w, 2 * mapped(w) - w_prev
            total = total + coefficients[:, j] * (z * w).sum(dim=-1)
        samples.append(total)
    return _finish(samples, return_samples)


def logdet(
    matvec,
    n,
    d,
    method="exact",
    eigenvalue_bounds=None,
    n_terms=10,
    n_probes=4,
    generator=None,
    dtype=None,
    device=None,
):
    """``log|det A_i|`` of a batch of symmetric matrices given by their matrix-vector products.

    Parameters
    ----------
    matvec : callable
        Maps ``(n, d)`` to ``(n, d)``; row ``i`` of the output is ``A_i @ u_i``.
    n, d : int
    method : {"exact", "taylor", "chebyshev"}, default="exact"
        ``"exact"`` assembles the matrices with ``d`` products and factorises them (cost
        ``O(d^3)``; the choice for small ``d``). ``"taylor"`` (:func:`logdet_taylor`) and
        ``"chebyshev"`` (:func:`logdet_chebyshev`) need ``n_terms * n_probes`` products and
        assume positive definite matrices.
    eigenvalue_bounds : pair (low, high) or None, default=None
        Required for ``"taylor"`` and ``"chebyshev"``: there is no generic safe default for the
        smallest eigenvalue, and a too-large ``low`` silently breaks the series. For
        ``A = I - eta H`` with ``|eta| r < 1``, where ``r`` bounds the spectral radius of ``H``
        (:func:`power_iteration_bound`), ``(1 - |eta| r, 1 + |eta| r)`` is a valid choice.
        Ignored by ``"exact"``.
    n_terms, n_probes : int, default=10, 4
        Series length / degree and number of probes (ignored by ``"exact"``).
    generator : torch.Generator or None, default=None
        Source of the probes (the global RNG is never used).
    dtype : torch.dtype or None, default=None
    device : torch.device or str or None, default=None

    Returns
    -------
    logdet : torch.Tensor of shape (n,)

    Examples
    --------
    >>> import torch
    >>> diag = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    >>> logdet(lambda u: diag * u, 1, 2, dtype=torch.float64)
    tensor([1.7918], dtype=torch.float64)
    >>> estimate = logdet(lambda u: diag * u, 1, 2, method="chebyshev", eigenvalue_bounds=(1, 4),
    ...                   n_terms=25, dtype=torch.float64)
    >>> bool(abs(estimate - 1.7918) < 1e-4)
    True
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    if method == "exact":
        return logdet_exact(dense_from_matvec(matvec, n, d, dtype=dtype, device=device))
    estimator = logdet_taylor if method == "taylor" else logdet_chebyshev
    return estimator(
        matvec,
        n,
        d,
        eigenvalue_bounds,
        n_terms=n_terms,
        n_probes=n_probes,
        generator=generator,
        dtype=dtype,
        device=device,
    )
