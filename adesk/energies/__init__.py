"""Energy functions: ``torch.nn.Module`` objects mapping ``(n, d)`` inputs to ``(n,)`` energies.

The sign convention is the same everywhere in adesk: ``E(x)`` is low where the data are likely and
the model density is ``exp(-E(x)) / Z``. The paper's potential is ``f = -E``.
"""

from ._analytic import GaussianEnergy
from ._conv import ConvEnergy
from ._mlp import MLPEnergy

__all__ = ["ConvEnergy", "GaussianEnergy", "MLPEnergy"]
