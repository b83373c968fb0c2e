"""Image grids and image-completion strips (ADE paper, Figures 3 and 4).

Like :mod:`adesk.plotting._density`, the functions draw on a matplotlib
:class:`~matplotlib.axes.Axes` through the object-oriented API, never call
:func:`matplotlib.pyplot.show`, and work with the ``Agg`` backend; pyplot is only
imported (lazily) when a new figure has to be created.

Images are channels-first, ``(n, C, H, W)`` with ``C`` 1 (grey) or 3 (RGB), or
``(n, H, W)`` for grey images; flat ``(n, C*H*W)`` arrays, as the estimators use,
are accepted together with ``image_shape``. Values are clipped to ``[0, 1]``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_rgba

__all__ = ["plot_completion", "plot_images"]

# Width in pixels of the separating lines between tiles, and their grey level.
_PAD = 1
_PAD_VALUE = 0.5
# Colour of NaN pixels: impossible in a grey or natural image, so a diverged sample shows.
_NAN_COLOR = "red"


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _new_axes(ax, figsize=None):
    """Return ``ax`` or a fresh Axes on a new pyplot figure when ``ax`` is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _to_array(values):
    """Convert an array-like (including CPU/GPU torch tensors) to a float ndarray."""
    if hasattr(values, "detach"):  # torch.Tensor without importing torch
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=float)


def _check_images(images, name, image_shape=None):
    """Validate images and return them as a float array (n, C, H, W), C in {1, 3}.

    Values are clipped to [0, 1]; NaN is shown as 0 (black) and +-inf as 1 / 0, so a
    diverged sample still plots, with a RuntimeWarning that says how many images diverged.
    """
    X = _to_array(images)
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if X.ndim < 1 or (X.shape[0] > 0 and int(np.prod(X.shape[1:])) != int(np.prod(shape))):
            target = ", ".join(map(str, shape))
            raise ValueError(f"{name} of shape {X.shape} cannot be reshaped to (n, {target}).")
        X = X.reshape(X.shape[0], *shape)
    if X.ndim == 3:
        X = X[:, None, :, :]
    if X.ndim != 4:
        raise ValueError(
            f"{name} must be an array of shape (n, C, H, W) or (n, H, W) (or flat with "
            f"image_shape); got ndim={X.ndim}."
        )
    if X.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have 1 or 3 channels in axis 1 (channels first, (n, C, H, W)); "
            f"got shape {X.shape}."
        )
    if X.shape[0] < 1 or X.shape[2] < 1 or X.shape[3] < 1:
        raise ValueError(f"{name} must contain at least one non-empty image; got shape {X.shape}.")
    non_finite = ~np.isfinite(X).reshape(X.shape[0], -1).all(axis=1)
    if non_finite.any():
        warnings.warn(
            f"{name}: {int(non_finite.sum())} of {X.shape[0]} images have non-finite pixels "
            "(NaN drawn in red, +-inf saturated white / black).",
            RuntimeWarning,
            stacklevel=3,
        )
    # NaN stays NaN (clip keeps it): the display marks those pixels instead of inventing a value.
    return np.clip(X, 0.0, 1.0)


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _mosaic(tiles):
    """Tile an array (rows, cols, C, H, W) into one (R, Cl, C) image with separators."""
    n_rows, n_cols, channels, height, width = tiles.shape
    step_h, step_w = height + _PAD, width + _PAD
    canvas = np.full(
        (n_rows * step_h + _PAD, n_cols * step_w + _PAD, channels), _PAD_VALUE, dtype=float
    )
    for i in range(n_rows):
        for j in range(n_cols):
            top, left = _PAD + i * step_h, _PAD + j * step_w
            canvas[top : top + height, left : left + width] = tiles[i, j].transpose(1, 2, 0)
    return canvas


def _show(ax, canvas, cmap):
    """imshow a mosaic: a 2-D array with ``cmap`` for grey, RGB directly otherwise.

    NaN pixels (a diverged sample) are drawn in ``_NAN_COLOR``, never as a plausible grey.
    """
    if canvas.shape[2] == 1:
        colormap = colormaps[cmap] if isinstance(cmap, str) else cmap
        colormap = colormap.with_extremes(bad=_NAN_COLOR)
        return ax.imshow(
            np.ma.masked_invalid(canvas[:, :, 0]),
            cmap=colormap,
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest",
        )
    rgb = canvas.copy()
    rgb[np.isnan(canvas).any(axis=2)] = to_rgba(_NAN_COLOR)[:3]
    return ax.imshow(rgb, interpolation="nearest")


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def plot_images(images, n_rows=None, ax=None, title=None, cmap="gray", *, image_shape=None):
    """Show images as a grid, e.g. model samples (ADE paper, Figure 3a and 3c).

    Parameters
    ----------
    images : array-like of shape (n, C, H, W) or (n, H, W)
        Images with ``C`` 1 or 3 (torch tensors accepted). Values are clipped to
        ``[0, 1]``; NaN is drawn black, with a RuntimeWarning.
    n_rows : int, default=None
        Rows of the grid; the images fill it row by row and the last row may be
        incomplete (empty tiles are grey). Defaults to a near-square grid
        (``ceil(sqrt(n))`` columns).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. A new figure is created when None.
    title : str, default=None
        Axes title; no title is set when None.
    cmap : str or matplotlib.colors.Colormap, default="gray"
        Colour map of one-channel images (ignored for RGB), on the fixed range
        ``[0, 1]``.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` to reshape flat images ``(n, C*H*W)`` first.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes holding one ``AxesImage`` with all tiles separated by 1-pixel grey
        lines, without ticks.

    Raises
    ------
    ValueError
        If ``images`` is not 3-D or 4-D with 1 or 3 channels, cannot be reshaped to
        ``image_shape``, or ``n_rows`` is not a positive integer.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> ax = plot_images(np.random.default_rng(0).uniform(size=(10, 1, 8, 8)), n_rows=2)
    >>> ax.images[0].get_array().shape  # 2 x 5 tiles of 8 x 8 with 1-pixel gaps
    (19, 46)
    """
    X = _check_images(images, "images", image_shape)
    n = X.shape[0]
    if n_rows is None:
        n_cols = int(np.ceil(np.sqrt(n)))
        n_rows = int(np.ceil(n / n_cols))
    else:
        n_rows = _check_positive_int(n_rows, "n_rows")
        n_cols = int(np.ceil(n / n_rows))
    # Empty trailing tiles take the separator colour, so they read as background.
    tiles = np.full((n_rows * n_cols, *X.shape[1:]), _PAD_VALUE)
    tiles[:n] = X
    canvas = _mosaic(tiles.reshape(n_rows, n_cols, *X.shape[1:]))

    ax = _new_axes(ax)
    _show(ax, canvas, cmap)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    return ax


def plot_completion(
    steps,
    mask,
    n_show=8,
    ax=None,
    *,
    title=None,
    cmap="gray",
    image_shape=None,
    mask_color="tab:red",
    mask_alpha=0.4,
):
    """Image-completion strips: one row per example, one column per sampler step.

    Reproduces the layout of the ADE paper's Figure 4: the first column shows the
    corrupted input with the region to complete tinted, the next columns the images
    after successive steps of the completion trajectory.

    Parameters
    ----------
    steps : sequence of array-like, each of shape (n, C, H, W) or (n, H, W)
        The trajectory: ``steps[0]`` is the corrupted input, ``steps[t]`` the images
        after step ``t``. An array of shape ``(T, n, C, H, W)`` also works. All
        steps must have the same shape.
    mask : array-like of bool
        True on the pixels that are completed (e.g. the lower half). Shape
        ``(H, W)`` (shared by all examples), ``(n, H, W)``, or ``(n or 1, C or 1, H,
        W)``; a pixel is tinted when any of its channels is masked.
    n_show : int, default=8
        Number of examples (rows) to show, the first ``n_show``.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. A new figure, sized to the strip, is created when None.
    title : str, default=None
        Axes title; no title is set when None.
    cmap : str or matplotlib.colors.Colormap, default="gray"
        Colour map of one-channel images (ignored for RGB).
    image_shape : tuple of int, default=None
        ``(C, H, W)`` to reshape flat steps ``(n, C*H*W)`` first.
    mask_color : color, default="tab:red"
        Colour of the tint marking the masked region in the first column.
    mask_alpha : float, default=0.4
        Opacity of that tint, in ``[0, 1]``.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes with the strip (first image) and the mask tint (second image).
        The x ticks label the columns "input", 1, 2, ...; no y ticks.

    Raises
    ------
    ValueError
        If ``steps`` is empty, the steps differ in shape or are not images, the mask
        cannot be broadcast to the images, or ``n_show`` / ``mask_alpha`` is
        invalid.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mask = np.zeros((8, 8), dtype=bool)
    >>> mask[4:] = True
    >>> steps = [rng.uniform(size=(3, 1, 8, 8)) for _ in range(5)]
    >>> ax = plot_completion(steps, mask)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['input', '1', '2', '3', '4']
    """
    if isinstance(steps, np.ndarray) or hasattr(steps, "detach"):
        steps = list(steps)
    else:
        try:
            steps = list(steps)
        except TypeError as exc:
            raise ValueError("steps must be a sequence of image arrays.") from exc
    if len(steps) == 0:
        raise ValueError("steps must contain at least one array of images.")
    arrays = [_check_images(s, f"steps[{t}]", image_shape) for t, s in enumerate(steps)]
    shape = arrays[0].shape
    for t, array in enumerate(arrays):
        if array.shape != shape:
            raise ValueError(
                f"All steps must have the same shape; steps[0] has {shape}, steps[{t}] has "
                f"{array.shape}."
            )
    n, channels, height, width = shape
    n_show = min(_check_positive_int(n_show, "n_show"), n)
    if not (isinstance(mask_alpha, numbers.Real) and 0 <= mask_alpha <= 1):
        raise ValueError(f"mask_alpha must be a number in [0, 1]; got {mask_alpha!r}.")
    pixel_mask = _check_mask(mask, n, channels, height, width)[:n_show]

    # tiles[i, t] is example i after step t.
    tiles = np.stack([array[:n_show] for array in arrays], axis=1)
    canvas = _mosaic(tiles)
    overlay = np.zeros((*canvas.shape[:2], 4))
    tint = to_rgba(mask_color, alpha=mask_alpha)
    for i in range(n_show):
        top = _PAD + i * (height + _PAD)
        region = overlay[top : top + height, _PAD : _PAD + width]
        region[pixel_mask[i]] = tint

    n_cols = len(arrays)
    ax = _new_axes(ax, figsize=(max(2.0, 0.6 * n_cols), max(1.5, 0.6 * n_show)))
    _show(ax, canvas, cmap)
    ax.imshow(overlay, interpolation="nearest")
    centres = _PAD + np.arange(n_cols) * (width + _PAD) + (width - 1) / 2
    ax.set_xticks(centres)
    ax.set_xticklabels(["input"] + [str(t) for t in range(1, n_cols)])
    ax.tick_params(axis="x", length=0)
    ax.set_yticks([])
    ax.set_xlabel("sampler step")
    if title is not None:
        ax.set_title(title)
    return ax


def _check_mask(mask, n, channels, height, width):
    """Return a boolean (n, H, W) mask of pixels with any masked channel."""
    M = _to_array(mask) != 0
    if M.ndim == 2:
        M = M[None, None]
    elif M.ndim == 3:
        M = M[:, None]
    if M.ndim != 4 or M.shape[2:] != (height, width):
        raise ValueError(
            f"mask must have shape (H, W), (n, H, W) or (n, C, H, W) with H, W = {height}, "
            f"{width}; got shape {np.shape(mask)}."
        )
    try:
        M = np.broadcast_to(M, (n, M.shape[1], height, width))
    except ValueError as exc:
        raise ValueError(
            f"mask of shape {np.shape(mask)} does not match {n} images of shape "
            f"({channels}, {height}, {width})."
        ) from exc
    if M.shape[1] not in (1, channels):
        raise ValueError(
            f"mask has {M.shape[1]} channels but the images have {channels}; got shape "
            f"{np.shape(mask)}."
        )
    return M.any(axis=1)
