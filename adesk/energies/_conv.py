"""Convolutional energy for images (the paper's Table 4(a))."""

import numbers

from torch import nn


def check_image_shape(image_shape):
    """Validate ``image_shape`` as ``(channels, height, width)`` of positive ints.

    Parameters
    ----------
    image_shape : sequence of 3 int

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> check_image_shape([1, 8, 8])
    (1, 8, 8)
    """
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)
        or not all(s > 0 for s in shape)
    ):
        raise ValueError(
            "image_shape must be a sequence of 3 positive ints (channels, height, width); "
            f"got {image_shape!r}."
        )
    return tuple(int(s) for s in shape)


def check_channels(channels, name):
    """Validate ``channels`` as a non-empty sequence of positive ints; return it as a tuple."""
    try:
        channels = tuple(channels)
    except TypeError:
        channels = ()
    if not channels or not all(
        isinstance(c, numbers.Integral) and not isinstance(c, bool) and c > 0 for c in channels
    ):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints; got {channels!r}.")
    return tuple(int(c) for c in channels)


class ConvEnergy(nn.Module):
    """Convolutional energy ``E(x) = CNN(x) + base_precision * |x|^2 / 2`` on flat images.

    The architecture is the potential function of the paper's Table 4(a) (Section 5.2,
    Appendix F.2), a spectrally normalised CNN with average pooling in place of strided
    downsampling. With the default ``channels=(64, 128, 256)`` it is::

        3x3 conv 64 -> 3x3 conv 128 -> 2x2 avg pool -> 3x3 conv 128 -> 3x3 conv 256
        -> 2x2 avg pool -> 3x3 conv 256 -> global avg pool -> fc 256 -> 1

    with a leaky ReLU after every convolution and nothing after the final linear layer. The
    table's "7x7 avg pool" is the global pool for 28x28 inputs (28 -> 14 -> 7); a global average
    pool is used for every input size. For ``channels=(c_1, ..., c_k)`` the pattern is a 3x3 conv
    to ``c_1``, then for each ``i >= 2`` a 3x3 conv ``c_{i-1} -> c_i``, a 2x2 average pool and a
    3x3 conv ``c_i -> c_i``. All convolutions use padding 1, so only the pools change the spatial
    size; a pool is skipped when it would bring the height or width below 2, so that tiny
    images (e.g. 8x8 digits: 8 -> 4 -> 2) keep a spatial extent.

    adesk's samplers work on flat tensors: the input is ``(..., C * H * W)`` in the row-major
    order of ``(C, H, W)`` (as ``torch.Tensor.reshape`` gives) and is reshaped internally.

    Leaky ReLU is piecewise linear, so the Hessian of ``E`` in ``x`` vanishes almost everywhere;
    gradients of a sampler's output with respect to the energy's parameters still flow through
    ``grad_x E``, which depends on them.

    Parameters
    ----------
    image_shape : tuple of 3 int
        ``(channels, height, width)`` of the images.
    channels : tuple of int, default=(64, 128, 256)
        Widths of the convolution stages (see above).
    negative_slope : float, default=0.2
        Slope of the leaky ReLUs for negative inputs.
    spectral_norm : bool, default=True
        Wrap every convolution and the final linear layer in
        :func:`torch.nn.utils.parametrizations.spectral_norm` (the paper normalises all the
        discriminator's layers). For a convolution this bounds the largest singular value of the
        kernel reshaped to ``(out_channels, in_channels * 3 * 3)``, as in Miyato et al. (2018);
        each forward pass in train mode runs one power iteration.
    base_precision : float, default=0.0
        Weight of a fixed isotropic quadratic term, the base measure ``p0`` of the paper's
        eq. (1); see :class:`MLPEnergy`.

    Attributes
    ----------
    image_shape : tuple of int
        The validated ``(C, H, W)``.
    n_features : int
        ``C * H * W``, the flat input dimension.
    features : torch.nn.Sequential
        Convolutions, activations and pools, ending with the global average pool and a flatten.
    head : torch.nn.Module
        Final linear layer from ``channels[-1]`` to 1.

    Examples
    --------
    >>> import torch
    >>> energy = ConvEnergy((1, 4, 4), channels=(4, 8))
    >>> energy(torch.zeros(5, 16)).shape
    torch.Size([5])
    """

    def __init__(
        self,
        image_shape,
        channels=(64, 128, 256),
        negative_slope=0.2,
        spectral_norm=True,
        base_precision=0.0,
    ):
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        channels = check_channels(channels, "channels")
        n_channels, height, width = self.image_shape
        self.n_features = n_channels * height * width

        def normalised(layer):
            if spectral_norm:
                layer = nn.utils.parametrizations.spectral_norm(layer)
            return layer

        def conv(fan_in, fan_out):
            return [
                normalised(nn.Conv2d(fan_in, fan_out, kernel_size=3, padding=1)),
                nn.LeakyReLU(negative_slope),
            ]

        layers = conv(n_channels, channels[0])
        for fan_in, fan_out in zip(channels[:-1], channels[1:]):
            layers += conv(fan_in, fan_out)
            if min(height, width) // 2 >= 2:
                layers.append(nn.AvgPool2d(2))
                height, width = height // 2, width // 2
            layers += conv(fan_out, fan_out)
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.head = normalised(nn.Linear(channels[-1], 1))
        self.base_precision = float(base_precision)

    def forward(self, x):
        if x.shape[-1] != self.n_features:
            raise ValueError(
                f"Expected inputs with {self.n_features} features (image_shape "
                f"{self.image_shape}); got shape {tuple(x.shape)}."
            )
        batch_shape = x.shape[:-1]
        images = x.reshape(-1, *self.image_shape)
        energy = self.head(self.features(images)).reshape(batch_shape)
        if self.base_precision > 0:
            energy = energy + 0.5 * self.base_precision * x.pow(2).sum(-1)
        return energy
