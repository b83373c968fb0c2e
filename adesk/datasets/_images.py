"""Image data sets for the paper's image experiments (ADE paper, Section 5.2).

Images are returned channels-first, as float arrays of shape ``(n, C, H, W)`` with
values in ``[0, 1]``; flatten them with ``X.reshape(len(X), -1)`` for the estimators.

* :func:`load_digits_images` needs nothing beyond scikit-learn (whose 8x8 digits ship
  with the package), so it works offline and is the small stand-in for MNIST used in
  tests and examples.
* :func:`load_mnist` and :func:`load_cifar10` go through :mod:`torchvision.datasets`,
  an optional dependency (``pip install adesk[vision]``). They never touch the network
  unless ``download=True``; with ``download=False`` and the files missing they raise a
  :class:`FileNotFoundError` that lists the files torchvision expects.
"""

from __future__ import annotations

import importlib
import numbers
import os

import numpy as np
from sklearn.datasets import load_digits

__all__ = ["load_cifar10", "load_digits_images", "load_mnist"]

# sklearn's digits are counts of "on" pixels in 4x4 blocks of a 32x32 bitmap: 0..16.
_DIGITS_LEVELS = 16

# Files torchvision checks before it reads the data (torchvision >= 0.9). MNIST checks
# the four uncompressed raw files whatever ``train`` is; CIFAR-10 checks the six batches
# (by MD5) and then reads the label names from ``batches.meta``.
_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_FILES = (
    *(f"data_batch_{i}" for i in range(1, 6)),
    "test_batch",
    "batches.meta",
)


def load_digits_images(dequantize=True, random_state=0, return_labels=False):
    """Load scikit-learn's 8x8 handwritten digits as images in ``[0, 1]``.

    Parameters
    ----------
    dequantize : bool, default=True
        If True, add uniform noise to the integer pixel values ``v`` in ``0..16``
        and rescale, ``(v + u) / 17`` with ``u ~ U(0, 1)``, so that the data have a
        density (the usual dequantization of discrete images, which a continuous
        density estimator otherwise rewards for putting infinite mass on the 17
        levels). If False, return ``v / 16``, exactly 0 and 1 at the extremes.
    random_state : int or numpy.random.Generator, default=0
        Seed of the dequantization noise, drawn from a :class:`numpy.random.Generator`
        (never NumPy's global state). Ignored when ``dequantize=False``.
    return_labels : bool, default=False
        Also return the digit labels.

    Returns
    -------
    images : ndarray of shape (1797, 1, 8, 8), dtype float64
        The images, channels first, with values in ``[0, 1]`` (in ``(0, 1)`` when
        dequantized).
    labels : ndarray of shape (1797,), dtype int64
        The digits 0..9; only returned when ``return_labels=True``.

    Raises
    ------
    ValueError
        If ``random_state`` is neither an integer, None nor a Generator.

    Examples
    --------
    >>> from adesk.datasets._images import load_digits_images
    >>> X, y = load_digits_images(return_labels=True)
    >>> X.shape, y.shape
    ((1797, 1, 8, 8), (1797,))
    >>> bool(0.0 < X.min() and X.max() < 1.0)
    True
    """
    digits = load_digits()
    values = digits.images.astype(np.float64)[:, None, :, :]
    if dequantize:
        rng = _check_generator(random_state)
        images = (values + rng.uniform(size=values.shape)) / (_DIGITS_LEVELS + 1)
    else:
        images = values / _DIGITS_LEVELS
    if return_labels:
        return images, digits.target.astype(np.int64)
    return images


def load_mnist(root, train=True, download=False):
    """Load MNIST through :class:`torchvision.datasets.MNIST` as images in ``[0, 1]``.

    Parameters
    ----------
    root : str or path-like
        Folder holding (or to receive) the data; torchvision keeps MNIST in
        ``root/MNIST/raw``.
    train : bool, default=True
        The 60,000 training images if True, else the 10,000 test images.
    download : bool, default=False
        Let torchvision download the files into ``root`` when they are missing. No
        network access happens when False.

    Returns
    -------
    images : ndarray of shape (n, 1, 28, 28), dtype float32
        Pixel values divided by 255 (float32 keeps the training set at 188 MB).
    labels : ndarray of shape (n,), dtype int64
        The digits 0..9.

    Raises
    ------
    FileNotFoundError
        If ``download=False`` and any of ``root/MNIST/raw/train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` or
        ``t10k-labels-idx1-ubyte`` is missing (torchvision checks all four, uncompressed).
    ImportError
        If torchvision is not installed.

    Examples
    --------
    >>> X, y = load_mnist("~/data", download=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (60000, 1, 28, 28)
    """
    root = _check_root(root)
    if not download:
        folder = os.path.join(root, "MNIST", "raw")
        _require_files("load_mnist", root, folder, _MNIST_FILES)
    datasets = _import_torchvision_datasets("load_mnist")
    dataset = datasets.MNIST(root, train=bool(train), download=bool(download))
    # ``data`` is a uint8 tensor (n, 28, 28); ``targets`` an int64 tensor.
    images = _as_numpy(dataset.data).astype(np.float32)[:, None, :, :] / np.float32(255)
    return images, _as_numpy(dataset.targets).astype(np.int64)


def load_cifar10(root, train=True, download=False):
    """Load CIFAR-10 through :class:`torchvision.datasets.CIFAR10` as images in ``[0, 1]``.

    Parameters
    ----------
    root : str or path-like
        Folder holding (or to receive) the data; torchvision keeps CIFAR-10 in
        ``root/cifar-10-batches-py``.
    train : bool, default=True
        The 50,000 training images if True, else the 10,000 test images.
    download : bool, default=False
        Let torchvision download and extract the archive into ``root`` when the files
        are missing. No network access happens when False.

    Returns
    -------
    images : ndarray of shape (n, 3, 32, 32), dtype float32
        RGB pixel values divided by 255, channels first (float32 keeps the training
        set at 614 MB).
    labels : ndarray of shape (n,), dtype int64
        The class indices 0..9 (airplane, automobile, bird, cat, deer, dog, frog,
        horse, ship, truck).

    Raises
    ------
    FileNotFoundError
        If ``download=False`` and any of ``root/cifar-10-batches-py/data_batch_1`` ..
        ``data_batch_5``, ``test_batch`` or ``batches.meta`` is missing.
    ImportError
        If torchvision is not installed.
    RuntimeError
        From torchvision, if the files exist but fail its MD5 check.

    Examples
    --------
    >>> X, y = load_cifar10("~/data", train=False, download=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (10000, 3, 32, 32)
    """
    root = _check_root(root)
    if not download:
        folder = os.path.join(root, _CIFAR10_FOLDER)
        _require_files("load_cifar10", root, folder, _CIFAR10_FILES)
    datasets = _import_torchvision_datasets("load_cifar10")
    dataset = datasets.CIFAR10(root, train=bool(train), download=bool(download))
    # ``data`` is a uint8 ndarray (n, 32, 32, 3), channels last; ``targets`` a list.
    data = _as_numpy(dataset.data)
    images = np.ascontiguousarray(data.transpose(0, 3, 1, 2)).astype(np.float32)
    images /= np.float32(255)
    return images, np.asarray(dataset.targets, dtype=np.int64)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _check_generator(random_state):
    """Return a numpy Generator from an int seed, None or a Generator."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise ValueError(
        "random_state must be an int, None or a numpy.random.Generator; "
        f"got {type(random_state).__name__}."
    )


def _check_root(root):
    if root is None:
        raise ValueError("root must be a folder path (str or path-like); got None.")
    return os.path.expanduser(os.fspath(root))


def _require_files(func_name, root, folder, names):
    """Raise FileNotFoundError listing every expected file missing from ``folder``."""
    missing = [os.path.join(folder, name) for name in names]
    missing = [path for path in missing if not os.path.isfile(path)]
    if missing:
        listing = "\n  ".join(missing)
        raise FileNotFoundError(
            f"{func_name}: data files not found under root={root!r}. torchvision expects "
            f"these files (uncompressed), of which {len(missing)} are missing:\n  {listing}\n"
            f"Pass download=True to let torchvision download them into root (needs internet "
            f"access), or copy them there."
        )


def _import_torchvision_datasets(func_name):
    """Import ``torchvision.datasets`` lazily: torchvision is an optional dependency."""
    try:
        return importlib.import_module("torchvision.datasets")
    except ImportError as exc:
        raise ImportError(
            f"{func_name} needs torchvision, an optional dependency of adesk. Install it "
            f"with `pip install adesk[vision]` (or `pip install torchvision`)."
        ) from exc


def _as_numpy(values):
    if hasattr(values, "detach"):  # torch.Tensor
        values = values.detach().cpu().numpy()
    return np.asarray(values)
