"""Energy functions: ``torch.nn.Module`` objects mapping ``(n, d)`` inputs to ``(n,)`` energies.

The sign convention is the same everywhere in adesk: ``E(x)`` is low where the data are likely and
the model density is ``exp(-E(x)) / Z``. The paper's potential is ``f = -E``.

An estimator's ``energy_model`` parameter takes the parameter objects :class:`MLP`,
:class:`Conv` and :class:`DiagonalGaussian` (or their names ``"mlp"``, ``"conv"``,
``"gaussian"``, or a callable ``f(n_features) -> torch.nn.Module``); ``fit`` builds the modules.
"""

from ._analytic import GaussianEnergy
from ._configs import MLP, Conv, DiagonalGaussian, EnergyConfig
from ._conv import ConvEnergy
from ._mlp import MLPEnergy

__all__ = [
    "MLP",
    "Conv",
    "ConvEnergy",
    "DiagonalGaussian",
    "EnergyConfig",
    "GaussianEnergy",
    "MLPEnergy",
]
