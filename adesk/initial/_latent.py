"""Deep latent variable initial distribution whose latent variable is the momentum (eq. 39-40)."""

import math

import torch
from torch import nn

from ._common import LOG_2PI, isotropic_momentum_log_prob, standard_normal


class DecoderLatentInitial(nn.Module):
    """Shared density of the deep latent initial distributions:
    ``q_0(x, v) = N(x; phi(v), diag(sigma^2)) N(v; 0, I / lambda)``.

    Subclasses set ``n_features``, ``latent_dim``, ``momentum_penalty`` and the decoder
    ``phi`` (``self.decoder``, mapping ``(n, latent_dim)`` to flat ``(n, n_features)``), and
    call :meth:`_init_noise` for the learned per-feature ``log sigma``.
    """

    def _init_noise(self, noise_std, learn_noise):
        log_noise = torch.full((self.n_features,), math.log(noise_std))
        if learn_noise:
            self.log_noise_std = nn.Parameter(log_noise)
        else:
            self.register_buffer("log_noise_std", log_noise)

    @property
    def momentum_dim(self):
        """Alias of ``latent_dim``: the latent variable is the momentum."""
        return self.latent_dim

    def sample(self, n_samples, generator, with_log_prob=True):
        """Draw reparametrized ``(x_0, v_0)`` and ``log q_0(x_0, v_0)``.

        Parameters
        ----------
        n_samples : int
        generator : torch.Generator
            The only source of randomness; on the device of the parameters.
        with_log_prob : bool, default=True
            ``False`` returns ``None`` for ``log_q`` (when only the draw is needed).

        Returns
        -------
        position : torch.Tensor of shape (n_samples, d)
        momentum : torch.Tensor of shape (n_samples, l)
        log_q : torch.Tensor of shape (n_samples,) or None
        """
        like = self.log_noise_std
        momentum = standard_normal((n_samples, self.latent_dim), generator, like) / math.sqrt(
            self.momentum_penalty
        )
        eps = standard_normal((n_samples, self.n_features), generator, like)
        position = self.decoder(momentum) + torch.exp(self.log_noise_std) * eps
        if not with_log_prob:
            return position, momentum, None
        # In terms of eps the conditional density needs no second decoder pass (which would
        # also update batch norm's running statistics twice) and is exactly the one log_prob
        # evaluates at (position, momentum).
        log_q_x = -0.5 * eps.pow(2).sum(-1) - self._log_normaliser()
        return (
            position,
            momentum,
            log_q_x + isotropic_momentum_log_prob(momentum, self.momentum_penalty),
        )

    def conditional_log_prob(self, position, momentum):
        """``log q_0(x | v) = log N(x; phi(v), diag(sigma^2))``.

        Parameters
        ----------
        position : torch.Tensor of shape (n, d)
        momentum : torch.Tensor of shape (n, l)

        Returns
        -------
        torch.Tensor of shape (n,)
        """
        eps = (position - self.decoder(momentum)) * torch.exp(-self.log_noise_std)
        return -0.5 * eps.pow(2).sum(-1) - self._log_normaliser()

    def log_prob(self, position, momentum):
        """Exact joint ``log q_0(x, v) = log q_0(x | v) + log N(v; 0, I / lambda)``.

        Parameters
        ----------
        position : torch.Tensor of shape (n, d)
        momentum : torch.Tensor of shape (n, l)

        Returns
        -------
        torch.Tensor of shape (n,)
        """
        return self.conditional_log_prob(position, momentum) + isotropic_momentum_log_prob(
            momentum, self.momentum_penalty
        )

    def entropy(self, log_q):
        """Monte Carlo entropy ``-mean(log q_0)`` over a batch drawn by :meth:`sample`."""
        return -log_q.mean()

    def _log_normaliser(self):
        return self.log_noise_std.sum() + 0.5 * self.n_features * LOG_2PI


class LatentInitial(DecoderLatentInitial):
    """``q_0(x, v) = N(x; phi(v), diag(sigma^2)) N(v; 0, I / lambda)`` with an MLP ``phi``.

    The paper's deep latent variable model (Appendix C.2, eq. 39-40) uses the latent variable
    of a decoder ``x = phi(v) + eps`` as the sampler's momentum ``v``. The x-marginal is then
    an infinite mixture of Gaussians and is intractable, but the joint density that the dual
    objective needs is exact, and so is the Monte Carlo entropy ``-mean(log q_0(x, v))``.

    The estimator works on standardized data, so ``phi`` is initialised to make the initial
    x-marginal roughly standard normal: torch's default initialisation, then output weights
    rescaled and output bias shifted so that each coordinate of ``phi(v)`` has mean 0 and
    standard deviation ``sqrt(1 - noise_std^2)`` over a probe batch of ``v ~ N(0, I / lambda)``
    drawn from torch's global generator (as the default initialisation is). The default ``phi``
    alone has an output spread of a few hundredths and would leave ``x`` at the noise scale.
    No rescaling is done when ``noise_std >= 1``.

    Parameters
    ----------
    n_features : int
        Dimension ``d`` of ``x``.
    latent_dim : int, optional
        Dimension ``l`` of ``v`` (the momentum dimension); defaults to ``d``.
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden widths of ``phi`` (SiLU activations).
    noise_std : float, default=0.5
        Initial ``sigma`` in every dimension; learned as ``log sigma`` per dimension.
    momentum_penalty : float, default=1.0
        ``lambda``; the latent law is fixed to the augmented model's ``N(0, I / lambda)``.
    learn_noise : bool, default=True
        If False, ``sigma`` stays at ``noise_std``.

    Examples
    --------
    >>> import torch
    >>> q0 = LatentInitial(3, latent_dim=2, hidden_layer_sizes=(16,))
    >>> x, v, log_q = q0.sample(4, torch.Generator().manual_seed(0))
    >>> x.shape, v.shape, log_q.shape
    (torch.Size([4, 3]), torch.Size([4, 2]), torch.Size([4]))
    >>> bool(torch.allclose(q0.log_prob(x, v), log_q, atol=1e-5))
    True
    """

    def __init__(
        self,
        n_features,
        latent_dim=None,
        hidden_layer_sizes=(64, 64),
        noise_std=0.5,
        momentum_penalty=1.0,
        learn_noise=True,
    ):
        super().__init__()
        self.n_features = int(n_features)
        self.latent_dim = self.n_features if latent_dim is None else int(latent_dim)
        self.momentum_penalty = float(momentum_penalty)
        widths = [self.latent_dim, *hidden_layer_sizes, self.n_features]
        layers = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.SiLU()]
        layers.pop()
        self.decoder = nn.Sequential(*layers)
        self._rescale_decoder(math.sqrt(max(1.0 - noise_std**2, 0.0)))
        self._init_noise(noise_std, learn_noise)

    @torch.no_grad()
    def _rescale_decoder(self, target_std, n_probe=1024):
        if target_std == 0.0:
            return
        probe = torch.randn(n_probe, self.latent_dim) / math.sqrt(self.momentum_penalty)
        std = self.decoder(probe).std(0).clamp_min(1e-12)
        self.decoder[-1].weight.mul_((target_std / std).unsqueeze(1))
        # SiLU outputs have a non-zero mean, which the rescaling amplifies: re-centre.
        self.decoder[-1].bias.sub_(self.decoder(probe).mean(0))
