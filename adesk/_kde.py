"""Log-density of an isotropic Gaussian kernel density estimate, shared by q0 and log Z code."""

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def gaussian_kde_log_prob(x, points, bandwidth, chunk_size=4096):
    """``log (1/m sum_i N(x; points_i, bandwidth^2 I))`` for each row of ``x``.

    Squared distances use the expanded form rather than ``torch.cdist``: it is smooth at zero
    distance, so gradients through a sample drawn next to its own centre stay finite.

    Parameters
    ----------
    x : torch.Tensor of shape (n, d)
    points : torch.Tensor of shape (m, d)
    bandwidth : float or 0-d torch.Tensor
        Kernel standard deviation (a tensor keeps the result differentiable in it).
    chunk_size : int, default=4096
        Rows of ``x`` per block, bounding memory at ``chunk_size * m`` numbers.

    Returns
    -------
    torch.Tensor of shape (n,)
    """
    m, d = points.shape
    bandwidth = torch.as_tensor(bandwidth, dtype=x.dtype, device=x.device)
    squared_norms = points.pow(2).sum(-1)
    pieces = []
    for start in range(0, x.shape[0], chunk_size):
        block = x[start : start + chunk_size]
        sq_dist = (
            block.pow(2).sum(-1, keepdim=True) + squared_norms - 2.0 * block @ points.T
        ).clamp_min(0.0)
        pieces.append(torch.logsumexp(-0.5 * sq_dist / bandwidth**2, dim=1))
    if not pieces:
        return x.new_empty(0)
    return torch.cat(pieces) - math.log(m) - d * torch.log(bandwidth) - 0.5 * d * LOG_2PI
