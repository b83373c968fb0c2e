"""Multi-layer perceptron energy."""

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
    """Energy ``E(x) = MLP(x) + base_precision * |x|^2 / 2``.

    The estimators feed it standardized inputs (``(x - mean_) / scale_``), so the quadratic
    term is isotropic in units of the data's spread.

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

    def forward(self, x):
        energy = self.network(x).squeeze(-1)
        if self.base_precision > 0:
            energy = energy + 0.5 * self.base_precision * x.pow(2).sum(-1)
        return energy
