"""Learnable diagonal Gaussian initial distribution on ``(x, v)``."""

import math

import torch
from torch import nn

from ._common import LOG_2PI, standard_normal


class GaussianInitial(nn.Module):
    """``q_0(x, v) = N(x; mu_x, diag(s_x^2)) N(v; mu_v, diag(s_v^2))`` with all four learned.

    Parameters
    ----------
    mean : torch.Tensor of shape (d,)
        Initial ``mu_x`` (the estimator passes the data mean).
    std : torch.Tensor of shape (d,)
        Initial ``s_x`` (the estimator passes the data scale).
    momentum_std : float
        Initial ``s_v``; ``1 / sqrt(lambda)`` matches the augmented model's momentum law.
    momentum_dim : int or None, default=None
        Dimension of ``v`` (the latent momentum of the generalized HMC sampler may be smaller
        than ``d``); ``None`` means ``d``.

    Examples
    --------
    >>> import torch
    >>> q0 = GaussianInitial(torch.zeros(2), torch.ones(2), momentum_std=1.0)
    >>> x, v, log_q = q0.sample(3, torch.Generator().manual_seed(0))
    >>> x.shape, v.shape, log_q.shape
    (torch.Size([3, 2]), torch.Size([3, 2]), torch.Size([3]))
    """

    def __init__(self, mean, std, momentum_std=1.0, momentum_dim=None):
        super().__init__()
        mean = torch.as_tensor(mean).detach().clone().float()
        log_std = torch.log(torch.as_tensor(std)).detach().clone().float()
        self.position_mean = nn.Parameter(mean)
        self.position_log_std = nn.Parameter(log_std)
        n_momentum = mean.shape[0] if momentum_dim is None else int(momentum_dim)
        self.momentum_mean = nn.Parameter(torch.zeros(n_momentum))
        self.momentum_log_std = nn.Parameter(torch.full((n_momentum,), math.log(momentum_std)))

    def sample(self, n_samples, generator, with_log_prob=True):
        """Draw reparametrized ``(x_0, v_0)`` and ``log q_0(x_0, v_0)`` (``None`` when
        ``with_log_prob`` is False)."""
        d, n_momentum = self.position_mean.shape[0], self.momentum_mean.shape[0]
        eps_x = standard_normal((n_samples, d), generator, self.position_mean)
        eps_v = standard_normal((n_samples, n_momentum), generator, self.position_mean)
        position = self.position_mean + torch.exp(self.position_log_std) * eps_x
        momentum = self.momentum_mean + torch.exp(self.momentum_log_std) * eps_v
        if not with_log_prob:
            return position, momentum, None
        log_q = (
            self._standard_log_prob(eps_x) + self._standard_log_prob(eps_v) - self._log_std_sum()
        )
        return position, momentum, log_q

    def log_prob(self, position, momentum):
        """``log q_0(x, v)`` at given points."""
        eps_x = (position - self.position_mean) * torch.exp(-self.position_log_std)
        eps_v = (momentum - self.momentum_mean) * torch.exp(-self.momentum_log_std)
        return self._standard_log_prob(eps_x) + self._standard_log_prob(eps_v) - self._log_std_sum()

    def entropy(self, log_q=None):
        """Exact entropy ``H(q_0)`` (``log_q`` is accepted for a uniform interface)."""
        n_dims = self.position_mean.shape[0] + self.momentum_mean.shape[0]
        return self._log_std_sum() + 0.5 * n_dims * (1.0 + LOG_2PI)

    def _log_std_sum(self):
        return self.position_log_std.sum() + self.momentum_log_std.sum()

    @staticmethod
    def _standard_log_prob(eps):
        return -0.5 * eps.pow(2).sum(-1) - 0.5 * eps.shape[-1] * LOG_2PI
