"""Multi-layer perceptron energy."""

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}


class MLPEnergy(nn.Module):
    """Energy ``E(x) = MLP(z) + base_precision * |z|^2 / 2`` on standardized inputs ``z``.

    Parameters
    ----------
    n_features : int
        Input dimension ``d``.
    hidden_layer_sizes : tuple of int, default=(128, 128, 128)
        Width of each hidden layer.
    activation : {"relu", "silu", "softplus", "tanh", "elu", "leaky_relu"}, default="silu"
        Hidden non-linearity. Smooth activations give non-zero Hessians, which the gradients
        through the dynamics embedding (BPTT) rely on.
    spectral_norm : bool, default=False
        Wrap every linear layer in :func:`torch.nn.utils.parametrizations.spectral_norm`.
    base_precision : float, default=0.0
        Weight of a fixed isotropic quadratic term. It plays the role of the base measure ``p0``
        of the paper's eq. (1): with a positive value ``exp(-E)`` is integrable whatever the
        network does far from the data, because an MLP grows at most linearly.
    shift, scale : array-like of shape (n_features,), optional
        Affine standardization ``z = (x - shift) / scale`` applied before the network, stored as
        buffers so the module maps raw inputs to energies.

    Examples
    --------
    >>> import torch
    >>> energy = MLPEnergy(2, hidden_layer_sizes=(16,))
    >>> energy(torch.zeros(5, 2)).shape
    torch.Size([5])
    """

    def __init__(
        self,
        n_features,
        hidden_layer_sizes=(128, 128, 128),
        activation="silu",
        spectral_norm=False,
        base_precision=0.0,
        shift=None,
        scale=None,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}."
            )
        widths = [n_features, *hidden_layer_sizes, 1]
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            linear = nn.Linear(fan_in, fan_out)
            if spectral_norm:
                linear = nn.utils.parametrizations.spectral_norm(linear)
            layers.append(linear)
            if i < len(widths) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.network = nn.Sequential(*layers)
        self.base_precision = float(base_precision)
        shift = torch.zeros(n_features) if shift is None else torch.as_tensor(shift)
        scale = torch.ones(n_features) if scale is None else torch.as_tensor(scale)
        self.register_buffer("shift", shift.detach().clone().float())
        self.register_buffer("scale", scale.detach().clone().float())

    def forward(self, x):
        z = (x - self.shift) / self.scale
        energy = self.network(z).squeeze(-1)
        if self.base_precision > 0:
            energy = energy + 0.5 * self.base_precision * z.pow(2).sum(-1)
        return energy
