"""Diagnostic plots for fitted two-dimensional energy-based density estimators.

This module is long (about 660 lines) because each figure of the paper's 2-D experiments is one
function here with a full docstring and example; they share the grid and colour helpers.

All functions draw on matplotlib :class:`~matplotlib.axes.Axes` objects through the
object-oriented API and never call :func:`matplotlib.pyplot.show`, so they are safe
to use with non-interactive backends such as ``Agg``. :mod:`matplotlib.pyplot` is only
imported (lazily) when a new figure has to be created.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
from sklearn.exceptions import NotFittedError

__all__ = [
    "density_grid",
    "plot_convergence",
    "plot_density",
    "plot_energy_histogram",
    "plot_fit_summary",
    "plot_samples",
]

# Number of grid points sent to the estimator in one call.
_CHUNK_SIZE = 10_000

# Relative margin added around the data range when bounds are inferred.
_MARGIN = 0.1

_DEFAULT_BOUNDS = ((-4.0, 4.0), (-4.0, 4.0))


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _new_axes(ax):
    """Return ``ax`` or a fresh Axes on a new pyplot figure when ``ax`` is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def _to_numpy(values):
    """Convert an array-like (including CPU/GPU torch tensors) to a flat float array."""
    if hasattr(values, "detach"):  # torch.Tensor without importing torch
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=float).reshape(-1)


def _check_points(X, name, min_features=2, exact=True):
    """Validate a 2-D point array and return it as float ndarray."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, 2); got ndim={X.ndim}.")
    if (exact and X.shape[1] != min_features) or X.shape[1] < min_features:
        raise ValueError(
            f"{name} must have {'exactly' if exact else 'at least'} {min_features} "
            f"features (columns); got {X.shape[1]}."
        )
    return X


def _check_2d_estimator(estimator, func_name):
    """Raise ValueError if ``estimator`` was not fitted on two-dimensional data."""
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and n_features != 2:
        raise ValueError(
            f"{func_name} needs an estimator fitted on 2-D data (n_features_in_ == 2); "
            f"got an estimator with n_features_in_={n_features}."
        )


def _check_bounds(bounds):
    """Validate ``((xmin, xmax), (ymin, ymax))`` and return it as nested float tuples."""
    try:
        (xmin, xmax), (ymin, ymax) = bounds
        xmin, xmax, ymin, ymax = (float(v) for v in (xmin, xmax, ymin, ymax))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"bounds must be ((xmin, xmax), (ymin, ymax)) with numeric entries; got {bounds!r}."
        ) from exc
    if not np.all(np.isfinite([xmin, xmax, ymin, ymax])):
        raise ValueError(f"bounds must be finite; got {bounds!r}.")
    if not (xmin < xmax and ymin < ymax):
        raise ValueError(f"bounds must satisfy xmin < xmax and ymin < ymax; got {bounds!r}.")
    return (xmin, xmax), (ymin, ymax)


def _bounds_from_data(X, margin=_MARGIN):
    """Data range of the first two columns of ``X`` widened by ``margin`` on each side."""
    X = np.asarray(X, dtype=float)[:, :2]
    finite = X[np.all(np.isfinite(X), axis=1)]
    if finite.shape[0] == 0:
        return _DEFAULT_BOUNDS
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    span = hi - lo
    # Degenerate (constant) coordinates still get a visible window.
    span = np.where(span > 0, span, np.maximum(np.abs(lo), 1.0))
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _merge_scatter_kwargs(defaults, overrides):
    """Merge scatter keyword arguments, letting ``c``/``color`` override each other."""
    kwargs = dict(defaults)
    overrides = dict(overrides or {})
    if "c" in overrides or "color" in overrides:
        kwargs.pop("c", None)
        kwargs.pop("color", None)
    kwargs.update(overrides)
    return kwargs


def _has_finite_log_partition(estimator):
    log_z = getattr(estimator, "log_partition_", None)
    if log_z is None:
        return False
    try:
        return bool(np.isfinite(float(log_z)))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def density_grid(estimator, bounds, grid_size=200):
    """Evaluate the (log-)density of a fitted 2-D estimator on a regular grid.

    Parameters
    ----------
    estimator : object
        Fitted estimator on two-dimensional data. It must expose ``energy(X)``;
        when it has a finite attribute ``log_partition_`` its ``score_samples(X)``
        (the normalised log-density) is used instead.
    bounds : tuple of tuple of float
        ``((xmin, xmax), (ymin, ymax))``; the grid includes both end points of each
        interval.
    grid_size : int, default=200
        Number of grid points along each axis (at least 2).

    Returns
    -------
    xx : ndarray of shape (grid_size, grid_size)
        x coordinates of the grid points (varies along axis 1).
    yy : ndarray of shape (grid_size, grid_size)
        y coordinates of the grid points (varies along axis 0).
    log_density : ndarray of shape (grid_size, grid_size)
        ``estimator.score_samples`` at the grid points if ``log_partition_`` is
        finite, otherwise the unnormalised log-density ``-estimator.energy``.

    Notes
    -----
    Points are passed to the estimator in chunks of 10,000 rows to bound memory.

    Examples
    --------
    >>> from adesk import ScoreMatchingEstimator
    >>> from adesk.datasets import make_moons
    >>> from adesk.energies import MLP
    >>> from adesk.partition import AutoPartition
    >>> est = ScoreMatchingEstimator(
    ...     max_iter=2, energy_model=MLP((8,)), partition=AutoPartition(resolution=16),
    ...     random_state=0, device="cpu",
    ... ).fit(make_moons(200, random_state=0))
    >>> xx, yy, logp = density_grid(est, ((-3, 3), (-3, 3)), grid_size=50)
    >>> xx.shape, logp.shape
    ((50, 50), (50, 50))
    """
    _check_2d_estimator(estimator, "density_grid")
    (xmin, xmax), (ymin, ymax) = _check_bounds(bounds)
    if not isinstance(grid_size, numbers.Integral) or isinstance(grid_size, bool) or grid_size < 2:
        raise ValueError(f"grid_size must be an integer >= 2; got {grid_size!r}.")
    grid_size = int(grid_size)

    xs = np.linspace(xmin, xmax, grid_size)
    ys = np.linspace(ymin, ymax, grid_size)
    xx, yy = np.meshgrid(xs, ys)
    points = np.column_stack([xx.ravel(), yy.ravel()])

    normalised = _has_finite_log_partition(estimator)
    out = np.empty(points.shape[0], dtype=float)
    for start in range(0, points.shape[0], _CHUNK_SIZE):
        chunk = points[start : start + _CHUNK_SIZE]
        if normalised:
            values = _to_numpy(estimator.score_samples(chunk))
        else:
            values = -_to_numpy(estimator.energy(chunk))
        if values.shape[0] != chunk.shape[0]:
            raise ValueError(
                f"estimator returned {values.shape[0]} values for {chunk.shape[0]} points."
            )
        out[start : start + chunk.shape[0]] = values
    return xx, yy, out.reshape(xx.shape)


def plot_density(
    estimator,
    X=None,
    ax=None,
    bounds=None,
    grid_size=200,
    log_scale=False,
    cmap="viridis",
    scatter_kwargs=None,
    *,
    title=None,
    colorbar=False,
):
    """Heat map of the density learned by a fitted 2-D energy-based estimator.

    Parameters
    ----------
    estimator : object
        Fitted estimator with ``n_features_in_ == 2`` exposing ``energy(X)`` (and
        ``score_samples(X)`` when ``log_partition_`` is finite), see
        :func:`density_grid`.
    X : array-like of shape (n_samples, 2), default=None
        Data to overlay as small translucent points; also used to choose the
        default ``bounds``.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. A new figure is created when None.
    bounds : tuple of tuple of float, default=None
        ``((xmin, xmax), (ymin, ymax))``. Defaults to the range of ``X`` plus a
        10% margin on each side, or ``((-4, 4), (-4, 4))`` when ``X`` is None.
    grid_size : int, default=200
        Grid resolution along each axis.
    log_scale : bool, default=False
        Show the log-density instead of the density.
    cmap : str or matplotlib.colors.Colormap, default="viridis"
        Colour map of the heat map.
    scatter_kwargs : dict, default=None
        Keyword arguments overriding the defaults of the data overlay
        (:meth:`~matplotlib.axes.Axes.scatter`).
    title : str, default=None
        Axes title; no title is set when None.
    colorbar : bool, default=False
        Add a colour bar next to the axes.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes with the heat map (an ``AxesImage``) and, if ``X`` is given, the
        scatter overlay.

    Raises
    ------
    ValueError
        If the estimator was not fitted on two-dimensional data.

    Notes
    -----
    The density is ``exp(-E(x)) / Z``. When the estimator has no finite
    ``log_partition_`` the normaliser is unknown and the plotted density is
    ``exp(-E(x))`` rescaled so that its maximum on the grid is 1.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from adesk.plotting import plot_density
    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_moons
    >>> X = make_moons(100, random_state=0)
    >>> from adesk.energies import MLP
    >>> from adesk.partition import AutoPartition
    >>> from adesk.samplers import HMC
    >>> est = ADEDensityEstimator(max_iter=2, energy_model=MLP((8,)), sampler=HMC(n_steps=2),
    ...                           partition=AutoPartition(resolution=16), random_state=0,
    ...                           device="cpu").fit(X)
    >>> fig, ax = plt.subplots()
    >>> ax = plot_density(est, X, ax=ax, grid_size=20, log_scale=True)
    >>> len(ax.images), len(ax.collections)  # the heat map and the data overlay
    (1, 1)
    >>> plt.close(fig)
    """
    _check_2d_estimator(estimator, "plot_density")
    if X is not None:
        X = _check_points(X, "X")
    if bounds is None:
        bounds = _bounds_from_data(X) if X is not None and X.shape[0] > 0 else _DEFAULT_BOUNDS
    (xmin, xmax), (ymin, ymax) = _check_bounds(bounds)

    xx, yy, log_density = density_grid(estimator, ((xmin, xmax), (ymin, ymax)), grid_size)
    normalised = _has_finite_log_partition(estimator)
    if log_scale:
        values = log_density
        label = "log-density" if normalised else "unnormalised log-density  -E(x)"
    else:
        if normalised:
            values = np.exp(log_density)
            label = "density"
        else:
            finite = log_density[np.isfinite(log_density)]
            shift = finite.max() if finite.size else 0.0
            values = np.exp(log_density - shift)
            label = "density (unnormalised, max = 1)"
    values = np.ma.masked_invalid(values)

    ax = _new_axes(ax)
    n = xx.shape[0]
    # Grid values sit at the pixel centres, so the image extends half a cell beyond
    # the outermost grid points; the view is then clipped back to ``bounds``.
    dx = (xmax - xmin) / (n - 1)
    dy = (ymax - ymin) / (n - 1)
    extent = (xmin - dx / 2, xmax + dx / 2, ymin - dy / 2, ymax + dy / 2)
    image = ax.imshow(
        values,
        extent=extent,
        origin="lower",
        cmap=cmap,
        aspect="auto",
        interpolation="nearest",
    )
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=label)

    if X is not None:
        kwargs = _merge_scatter_kwargs(
            {"s": 3, "color": "white", "alpha": 0.3, "linewidths": 0, "label": "data"},
            scatter_kwargs,
        )
        ax.scatter(X[:, 0], X[:, 1], **kwargs)

    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_samples(
    X_data,
    X_samples=None,
    ax=None,
    bounds=None,
    labels=("data", "samples"),
    **scatter_kwargs,
):
    """Scatter plot of training data with model samples overlaid.

    Parameters
    ----------
    X_data : array-like of shape (n_samples, n_features)
        Training data; the first two columns are drawn as grey crosses.
    X_samples : array-like of shape (n_draws, n_features), default=None
        Samples drawn from the model; the first two columns are drawn as coloured
        dots on top of the data.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. A new figure is created when None.
    bounds : tuple of tuple of float, default=None
        ``((xmin, xmax), (ymin, ymax))`` view limits; matplotlib's automatic limits
        are kept when None.
    labels : tuple of str, default=("data", "samples")
        Legend labels of the data and of the samples.
    **scatter_kwargs : dict
        Extra keyword arguments for the samples'
        :meth:`~matplotlib.axes.Axes.scatter` call (e.g. ``color``, ``s``).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes with one scatter collection per point set, equal aspect ratio and
        a legend.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from adesk.plotting import plot_samples
    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_moons
    >>> X = make_moons(100, random_state=0)
    >>> from adesk.energies import MLP
    >>> from adesk.partition import AutoPartition
    >>> from adesk.samplers import HMC
    >>> est = ADEDensityEstimator(max_iter=2, energy_model=MLP((8,)), sampler=HMC(n_steps=2),
    ...                           partition=AutoPartition(resolution=16), random_state=0,
    ...                           device="cpu").fit(X)
    >>> fig, ax = plt.subplots()
    >>> ax = plot_samples(X, est.sample(50, random_state=0), ax=ax)
    >>> [collection.get_label() for collection in ax.collections]
    ['data', 'samples']
    >>> plt.close(fig)
    """
    X_data = _check_points(X_data, "X_data", exact=False)
    if X_samples is not None:
        X_samples = _check_points(X_samples, "X_samples", exact=False)
    data_label, samples_label = labels

    ax = _new_axes(ax)
    ax.scatter(
        X_data[:, 0],
        X_data[:, 1],
        marker="x",
        color="grey",
        s=12,
        alpha=0.5,
        linewidths=0.8,
        label=data_label,
    )
    if X_samples is not None:
        kwargs = _merge_scatter_kwargs(
            {"marker": "o", "color": "tab:orange", "s": 6, "alpha": 0.7, "linewidths": 0},
            scatter_kwargs,
        )
        kwargs.setdefault("label", samples_label)
        ax.scatter(X_samples[:, 0], X_samples[:, 1], **kwargs)

    if bounds is not None:
        (xmin, xmax), (ymin, ymax) = _check_bounds(bounds)
        ax.set_xlim(xmin, xmax)
        ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(loc="best", markerscale=2)
    return ax


def plot_convergence(estimator, ax=None, keys=None):
    """Plot training curves recorded by a fitted estimator.

    Parameters
    ----------
    estimator : object
        Fitted estimator with a ``history_`` attribute: a dict mapping curve names
        (e.g. ``"loss_energy"``, ``"loss_sampler"``, ``"step_size"``) to lists of
        floats recorded once per iteration. When it has no (or an empty)
        ``history_``, its ``loss_curve_`` list is plotted under the name ``"loss"``.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. A new figure is created when None.
    keys : str or list of str, default=None
        Names of the curves to plot; all non-empty curves when None.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes with one line per curve against the iteration index and a legend.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        (a subclass of ValueError) if the estimator has neither ``history_`` nor
        ``loss_curve_``.
    ValueError
        If a requested key is not recorded.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from adesk.plotting import plot_convergence
    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_moons
    >>> X = make_moons(100, random_state=0)
    >>> from adesk.energies import MLP
    >>> from adesk.partition import AutoPartition
    >>> from adesk.samplers import HMC
    >>> est = ADEDensityEstimator(max_iter=2, energy_model=MLP((8,)), sampler=HMC(n_steps=2),
    ...                           partition=AutoPartition(resolution=16), random_state=0,
    ...                           device="cpu").fit(X)
    >>> fig, ax = plt.subplots()
    >>> ax = plot_convergence(est, ax=ax, keys=["loss_energy", "loss_sampler"])
    >>> [(line.get_label(), len(line.get_xdata())) for line in ax.get_lines()]
    [('loss_energy', 2), ('loss_sampler', 2)]
    >>> plt.close(fig)
    """
    history = getattr(estimator, "history_", None)
    if isinstance(history, Mapping) and len(history) > 0:
        curves = dict(history)
    elif getattr(estimator, "loss_curve_", None) is not None:
        curves = {"loss": estimator.loss_curve_}
    else:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance has no 'history_' or 'loss_curve_' "
            "attribute; fit it before calling plot_convergence."
        )

    if keys is None:
        keys = [k for k, v in curves.items() if v is not None and len(v) > 0]
    else:
        keys = [keys] if isinstance(keys, str) else list(keys)
        missing = [k for k in keys if k not in curves]
        if missing:
            raise ValueError(f"Unknown convergence key(s) {missing}; available: {sorted(curves)}.")

    ax = _new_axes(ax)
    for key in keys:
        values = _to_numpy(curves[key]) if curves[key] is not None else np.empty(0)
        ax.plot(np.arange(values.shape[0]), values, label=key)
    ax.set_xlabel("iteration")
    ax.set_ylabel("value")
    if keys:
        ax.legend(loc="best")
    return ax


def plot_energy_histogram(
    estimator,
    X_data,
    X_samples,
    ax=None,
    bins=50,
    *,
    labels=("data", "samples"),
):
    """Overlaid histograms of the learned energy on data and on model samples.

    A well-trained sampler produces samples whose energies are distributed like
    those of the data (cf. Figure 3b of Dai et al., 2019, "Exponential family
    estimation via adversarial dynamics embedding").

    Parameters
    ----------
    estimator : object
        Fitted estimator exposing ``energy(X)``.
    X_data : array-like of shape (n_samples, n_features)
        Data points.
    X_samples : array-like of shape (n_draws, n_features), or int
        Samples drawn from the model, or the number of samples to draw with
        ``estimator.sample(n, random_state=0)`` (Figure 3 b/d uses 1,000). Image arrays
        ``(n, C, H, W)`` work for both data and samples.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. A new figure is created when None.
    bins : int or sequence of float, default=50
        Number of bins (shared by both histograms) or explicit bin edges.
    labels : tuple of str, default=("data", "samples")
        Legend labels of the two histograms.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes with two normalised histograms and a legend.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from adesk.plotting import plot_energy_histogram
    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_moons
    >>> X = make_moons(100, random_state=0)
    >>> from adesk.energies import MLP
    >>> from adesk.partition import AutoPartition
    >>> from adesk.samplers import HMC
    >>> est = ADEDensityEstimator(max_iter=2, energy_model=MLP((8,)), sampler=HMC(n_steps=2),
    ...                           partition=AutoPartition(resolution=16), random_state=0,
    ...                           device="cpu").fit(X)
    >>> fig, ax = plt.subplots()
    >>> ax = plot_energy_histogram(est, X, 100, ax=ax, bins=10)  # draws 100 samples
    >>> len(ax.patches)  # 10 bars per histogram
    20
    >>> plt.close(fig)
    """
    if isinstance(X_samples, (int, np.integer)) and not isinstance(X_samples, bool):
        if X_samples < 1:
            raise ValueError(f"X_samples as a count must be positive; got {X_samples}.")
        X_samples = estimator.sample(int(X_samples), random_state=0)
    e_data = _to_numpy(estimator.energy(np.asarray(X_data)))
    e_samples = _to_numpy(estimator.energy(np.asarray(X_samples)))
    e_data = e_data[np.isfinite(e_data)]
    e_samples = e_samples[np.isfinite(e_samples)]

    if np.ndim(bins) == 0:
        both = np.concatenate([e_data, e_samples])
        if both.size == 0:
            raise ValueError("No finite energies to plot.")
        lo, hi = float(both.min()), float(both.max())
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        bins = np.linspace(lo, hi, int(bins) + 1)

    data_label, samples_label = labels
    ax = _new_axes(ax)
    ax.hist(e_data, bins=bins, density=True, alpha=0.5, color="grey", label=data_label)
    ax.hist(e_samples, bins=bins, density=True, alpha=0.5, color="tab:orange", label=samples_label)
    ax.set_xlabel("energy $E(x)$")
    ax.set_ylabel("frequency (normalised)")
    ax.legend(loc="best")
    return ax


def plot_fit_summary(estimator, X_train, X_samples, path=None, title=None):
    """Three-panel overview of a 2-D fit: data, samples over data, learned density.

    Parameters
    ----------
    estimator : object
        Fitted estimator with ``n_features_in_ == 2``, see :func:`plot_density`.
    X_train : array-like of shape (n_samples, 2)
        Training data.
    X_samples : array-like of shape (n_draws, 2)
        Samples drawn from the model.
    path : str or path-like, default=None
        If given, the figure is saved there as PNG at 100 dpi.
    title : str, default=None
        Figure super-title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Figure with three axes side by side, sharing the view limits given by the
        training data range plus a 10% margin.

    Raises
    ------
    ValueError
        If the estimator or the point arrays are not two-dimensional.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from adesk.plotting import plot_fit_summary
    >>> from adesk import ADEDensityEstimator
    >>> from adesk.datasets import make_moons
    >>> X = make_moons(100, random_state=0)
    >>> from adesk.energies import MLP
    >>> from adesk.partition import AutoPartition
    >>> from adesk.samplers import HMC
    >>> est = ADEDensityEstimator(max_iter=2, energy_model=MLP((8,)), sampler=HMC(n_steps=2),
    ...                           partition=AutoPartition(resolution=16), random_state=0,
    ...                           device="cpu").fit(X)
    >>> fig = plot_fit_summary(est, X, est.sample(50, random_state=0), title="moons")
    >>> [ax.get_title() for ax in fig.axes]
    ['training data', 'model samples over data', 'learned density']
    >>> plt.close(fig)
    """
    _check_2d_estimator(estimator, "plot_fit_summary")
    X_train = _check_points(X_train, "X_train")
    X_samples = _check_points(X_samples, "X_samples")
    bounds = _bounds_from_data(X_train) if X_train.shape[0] > 0 else _DEFAULT_BOUNDS

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    try:
        plot_samples(X_train, ax=axes[0], bounds=bounds)
        axes[0].set_title("training data")
        plot_samples(X_train, X_samples, ax=axes[1], bounds=bounds)
        axes[1].set_title("model samples over data")
        plot_density(estimator, ax=axes[2], bounds=bounds)
        axes[2].set_aspect("equal", adjustable="box")
        axes[2].set_title("learned density")
        if title is not None:
            fig.suptitle(title)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, format="png", dpi=100)
    except Exception:
        plt.close(fig)
        raise
    return fig
