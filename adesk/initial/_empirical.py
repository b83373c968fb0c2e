"""Nonparametric initial distribution: stored data plus learned Gaussian noise (eq. 41)."""

import math

import torch
from torch import nn

from .._kde import gaussian_kde_log_prob
from ._common import isotropic_momentum_log_prob, standard_normal


class EmpiricalInitial(nn.Module):
    """``q_0(x, v) = (1/m sum_i N(x; x_i, s^2 I)) N(v; 0, I / lambda)`` over stored points.

    The paper's nonparametric ``q_0`` (Appendix C.2) is the empirical distribution itself; a
    small learned noise ``s`` makes ``q_0`` a kernel density estimate, whose log-density (and
    hence the entropy and importance weights) can be evaluated exactly by a log-sum-exp over the
    ``m`` stored points. Memory is ``m * d`` numbers; the estimator stores a random subset of
    at most ``max_stored`` training points.

    Parameters
    ----------
    points : torch.Tensor of shape (m, d)
        The stored data points ``x_i``.
    noise_std : float
        Initial ``s``; learned as ``log s``.
    momentum_penalty : float
        ``lambda``; the momentum law is fixed to the augmented model's ``N(0, I / lambda)``.
    learn_noise : bool, default=True
    momentum_dim : int or None, default=None
        Dimension of ``v``; ``None`` means ``d``.

    Examples
    --------
    >>> import torch
    >>> q0 = EmpiricalInitial(torch.randn(50, 2), noise_std=0.1, momentum_penalty=1.0)
    >>> x, v, log_q = q0.sample(4, torch.Generator().manual_seed(0))
    >>> x.shape, log_q.shape
    (torch.Size([4, 2]), torch.Size([4]))
    """

    def __init__(
        self, points, noise_std, momentum_penalty=1.0, learn_noise=True, momentum_dim=None
    ):
        super().__init__()
        self.register_buffer("points", torch.as_tensor(points).detach().clone().float())
        log_noise = torch.tensor(math.log(noise_std))
        if learn_noise:
            self.log_noise_std = nn.Parameter(log_noise)
        else:
            self.register_buffer("log_noise_std", log_noise)
        self.momentum_penalty = float(momentum_penalty)
        self.momentum_dim = self.points.shape[1] if momentum_dim is None else int(momentum_dim)

    def sample(self, n_samples, generator, with_log_prob=True):
        """Draw ``(x_0, v_0)`` (reparametrized in the noise scale) and ``log q_0(x_0, v_0)``.

        ``with_log_prob=False`` returns ``None`` for the density: it is a log-sum-exp over all
        stored points, far costlier than the draw, and sampling alone does not need it.
        """
        m, d = self.points.shape
        index = torch.randint(m, (n_samples,), generator=generator, device=self.points.device)
        noise = standard_normal((n_samples, d), generator, self.points)
        position = self.points[index] + torch.exp(self.log_noise_std) * noise
        momentum = standard_normal(
            (n_samples, self.momentum_dim), generator, self.points
        ) / math.sqrt(self.momentum_penalty)
        if not with_log_prob:
            return position, momentum, None
        return position, momentum, self.log_prob(position, momentum)

    def log_prob(self, position, momentum):
        """Exact ``log q_0(x, v)``: a log-sum-exp over the stored points."""
        points = self.points.to(position.dtype)
        log_q_x = gaussian_kde_log_prob(position, points, torch.exp(self.log_noise_std))
        return log_q_x + isotropic_momentum_log_prob(momentum, self.momentum_penalty)

    def entropy(self, log_q):
        """Monte Carlo entropy ``-mean(log q_0)`` over a batch drawn by :meth:`sample`."""
        return -log_q.mean()
