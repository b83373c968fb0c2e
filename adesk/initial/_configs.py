"""Initial distributions as parameter objects: what ADE's ``initial`` parameter holds.

The torch modules they become in ``fit`` are :class:`~adesk.initial.EmpiricalInitial`,
:class:`~adesk.initial.GaussianInitial`, :class:`~adesk.initial.FlowInitial` and
:class:`~adesk.initial.LatentInitial` (or :class:`~adesk.initial.ImageLatentInitial`).
"""

import textwrap
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._components import Component, check_layer_sizes

_PERSISTENCE_CONSTRAINTS = {
    "replay_buffer_size": [Interval(Integral, 0, None, closed="left"), None],
    "reinit_probability": [Interval(Real, 0, 1, closed="both")],
}

_PERSISTENCE_DOC = """\
replay_buffer_size : int or None, default=None
    Number of persistent chain states that the energy's negatives continue from (0:
    chains start from ``q_0`` every iteration and ``q_0`` is trained with the dynamics
    by the paper's sampler objective, eq. 20). ``None`` keeps one chain per minibatch
    row (``batch_size`` chains), so that every chain makes a transition every iteration
    and follows the energy as it changes; ``q_0`` then only starts and restarts the
    chains and is trained on its own draws to match the model (``KL(q_0 || p)``, the
    sampler objective with no dynamics). Measured on moons (1,000 iterations, see
    ``benchmarks/README.md``): with restarts every iteration a parametric ``q_0`` lets the
    energy run away or settle 0.7-6.5 nats below the tuned mixture, with the buffer every
    sampler is within 0.2 nats of it on 3 seeds. ``replay_buffer_size * n_features`` floats
    of memory.
reinit_probability : float in [0, 1], default=0.05
    Fraction of buffer chains restarted from ``q_0`` each iteration."""


class InitialConfig(Component):
    """Base class of the initial-distribution parameter objects; ``kind`` is the shortcut."""

    kind = None

    def _check(self, path, caller):
        if self.replay_buffer_size == 0 and (
            self.reinit_probability != 0.05 or getattr(self, "reinit_scale", None) is not None
        ):
            raise ValueError(
                f"{path}__reinit_probability and {path}__reinit_scale restart persistent "
                f"chains, and {path}__replay_buffer_size=0 keeps none; leave them at their "
                "defaults or use a replay buffer (got "
                f"reinit_probability={self.reinit_probability!r}, "
                f"reinit_scale={getattr(self, 'reinit_scale', None)!r})."
            )


class Empirical(InitialConfig):
    """The nonparametric ``q_0`` of the paper's Appendix C.2: stored training points plus
    learned Gaussian noise, ``v_0 ~ N(0, I / lambda)``; its density is a kernel density
    estimate evaluated exactly. The shortcut is ``initial="data"``.

    By default the chains then continue from a replay buffer of persistent chain states.

    Parameters
    ----------
    noise : float, default=0.1
        Initial noise scale (standardized units).
    learn_noise : bool, default=True
        Learn that noise scale with the sampler (with the replay buffer on it only shapes
        the buffer's start and the restarts from the data).
    max_points : int, default=2000
        Training points stored (a random subset if there are more); ``max_points *
        n_features`` floats of memory.
    replay_buffer_size : int or None, default=None
        Number of persistent chain states that the chains start from (0: chains start from
        ``q_0`` every iteration, as in the paper's eq. 41). ``None`` keeps one chain per
        minibatch row (``batch_size`` chains), so that every chain makes a transition every
        iteration and follows the energy as it changes; a larger buffer visits each chain only
        every ``replay_buffer_size / batch_size`` iterations, and its stale chains let the
        energy run away (measured on Ring, see ``doc/ade.md``).
    reinit_probability : float in [0, 1], default=0.05
        Fraction of buffer chains restarted each iteration: from ``q_0`` (data plus noise),
        or half of them from ``N(0, reinit_scale^2 I)`` when ``reinit_scale`` is set.
        Restarts from the data keep the chains' share of each mode close to the data's.
    reinit_scale : float or None, default=None
        Standard deviation (standardized units) of broad restarts, ``None`` for none. Broad
        restarts land far from the data, where chains can stay stuck while the energy rises
        around them (measured: they made Ring and moons run away without a gradient penalty).

    Examples
    --------
    >>> from adesk.initial import Empirical
    >>> Empirical(noise=0.2)
    Empirical(noise=0.2)
    """

    kind = "data"
    _parameter_constraints = {
        "noise": [Interval(Real, 0, None, closed="neither")],
        "learn_noise": ["boolean"],
        "max_points": [Interval(Integral, 1, None, closed="left")],
        "replay_buffer_size": [Interval(Integral, 0, None, closed="left"), None],
        "reinit_probability": [Interval(Real, 0, 1, closed="both")],
        "reinit_scale": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        noise=0.1,
        *,
        learn_noise=True,
        max_points=2000,
        replay_buffer_size=None,
        reinit_probability=0.05,
        reinit_scale=None,
    ):
        self.noise = noise
        self.learn_noise = learn_noise
        self.max_points = max_points
        self.replay_buffer_size = replay_buffer_size
        self.reinit_probability = reinit_probability
        self.reinit_scale = reinit_scale


class Gaussian(InitialConfig):
    """A learnable diagonal Gaussian on ``(x, v)``, initialised from the data's mean and scale
    (analytic entropy). The shortcut is ``initial="gaussian"``.

    Parameters
    ----------
    {persistence}

    Examples
    --------
    >>> from adesk.initial import Gaussian
    >>> Gaussian()
    Gaussian()
    """

    kind = "gaussian"
    _parameter_constraints = dict(_PERSISTENCE_CONSTRAINTS)

    def __init__(self, *, replay_buffer_size=None, reinit_probability=0.05):
        self.replay_buffer_size = replay_buffer_size
        self.reinit_probability = reinit_probability


class Flow(InitialConfig):
    """A normalizing flow for ``x`` (paper Appendix C.2). ADE's ``initial`` (times the
    momentum Gaussian; shortcut ``"flow"``) and :class:`~adesk.FlowDualEstimator`'s dual
    sampler (shortcuts ``"planar"`` and ``"realnvp"``).

    Parameters
    ----------
    n_layers : int, default=10
        Number of flow layers (10 in the paper).
    layer : {"planar", "realnvp"}, default="planar"
        Planar flows (the paper's) or RealNVP affine couplings.
    hidden_layer_sizes : tuple of int or None, default=None
        Hidden widths of the RealNVP conditioners; ``None`` means ``(64, 64)``. Planar layers
        have no hidden layers, so it must stay ``None`` with ``layer="planar"``.
    {persistence}
        Only as ADE's ``initial``: :class:`~adesk.FlowDualEstimator` refuses both (its flow
        is the sampler itself).

    Examples
    --------
    >>> from adesk.initial import Flow
    >>> Flow(n_layers=4, layer="realnvp")
    Flow(layer='realnvp', n_layers=4)
    """

    kind = "flow"
    _parameter_constraints = {
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "layer": [StrOptions({"planar", "realnvp"})],
        "hidden_layer_sizes": ["array-like", None],
        **_PERSISTENCE_CONSTRAINTS,
    }

    def __init__(
        self,
        n_layers=10,
        layer="planar",
        *,
        hidden_layer_sizes=None,
        replay_buffer_size=None,
        reinit_probability=0.05,
    ):
        self.n_layers = n_layers
        self.layer = layer
        self.hidden_layer_sizes = hidden_layer_sizes
        self.replay_buffer_size = replay_buffer_size
        self.reinit_probability = reinit_probability

    def _check(self, path, caller):
        super()._check(path, caller)
        if self.hidden_layer_sizes is None:
            return
        if self.layer == "planar":
            raise ValueError(
                f"{path}__hidden_layer_sizes sets the RealNVP conditioners; planar layers "
                f"({path}__layer='planar') have none. Got "
                f"hidden_layer_sizes={self.hidden_layer_sizes!r}."
            )
        check_layer_sizes(self.hidden_layer_sizes, f"{path}__hidden_layer_sizes")

    def conditioner_sizes(self):
        """Hidden widths of the RealNVP conditioners (``None`` resolved)."""
        if self.hidden_layer_sizes is None:
            return (64, 64)
        return check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")


class Latent(InitialConfig):
    """The deep latent variable model of the paper's eq. (39-40): ``v ~ N(0, I / lambda)``,
    ``x = phi(v) + eps``, whose latent variable is the sampler's momentum (of the sampler's
    ``latent_dim`` with :class:`~adesk.samplers.GHMC`). The shortcut is ``"latent"``.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden widths of the decoder ``phi``.
    {persistence}

    Examples
    --------
    >>> from adesk.initial import Latent
    >>> Latent(hidden_layer_sizes=(32,))
    Latent(hidden_layer_sizes=(32,))
    """

    kind = "latent"
    _parameter_constraints = {"hidden_layer_sizes": ["array-like"], **_PERSISTENCE_CONSTRAINTS}

    def __init__(
        self, hidden_layer_sizes=(64, 64), *, replay_buffer_size=None, reinit_probability=0.05
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.replay_buffer_size = replay_buffer_size
        self.reinit_probability = reinit_probability

    def _check(self, path, caller):
        super()._check(path, caller)
        check_layer_sizes(self.hidden_layer_sizes, f"{path}__hidden_layer_sizes")


#: Shortcut strings accepted by ADE's ``initial`` parameter.
INITIAL_SHORTCUTS = {"data": Empirical, "gaussian": Gaussian, "flow": Flow, "latent": Latent}


for _cls in (Gaussian, Flow, Latent):
    _cls.__doc__ = _cls.__doc__.replace(
        "    {persistence}", textwrap.indent(_PERSISTENCE_DOC.rstrip("\n"), "    ")
    )
