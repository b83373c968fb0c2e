"""Plotting utilities for fitted energy-based density estimators (matplotlib only).

The density functions target two-dimensional problems; the image functions draw grids and
completion strips. All draw on matplotlib Axes through the object-oriented API, never call
``plt.show()`` and work with the ``Agg`` backend.
"""

from ._density import (
    density_grid,
    plot_convergence,
    plot_density,
    plot_energy_histogram,
    plot_fit_summary,
    plot_samples,
)
from ._images import plot_completion, plot_images

__all__ = [
    "density_grid",
    "plot_convergence",
    "plot_density",
    "plot_energy_histogram",
    "plot_completion",
    "plot_fit_summary",
    "plot_images",
    "plot_samples",
]
