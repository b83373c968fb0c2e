"""Energies with a known normaliser, for tests and parameter recovery."""

import math

import torch
from torch import nn


class GaussianEnergy(nn.Module):
    """Diagonal Gaussian energy ``E(x) = 0.5 * sum(((x - mean) / std)^2)``.

    Its log-partition function is known in closed form (:meth:`log_partition`), which makes it
    the reference for the log Z estimators and for parameter recovery (paper Table 5).

    Parameters
    ----------
    mean : array-like of shape (n_features,)
    std : array-like of shape (n_features,)
        Positive standard deviations; stored as ``log_std`` so they stay positive when learned.
    learnable : bool, default=False
        Register ``mean`` and ``log_std`` as parameters instead of buffers.

    Examples
    --------
    >>> import torch
    >>> energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    >>> round(float(energy.log_partition()), 4)  # log(2 pi)
    1.8379
    """

    def __init__(self, mean, std, learnable=False):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.get_default_dtype()).detach().clone()
        log_std = torch.log(torch.as_tensor(std, dtype=mean.dtype)).detach().clone()
        if learnable:
            self.mean = nn.Parameter(mean)
            self.log_std = nn.Parameter(log_std)
        else:
            self.register_buffer("mean", mean)
            self.register_buffer("log_std", log_std)

    def forward(self, x):
        z = (x - self.mean) * torch.exp(-self.log_std)
        return 0.5 * z.pow(2).sum(-1)

    def log_partition(self):
        """Exact ``log Z = sum(log std) + d/2 log(2 pi)`` as a 0-d tensor."""
        d = self.mean.shape[-1]
        return self.log_std.sum() + 0.5 * d * math.log(2 * math.pi)
