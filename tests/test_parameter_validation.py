"""Every constructor parameter of every estimator rejects invalid values with a useful message.

scikit-learn's ``check_param_validation`` is only run on scikit-learn's own estimators, so this
module is adesk's replacement. For each ``(estimator, parameter, invalid value)`` in the tables
below, ``fit`` must raise a ``ValueError`` (sklearn's ``InvalidParameterError`` is one) *before
training starts*, and the message must name

1. the parameter (for a field of a parameter object, its full path, e.g. ``sampler__n_steps``),
2. the allowed values or range, and
3. the value that was given.

``test_every_parameter_is_covered`` reads ``get_params()`` and the parameter objects' fields at
run time, so a new constructor parameter or a new field of a sampler, ``q_0``, energy or
``log Z`` object fails it until it gets a row here. The second half checks the converse: every
option string of every ``StrOptions`` constraint (of the estimators and of their parameter
objects) is accepted by ``fit``.
"""

import contextlib
import copy
import re
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError, StrOptions

from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    FlowDualEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
)
from adesk._components import COMPONENT_REGISTRY, Component
from adesk.energies import MLP, Conv, DiagonalGaussian
from adesk.initial import Empirical, Flow, Gaussian, Latent
from adesk.partition import AIS, AutoPartition, ImportanceSampling, Quadrature
from adesk.samplers import GHMC, HMC, DeterministicLangevin, Langevin
from adesk.training import Checkpoint

from ._configs import fast

ESTIMATORS = [
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    ScoreMatchingEstimator,
    NoiseContrastiveEstimator,
    FlowDualEstimator,
]

# The parameter objects each estimator accepts, by parameter name.
COMMON_FAMILIES = {
    "energy_model": [MLP, Conv, DiagonalGaussian],
    "partition": [Quadrature, ImportanceSampling, AIS, AutoPartition],
}
FAMILIES = {
    ADEDensityEstimator: {
        **COMMON_FAMILIES,
        "sampler": [HMC, GHMC, Langevin, DeterministicLangevin],
        "initial": [Empirical, Gaussian, Flow, Latent],
    },
    ContrastiveDivergenceEstimator: {**COMMON_FAMILIES, "sampler": [HMC, Langevin]},
    ScoreMatchingEstimator: COMMON_FAMILIES,
    NoiseContrastiveEstimator: COMMON_FAMILIES,
    FlowDualEstimator: {**COMMON_FAMILIES, "flow": [Flow]},
}
# The sampler fields contrastive divergence reads (fixed MCMC chains); it must refuse the
# others, which belong to ADE's learned sampler, rather than ignore them.
CD_SAMPLER_FIELDS = {
    "n_steps",
    "step_size",
    "n_transitions",
    "adaptation",
    "metropolis",
    "gradient_clip",
}

# The shared fast settings (tests/_configs.py), tinier still: the invalid fits must fail
# before training, and the valid-option fits only need to run end to end (two iterations, a
# coarse log Z, one-layer networks).
TINY = dict(
    energy_model=MLP((8,)),
    max_iter=2,
    partition=AutoPartition(resolution=16, n_samples=64, n_temperatures=5),
)
TINY_OWN = {
    ADEDensityEstimator: dict(initial=Empirical(max_points=30, replay_buffer_size=32)),
    ContrastiveDivergenceEstimator: dict(
        sampler=HMC(n_steps=2, n_transitions=2), replay_buffer_size=32
    ),
    ScoreMatchingEstimator: dict(),
    NoiseContrastiveEstimator: dict(),
    FlowDualEstimator: dict(flow=Flow(n_layers=1)),
}
# Tiny settings of every parameter object, for the cases and options that switch to it.
TINY_FIELDS = {
    HMC: dict(n_steps=2),
    GHMC: dict(n_steps=2, hidden_layer_sizes=(8,)),
    Langevin: dict(n_steps=2),
    DeterministicLangevin: dict(n_steps=2, logdet_terms=2),
    Empirical: dict(max_points=30, replay_buffer_size=32),
    Gaussian: dict(),
    Flow: dict(n_layers=1),
    Latent: dict(hidden_layer_sizes=(8,)),
    MLP: dict(hidden_layer_sizes=(8,)),
    Conv: dict(),
    DiagonalGaussian: dict(),
    Quadrature: dict(resolution=16),
    ImportanceSampling: dict(n_samples=64),
    AIS: dict(n_samples=64, n_temperatures=5),
    AutoPartition: dict(resolution=16, n_samples=64, n_temperatures=5),
}
# Contrastive divergence's chains: 2 transitions (a Langevin transition of 1 step).
TINY_CD_FIELDS = {HMC: dict(n_steps=2, n_transitions=2), Langevin: dict(n_steps=1, n_transitions=2)}


def tiny(component, **fields):
    """A parameter object of class ``component`` with tiny settings and ``fields``."""
    return component(**{**TINY_FIELDS[component], **fields})


def make(cls, **params):
    """The tiny estimator with ``params``; a ``path__field`` key sets a field of the object
    at ``path`` (on a copy: the tables' objects are never modified)."""
    nested = {key: value for key, value in params.items() if "__" in key}
    flat = {key: value for key, value in params.items() if "__" not in key}
    est = fast(cls, **copy.deepcopy({**TINY, **TINY_OWN[cls], **flat}))
    return est.set_params(**nested)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).standard_normal((40, 2))


# ------------------------------------------------------------------ message fragments
def options(*names):
    """At least one allowed option, quoted as ``repr`` writes it (sklearn's StrOptions)."""
    return "|".join(re.escape(repr(name)) for name in names)


def literal(*texts):
    """Any of these literal texts."""
    return "|".join(re.escape(text) for text in texts)


def bounds(text):
    """An interval as sklearn writes it, e.g. ``"[0, inf)"``; a float bound may read ``0.0``."""
    return re.sub(r"(\d+)", r"\1(?:\\.0)?", re.escape(text))


@dataclass
class Case:
    """One invalid value of one parameter.

    ``param`` is a constructor parameter or the path of a field of a parameter object
    (``sampler__n_steps``), set on the object that ``extra`` (or the tiny settings) puts
    there. ``allowed`` is a regex for the allowed-values hint. ``given`` is a regex for the
    given value; by default ``repr(value)`` after a "got", so that a value such as ``0`` is not
    found by accident inside the range ``[0, inf)``. ``named`` is a regex for how the message
    names the parameter, by default ``param`` itself.
    """

    param: str
    value: object
    allowed: str
    extra: dict = field(default_factory=dict)
    given: str | None = None
    label: str | None = None
    named: str | None = None

    def given_pattern(self):
        if self.given is not None:
            return self.given
        return r"\b[Gg]ot\b.*" + re.escape(repr(self.value))

    def name_pattern(self):
        if self.named is not None:
            return self.named
        return rf"(?<![\w.]){re.escape(self.param)}(?!\w)"

    def id(self):
        objects = [type(v).__name__ for v in self.extra.values() if isinstance(v, Component)]
        context = f"[{','.join(objects)}]" if objects else ""
        return f"{self.param}{context}={self.label or repr(self.value)}"


# Callables with a stable repr (ids) for the energy_model failure modes.
def energy_returning_string(n_features):
    return "not a module"


def energy_with_wrong_output_shape(n_features):
    # Maps (n, d) to (n, 2), not to (n,) energies.
    return torch.nn.Linear(n_features, 2)


class NoiseWithWrongShape:
    """A noise object that follows the protocol's names but returns the wrong shape."""

    def sample(self, n, generator):
        return torch.zeros(n, 5)

    def log_prob(self, z):
        return torch.zeros(z.shape[0])

    def __repr__(self):
        return "NoiseWithWrongShape()"


class NoiseWithWrongLogProb(NoiseWithWrongShape):
    def sample(self, n, generator):
        return torch.zeros(n, 2)

    def log_prob(self, z):
        return torch.zeros(z.shape[0], 3)

    def __repr__(self):
        return "NoiseWithWrongLogProb()"


AT_LEAST_0 = bounds("[0, inf)")
AT_LEAST_1 = bounds("[1, inf)")
POSITIVE = bounds("(0, inf)")
POSITIVE_SIZES = literal("positive int")
CONV = {"energy_model": tiny(Conv)}

# Parameters of BaseEnergyEstimator: tested on every estimator.
BASE_CASES = [
    Case("energy_model", "rbf", options("mlp", "gaussian", "conv")),
    Case("energy_model", 3, options("mlp", "gaussian", "conv")),
    Case(
        "energy_model",
        energy_returning_string,
        literal("torch.nn.Module"),
        given=re.escape(repr(energy_returning_string)),
        label="returns_str",
    ),
    Case(
        "energy_model",
        energy_with_wrong_output_shape,
        literal("(n,)"),
        given=re.escape(repr(energy_with_wrong_output_shape)),
        label="wrong_output_shape",
    ),
    Case("energy_model__image_shape", (1, 3, 3), literal("n_features (2)"), CONV),
    Case("energy_model__image_shape", (1, 2), literal("(channels, height, width)"), CONV),
    Case("energy_model__image_shape", "abc", literal("array-like"), CONV),
    Case("energy_model__spectral_norm", "yes", literal("'bool'"), CONV),
    Case("energy_model__base_precision", -0.1, AT_LEAST_0, CONV),
    Case("standardize", "minmax", options("per_feature", "global", "none")),
    Case("energy_model__hidden_layer_sizes", (0,), POSITIVE_SIZES),
    Case("energy_model__hidden_layer_sizes", (), literal("non-empty")),
    Case("energy_model__hidden_layer_sizes", ("a",), POSITIVE_SIZES),
    Case("energy_model__hidden_layer_sizes", (8.5,), POSITIVE_SIZES),
    Case("energy_model__activation", "sigmoid", options("relu", "silu", "tanh")),
    Case("energy_model__spectral_norm", "yes", literal("'bool'")),
    Case("energy_model__base_precision", -0.1, AT_LEAST_0),
    Case("energy_model__base_precision", "high", AT_LEAST_0),
    Case("alpha", -1.0, AT_LEAST_0),
    Case("batch_size", 0, AT_LEAST_1),
    Case("batch_size", 1.5, AT_LEAST_1),
    Case("learning_rate_init", 0.0, POSITIVE),
    Case("learning_rate_init", -1e-3, POSITIVE),
    Case("learning_rate_schedule", "linear", options("constant", "cosine")),
    Case("max_iter", -1, AT_LEAST_0),
    Case("max_iter", 2.5, AT_LEAST_0),
    Case("tol", -1.0, AT_LEAST_0),
    Case("early_stopping", "yes", literal("'bool'")),
    Case("validation_fraction", 0.0, bounds("(0, 1)")),
    Case("validation_fraction", 1.5, bounds("(0, 1)")),
    Case("n_iter_no_change", 0, AT_LEAST_1),
    Case("validation_interval", 0, AT_LEAST_1),
    Case("warm_start", "no", literal("'bool'")),
    Case("verbose", -1, AT_LEAST_0),
    Case("verbose", "loud", AT_LEAST_0),
    Case("device", "tpu9", literal("'cpu'", "'cuda'", "torch device")),
    Case("device", 0, literal("'str'")),
    Case("dtype", "float16", options("float32", "float64")),
    Case("random_state", -1, literal("RandomState")),
    Case("random_state", "seed", literal("RandomState")),
    Case("ema_decay", 1.0, bounds("[0, 1)")),
    Case("ema_decay", -0.1, bounds("[0, 1)")),
    Case("partition", "mc", options("auto", "quadrature", "importance", "ais")),
    Case("partition", HMC(), literal("PartitionConfig"), label="HMC()"),
    Case("partition__resolution", 4, bounds("[8, inf)")),
    Case("partition__n_samples", 1, bounds("[2, inf)")),
    Case("partition__n_temperatures", 0, AT_LEAST_1),
    Case("partition__resolution", 4, bounds("[8, inf)"), {"partition": tiny(Quadrature)}),
    Case("partition__n_samples", 1, bounds("[2, inf)"), {"partition": tiny(ImportanceSampling)}),
    Case("partition__n_samples", 1, bounds("[2, inf)"), {"partition": tiny(AIS)}),
    Case("partition__n_temperatures", 0, AT_LEAST_1, {"partition": tiny(AIS)}),
    Case("callbacks", "print", literal("callable")),
    Case("callbacks", 5, literal("callable")),
    # "list of Callback or callables": an element that is neither must not be skipped silently.
    Case("callbacks", [5], literal("callable", "Callback")),
    # Checkpoints (the checkpoint_path and checkpoint_interval parameters before).
    Case(
        "callbacks",
        [Checkpoint("ckpt-{iteration}.pt", interval=0)],
        literal("positive int"),
        given=r"\b[Gg]ot\b.*\b0\b",
        label="Checkpoint_interval_0",
        named=literal("interval"),
    ),
    Case(
        "callbacks",
        [Checkpoint("ckpt-{iteration}.pt", interval=2.5)],
        literal("positive int"),
        given=r"\b[Gg]ot\b.*2\.5",
        label="Checkpoint_interval_2.5",
        named=literal("interval"),
    ),
    Case(
        "callbacks",
        [Checkpoint(5, interval=1)],
        literal("'str'", "PathLike", "path-like"),
        given=r"\b[Gg]ot\b.*\b5\b",
        label="Checkpoint_path_5",
        named=literal("path"),
    ),
    # Divergence handling: max_rollbacks=0 (the default) raises at the first divergence.
    Case("max_rollbacks", -1, AT_LEAST_0),
    Case("max_rollbacks", 1.5, AT_LEAST_0),
    Case("distributed", "horovod", options("none", "ddp")),
]

GHMC_ = {"sampler": tiny(GHMC)}
DETERMINISTIC_LANGEVIN = {"sampler": tiny(DeterministicLangevin)}
FLOW = {"initial": tiny(Flow)}
REALNVP = {"initial": tiny(Flow, layer="realnvp", hidden_layer_sizes=(8,))}
CD_LANGEVIN = {"sampler": Langevin(**TINY_CD_FIELDS[Langevin])}

OWN_CASES = {
    ADEDensityEstimator: [
        Case("sampler", "mala", options("hmc", "ghmc", "langevin", "deterministic_langevin")),
        Case("sampler", Empirical(), literal("SamplerConfig"), label="Empirical()"),
        Case("initial", "uniform", options("data", "gaussian", "flow", "latent")),
        Case("initial", HMC(), literal("InitialConfig"), label="HMC()"),
        Case("sampler__latent_dim", 0, AT_LEAST_1, GHMC_),
        Case("sampler__latent_dim", 1.5, AT_LEAST_1, GHMC_),
        # The gradient momentum map needs a momentum of the data's dimension.
        Case(
            "sampler__latent_dim",
            1,
            literal("number of features (2)"),
            {"sampler": tiny(GHMC, momentum_map="gradient")},
            label="1_with_gradient_map",
        ),
        Case("sampler__hidden_layer_sizes", (0,), POSITIVE_SIZES, GHMC_),
        Case("sampler__hidden_layer_sizes", ("a",), POSITIVE_SIZES, GHMC_),
        Case("sampler__hidden_layer_sizes", "abc", literal("array-like"), GHMC_),
        Case("sampler__scale", "fixed", options("learned", "decay", "none"), GHMC_),
        Case("sampler__momentum_map", "identity", options("learned", "gradient"), GHMC_),
        Case("sampler__position_map", "gradient", options("learned", "identity"), GHMC_),
        Case(
            "sampler__logdet",
            "lanczos",
            options("auto", "exact", "taylor", "chebyshev"),
            DETERMINISTIC_LANGEVIN,
        ),
        Case("sampler__logdet_terms", 0, AT_LEAST_1, DETERMINISTIC_LANGEVIN),
        Case("sampler__logdet_probes", 0, AT_LEAST_1, DETERMINISTIC_LANGEVIN),
        Case("initial__layer", "maf", options("planar", "realnvp"), FLOW),
        Case("initial__n_layers", 0, AT_LEAST_1, FLOW),
        Case("initial__hidden_layer_sizes", (0,), POSITIVE_SIZES, REALNVP),
        Case(
            "initial__hidden_layer_sizes",
            (-4, 8),
            POSITIVE_SIZES,
            {"initial": tiny(Latent)},
        ),
        Case(
            "initial__hidden_layer_sizes", "abc", literal("array-like"), {"initial": tiny(Latent)}
        ),
        # Planar layers have no hidden layers: the setting would be ignored.
        Case("initial__hidden_layer_sizes", (8,), literal("RealNVP"), FLOW, label="(8,)_planar"),
        Case("sampler__n_steps", 0, AT_LEAST_1),
        Case("sampler__n_steps", 1.5, AT_LEAST_1),
        Case("sampler__n_steps", 0, AT_LEAST_1, {"sampler": tiny(Langevin)}),
        Case("sampler__step_size", 0.0, POSITIVE),
        Case("sampler__adaptation", "yes", options("auto", "acceptance", "learned", "fixed")),
        # The acceptance rule needs a Metropolis test to read the acceptance from.
        Case(
            "sampler__adaptation",
            "acceptance",
            literal("needs a Metropolis test"),
            GHMC_,
            label="acceptance_without_metropolis",
        ),
        Case(
            "sampler__adaptation",
            "acceptance",
            literal("needs a Metropolis test"),
            DETERMINISTIC_LANGEVIN,
            label="acceptance_without_metropolis",
        ),
        Case("sampler__n_transitions", -1, AT_LEAST_0),
        Case(
            "sampler__n_transitions",
            1,
            literal("gradient='truncated'"),
            extra={"gradient": "bptt"},
            given=re.escape("n_transitions=1"),
            label="1_with_bptt",
        ),
        Case(
            "sampler__step_size_shape",
            "matrix",
            options("scalar", "per_dimension", "per_step", "per_step_dimension"),
        ),
        Case("sampler__momentum_penalty", 0.0, POSITIVE),
        Case("sampler__entropy_weight", -1.0, AT_LEAST_0),
        Case("gradient", "reinforce", options("bptt", "truncated")),
        Case("sampler__gradient_checkpointing", "yes", literal("'bool'")),
        Case("sampler_updates", 0, AT_LEAST_1),
        Case("sampler_learning_rate", 0.0, POSITIVE),
        Case("adam_beta1", 1.0, bounds("[0, 1)")),
        Case("adam_beta1", -0.1, bounds("[0, 1)")),
        Case("sampler__gradient_clip", 0.0, POSITIVE),
        Case("sampler__gradient_clip", 0.0, POSITIVE, {"sampler": tiny(Langevin)}),
        Case("sampler__momentum_clip", -1.0, POSITIVE),
        Case("sampler__momentum_clip", -1.0, POSITIVE, GHMC_),
        Case("sampler__sample_clip", -1.0, AT_LEAST_0),
        Case("gradient_penalty", -1.0, AT_LEAST_0),
        Case("energy_penalty", -1.0, AT_LEAST_0),
        Case("initial__noise", 0.0, POSITIVE),
        Case("initial__learn_noise", "yes", literal("'bool'")),
        Case("initial__max_points", 0, AT_LEAST_1),
        Case("sampler__metropolis", "always", options("auto")),
        Case("sampler__metropolis", "always", options("auto"), {"sampler": tiny(Langevin)}),
        Case("initial__replay_buffer_size", -1, AT_LEAST_0),
        Case("initial__reinit_probability", 1.5, bounds("[0, 1]")),
        Case("initial__reinit_scale", 0.0, POSITIVE),
        # Restarts of persistent chains without a replay buffer would be ignored.
        Case(
            "initial__replay_buffer_size",
            0,
            literal("use a replay buffer"),
            {"initial": tiny(Empirical, reinit_probability=0.5)},
            given=re.escape("replay_buffer_size=0"),
            label="0_with_reinit_probability",
        ),
    ],
    ContrastiveDivergenceEstimator: [
        Case("sampler", "mala", options("hmc", "langevin")),
        # The generalized and deterministic samplers are ADE's learned samplers.
        Case("sampler", tiny(GHMC), options("hmc", "langevin"), label="GHMC"),
        Case(
            "sampler",
            tiny(DeterministicLangevin),
            options("hmc", "langevin"),
            label="DeterministicLangevin",
        ),
        # CD-k needs k >= 1 transitions (the n_mcmc_steps parameter before).
        Case(
            "sampler__n_transitions",
            0,
            AT_LEAST_1 + "|" + literal(">= 1", "at least 1", "positive"),
        ),
        Case("sampler__n_transitions", -1, AT_LEAST_0 + "|" + AT_LEAST_1),
        Case("sampler__step_size", 0.0, POSITIVE),
        Case("sampler__n_steps", 0, AT_LEAST_1),
        Case("sampler__n_steps", 0, AT_LEAST_1, CD_LANGEVIN),
        Case("sampler__adaptation", "yes", options("acceptance", "fixed")),
        # Contrastive divergence has no learned sampler whose step size could be learned.
        Case(
            "sampler__adaptation",
            "learned",
            literal("'acceptance'", "'fixed'"),
            given=re.escape("adaptation='learned'"),
        ),
        # Unadjusted Langevin has no acceptance rate to follow.
        Case(
            "sampler__adaptation",
            "acceptance",
            literal("'fixed'"),
            {"sampler": Langevin(**TINY_CD_FIELDS[Langevin], metropolis=False)},
            given=re.escape("metropolis=False"),
            label="acceptance_without_metropolis",
        ),
        Case("sampler__metropolis", "yes", literal("'bool'")),
        # HMC is always Metropolis-corrected.
        Case(
            "sampler__metropolis",
            False,
            literal("Langevin"),
            given=re.escape("metropolis=False"),
            label="False_with_hmc",
        ),
        Case("replay_buffer_size", -1, AT_LEAST_0),
        Case("replay_buffer_size", 2.5, AT_LEAST_0),
        Case("reinit_probability", -0.1, bounds("[0, 1]")),
        # Restarts of persistent chains without a replay buffer (CD-k) would be ignored.
        Case(
            "reinit_probability",
            0.5,
            literal("replay_buffer_size=0"),
            extra={"replay_buffer_size": 0},
            label="0.5_without_replay_buffer",
        ),
        Case("energy_penalty", -1.0, AT_LEAST_0),
        Case("sampler__gradient_clip", 0.0, POSITIVE),
        Case("sampler__gradient_clip", 0.0, POSITIVE, CD_LANGEVIN),
    ]
    # The fields of ADE's learned sampler: refused, not ignored.
    + [
        Case(
            f"sampler__{name}",
            value,
            literal("does not use", "at the default"),
            extra,
            given=re.escape(f"{name}={value!r}"),
            label=f"{value!r}_unused",
        )
        for name, value, extra in [
            ("momentum_clip", 1.0, {}),
            ("step_size_shape", "scalar", {}),
            ("momentum_penalty", 2.0, {}),
            ("entropy_weight", 2.0, {}),
            ("gradient_checkpointing", True, {}),
            ("sample_clip", 0.5, {}),
            ("step_size_shape", "per_dimension", CD_LANGEVIN),
            ("entropy_weight", 0.0, CD_LANGEVIN),
            ("sample_clip", 0.5, CD_LANGEVIN),
        ]
    ],
    ScoreMatchingEstimator: [
        Case("method", "ssm", options("exact", "sliced", "denoising")),
        Case("n_projections", 0, AT_LEAST_1),
        Case("noise_std", 0.0, POSITIVE),
    ],
    NoiseContrastiveEstimator: [
        Case("noise", "uniform", options("gaussian", "diagonal")),
        Case("noise", 3, literal("'sample'")),
        Case(
            "noise",
            NoiseWithWrongShape(),
            literal("(n, n_features)"),
            given=re.escape("NoiseWithWrongShape()"),
        ),
        Case(
            "noise",
            NoiseWithWrongLogProb(),
            literal("(n,)"),
            given=re.escape("NoiseWithWrongLogProb()"),
        ),
        Case("noise_ratio", 0.0, POSITIVE),
    ],
    FlowDualEstimator: [
        Case("flow", "maf", options("planar", "realnvp")),
        Case("flow", tiny(Latent), literal("Flow"), label="Latent"),
        Case("flow__layer", "maf", options("planar", "realnvp")),
        Case("flow__n_layers", 0, AT_LEAST_1),
        Case(
            "flow__hidden_layer_sizes",
            (0,),
            POSITIVE_SIZES,
            {"flow": tiny(Flow, layer="realnvp")},
        ),
        Case(
            "flow__hidden_layer_sizes",
            ("a",),
            POSITIVE_SIZES,
            {"flow": tiny(Flow, layer="realnvp")},
        ),
        # Planar layers have no hidden layers: the setting would be ignored.
        Case("flow__hidden_layer_sizes", (8,), literal("RealNVP"), label="(8,)_planar"),
        # The flow is the sampler itself: persistent chains would be ignored.
        Case("flow__replay_buffer_size", 0, literal("does not use flow__replay_buffer_size")),
        Case("flow__reinit_probability", 0.5, literal("does not use flow__reinit_probability")),
        Case("sampler_learning_rate", -1.0, POSITIVE),
        Case("sampler_updates", 0, AT_LEAST_1),
        Case("gradient_penalty", -1.0, AT_LEAST_0),
    ],
}

INVALID = [
    pytest.param(cls, case, id=f"{cls.__name__}-{case.id()}")
    for cls in ESTIMATORS
    for case in BASE_CASES + OWN_CASES[cls]
]


def _training_started(self, data, iteration):
    raise AssertionError("training started: the invalid value was accepted")


def _parameter_names(cls):
    """The constructor parameters of ``cls`` and the ``path__field`` names of every field of
    every parameter object it accepts."""
    names = set(cls().get_params(deep=False))
    for path, components in FAMILIES[cls].items():
        names |= {f"{path}__{name}" for c in components for name in c._get_param_names()}
    return names


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_parameter_is_covered(cls):
    covered = {case.param for case in BASE_CASES + OWN_CASES[cls]}
    missing = sorted(_parameter_names(cls) - covered)
    assert not missing, f"add invalid-value cases for {cls.__name__} parameters {missing}"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_the_families_are_the_accepted_objects(cls):
    # FAMILIES (whose fields the coverage test asks cases for) must name every parameter that
    # holds a parameter object, and list exactly the object classes its constraint accepts.
    holders = {
        name
        for name, rules in cls._parameter_constraints.items()
        if any(isinstance(rule, type) and issubclass(rule, Component) for rule in rules)
    }
    assert holders == set(FAMILIES[cls])
    concrete = [
        c
        for c in COMPONENT_REGISTRY.values()
        if c.__module__.startswith("adesk.") and getattr(c, "kind", None)
    ]
    for path, components in FAMILIES[cls].items():
        accepted = []
        for component in concrete:
            with contextlib.suppress(InvalidParameterError):
                make(cls, **{path: component()})._validate_params()
                accepted.append(component)
        assert set(accepted) == set(components), path


@pytest.mark.parametrize("cls, case", INVALID)
def test_invalid_parameter_is_rejected_at_fit(cls, case, X, monkeypatch):
    est = make(cls, **case.extra)
    assert case.param in est.get_params(), f"{cls.__name__} has no parameter {case.param!r}"
    est.set_params(**{case.param: copy.deepcopy(case.value)})
    # The check must come before any training iteration (and a value that is wrongly accepted
    # then fails fast, with a clear message, instead of training).
    monkeypatch.setattr(cls, "_training_step", _training_started)
    with pytest.raises(ValueError) as info:
        est.fit(X)
    message = str(info.value)
    assert re.search(case.name_pattern(), message), (
        f"message does not name {case.param!r} /{case.name_pattern()}/: {message}"
    )
    assert re.search(case.allowed, message), (
        f"message lacks the allowed values /{case.allowed}/: {message}"
    )
    assert re.search(case.given_pattern(), message, re.DOTALL), (
        f"message lacks the given value /{case.given_pattern()}/: {message}"
    )


# A field of one sampler family that another does not have cannot be set on it at all (these
# were cross-parameter errors of the flat parameters, e.g. latent_dim with sampler="hmc", or
# metropolis=True with sampler="deterministic_langevin").
FOREIGN_FIELDS = [
    (HMC, "latent_dim", 2),
    (HMC, "logdet", "exact"),
    (Langevin, "momentum_clip", 1.0),
    (DeterministicLangevin, "metropolis", True),
    (DeterministicLangevin, "gradient_clip", 1.0),
    (Empirical, "hidden_layer_sizes", (8,)),
]


@pytest.mark.parametrize(
    "component, name, value",
    FOREIGN_FIELDS,
    ids=[f"{c.__name__}-{name}" for c, name, _ in FOREIGN_FIELDS],
)
def test_fields_of_another_family_do_not_exist(component, name, value):
    with pytest.raises(TypeError, match=name):
        component(**{name: value})
    path = "initial" if component is Empirical else "sampler"
    est = make(ADEDensityEstimator, **{path: tiny(component)})
    with pytest.raises(ValueError, match=f"{name}.*{component.__name__}"):
        est.set_params(**{f"{path}__{name}": value})


# ------------------------------------------------------------------ valid options
def _str_options(constraints):
    for param, rules in sorted(constraints.items()):
        for rule in rules:
            if isinstance(rule, StrOptions):
                for option in sorted(rule.options - rule.deprecated):
                    yield param, option


def _option_cases(cls):
    """``(id, params)``: every option string of the estimator's own constraints, and of every
    field of every parameter object it accepts (set on a tiny object of that class)."""
    for param, option in _str_options(cls._parameter_constraints):
        yield f"{param}={option}", {param: option}
    tiny_fields = (
        {**TINY_FIELDS, **TINY_CD_FIELDS} if cls is ContrastiveDivergenceEstimator else TINY_FIELDS
    )
    for path, components in FAMILIES[cls].items():
        for component in components:
            for name, option in _str_options(component._parameter_constraints):
                if cls is ContrastiveDivergenceEstimator and name not in CD_SAMPLER_FIELDS:
                    continue  # refused as unused (see OWN_CASES)
                obj = component(**{**tiny_fields[component], name: option})
                yield f"{path}={component.__name__}({name}={option})", {path: obj}


# Options that are valid alone but not with the object's other settings: fit must refuse them
# (each has a case in OWN_CASES that checks the message).
REFUSED_OPTIONS = {
    (ADEDensityEstimator, "sampler=GHMC(adaptation=acceptance)"),
    (ADEDensityEstimator, "sampler=DeterministicLangevin(adaptation=acceptance)"),
    (ContrastiveDivergenceEstimator, "sampler=HMC(adaptation=learned)"),
    (ContrastiveDivergenceEstimator, "sampler=Langevin(adaptation=learned)"),
}

VALID_OPTIONS = [
    pytest.param(cls, key, params, id=f"{cls.__name__}-{key}")
    for cls in ESTIMATORS
    for key, params in _option_cases(cls)
]


@pytest.mark.parametrize("cls, key, params", VALID_OPTIONS)
def test_every_option_string_fits(cls, key, params, X, tmp_path):
    est = make(cls, **params)
    if (cls, key) in REFUSED_OPTIONS:
        with pytest.raises(ValueError, match="adaptation='(acceptance|learned)'"):
            est.fit(X)
        return
    group = contextlib.nullcontext()
    if params == {"distributed": "ddp"}:
        # Data-parallel training needs a process group: a one-process gloo group here
        # (tests/test_distributed.py runs two processes).
        group = _one_process_group(tmp_path)
    with group:
        est.fit(X)
    assert est.n_iter_ == 2
    assert np.isfinite(est.score(X))


def test_refused_options_are_option_cases():
    keys = {(cls, key) for cls in ESTIMATORS for key, _ in _option_cases(cls)}
    assert REFUSED_OPTIONS <= keys


@contextlib.contextmanager
def _one_process_group(tmp_path):
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'group'}", rank=0, world_size=1
    )
    try:
        yield
    finally:
        dist.destroy_process_group()
