"""Normalizing-flow initial distribution: a flow on ``x`` times a Gaussian on ``v``."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._common import LOG_2PI, isotropic_momentum_log_prob, standard_normal

FLOWS = ("planar", "realnvp")

# softplus(LOG_EXPM1_ONE) = 1, i.e. the value of ``w^T u`` at which the planar reparametrisation
# leaves ``u`` unchanged; used to start every planar layer at the identity map.
LOG_EXPM1_ONE = math.log(math.expm1(1.0))


def _standard_normal_log_prob(eps):
    return -0.5 * eps.pow(2).sum(-1) - 0.5 * eps.shape[-1] * LOG_2PI


class PlanarFlow(nn.Module):
    """Planar flow layer ``f(z) = z + u_hat tanh(w^T z + b)`` (Rezende & Mohamed, 2015).

    The free vector ``u`` is mapped to ``u_hat = u + (m(w^T u) - w^T u) w / |w|^2`` with
    ``m(a) = -1 + softplus(a)``, so that ``w^T u_hat = m(w^T u) > -1``: then
    ``1 + (w^T u_hat) tanh'(.) > 0`` everywhere and ``f`` is a bijection of ``R^d``.

    ``w`` is drawn from ``N(0, I / d)`` with torch's global generator (as ``nn.Linear`` does),
    which breaks the symmetry between stacked layers, and ``u`` is set to
    ``log(e - 1) w / |w|^2``: there ``m(w^T u) = w^T u`` so ``u_hat = 0`` and the layer starts
    as the identity while ``u`` still receives gradients.

    Parameters
    ----------
    dim : int
        Dimension ``d`` of ``z``.

    Attributes
    ----------
    w : torch.nn.Parameter of shape (d,)
    u : torch.nn.Parameter of shape (d,)
        Unconstrained version of ``u_hat`` (see :meth:`u_hat`).
    b : torch.nn.Parameter of shape ()

    Examples
    --------
    >>> import torch
    >>> layer = PlanarFlow(2)
    >>> y, log_det = layer(torch.ones(3, 2))
    >>> y.shape, log_det.shape
    (torch.Size([3, 2]), torch.Size([3]))
    >>> z, inverse_log_det = layer.inverse(y)
    >>> bool(torch.allclose(z, torch.ones(3, 2)))
    True
    """

    def __init__(self, dim):
        super().__init__()
        w = torch.randn(dim) / math.sqrt(dim)
        self.w = nn.Parameter(w)
        self.u = nn.Parameter(LOG_EXPM1_ONE * w / w.pow(2).sum())
        self.b = nn.Parameter(torch.zeros(()))

    def _wu_hat(self):
        # w^T u_hat equals m(w^T u) exactly; returning it directly keeps it > -1 in floating
        # point instead of recomputing the dot product.
        return F.softplus(self.w @ self.u) - 1.0

    def u_hat(self):
        """The constrained vector ``u_hat`` with ``w^T u_hat > -1``."""
        wu = self.w @ self.u
        return self.u + (self._wu_hat() - wu) * self.w / self.w.pow(2).sum()

    def forward(self, z):
        """Apply the layer.

        Parameters
        ----------
        z : torch.Tensor of shape (n, d)

        Returns
        -------
        y : torch.Tensor of shape (n, d)
        log_abs_det : torch.Tensor of shape (n,)
            ``log |det df/dz|`` at each row of ``z``.
        """
        h = torch.tanh(z @ self.w + self.b)
        y = z + h.unsqueeze(-1) * self.u_hat()
        log_abs_det = torch.log1p(self._wu_hat() * (1.0 - h.pow(2)))
        return y, log_abs_det

    def inverse(self, y, max_iter=100):
        """Invert the layer numerically.

        A planar map has no closed-form inverse, but ``alpha = w^T z`` solves the scalar
        equation ``w^T y = alpha + (w^T u_hat) tanh(alpha + b)``, whose right-hand side is
        strictly increasing in ``alpha``. The root lies in ``[w^T y - |c|, w^T y + |c|]``
        (``c = w^T u_hat``, as ``|tanh| <= 1``) and is found per row by Newton's method,
        falling back to bisection whenever a Newton step leaves the bracket, until the step
        reaches a few machine epsilons of the input dtype or ``max_iter`` iterations; then
        ``z = y - u_hat tanh(alpha + b)``.

        The iterations run without autograd; one final Newton step is taken with autograd on,
        which at the root gives the exact gradients of the implicit function theorem with
        respect to ``y`` and the layer's parameters.

        Parameters
        ----------
        y : torch.Tensor of shape (n, d)
        max_iter : int, default=100

        Returns
        -------
        z : torch.Tensor of shape (n, d)
        log_abs_det : torch.Tensor of shape (n,)
            ``log |det df^{-1}/dy|``, i.e. minus the forward log-determinant at ``z``.
        """
        c = self._wu_hat()
        s = y @ self.w
        with torch.no_grad():
            alpha0 = self._solve(s.detach(), c.detach(), self.b.detach(), max_iter)
        t = torch.tanh(alpha0 + self.b)
        alpha = alpha0 - (alpha0 + c * t - s) / (1.0 + c * (1.0 - t.pow(2)))
        h = torch.tanh(alpha + self.b)
        z = y - h.unsqueeze(-1) * self.u_hat()
        return z, -torch.log1p(c * (1.0 - h.pow(2)))

    @staticmethod
    def _solve(s, c, b, max_iter):
        """Root of ``alpha + c tanh(alpha + b) = s`` per entry of ``s`` (safeguarded Newton)."""
        tol = 8.0 * torch.finfo(s.dtype).eps
        lo, hi = s - c.abs(), s + c.abs()
        alpha = s.clone()
        for _ in range(max_iter):
            t = torch.tanh(alpha + b)
            g = alpha + c * t - s
            lo = torch.where(g < 0, alpha, lo)
            hi = torch.where(g > 0, alpha, hi)
            slope = 1.0 + c * (1.0 - t.pow(2))
            newton = torch.where(g == 0, alpha, alpha - g / slope)
            # A NaN/inf step (vanishing slope when c is near -1) also fails this test.
            inside = (newton >= lo) & (newton <= hi)
            new_alpha = torch.where(inside, newton, 0.5 * (lo + hi))
            scale = tol * (1.0 + new_alpha.abs())
            done = ((new_alpha - alpha).abs() <= scale) | (hi - lo <= scale)
            alpha = new_alpha
            if bool(torch.all(done)):
                break
        return alpha


class AffineCoupling(nn.Module):
    """Affine coupling layer of RealNVP (Dinh et al., 2017).

    The coordinates are split into halves: ``parity=0`` conditions on the first ``d // 2``
    coordinates and transforms the rest, ``parity=1`` conditions on the last ``d // 2`` and
    transforms the first ``d - d // 2``, so alternating parities transform every coordinate.
    The transformed part becomes ``y_t = z_t exp(s) + t`` with ``(s_raw, t) = MLP(z_c)`` and
    ``s = B tanh(s_raw / B)``, ``B = log_scale_bound``: the soft bound keeps each layer's
    scale factor within ``[e^-B, e^B]`` so early training steps cannot blow up the density.

    For ``d = 1`` there is nothing to condition on: ``(s, t)`` is then a learned constant, i.e.
    the layer is a data-independent learned affine map (a 1-D RealNVP flow is thus Gaussian).

    The last linear layer of the MLP (or the constant) is zero-initialised, so the layer starts
    as the identity.

    Parameters
    ----------
    dim : int
        Dimension ``d`` of ``z``.
    parity : {0, 1}, default=0
        Which half is conditioned on.
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden widths of the conditioner MLP (SiLU activations).
    log_scale_bound : float, default=2.0
        ``B`` above.

    Examples
    --------
    >>> import torch
    >>> layer = AffineCoupling(3, parity=1, hidden_layer_sizes=(8,))
    >>> y, log_det = layer(torch.randn(4, 3))
    >>> z, inverse_log_det = layer.inverse(y)
    >>> z.shape, bool(torch.allclose(log_det, -inverse_log_det))
    (torch.Size([4, 3]), True)
    """

    def __init__(self, dim, parity=0, hidden_layer_sizes=(64, 64), log_scale_bound=2.0):
        super().__init__()
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 or 1; got {parity!r}.")
        self.dim = int(dim)
        self.parity = parity
        self.log_scale_bound = float(log_scale_bound)
        n_cond = self.dim // 2
        n_trans = self.dim - n_cond
        self._n_cond = n_cond
        if n_cond == 0:
            self.network = None
            self.constant = nn.Parameter(torch.zeros(2 * n_trans))
        else:
            widths = [n_cond, *hidden_layer_sizes, 2 * n_trans]
            layers = []
            for fan_in, fan_out in zip(widths[:-1], widths[1:]):
                layers += [nn.Linear(fan_in, fan_out), nn.SiLU()]
            layers.pop()
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
            self.network = nn.Sequential(*layers)

    def _split(self, x):
        """Return ``(conditioning, transformed)`` parts of ``x``."""
        if self.parity == 0:
            return x[:, : self._n_cond], x[:, self._n_cond :]
        return x[:, self.dim - self._n_cond :], x[:, : self.dim - self._n_cond]

    def _merge(self, cond, trans):
        if self.parity == 0:
            return torch.cat([cond, trans], dim=1)
        return torch.cat([trans, cond], dim=1)

    def _scale_shift(self, cond):
        if self.network is None:
            params = self.constant.expand(cond.shape[0], -1)
        else:
            params = self.network(cond)
        s_raw, shift = params.chunk(2, dim=1)
        bound = self.log_scale_bound
        return bound * torch.tanh(s_raw / bound), shift

    def forward(self, z):
        """Apply the layer.

        Parameters
        ----------
        z : torch.Tensor of shape (n, d)

        Returns
        -------
        y : torch.Tensor of shape (n, d)
        log_abs_det : torch.Tensor of shape (n,)
            ``log |det df/dz|``, the sum of the log-scales.
        """
        cond, trans = self._split(z)
        log_scale, shift = self._scale_shift(cond)
        y = self._merge(cond, trans * torch.exp(log_scale) + shift)
        return y, log_scale.sum(1)

    def inverse(self, y):
        """Invert the layer exactly.

        Parameters
        ----------
        y : torch.Tensor of shape (n, d)

        Returns
        -------
        z : torch.Tensor of shape (n, d)
        log_abs_det : torch.Tensor of shape (n,)
            ``log |det df^{-1}/dy|``, minus the forward log-determinant at ``z``.
        """
        cond, trans = self._split(y)
        log_scale, shift = self._scale_shift(cond)
        z = self._merge(cond, (trans - shift) * torch.exp(-log_scale))
        return z, -log_scale.sum(1)


class FlowInitial(nn.Module):
    """``q_0(x, v) = q_flow(x) N(v; 0, I / lambda)`` with a normalizing flow ``q_flow``.

    The factorized form is the one the paper suggests for a flow-based ``q_0`` (Appendix C.2).
    ``q_flow`` pushes a learned diagonal Gaussian ``N(mu, diag(s^2))`` (``mu = 0``, ``s = 1`` at
    start) through ``n_layers`` planar layers or RealNVP affine couplings with alternating
    halves. Every layer starts as the identity, so ``q_flow`` starts as the standard normal
    that suits standardized data.

    Densities follow the change of variables. :meth:`sample` accumulates the forward
    log-determinants; :meth:`log_prob` inverts the flow, exactly for ``"realnvp"`` and with a
    per-layer scalar root-finder (to float precision) for ``"planar"``.

    Parameters
    ----------
    n_features : int
        Dimension ``d`` of ``x``.
    momentum_dim : int, optional
        Dimension ``l`` of ``v``; defaults to ``d``.
    flow : {"planar", "realnvp"}, default="planar"
        Layer type.
    n_layers : int, default=10
        Number of flow layers.
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Conditioner widths of the RealNVP couplings (unused by ``"planar"``).
    momentum_penalty : float, default=1.0
        ``lambda``; the momentum law is fixed to the augmented model's ``N(0, I / lambda)``.

    Examples
    --------
    >>> import torch
    >>> q0 = FlowInitial(2, momentum_dim=1, flow="realnvp", n_layers=4, hidden_layer_sizes=(8,))
    >>> x, v, log_q = q0.sample(5, torch.Generator().manual_seed(0))
    >>> x.shape, v.shape, log_q.shape
    (torch.Size([5, 2]), torch.Size([5, 1]), torch.Size([5]))
    >>> bool(torch.allclose(q0.log_prob(x, v), log_q, atol=1e-5))
    True
    """

    def __init__(
        self,
        n_features,
        momentum_dim=None,
        flow="planar",
        n_layers=10,
        hidden_layer_sizes=(64, 64),
        momentum_penalty=1.0,
    ):
        super().__init__()
        if flow not in FLOWS:
            raise ValueError(f"flow must be one of {list(FLOWS)}; got {flow!r}.")
        self.n_features = int(n_features)
        self.momentum_dim = self.n_features if momentum_dim is None else int(momentum_dim)
        self.flow = flow
        self.momentum_penalty = float(momentum_penalty)
        self.base_mean = nn.Parameter(torch.zeros(self.n_features))
        self.base_log_std = nn.Parameter(torch.zeros(self.n_features))
        if flow == "planar":
            layers = [PlanarFlow(self.n_features) for _ in range(n_layers)]
        else:
            layers = [
                AffineCoupling(self.n_features, i % 2, hidden_layer_sizes) for i in range(n_layers)
            ]
        self.layers = nn.ModuleList(layers)

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
        eps = standard_normal((n_samples, self.n_features), generator, self.base_mean)
        position = self.base_mean + torch.exp(self.base_log_std) * eps
        log_q = _standard_normal_log_prob(eps) - self.base_log_std.sum()
        for layer in self.layers:
            position, log_det = layer(position)
            log_q = log_q - log_det
        momentum = standard_normal(
            (n_samples, self.momentum_dim), generator, self.base_mean
        ) / math.sqrt(self.momentum_penalty)
        if not with_log_prob:
            return position, momentum, None
        log_q = log_q + isotropic_momentum_log_prob(momentum, self.momentum_penalty)
        return position, momentum, log_q

    def position_log_prob(self, position):
        """Marginal ``log q_flow(x)``, by inverting the flow.

        Parameters
        ----------
        position : torch.Tensor of shape (n, d)

        Returns
        -------
        torch.Tensor of shape (n,)
        """
        z = position
        log_q = torch.zeros_like(position[:, 0])
        for layer in reversed(self.layers):
            z, log_det = layer.inverse(z)
            log_q = log_q + log_det
        eps = (z - self.base_mean) * torch.exp(-self.base_log_std)
        return log_q + _standard_normal_log_prob(eps) - self.base_log_std.sum()

    def log_prob(self, position, momentum):
        """Joint ``log q_0(x, v) = log q_flow(x) + log N(v; 0, I / lambda)``.

        Parameters
        ----------
        position : torch.Tensor of shape (n, d)
        momentum : torch.Tensor of shape (n, l)

        Returns
        -------
        torch.Tensor of shape (n,)
        """
        return self.position_log_prob(position) + isotropic_momentum_log_prob(
            momentum, self.momentum_penalty
        )

    def entropy(self, log_q):
        """Monte Carlo entropy ``-mean(log q_0)`` over a batch drawn by :meth:`sample`."""
        return -log_q.mean()
