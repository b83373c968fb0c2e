"""Shared helpers for initial distributions."""

import math

import torch

from .._kde import LOG_2PI


def standard_normal(shape, generator, like):
    """Standard normal draws with the device and dtype of ``like`` from ``generator``."""
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


def isotropic_momentum_log_prob(momentum, momentum_penalty):
    """Log-density of ``N(0, I / momentum_penalty)`` at each row of ``momentum``."""
    d = momentum.shape[-1]
    return (
        -0.5 * momentum_penalty * momentum.pow(2).sum(-1)
        + 0.5 * d * math.log(momentum_penalty)
        - 0.5 * d * LOG_2PI
    )
