"""Plotting utilities for fitted energy-based density estimators (matplotlib only).

The functions target two-dimensional problems and draw on matplotlib Axes through the
object-oriented API; they never call ``plt.show()`` and work with the ``Agg`` backend.
"""

from ._density import (
    density_grid,
    plot_convergence,
    plot_density,
    plot_energy_histogram,
    plot_fit_summary,
    plot_samples,
)

__all__ = [
    "density_grid",
    "plot_convergence",
    "plot_density",
    "plot_energy_histogram",
    "plot_fit_summary",
    "plot_samples",
]
