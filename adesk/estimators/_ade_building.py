"""How ADE turns its parameter objects into modules: the dual sampler and ``q_0``.

:class:`ADEBuildingMixin` resolves ``sampler`` and ``initial`` (strings or objects of
:mod:`adesk.samplers` and :mod:`adesk.initial`) into plain settings, checks the rules across
fields, and builds the dynamics embedding and the initial distribution from them.
"""

import math

import torch

from .._components import check_layer_sizes, resolve_component
from ..dynamics import (
    DeterministicLangevinEmbedding,
    GeneralizedHMCEmbedding,
    HMCEmbedding,
    LangevinEmbedding,
)
from ..initial import (
    EmpiricalInitial,
    FlowInitial,
    GaussianInitial,
    ImageLatentInitial,
    LatentInitial,
)
from ..initial._configs import INITIAL_SHORTCUTS
from ..samplers._configs import SAMPLER_SHORTCUTS

SAMPLERS = tuple(SAMPLER_SHORTCUTS)
INITIALS = tuple(INITIAL_SHORTCUTS)
STEP_SIZE_ADAPTATIONS = ("auto", "acceptance", "learned", "fixed")
#: Largest dimension for which ``logdet="auto"`` computes exact Hessian log-determinants.
EXACT_LOGDET_MAX_FEATURES = 16


class ADEBuildingMixin:
    """The sampler and ``q_0`` of :class:`~adesk.ADEDensityEstimator`, from its parameters."""

    def _resolve_components(self):
        """The sampler and ``q_0`` objects resolved into the settings the fit reads."""
        settings = super()._resolve_components()
        caller = type(self).__name__
        sampler = resolve_component(self.sampler, "sampler", SAMPLER_SHORTCUTS, caller)
        initial = resolve_component(self.initial, "initial", INITIAL_SHORTCUTS, caller)
        defaults = {
            "latent_dim": None,
            "hidden_layer_sizes": (32,),
            "scale": "learned",
            "momentum_map": "learned",
            "position_map": "learned",
            "logdet": "auto",
            "logdet_terms": 10,
            "logdet_probes": 2,
            "gradient_clip": 10.0,
            "momentum_clip": 10.0,
        }
        field = {name: getattr(sampler, name, default) for name, default in defaults.items()}
        settings.update(
            sampler=sampler.kind,
            n_steps=int(sampler.n_steps),
            step_size=float(sampler.step_size),
            step_size_adaptation=sampler.adaptation,
            n_mcmc_steps=sampler.n_transitions,
            step_size_shape=sampler.step_size_shape,
            momentum_penalty=float(sampler.momentum_penalty),
            entropy_weight=float(sampler.entropy_weight),
            gradient_checkpointing=bool(sampler.gradient_checkpointing),
            sample_clip=sampler.sample_clip,
            metropolis=sampler.uses_metropolis(),
            gradient_clip=field["gradient_clip"],
            momentum_clip=field["momentum_clip"],
            latent_dim=field["latent_dim"],
            sampler_hidden_layer_sizes=check_layer_sizes(
                field["hidden_layer_sizes"], "sampler__hidden_layer_sizes"
            ),
            ghmc_scale=field["scale"],
            ghmc_momentum_map=field["momentum_map"],
            ghmc_position_map=field["position_map"],
            logdet=field["logdet"],
            logdet_terms=int(field["logdet_terms"]),
            logdet_probes=int(field["logdet_probes"]),
            initial=initial.kind,
            flow=getattr(initial, "layer", "planar"),
            n_flow_layers=int(getattr(initial, "n_layers", 10)),
            initial_hidden_layer_sizes=(
                initial.conditioner_sizes()
                if initial.kind == "flow"
                else check_layer_sizes(
                    getattr(initial, "hidden_layer_sizes", (64, 64)), "initial__hidden_layer_sizes"
                )
            ),
            initial_noise=float(getattr(initial, "noise", 0.1)),
            learn_initial_noise=bool(getattr(initial, "learn_noise", True)),
            max_initial_points=int(getattr(initial, "max_points", 2000)),
            replay_buffer_size=getattr(initial, "replay_buffer_size", None),
            reinit_probability=float(getattr(initial, "reinit_probability", 0.05)),
            reinit_scale=getattr(initial, "reinit_scale", None),
        )
        if sampler.adaptation == "acceptance" and not sampler.uses_metropolis():
            raise ValueError(
                "sampler__adaptation='acceptance' follows the Metropolis acceptance rate, so it "
                f"needs a Metropolis test in the embedding; got sampler={self.sampler!r} "
                "without one. Use adaptation='learned' or 'fixed', or metropolis=True."
            )
        n_transitions = sampler.n_transitions
        if n_transitions != "auto" and n_transitions > 0 and self.gradient == "bptt":
            raise ValueError(
                "sampler__n_transitions > 0 refines the energy's negatives with transitions that "
                "carry no gradient, which gradient='bptt' would need; use gradient='truncated' "
                f"or n_transitions=0 (got n_transitions={n_transitions!r})."
            )
        return settings

    def _step_size_shape(self):
        """``step_size_shape``, where ``"auto"`` is one step size when the acceptance rule
        moves them all together and one per step and dimension otherwise."""
        if self._hp.step_size_shape != "auto":
            return self._hp.step_size_shape
        return "scalar" if self._step_size_adaptation() == "acceptance" else "per_step_dimension"

    def _n_mcmc_steps(self):
        """``sampler.n_transitions``, where ``"auto"`` is 1 with the truncated gradient and 0 with
        BPTT (whose gradient runs through the sampler's own trajectory)."""
        if self._hp.n_mcmc_steps == "auto":
            return 0 if self.gradient == "bptt" else 1
        return int(self._hp.n_mcmc_steps)

    def _step_size_adaptation(self):
        """The step-size rule in force: ``"auto"`` follows the acceptance rate when the
        embedding runs a Metropolis test and learns the step sizes otherwise."""
        if self._hp.step_size_adaptation != "auto":
            return self._hp.step_size_adaptation
        return "acceptance" if self._use_metropolis() else "learned"

    def _use_metropolis(self):
        """Whether the embedding runs a Metropolis test (resolved from the sampler object)."""
        return bool(self._hp.metropolis)

    def _build_sampler(self, data):
        n_features = data.shape[1]
        bounds = None
        if self._hp.sample_clip is not None:
            low = data.min(0).values.float().cpu()
            high = data.max(0).values.float().cpu()
            span = torch.clamp(high - low, min=1e-3)
            bounds = (low - self._hp.sample_clip * span, high + self._hp.sample_clip * span)
        common = {
            "n_steps": self._hp.n_steps,
            "step_size": self._hp.step_size,
            "step_size_shape": self._step_size_shape(),
            "learn_step_size": self._step_size_adaptation() == "learned",
            "momentum_penalty": self._hp.momentum_penalty,
            "position_bounds": bounds,
        }
        metropolis = self._use_metropolis()
        if self._hp.sampler == "hmc":
            return HMCEmbedding(
                n_features,
                gradient_clip=self._hp.gradient_clip,
                momentum_clip=self._hp.momentum_clip,
                metropolis=metropolis,
                **common,
            )
        if self._hp.sampler == "ghmc":
            latent_dim = n_features if self._hp.latent_dim is None else self._hp.latent_dim
            if latent_dim != n_features and (
                self._hp.ghmc_momentum_map == "gradient" or self._hp.ghmc_position_map == "identity"
            ):
                raise ValueError(
                    "sampler__momentum_map='gradient' and sampler__position_map='identity' "
                    f"need latent_dim equal to the number of features ({n_features}); got "
                    f"sampler__latent_dim={latent_dim}."
                )
            return GeneralizedHMCEmbedding(
                n_features,
                latent_dim=latent_dim,
                hidden_layer_sizes=self._hp.sampler_hidden_layer_sizes,
                scale=self._hp.ghmc_scale,
                momentum_map=self._hp.ghmc_momentum_map,
                position_map=self._hp.ghmc_position_map,
                gradient_clip=self._hp.gradient_clip,
                momentum_clip=self._hp.momentum_clip,
                metropolis=metropolis,
                **common,
            )
        if self._hp.sampler == "langevin":
            # The noise scales are learned with the step sizes (adaptation="learned", the
            # paper's eq. 14-15) and otherwise tied to them: learned under the acceptance rule
            # they bought no held-out likelihood for 1.5x the fit time (benchmarks/README.md).
            return LangevinEmbedding(
                n_features,
                gradient_clip=self._hp.gradient_clip,
                metropolis=metropolis,
                learn_noise=common["learn_step_size"],
                **common,
            )
        logdet = self._hp.logdet
        if logdet == "auto":
            logdet = "exact" if n_features <= EXACT_LOGDET_MAX_FEATURES else "chebyshev"
        return DeterministicLangevinEmbedding(
            n_features,
            logdet=logdet,
            logdet_terms=self._hp.logdet_terms,
            logdet_probes=self._hp.logdet_probes,
            **common,
        )

    def _build_initial(self, data, momentum_dim):
        n_samples, n_features = data.shape
        momentum_std = 1.0 / math.sqrt(self._hp.momentum_penalty)
        if self._hp.initial == "data":
            if n_samples > self._hp.max_initial_points:
                index = torch.randperm(n_samples, generator=self._cpu_generator())
                points = data[index[: self._hp.max_initial_points].to(data.device)]
            else:
                points = data
            return EmpiricalInitial(
                points,
                self._hp.initial_noise,
                momentum_penalty=self._hp.momentum_penalty,
                learn_noise=self._hp.learn_initial_noise,
                momentum_dim=momentum_dim,
            )
        if self._hp.initial == "gaussian":
            return GaussianInitial(
                torch.zeros(n_features),
                torch.ones(n_features),
                momentum_std=momentum_std,
                momentum_dim=momentum_dim,
            )
        hidden = self._hp.initial_hidden_layer_sizes
        if self._hp.initial == "flow":
            return FlowInitial(
                n_features,
                momentum_dim=momentum_dim,
                flow=self._hp.flow,
                n_layers=self._hp.n_flow_layers,
                hidden_layer_sizes=hidden,
                momentum_penalty=self._hp.momentum_penalty,
            )
        if self.image_shape_ is not None:
            # The deconvolutional generator of Table 4(b); its latent is the momentum.
            return ImageLatentInitial(
                self.image_shape_,
                latent_dim=momentum_dim,
                momentum_penalty=self._hp.momentum_penalty,
                output="none",
            )
        return LatentInitial(
            n_features,
            latent_dim=momentum_dim,
            hidden_layer_sizes=hidden,
            momentum_penalty=self._hp.momentum_penalty,
        )
