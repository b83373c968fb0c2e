"""Energies as parameter objects: what an estimator's ``energy_model`` parameter holds.

``fit`` turns them into the modules :class:`~adesk.energies.MLPEnergy`,
:class:`~adesk.energies.ConvEnergy` and :class:`~adesk.energies.GaussianEnergy`.
"""

from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._components import Component, check_layer_sizes
from ._mlp import ACTIVATIONS


class EnergyConfig(Component):
    """Base class of the energy parameter objects; ``kind`` is the shortcut string."""

    kind = None


class MLP(EnergyConfig):
    """A multilayer perceptron energy ``E(z) = net(z) + base_precision |z|^2 / 2`` on
    standardized inputs. The shortcut is ``energy_model="mlp"``.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(128, 128, 128)
        Hidden widths.
    activation : str, default="silu"
        Hidden activation: "relu", "silu", "softplus", "tanh", "elu", "leaky_relu".
    spectral_norm : bool, default=False
        Spectral normalization of every linear layer.
    base_precision : float, default=0.1
        Weight of a fixed quadratic ``|z|^2 / 2`` term (the base measure of eq. 1): it makes
        ``exp(-E)`` integrable whatever the network does far from the data, where no chain
        goes; inside the data's range the network absorbs it.

    Examples
    --------
    >>> from adesk.energies import MLP
    >>> MLP(hidden_layer_sizes=(64, 64))
    MLP(hidden_layer_sizes=(64, 64))
    """

    kind = "mlp"
    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "spectral_norm": ["boolean"],
        "base_precision": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(128, 128, 128),
        activation="silu",
        *,
        spectral_norm=False,
        base_precision=0.1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.spectral_norm = spectral_norm
        self.base_precision = base_precision

    def _check(self, path, caller):
        self.sizes(f"{path}__hidden_layer_sizes")

    def sizes(self, name="hidden_layer_sizes"):
        """``hidden_layer_sizes`` as a tuple of positive ints (an int means one layer)."""
        return check_layer_sizes(self.hidden_layer_sizes, name)


class Conv(EnergyConfig):
    """The paper's convolutional image energy (Table 4(a), :class:`~adesk.energies.ConvEnergy`).
    The shortcut is ``energy_model="conv"``.

    Parameters
    ----------
    image_shape : tuple of 3 ints or None, default=None
        ``(channels, height, width)`` of flat image rows. Not needed when ``X`` is passed as an
        ``(n, C, H, W)`` array, whose layout is recorded (``image_shape_``) and used by
        ``sample``. Flat rows without an image shape are treated as ``(1, 1, n_features)``
        images (1-D signals).
    spectral_norm : bool, default=False
        Spectral normalization of every convolution and linear layer.
    base_precision : float, default=0.1
        Weight of a fixed quadratic ``|z|^2 / 2`` term.

    Examples
    --------
    >>> from adesk.energies import Conv
    >>> Conv(image_shape=(1, 8, 8))
    Conv(image_shape=(1, 8, 8))
    """

    kind = "conv"
    _parameter_constraints = {
        "image_shape": ["array-like", None],
        "spectral_norm": ["boolean"],
        "base_precision": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, image_shape=None, *, spectral_norm=False, base_precision=0.1):
        self.image_shape = image_shape
        self.spectral_norm = spectral_norm
        self.base_precision = base_precision


class DiagonalGaussian(EnergyConfig):
    """A learnable diagonal Gaussian energy (:class:`~adesk.energies.GaussianEnergy`), started
    at the standardized data's ``N(0, I)``; for parameter recovery. The shortcut is
    ``energy_model="gaussian"``.

    Examples
    --------
    >>> from adesk.energies import DiagonalGaussian
    >>> DiagonalGaussian()
    DiagonalGaussian()
    """

    kind = "gaussian"

    def __init__(self):
        pass


#: Shortcut strings accepted by an estimator's ``energy_model`` parameter.
ENERGY_SHORTCUTS = {"mlp": MLP, "conv": Conv, "gaussian": DiagonalGaussian}
