"""Every constructor parameter of every estimator rejects invalid values with a useful message.

scikit-learn's ``check_param_validation`` is only run on scikit-learn's own estimators, so this
module is adesk's replacement. For each ``(estimator, parameter, invalid value)`` in the tables
below, ``fit`` must raise a ``ValueError`` (sklearn's ``InvalidParameterError`` is one) *before
training starts*, and the message must name

1. the parameter,
2. the allowed values or range, and
3. the value that was given.

``test_every_parameter_is_covered`` reads ``get_params()`` at run time, so a new constructor
parameter fails it until it gets a row here. The second half checks the converse: every option
string of every ``StrOptions`` constraint is accepted by ``fit``.
"""

import contextlib
import re
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import StrOptions

from adesk import (
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    FlowDualEstimator,
    NoiseContrastiveEstimator,
    ScoreMatchingEstimator,
)

from ._configs import fast

ESTIMATORS = [
    ADEDensityEstimator,
    ContrastiveDivergenceEstimator,
    ScoreMatchingEstimator,
    NoiseContrastiveEstimator,
    FlowDualEstimator,
]

# The shared fast settings (tests/_configs.py), tinier still: the invalid fits must fail
# before training, and the valid-option fits only need to run end to end (two iterations, a
# coarse log Z, one-layer networks).
TINY = dict(hidden_layer_sizes=(8,), max_iter=2, partition_n_temperatures=5)
TINY_OWN = {
    ADEDensityEstimator: dict(
        replay_buffer_size=32,
        max_initial_points=30,
        n_flow_layers=1,
        sampler_hidden_layer_sizes=(8,),
        initial_hidden_layer_sizes=(8,),
        logdet_terms=2,
    ),
    ContrastiveDivergenceEstimator: dict(n_mcmc_steps=2, replay_buffer_size=32, sampling_steps=2),
    ScoreMatchingEstimator: dict(sampling_steps=2),
    NoiseContrastiveEstimator: dict(sampling_steps=2),
    FlowDualEstimator: dict(n_flow_layers=1),
}


def make(cls, **params):
    return fast(cls, **{**TINY, **TINY_OWN[cls], **params})


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

    ``allowed`` is a regex for the allowed-values hint. ``given`` is a regex for the given
    value; by default ``repr(value)`` after a "got", so that a value such as ``0`` is not
    found by accident inside the range ``[0, inf)``.
    """

    param: str
    value: object
    allowed: str
    extra: dict = field(default_factory=dict)
    given: str | None = None
    label: str | None = None

    def given_pattern(self):
        if self.given is not None:
            return self.given
        return r"\b[Gg]ot\b.*" + re.escape(repr(self.value))

    def id(self):
        return f"{self.param}={self.label or repr(self.value)}"


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
    Case("image_shape", (1, 3, 3), literal("n_features (2)", "== n_features")),
    Case("image_shape", (1, 2), literal("(channels, height, width)")),
    Case("image_shape", "abc", literal("array-like")),
    Case("standardize", "minmax", options("per_feature", "global", "none")),
    Case("hidden_layer_sizes", (0,), POSITIVE_SIZES),
    Case("hidden_layer_sizes", (), literal("non-empty")),
    Case("hidden_layer_sizes", ("a",), POSITIVE_SIZES),
    Case("hidden_layer_sizes", (8.5,), POSITIVE_SIZES),
    Case("activation", "sigmoid", options("relu", "silu", "tanh")),
    Case("spectral_norm", "yes", literal("'bool'")),
    Case("base_precision", -0.1, AT_LEAST_0),
    Case("base_precision", "high", AT_LEAST_0),
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
    Case("partition_resolution", 4, bounds("[8, inf)")),
    Case("partition_n_samples", 1, bounds("[2, inf)")),
    Case("partition_n_temperatures", 0, AT_LEAST_1),
    Case("callbacks", "print", literal("callable")),
    Case("callbacks", 5, literal("callable")),
    # "list of Callback or callables": an element that is neither must not be skipped silently.
    Case("callbacks", [5], literal("callable", "Callback")),
    # Divergence handling and checkpoints.
    Case("divergence", "ignore", options("raise", "rollback")),
    Case("max_rollbacks", 0, AT_LEAST_1),
    Case("max_rollbacks", 1.5, AT_LEAST_1),
    Case("checkpoint_path", 5, literal("'str'", "PathLike")),
    Case("checkpoint_interval", 0, AT_LEAST_1),
    Case("checkpoint_interval", 2.5, AT_LEAST_1),
    Case("distributed", "horovod", options("none", "ddp")),
]

OWN_CASES = {
    ADEDensityEstimator: [
        Case("sampler", "mala", options("hmc", "ghmc", "langevin", "deterministic_langevin")),
        Case("initial", "uniform", options("data", "gaussian", "flow", "latent")),
        Case("latent_dim", 0, AT_LEAST_1),
        Case("latent_dim", 1.5, AT_LEAST_1),
        # latent_dim is only meaningful for the generalized sampler.
        Case("latent_dim", 2, literal("sampler='ghmc'"), extra={"sampler": "hmc"}),
        # The gradient momentum map needs a momentum of the data's dimension.
        Case(
            "latent_dim",
            1,
            literal("number of features (2)"),
            extra={"sampler": "ghmc", "ghmc_momentum_map": "gradient"},
            label="1_with_gradient_map",
        ),
        Case("sampler_hidden_layer_sizes", (0,), POSITIVE_SIZES),
        Case("sampler_hidden_layer_sizes", ("a",), POSITIVE_SIZES),
        Case("sampler_hidden_layer_sizes", "abc", literal("array-like")),
        Case("ghmc_scale", "fixed", options("learned", "decay", "none")),
        Case("ghmc_momentum_map", "identity", options("learned", "gradient")),
        Case("ghmc_position_map", "gradient", options("learned", "identity")),
        Case("logdet", "lanczos", options("auto", "exact", "taylor", "chebyshev")),
        Case("logdet_terms", 0, AT_LEAST_1),
        Case("logdet_probes", 0, AT_LEAST_1),
        Case("flow", "maf", options("planar", "realnvp")),
        Case("n_flow_layers", 0, AT_LEAST_1),
        Case("initial_hidden_layer_sizes", (0,), POSITIVE_SIZES),
        Case("initial_hidden_layer_sizes", (-4, 8), POSITIVE_SIZES),
        Case("n_steps", 0, AT_LEAST_1),
        Case("n_steps", 1.5, AT_LEAST_1),
        Case("step_size", 0.0, POSITIVE),
        Case("step_size_adaptation", "yes", options("auto", "acceptance", "learned", "fixed")),
        # The acceptance rule needs a Metropolis test to read the acceptance from.
        Case(
            "step_size_adaptation",
            "acceptance",
            literal("needs a Metropolis test"),
            extra={"sampler": "ghmc"},
            given=re.escape("metropolis='auto'"),
            label="acceptance_without_metropolis",
        ),
        Case("n_mcmc_steps", -1, AT_LEAST_0),
        Case(
            "n_mcmc_steps",
            1,
            literal("gradient='truncated'"),
            extra={"gradient": "bptt"},
            given=re.escape("n_mcmc_steps=1"),
            label="1_with_bptt",
        ),
        Case(
            "step_size_shape",
            "matrix",
            options("scalar", "per_dimension", "per_step", "per_step_dimension"),
        ),
        Case("momentum_penalty", 0.0, POSITIVE),
        Case("entropy_weight", -1.0, AT_LEAST_0),
        Case("gradient", "reinforce", options("bptt", "truncated")),
        Case("gradient_checkpointing", "yes", literal("'bool'")),
        Case("sampler_updates", 0, AT_LEAST_1),
        Case("sampler_learning_rate", 0.0, POSITIVE),
        Case("adam_beta1", 1.0, bounds("[0, 1)")),
        Case("adam_beta1", -0.1, bounds("[0, 1)")),
        Case("gradient_clip", 0.0, POSITIVE),
        Case("momentum_clip", -1.0, POSITIVE),
        Case("sample_clip", -1.0, AT_LEAST_0),
        Case("gradient_penalty", -1.0, AT_LEAST_0),
        Case("energy_penalty", -1.0, AT_LEAST_0),
        Case("initial_noise", 0.0, POSITIVE),
        Case("learn_initial_noise", "yes", literal("'bool'")),
        Case("max_initial_points", 0, AT_LEAST_1),
        Case("metropolis", "always", options("auto")),
        # A deterministic map of the position has no Metropolis correction.
        Case(
            "metropolis",
            True,
            literal("'auto' or False"),
            extra={"sampler": "deterministic_langevin"},
            given=re.escape("metropolis=True"),
            label="True_with_deterministic_langevin",
        ),
        Case("replay_buffer_size", -1, AT_LEAST_0),
        Case("reinit_probability", 1.5, bounds("[0, 1]")),
        Case("reinit_scale", 0.0, POSITIVE),
    ],
    ContrastiveDivergenceEstimator: [
        Case("mcmc", "mala", options("hmc", "langevin")),
        Case("n_mcmc_steps", 0, AT_LEAST_1),
        Case("step_size", 0.0, POSITIVE),
        Case("n_leapfrog_steps", 0, AT_LEAST_1),
        Case("adapt_step_size", "yes", literal("'bool'")),
        Case("metropolis", "yes", literal("'bool'")),
        # HMC is always Metropolis-corrected.
        Case(
            "metropolis",
            False,
            literal("mcmc='langevin'"),
            extra={"mcmc": "hmc"},
            given=re.escape("metropolis=False"),
            label="False_with_hmc",
        ),
        Case("persistent", "yes", literal("'bool'")),
        Case("replay_buffer_size", 0, AT_LEAST_1),
        Case("reinit_probability", -0.1, bounds("[0, 1]")),
        Case("energy_penalty", -1.0, AT_LEAST_0),
        Case("gradient_clip", 0.0, POSITIVE),
        Case("sampling_steps", 0, AT_LEAST_1),
    ],
    ScoreMatchingEstimator: [
        Case("method", "ssm", options("exact", "sliced", "denoising")),
        Case("n_projections", 0, AT_LEAST_1),
        Case("noise_std", 0.0, POSITIVE),
        Case("sampling_steps", 0, AT_LEAST_1),
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
        Case("sampling_steps", 0, AT_LEAST_1),
    ],
    FlowDualEstimator: [
        Case("flow", "maf", options("planar", "realnvp")),
        Case("n_flow_layers", 0, AT_LEAST_1),
        Case("flow_hidden_layer_sizes", (0,), POSITIVE_SIZES),
        Case("flow_hidden_layer_sizes", ("a",), POSITIVE_SIZES),
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


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_parameter_is_covered(cls):
    covered = {case.param for case in BASE_CASES + OWN_CASES[cls]}
    missing = sorted(set(cls().get_params()) - covered)
    assert not missing, f"add invalid-value cases for {cls.__name__} parameters {missing}"


@pytest.mark.parametrize("cls, case", INVALID)
def test_invalid_parameter_is_rejected_at_fit(cls, case, X, monkeypatch):
    assert case.param in cls().get_params(), f"{cls.__name__} has no parameter {case.param!r}"
    est = make(cls, **{**case.extra, case.param: case.value})
    # The check must come before any training iteration (and a value that is wrongly accepted
    # then fails fast, with a clear message, instead of training).
    monkeypatch.setattr(cls, "_training_step", _training_started)
    with pytest.raises(ValueError) as info:
        est.fit(X)
    message = str(info.value)
    assert re.search(rf"(?<![\w.]){re.escape(case.param)}(?!\w)", message), (
        f"message does not name {case.param!r}: {message}"
    )
    assert re.search(case.allowed, message), (
        f"message lacks the allowed values /{case.allowed}/: {message}"
    )
    assert re.search(case.given_pattern(), message, re.DOTALL), (
        f"message lacks the given value /{case.given_pattern()}/: {message}"
    )


# ------------------------------------------------------------------ valid options
# Settings under which an option takes effect (it is otherwise ignored).
OPTION_CONTEXT = {
    (ADEDensityEstimator, "ghmc_scale"): {"sampler": "ghmc"},
    (ADEDensityEstimator, "ghmc_momentum_map"): {"sampler": "ghmc"},
    (ADEDensityEstimator, "ghmc_position_map"): {"sampler": "ghmc"},
    (ADEDensityEstimator, "logdet"): {"sampler": "deterministic_langevin"},
    (ADEDensityEstimator, "flow"): {"initial": "flow"},
}


def _str_options(cls):
    for param, constraints in sorted(cls._parameter_constraints.items()):
        for constraint in constraints:
            if isinstance(constraint, StrOptions):
                for option in sorted(constraint.options - constraint.deprecated):
                    yield param, option


VALID_OPTIONS = [
    pytest.param(cls, param, option, id=f"{cls.__name__}-{param}={option}")
    for cls in ESTIMATORS
    for param, option in _str_options(cls)
]


@pytest.mark.parametrize("cls, param, option", VALID_OPTIONS)
def test_every_option_string_fits(cls, param, option, X, tmp_path):
    context = OPTION_CONTEXT.get((cls, param), {})
    group = contextlib.nullcontext()
    if (param, option) == ("distributed", "ddp"):
        # Data-parallel training needs a process group: a one-process gloo group here
        # (tests/test_distributed.py runs two processes).
        group = _one_process_group(tmp_path)
    with group:
        est = make(cls, **{**context, param: option}).fit(X)
    assert est.n_iter_ == 2
    assert np.isfinite(est.score(X))


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
