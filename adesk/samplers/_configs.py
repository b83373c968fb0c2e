"""The sampler parameter objects (see :mod:`adesk.samplers`)."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._components import Component, check_layer_sizes
from ..dynamics._embedding import STEP_SIZE_SHAPES
from ..dynamics._generalized import GHMC_MOMENTUM_MAPS, GHMC_POSITION_MAPS, GHMC_SCALES
from ..dynamics._langevin import LOGDET_METHODS

ADAPTATIONS = ("auto", "acceptance", "learned", "fixed")

_COMMON_CONSTRAINTS = {
    "n_steps": [Interval(Integral, 1, None, closed="left")],
    "step_size": [Interval(Real, 0, None, closed="neither")],
    "n_transitions": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
    "adaptation": [StrOptions(set(ADAPTATIONS))],
    "step_size_shape": [StrOptions({"auto", *STEP_SIZE_SHAPES})],
    "momentum_penalty": [Interval(Real, 0, None, closed="neither")],
    "entropy_weight": [Interval(Real, 0, None, closed="left")],
    "gradient_checkpointing": ["boolean"],
    "sample_clip": [Interval(Real, 0, None, closed="left"), None],
}
_CLIP_CONSTRAINTS = {
    "gradient_clip": [Interval(Real, 0, None, closed="neither"), None],
    "metropolis": [StrOptions({"auto"}), "boolean"],
}

_COMMON_DOC = """\
n_steps : int, default=5
    Integrator steps in one trajectory: ADE's ``T`` learned steps, and the leapfrog steps of
    each Metropolis-corrected transition.
step_size : float, default=0.1
    Initial step size ``eta`` (standardized units).
n_transitions : int or "auto", default="auto"
    Metropolis-corrected HMC transitions without an autograd graph (``n_steps`` leapfrog steps
    and a fresh momentum each). Contrastive divergence: the chain's transitions per iteration
    (``k`` of CD-k); ``"auto"`` is 15, the paper's CD-15. ADE: corrections applied to the
    learned sampler's output before the energy sees it as its negatives (with their own step
    size ``mcmc_step_size_``, adapted to an acceptance of 0.65); ``"auto"`` is 1 with
    ``gradient="truncated"`` and 0 with ``"bptt"`` (whose energy gradient runs through the
    sampler's own trajectory).
adaptation : {"auto", "acceptance", "learned", "fixed"}, default="auto"
    How the step sizes change during training. ``"acceptance"``: after every iteration they
    are multiplied by ``exp(gain (a - target))``, with ``a`` the Metropolis acceptance rate of
    that iteration and ``target`` 0.65 for HMC and 0.574 for MALA (no graph is kept through
    the trajectory). ``"learned"`` (ADE only): the paper's objective, descended through the
    unrolled trajectory. ``"fixed"``: ``step_size`` throughout. ``"auto"``: ``"acceptance"``
    with a Metropolis test, else ``"learned"`` in ADE and ``"fixed"`` in contrastive
    divergence.
step_size_shape : {"auto", "scalar", "per_dimension", "per_step", "per_step_dimension"}, \
default="auto"
    Which of ADE's step sizes are separate parameters. ``"auto"``: ``"scalar"`` under the
    acceptance rule (which moves them all by one factor), ``"per_step_dimension"`` when they
    are learned.
momentum_penalty : float, default=1.0
    ``lambda`` of the kinetic energy ``lambda/2 |v|^2`` (paper eq. 6 and 20): momenta are
    drawn from ``N(0, I / lambda)``.
entropy_weight : float, default=1.0
    ADE: weight of ``H(q_0)`` in the sampler's objective (1 is the paper's objective). Refused
    (like ``gradient_checkpointing``, ``sampler_updates`` and ``sampler_learning_rate``) when
    nothing in the sampler learns and the gradient is truncated.
gradient_checkpointing : bool, default=False
    ADE: recompute the energy's activations during the backward pass through the unrolled
    trajectory instead of storing them (memory roughly constant in ``n_steps`` for about one
    more energy gradient per step). It acts only where a graph is kept through the trajectory:
    learned step sizes, a learned sampler or ``q_0``, or ``gradient="bptt"``.
sample_clip : float or None, default=None
    ADE: clamp positions after every step to the data's box widened by this multiple of its
    range on each side. Clamping is not volume-preserving, so the bookkeeping of ``q_T`` is
    approximate for clamped samples."""

_CLIP_DOC = """\
gradient_clip : float or None, default=10.0
    Maximum norm of ``grad E`` in each momentum update or Langevin drift (Appendix F.1).
    Clipped leapfrog stays volume-preserving and reversible, and MALA uses the clipped drift
    in both proposal densities, so the Metropolis-corrected chains remain exact."""


def _doc(summary, *sections, extra=""):
    parameters = "\n".join(sections)
    body = "\n".join("    " + line if line else "" for line in parameters.splitlines())
    return f"{summary}\n\n    Parameters\n    ----------\n{body}\n{extra}"


class SamplerConfig(Component):
    """Base class of the sampler parameter objects (:mod:`adesk.samplers`).

    ``kind`` is the shortcut string of the class (``"hmc"``, ...).
    """

    kind = None

    def uses_metropolis(self):
        """Whether the dynamics run a Metropolis test (``metropolis`` with ``"auto"``
        resolved: on for HMC and Langevin)."""
        metropolis = getattr(self, "metropolis", False)
        if metropolis == "auto":
            # The generalized step with learned scales is not reversible, so a Metropolis test
            # would not be exact for it; ADE's objective already pays for its volume change.
            return self.kind in ("hmc", "langevin")
        return bool(metropolis)


class HMC(SamplerConfig):
    kind = "hmc"
    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        **_CLIP_CONSTRAINTS,
        "momentum_clip": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        n_steps=5,
        step_size=0.1,
        *,
        n_transitions="auto",
        adaptation="auto",
        step_size_shape="auto",
        metropolis="auto",
        gradient_clip=10.0,
        momentum_clip=10.0,
        momentum_penalty=1.0,
        entropy_weight=1.0,
        gradient_checkpointing=False,
        sample_clip=None,
    ):
        self.n_steps = n_steps
        self.step_size = step_size
        self.n_transitions = n_transitions
        self.adaptation = adaptation
        self.step_size_shape = step_size_shape
        self.metropolis = metropolis
        self.gradient_clip = gradient_clip
        self.momentum_clip = momentum_clip
        self.momentum_penalty = momentum_penalty
        self.entropy_weight = entropy_weight
        self.gradient_checkpointing = gradient_checkpointing
        self.sample_clip = sample_clip


HMC.__doc__ = _doc(
    """Hamiltonian dynamics: leapfrog steps (paper eq. 10-11).

    Volume-preserving, so ADE's ``q_T`` has the density of ``q_0`` (Theorem 4). With
    ``metropolis`` on (the default) one test at the end of the trajectory makes each pass an
    exact HMC transition of the current energy.""",
    _COMMON_DOC,
    """\
metropolis : "auto" or bool, default="auto"
    Metropolis-Hastings test at the end of the trajectory (``"auto"``: on). Contrastive
    divergence always uses it.""",
    _CLIP_DOC,
    """\
momentum_clip : float or None, default=10.0
    Maximum norm of the momentum in each position update (Appendix F.1).""",
    extra="""
    Examples
    --------
    >>> from adesk.samplers import HMC
    >>> HMC(n_steps=10)
    HMC(n_steps=10)
    """,
)


class GHMC(SamplerConfig):
    kind = "ghmc"
    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        **_CLIP_CONSTRAINTS,
        "momentum_clip": [Interval(Real, 0, None, closed="neither"), None],
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "hidden_layer_sizes": ["array-like"],
        "scale": [StrOptions(set(GHMC_SCALES))],
        "momentum_map": [StrOptions(set(GHMC_MOMENTUM_MAPS))],
        "position_map": [StrOptions(set(GHMC_POSITION_MAPS))],
    }

    def __init__(
        self,
        n_steps=5,
        step_size=0.1,
        *,
        latent_dim=None,
        hidden_layer_sizes=(32,),
        scale="learned",
        momentum_map="learned",
        position_map="learned",
        n_transitions="auto",
        adaptation="auto",
        step_size_shape="auto",
        metropolis="auto",
        gradient_clip=10.0,
        momentum_clip=10.0,
        momentum_penalty=1.0,
        entropy_weight=1.0,
        gradient_checkpointing=False,
        sample_clip=None,
    ):
        self.n_steps = n_steps
        self.step_size = step_size
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.scale = scale
        self.momentum_map = momentum_map
        self.position_map = position_map
        self.n_transitions = n_transitions
        self.adaptation = adaptation
        self.step_size_shape = step_size_shape
        self.metropolis = metropolis
        self.gradient_clip = gradient_clip
        self.momentum_clip = momentum_clip
        self.momentum_penalty = momentum_penalty
        self.entropy_weight = entropy_weight
        self.gradient_checkpointing = gradient_checkpointing
        self.sample_clip = sample_clip

    def _check(self, path, caller):
        check_layer_sizes(self.hidden_layer_sizes, f"{path}__hidden_layer_sizes")


GHMC.__doc__ = _doc(
    """Generalized leapfrog in a latent momentum space (paper eq. 13), ADE only.

    Learned scalings ``S_v, S_x`` and maps ``g_v, g_x`` (small MLPs shared across steps); its
    ``log|det J|`` (eq. 18) enters the sampler's entropy.""",
    _COMMON_DOC,
    """\
latent_dim : int or None, default=None
    Momentum dimension (and latent dimension of ``initial="latent"``); ``None`` means the
    number of features.
hidden_layer_sizes : tuple of int, default=(32,)
    Hidden widths of the MLPs ``S_v, S_x, g_v, g_x``.
scale : {"learned", "decay", "none"}, default="learned"
    ``S_v, S_x``: learned MLPs, a learned constant momentum decay (``S_x = 0``), or zero.
momentum_map : {"learned", "gradient"}, default="learned"
    ``g_v``: projection of the clipped gradient plus a learned correction, or the clipped
    gradient itself (the paper's image setting; needs ``latent_dim`` equal to the number of
    features).
position_map : {"learned", "identity"}, default="learned"
    ``g_x``: projection back plus a learned correction, or the identity (the paper's image
    setting; needs ``latent_dim`` equal to the number of features).
metropolis : "auto" or bool, default="auto"
    One test with the Jacobian factor, exact only with ``scale="none"`` (``"auto"``: off,
    because the step with learned scales is not reversible).""",
    _CLIP_DOC,
    """\
momentum_clip : float or None, default=10.0
    Maximum norm of the momentum in each position update.""",
)


class Langevin(SamplerConfig):
    kind = "langevin"
    _parameter_constraints = {**_COMMON_CONSTRAINTS, **_CLIP_CONSTRAINTS}

    def __init__(
        self,
        n_steps=5,
        step_size=0.1,
        *,
        n_transitions="auto",
        adaptation="auto",
        step_size_shape="auto",
        metropolis="auto",
        gradient_clip=10.0,
        momentum_penalty=1.0,
        entropy_weight=1.0,
        gradient_checkpointing=False,
        sample_clip=None,
    ):
        self.n_steps = n_steps
        self.step_size = step_size
        self.n_transitions = n_transitions
        self.adaptation = adaptation
        self.step_size_shape = step_size_shape
        self.metropolis = metropolis
        self.gradient_clip = gradient_clip
        self.momentum_penalty = momentum_penalty
        self.entropy_weight = entropy_weight
        self.gradient_checkpointing = gradient_checkpointing
        self.sample_clip = sample_clip


Langevin.__doc__ = _doc(
    """Langevin dynamics ``x' = x - eta grad E(x) + sqrt(2 eta) xi``.

    In ADE: stochastic steps with fresh Gaussian noise per step and the multi-momenta
    objective (paper eq. 9, 14-15, density eq. 19); the momenta's penalties are
    ``momentum_penalty / eta``. The noise scales are learned with ``adaptation="learned"``
    (starting at ``sqrt(eta)``) and otherwise tied to the step sizes, ``sqrt(eta_t)`` (MALA
    under the acceptance rule). In contrastive divergence: a chain
    of ``n_transitions`` transitions of ``n_steps`` Langevin steps each.""",
    _COMMON_DOC,
    """\
metropolis : "auto" or bool, default="auto"
    One Metropolis test per step (MALA; ``"auto"``: on). ``False`` gives the unadjusted
    Langevin algorithm (Du & Mordatch), biased by the step size.""",
    _CLIP_DOC,
)


class DeterministicLangevin(SamplerConfig):
    kind = "deterministic_langevin"
    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "logdet": [StrOptions({"auto", *LOGDET_METHODS})],
        "logdet_terms": [Interval(Integral, 1, None, closed="left")],
        "logdet_probes": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_steps=5,
        step_size=0.1,
        *,
        logdet="auto",
        logdet_terms=10,
        logdet_probes=2,
        n_transitions="auto",
        adaptation="auto",
        step_size_shape="auto",
        momentum_penalty=1.0,
        entropy_weight=1.0,
        gradient_checkpointing=False,
        sample_clip=None,
    ):
        self.n_steps = n_steps
        self.step_size = step_size
        self.logdet = logdet
        self.logdet_terms = logdet_terms
        self.logdet_probes = logdet_probes
        self.n_transitions = n_transitions
        self.adaptation = adaptation
        self.step_size_shape = step_size_shape
        self.momentum_penalty = momentum_penalty
        self.entropy_weight = entropy_weight
        self.gradient_checkpointing = gradient_checkpointing
        self.sample_clip = sample_clip


DeterministicLangevin.__doc__ = _doc(
    """Gradient-descent steps ``x - eta grad E(x)`` (paper Appendix B.1), ADE only.

    A deterministic map of the position: its Hessian log-determinants enter the sampler's
    entropy, and there is no Metropolis test.""",
    _COMMON_DOC,
    """\
logdet : {"auto", "exact", "taylor", "chebyshev"}, default="auto"
    Log-determinant of ``I - eta H``: exact from ``d`` Hessian-vector products, or stochastic
    Taylor / Chebyshev expansions with Rademacher probes. ``"auto"``: exact up to 16
    features, Chebyshev above.
logdet_terms : int, default=10
    Expansion order of the stochastic log-determinants.
logdet_probes : int, default=2
    Probe vectors per sample of the stochastic log-determinants.""",
)

#: Shortcut strings accepted by an estimator's ``sampler`` parameter.
SAMPLER_SHORTCUTS = {
    "hmc": HMC,
    "ghmc": GHMC,
    "langevin": Langevin,
    "deterministic_langevin": DeterministicLangevin,
}
