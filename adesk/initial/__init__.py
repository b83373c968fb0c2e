"""Initial distributions ``q_0(x, v)`` of the dual sampler, with tractable densities.

Each one draws reparametrized samples ``(x_0, v_0)`` with their exact joint log-density and
gives an estimate of its entropy ``H(q_0)`` for the objective (eq. 20):

- :class:`GaussianInitial`: learnable diagonal Gaussian (analytic entropy);
- :class:`FlowInitial`: planar or RealNVP normalizing flow for ``x`` (Appendix C.2);
- :class:`LatentInitial`: deep latent variable model ``x = phi(v) + eps`` (eq. 39-40);
- :class:`ImageLatentInitial`: its deconvolutional version for images (Table 4(b));
- :class:`EmpiricalInitial`: the nonparametric ``q_0`` (stored data plus learned noise, eq. 41).

ADE's ``initial`` parameter takes the parameter objects :class:`Empirical`, :class:`Gaussian`,
:class:`Flow` and :class:`Latent` (or their names ``"data"``, ``"gaussian"``, ``"flow"``,
``"latent"``); ``fit`` builds the modules above from them.
"""

from ._configs import Empirical, Flow, Gaussian, InitialConfig, Latent
from ._empirical import EmpiricalInitial
from ._flow import AffineCoupling, FlowInitial, PlanarFlow
from ._gaussian import GaussianInitial
from ._image_latent import ImageLatentInitial
from ._latent import LatentInitial

__all__ = [
    "Empirical",
    "Flow",
    "Gaussian",
    "InitialConfig",
    "Latent",
    "AffineCoupling",
    "EmpiricalInitial",
    "FlowInitial",
    "GaussianInitial",
    "ImageLatentInitial",
    "LatentInitial",
    "PlanarFlow",
]
