"""Importance-sampling estimate of ``log Z`` with a proposal of known density."""

import math
from typing import NamedTuple

import torch


class ImportanceResult(NamedTuple):
    """``log_partition``, its delta-method standard error ``log_partition_std`` and the
    ``effective_sample_size`` (Kish) of the ``n_samples`` weights.

    Examples
    --------
    >>> import torch
    >>> from adesk.partition import log_partition_importance
    >>> result = log_partition_importance(torch.log(torch.tensor([1.0, 2.0, 3.0, 4.0])))
    >>> round(result.log_partition, 4), round(result.effective_sample_size, 4), result.n_samples
    (0.9163, 3.3333, 4)
    """

    log_partition: float
    log_partition_std: float
    effective_sample_size: float
    n_samples: int


def log_partition_importance(log_weights):
    """Combine log importance weights ``log w_i = -E(x_i) - log q(x_i)`` into ``log Z``.

    ``Z = E_q[w]`` is estimated by the sample mean of the weights (unbiased for ``Z``); the
    standard error of ``log Z`` follows from the delta method, ``std(w) / (sqrt(n) mean(w))``.
    A proposal that misses regions of mass gives an estimate that is too low with a standard
    error that is too small; the effective sample size is the warning sign.

    Parameters
    ----------
    log_weights : torch.Tensor of shape (n,)

    Returns
    -------
    ImportanceResult

    Examples
    --------
    >>> import torch
    >>> result = log_partition_importance(torch.zeros(100))
    >>> result.log_partition, result.log_partition_std, result.effective_sample_size
    (0.0, 0.0, 100.0)
    """
    log_weights = log_weights.detach().to(torch.float64).cpu()
    n = log_weights.shape[0]
    if n < 2 or not torch.isfinite(log_weights).all():
        return ImportanceResult(float("nan"), float("nan"), 0.0, n)
    log_mean = float(torch.logsumexp(log_weights, 0)) - math.log(n)
    normalized = torch.exp(log_weights - log_weights.max())
    ratio = normalized / normalized.mean()
    std = float(ratio.std(unbiased=True)) / math.sqrt(n)
    ess = float(normalized.sum() ** 2 / normalized.pow(2).sum())
    return ImportanceResult(log_mean, std, ess, n)
