"""Deep latent variable initial distribution for images (the paper's Table 4(b))."""

import math
import numbers

from torch import nn

from ..energies._conv import check_channels, check_image_shape
from ._latent import DecoderLatentInitial

_OUTPUTS = ("tanh", "none")


def _n_upsamplings(height, width, max_steps):
    """Largest ``k <= max_steps`` with ``2^k`` dividing both sides and a start size of >= 4."""
    steps = 0
    while steps < max_steps:
        scale = 2 ** (steps + 1)
        if height % scale or width % scale or height // scale < 4 or width // scale < 4:
            break
        steps += 1
    return steps


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}.")
    return float(value)


class ImageLatentInitial(DecoderLatentInitial):
    """``q_0(x, v) = N(x; phi(v), diag(sigma^2)) N(v; 0, I / lambda)`` with a CNN decoder ``phi``.

    The image version of :class:`LatentInitial` (the paper's Deep LVM, Appendix C.2, eq. 39-40,
    with the generator of Table 4(b)): the latent variable ``v`` is the sampler's momentum and
    ``x = phi(v) + sigma * eps`` with a learned per-pixel noise scale ``sigma``. The decoder
    ``phi`` is::

        fc l -> h0 x w0 x (2 * channels[0]) -> [4x4 deconv stride 2 -> channels[i]] * k
        -> 3x3 conv -> C -> tanh (or nothing)

    with batch normalisation and a leaky ReLU (slope 0.2) after the fc layer and after every
    transposed convolution. The number ``k`` of 2x upsamplings is the largest one, at most
    ``len(channels)``, for which ``2^k`` divides ``H`` and ``W`` and the start size
    ``(h0, w0) = (H, W) / 2^k`` is at least 4: 8x8 digits start at 4x4 with ``k = 1``, 28x28
    MNIST at 7x7 with ``k = 2``, 32x32 CIFAR at 4x4 with ``k = 3`` (the table's 4x4x512 start and
    256-128-64 deconvolutions); the first ``k`` entries of ``channels`` are used.

    Deviations from the table, and why: the transposed convolutions use kernel 4, stride 2,
    padding 1 (DCGAN style) rather than kernel 2, whose non-overlapping windows tend to leave
    checkerboard artifacts; the fc layer is followed by batch norm and leaky ReLU, without which
    it would compose linearly with the first deconvolution; the last layer is a 3x3 convolution
    with padding 1, which is a stride-1 3x3 deconvolution up to a flip of the kernel.

    Positions are flat: ``x`` has shape ``(n, C * H * W)`` in the row-major order of
    ``(C, H, W)``, as everywhere in adesk.

    **Batch normalisation.** In eval mode the decoder uses its running statistics, ``phi`` is a
    fixed function and :meth:`log_prob` is the exact joint density. In train mode ``phi(v)`` of
    each row depends on the batch statistics of the other rows (as in the paper's generator);
    the ``log_q`` returned by :meth:`sample` and :meth:`log_prob` evaluated on that same batch
    are then the density of ``x`` given ``v`` and those statistics, and each decoder call in
    train mode also updates the running statistics.

    Parameters
    ----------
    image_shape : tuple of 3 int
        ``(channels, height, width)`` of the images.
    latent_dim : int, default=128
        Dimension ``l`` of ``v`` (the momentum dimension).
    channels : tuple of int, default=(256, 128, 64)
        Widths of the transposed convolutions; the fc layer outputs ``2 * channels[0]`` maps.
    noise_std : float, default=0.1
        Initial ``sigma`` of every pixel; learned as ``log sigma`` per pixel.
    momentum_penalty : float, default=1.0
        ``lambda``; the latent law is fixed to the augmented model's ``N(0, I / lambda)``.
    learn_noise : bool, default=True
        If False, ``sigma`` stays at ``noise_std``.
    output : {"tanh", "none"}, default="tanh"
        Squashing of the decoder mean: ``"tanh"`` keeps ``phi(v)`` in ``[-1, 1]`` (images scaled
        to that range); ``"none"`` leaves it unbounded (e.g. for standardized pixels).

    Attributes
    ----------
    image_shape : tuple of int
        The validated ``(C, H, W)``.
    n_features : int
        ``C * H * W``.
    latent_dim : int
    momentum_penalty : float
    decoder : torch.nn.Sequential
        ``phi``, mapping ``(n, l)`` latents to flat ``(n, C * H * W)`` means.
    log_noise_std : torch.Tensor of shape (C * H * W,)
        ``log sigma``, a parameter if ``learn_noise`` else a buffer.

    Examples
    --------
    >>> import torch
    >>> q0 = ImageLatentInitial((1, 8, 8), latent_dim=4, channels=(8,)).eval()
    >>> x, v, log_q = q0.sample(3, torch.Generator().manual_seed(0))
    >>> x.shape, v.shape, log_q.shape
    (torch.Size([3, 64]), torch.Size([3, 4]), torch.Size([3]))
    >>> bool(torch.allclose(q0.log_prob(x, v), log_q, atol=1e-4))
    True
    """

    def __init__(
        self,
        image_shape,
        latent_dim=128,
        channels=(256, 128, 64),
        noise_std=0.1,
        momentum_penalty=1.0,
        learn_noise=True,
        output="tanh",
    ):
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        channels = check_channels(channels, "channels")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, numbers.Integral):
            raise ValueError(f"latent_dim must be a positive int; got {latent_dim!r}.")
        if latent_dim <= 0:
            raise ValueError(f"latent_dim must be a positive int; got {latent_dim!r}.")
        noise_std = _check_positive(noise_std, "noise_std")
        if output not in _OUTPUTS:
            raise ValueError(f"output must be one of {list(_OUTPUTS)}; got {output!r}.")
        self.latent_dim = int(latent_dim)
        self.momentum_penalty = _check_positive(momentum_penalty, "momentum_penalty")
        n_channels, height, width = self.image_shape
        self.n_features = n_channels * height * width

        steps = _n_upsamplings(height, width, len(channels))
        start = (2 * channels[0], height // 2**steps, width // 2**steps)
        layers = [
            nn.Linear(self.latent_dim, math.prod(start)),
            nn.Unflatten(1, start),
            nn.BatchNorm2d(start[0]),
            nn.LeakyReLU(0.2),
        ]
        fan_in = start[0]
        for fan_out in channels[:steps]:
            layers += [
                nn.ConvTranspose2d(fan_in, fan_out, kernel_size=4, stride=2, padding=1),
                nn.BatchNorm2d(fan_out),
                nn.LeakyReLU(0.2),
            ]
            fan_in = fan_out
        layers.append(nn.Conv2d(fan_in, n_channels, kernel_size=3, padding=1))
        if output == "tanh":
            layers.append(nn.Tanh())
        layers.append(nn.Flatten())
        self.decoder = nn.Sequential(*layers)

        self._init_noise(noise_std, learn_noise)
