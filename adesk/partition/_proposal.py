"""A defensive importance-sampling proposal built from data: KDE mixed with a broad Gaussian."""

import math

import torch

from .._kde import LOG_2PI, gaussian_kde_log_prob


class DefensiveProposal:
    """``q(x) = (1 - w) KDE_h(x) + w N(x; 0, s^2 I)`` on standardized data.

    The kernel density estimate follows the data closely; the broad Gaussian component keeps
    the importance weights bounded where the model has mass the data do not show (a proposal
    that is too narrow makes importance sampling underestimate ``log Z`` with a deceptively
    small standard error). Both densities are exact, so weights are unbiased for ``Z``.

    Parameters
    ----------
    points : torch.Tensor of shape (m, d)
        Standardized data points (kernel centres).
    bandwidth : float or None
        Kernel standard deviation; ``None`` uses Silverman's rule for standardized data,
        ``(4 / (d + 2)) ** (1 / (d + 4)) * m ** (-1 / (d + 4))``.
    broad_weight : float, default=0.5
    broad_scale : float, default=1.5

    Examples
    --------
    Importance sampling of ``log Z`` of a standard Gaussian energy (``log Z = log 2 pi``):

    >>> import math, torch
    >>> from adesk.energies import GaussianEnergy
    >>> from adesk.partition import DefensiveProposal, log_partition_importance
    >>> points = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    >>> proposal = DefensiveProposal(points)
    >>> x = proposal.sample(2000, torch.Generator().manual_seed(1))
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> result = log_partition_importance(-energy(x) - proposal.log_prob(x))
    >>> x.shape, abs(result.log_partition - math.log(2 * math.pi)) < 4 * result.log_partition_std
    (torch.Size([2000, 2]), True)
    """

    def __init__(self, points, bandwidth=None, broad_weight=0.5, broad_scale=1.5):
        m, d = points.shape
        if bandwidth is None:
            bandwidth = (4.0 / (d + 2)) ** (1.0 / (d + 4)) * m ** (-1.0 / (d + 4))
        self.points = points
        self.bandwidth = float(bandwidth)
        self.broad_weight = float(broad_weight)
        self.broad_scale = float(broad_scale)

    def sample(self, n_samples, generator):
        """Draw ``n_samples`` points."""
        m, d = self.points.shape
        device, dtype = self.points.device, self.points.dtype
        index = torch.randint(m, (n_samples,), generator=generator, device=device)
        noise = torch.randn((n_samples, d), generator=generator, device=device, dtype=dtype)
        kde = self.points[index] + self.bandwidth * noise
        broad = self.broad_scale * torch.randn(
            (n_samples, d), generator=generator, device=device, dtype=dtype
        )
        pick = torch.rand(n_samples, generator=generator, device=device, dtype=dtype)
        return torch.where((pick < self.broad_weight)[:, None], broad, kde)

    def log_prob(self, x):
        """Exact log-density at each row of ``x``."""
        d = self.points.shape[1]
        log_kde = gaussian_kde_log_prob(x, self.points, self.bandwidth)
        log_broad = (
            -0.5 * x.pow(2).sum(-1) / self.broad_scale**2
            - d * math.log(self.broad_scale)
            - 0.5 * d * LOG_2PI
        )
        return torch.logaddexp(
            log_kde + math.log1p(-self.broad_weight), log_broad + math.log(self.broad_weight)
        )


class GaussianProposal:
    """A full-covariance Gaussian ``N(mean, L L^T)``: the default start of annealed importance
    sampling and an importance-sampling proposal in its own right.

    Parameters
    ----------
    mean : torch.Tensor of shape (d,)
    covariance : torch.Tensor of shape (d, d)
        Symmetric positive definite.

    Examples
    --------
    >>> import torch
    >>> q = GaussianProposal.fit(torch.randn(500, 2, generator=torch.Generator().manual_seed(0)))
    >>> q.sample(3, torch.Generator().manual_seed(1)).shape
    torch.Size([3, 2])
    """

    def __init__(self, mean, covariance):
        self.mean = torch.as_tensor(mean)
        covariance = torch.as_tensor(covariance, dtype=self.mean.dtype, device=self.mean.device)
        d = self.mean.shape[0]
        if covariance.shape != (d, d):
            raise ValueError(
                f"covariance must have shape ({d}, {d}) to match mean; got "
                f"{tuple(covariance.shape)}."
            )
        # Cholesky in float64: near-singular covariances of correlated data lose precision.
        factor, info = torch.linalg.cholesky_ex(covariance.to(torch.float64))
        if int(info) != 0:
            raise ValueError("covariance must be symmetric positive definite.")
        self.cholesky = factor.to(self.mean.dtype)
        self.log_det_cholesky = float(torch.log(torch.diagonal(factor)).sum())

    @classmethod
    def fit(cls, points, inflation=1.5, shrinkage=1e-3):
        """Gaussian with the sample mean and covariance of ``points``, widened by ``inflation``.

        The covariance is ``inflation^2 ((1 - s) S + s mean(diag S) I)``: shrinkage ``s`` keeps
        it invertible with fewer points than dimensions or constant features, and inflation
        makes the start broader than the data, so that model mass just outside the data is
        reached.

        Parameters
        ----------
        points : torch.Tensor of shape (m, d)
        inflation : float, default=1.5
        shrinkage : float, default=1e-3

        Returns
        -------
        GaussianProposal
        """
        data = points.detach().to(torch.float64)
        mean = data.mean(0)
        centred = data - mean
        d = data.shape[1]
        if data.shape[0] > 1:
            sample_cov = centred.T @ centred / (data.shape[0] - 1)
        else:
            sample_cov = torch.eye(d, dtype=torch.float64, device=data.device)
        level = float(torch.diagonal(sample_cov).mean()) if d > 0 else 1.0
        level = level if level > 0 else 1.0
        identity = torch.eye(d, dtype=torch.float64, device=data.device)
        covariance = (1.0 - shrinkage) * sample_cov + shrinkage * level * identity
        covariance = inflation**2 * covariance
        return cls(mean.to(points.dtype), covariance.to(points.dtype))

    def sample(self, n_samples, generator):
        """Draw ``n_samples`` points."""
        return self.mean + self.sample_whitened(n_samples, generator) @ self.cholesky.T

    def sample_whitened(self, n_samples, generator):
        """Draw ``n_samples`` points of ``N(0, I)`` in the whitened coordinates."""
        return torch.randn(
            (n_samples, self.mean.shape[0]),
            generator=generator,
            device=self.mean.device,
            dtype=self.mean.dtype,
        )

    def log_prob(self, x):
        """Exact log-density at each row of ``x``."""
        centred = (x - self.mean).T
        whitened = torch.linalg.solve_triangular(self.cholesky, centred, upper=False).T
        d = self.mean.shape[0]
        return -0.5 * whitened.pow(2).sum(-1) - self.log_det_cholesky - 0.5 * d * LOG_2PI

    def whitened_energy(self, energy_fn):
        """``u -> E(mean + L u) - log|det L|``, whose partition function equals ``E``'s."""

        def energy(u):
            return energy_fn(self.mean + u @ self.cholesky.T) - self.log_det_cholesky

        return energy
