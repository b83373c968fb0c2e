"""Speed of adesk's samplers and training steps, against the floor and against peers.

``python -m adesk.benchmarks speed`` prints (and writes) three tables, every number measured
side by side in one run on one device:

1. **Sampling** from a fixed energy (MLP ``d-128-128-128-1``; 1,000 chains; HMC transitions of
   10 leapfrog steps with a Metropolis test): the *floor* (one forward pass plus input
   gradient of the energy on the whole batch), adesk's :func:`~adesk.dynamics.run_mcmc`,
   ``ADEDensityEstimator.sample`` (its learned 10-step leapfrog embedding on the same
   weights), and the peers ``ebm.samplers.HMC`` (ebmkit) and
   ``torchebm.samplers.HamiltonianMonteCarlo`` (torchebm) when they are installed (the
   ``bench`` extra). Reported per energy gradient and as a ratio to the floor.
2. **Training**: one ADE iteration (back-propagation through time and the default truncated
   gradient, T = 5, 10, 20, with and without gradient checkpointing) beside one CD-15
   iteration on the same energy and batch, with the memory the autograd graph holds.
3. **Scaling** of one default ADE iteration with T, the batch size and the dimension, as
   milliseconds and as a multiple of the floor.

Rounds are interleaved (every method once per round) and medians reported, because shared
machines drift; every ratio is the median over rounds of the ratio within a round.
"""

import copy
import os
import platform
import time
import warnings

import numpy as np
import torch

from ..dynamics import run_mcmc
from ..energies import MLP, MLPEnergy
from ..initial import Gaussian
from ..partition import ImportanceSampling, Quadrature
from ..samplers import HMC, Langevin

SPEED_MODES = {
    # rounds: interleaved repetitions of every measurement (medians are reported).
    "quick": dict(
        rounds=5,
        dims=(2, 64),
        n_transitions=5,
        training_steps=(5, 10, 20),
        scaling_steps=(1, 5, 10, 20, 40),
        scaling_batches=(100, 1000, 10000),
        scaling_dims=(2, 16, 64, 256, 784),
    ),
    "full": dict(
        rounds=11,
        dims=(2, 64),
        n_transitions=10,
        training_steps=(5, 10, 20),
        scaling_steps=(1, 2, 5, 10, 20, 40, 80),
        scaling_batches=(100, 300, 1000, 3000, 10000),
        scaling_dims=(2, 8, 16, 64, 256, 784),
    ),
}
HIDDEN = (128, 128, 128)
N_CHAINS = 1000
#: The sampling row with ADE's library defaults (persistent chains).
PERSISTENT_ROW = "adesk ADE sample() (T=10, persistent chains: library defaults)"
UNCLIPPED_ROW = "adesk ADE sample() (T=10, persistent chains, no norm clipping)"
LANGEVIN_ROW = "adesk ADE sample() (T=10 MALA steps, persistent chains)"
N_LEAPFROG = 10
STEP_SIZE = 0.05
TRAINING_BATCH = 1000


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device):
    _synchronize(device)
    start = time.perf_counter()
    fn()
    _synchronize(device)
    return time.perf_counter() - start


def _interleaved(functions, rounds, device):
    """Seconds of each function in each of ``rounds`` interleaved rounds (after a warm-up).

    Returns ``{name: array of shape (rounds,)}``; within a round the functions run back to
    back, so per-round ratios cancel most of a shared machine's drift.
    """
    for fn in functions.values():
        fn()
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, fn in functions.items():
            times[name].append(_timed(fn, device))
    return {name: np.asarray(values) for name, values in times.items()}


def _median_ratio(times, reference):
    """Median over rounds of ``times / reference`` (paired by round)."""
    return float(np.median(times / reference))


def saved_tensor_bytes(fn):
    """Bytes of the distinct tensor storages autograd saves for backward while ``fn`` runs.

    For one training step this is the memory the graph holds when the backward pass starts
    (its peak); storages shared by several saved tensors count once. Tensors saved inside a
    checkpointed region are discarded by the checkpoint and not counted, which is the point.
    """
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = max(storages.get(storage.data_ptr(), 0), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sum(storages.values())


def make_energy(n_features, device, seed=0):
    """The benchmark's MLP energy ``d-128-128-128-1`` (SiLU), seeded, on ``device``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        energy = MLPEnergy(n_features, hidden_layer_sizes=HIDDEN)
    return energy.to(device)


def _floor_functions(energy, x, n_gradients):
    """``n_gradients`` forward + input-gradient passes, with trainable and frozen weights."""

    def gradients():
        for _ in range(n_gradients):
            inputs = x.detach().requires_grad_(True)
            torch.autograd.grad(energy(inputs).sum(), inputs)

    def frozen():
        flags = [p.requires_grad for p in energy.parameters()]
        for parameter in energy.parameters():
            parameter.requires_grad_(False)
        try:
            gradients()
        finally:
            for parameter, flag in zip(energy.parameters(), flags):
                parameter.requires_grad_(flag)

    return gradients, frozen


def _fitted_ade(energy, X, n_steps, device, initial="data", sampler_class=HMC, **sampler_params):
    """An ADE estimator built around a copy of ``energy`` (no training: max_iter=0), with the
    sampler ``sampler_class(n_steps, STEP_SIZE, **sampler_params)``."""
    from ..estimators import ADEDensityEstimator

    weights = copy.deepcopy(energy).cpu()
    est = ADEDensityEstimator(
        energy_model=lambda d: copy.deepcopy(weights),
        standardize="none",
        sampler=sampler_class(n_steps=n_steps, step_size=STEP_SIZE, **sampler_params),
        initial=initial,
        max_iter=0,
        partition=ImportanceSampling(n_samples=64),
        device=str(device),
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X)


def _peer_samplers(energy, x, n_transitions, generator):
    """ebmkit's and torchebm's HMC on the same energy and chains, when installed."""
    peers = {}
    try:
        from ebm.samplers import HMC

        ebmkit = HMC(step_size=STEP_SIZE, leapfrog_steps=N_LEAPFROG, steps=n_transitions)
        peers["ebmkit HMC"] = lambda: ebmkit.sample(energy, x)
    except ImportError:
        pass
    try:
        from torchebm.core import BaseModel
        from torchebm.samplers import HamiltonianMonteCarlo

        class _Wrapped(BaseModel):
            def __init__(self):
                super().__init__()
                self.net = energy

            def forward(self, inputs):
                return self.net(inputs)

        torchebm_hmc = HamiltonianMonteCarlo(
            _Wrapped(),
            step_size=STEP_SIZE,
            n_leapfrog_steps=N_LEAPFROG,
            device=x.device,
            dtype=x.dtype,
        )
        peers["torchebm HMC"] = lambda: torchebm_hmc.sample(
            x=x.clone(), n_steps=n_transitions, generator=generator
        )
    except ImportError:
        pass
    return peers


def _sampling_rows(n_features, n_transitions, rounds, device):
    """Every sampler on one energy of dimension ``n_features``, interleaved."""
    energy = make_energy(n_features, device)
    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(N_CHAINS, n_features, generator=generator, device=device)
    n_gradients = n_transitions * N_LEAPFROG
    floor, frozen_floor = _floor_functions(energy, x, n_gradients)

    def adesk_mcmc():
        run_mcmc(
            energy,
            x,
            kernel="hmc",
            n_steps=n_transitions,
            step_size=STEP_SIZE,
            n_leapfrog_steps=N_LEAPFROG,
            generator=generator,
        )

    # ADE with the same plain leapfrog as the HMC rows (one scalar step size, no clipping),
    # and with its training defaults (norm clipping of gradient and momentum at 10, a step
    # size per layer and dimension run in a random direction under the Metropolis test).
    plain_ade = _fitted_ade(
        energy,
        x.cpu().numpy(),
        N_LEAPFROG,
        device,
        initial=Gaussian(replay_buffer_size=0),
        step_size_shape="scalar",
        gradient_clip=None,
        momentum_clip=None,
    )
    default_ade = _fitted_ade(
        energy, x.cpu().numpy(), N_LEAPFROG, device, initial=Gaussian(replay_buffer_size=0)
    )

    def ade_sampler(estimator):
        def draw():
            # One sample() call runs the T = 10 leapfrog layers once: repeat it to match the
            # number of leapfrog steps of the MCMC rows.
            for seed in range(n_transitions):
                estimator.sample(N_CHAINS, random_state=seed)

        return draw

    # The library's own default: persistent chains (one per minibatch row, 256), so 1,000
    # draws take one pass from the chains and DECORRELATION_PASSES more passes that start where
    # the previous one ended (its end gradient is reused): 1 + 11 x T gradients, 11 x T
    # leapfrog steps per call.
    from ..estimators._ade import DECORRELATION_PASSES

    persistent_ade = _fitted_ade(energy, x.cpu().numpy(), N_LEAPFROG, device)
    # The same without the norm clipping of gradient and momentum (the MCMC kernel's setting):
    # what the clipping of ADE's defaults costs.
    unclipped_ade = _fitted_ade(
        energy, x.cpu().numpy(), N_LEAPFROG, device, gradient_clip=None, momentum_clip=None
    )
    # The same draws with MALA steps (sampler="langevin"): one Metropolis test per step.
    langevin_ade = _fitted_ade(energy, x.cpu().numpy(), N_LEAPFROG, device, sampler_class=Langevin)
    persistent_passes = 1 + DECORRELATION_PASSES

    def persistent_draw(estimator):
        def draw():
            for seed in range(max(1, round(n_transitions / persistent_passes))):
                estimator.sample(N_CHAINS, random_state=seed)

        return draw

    persistent_steps = max(1, round(n_transitions / persistent_passes)) * persistent_passes

    functions = {
        "floor (forward + input gradient)": floor,
        "floor, frozen weights": frozen_floor,
        "adesk run_mcmc (HMC kernel)": adesk_mcmc,
        "adesk ADE sample() (T=10, plain leapfrog)": ade_sampler(plain_ade),
        "adesk ADE sample() (T=10, ADE defaults)": ade_sampler(default_ade),
        PERSISTENT_ROW: persistent_draw(persistent_ade),
        UNCLIPPED_ROW: persistent_draw(unclipped_ade),
        LANGEVIN_ROW: persistent_draw(langevin_ade),
        **_peer_samplers(energy, x, n_transitions, generator),
    }
    times = _interleaved(functions, rounds, device)
    floor_times = times["floor (forward + input gradient)"]
    # Leapfrog steps of each row's call (the persistent row's count differs from the others').
    steps = {name: n_gradients for name in times}
    for row in (PERSISTENT_ROW, UNCLIPPED_ROW, LANGEVIN_ROW):
        steps[row] = persistent_steps * N_LEAPFROG
    return [
        dict(
            n_features=n_features,
            method=name,
            ms_per_leapfrog_step=1e3 * float(np.median(seconds)) / steps[name],
            chain_steps_per_s=N_CHAINS * steps[name] / float(np.median(seconds)),
            ratio_to_floor=_median_ratio(seconds / steps[name], floor_times / n_gradients),
        )
        for name, seconds in times.items()
    ]


def sampling_table(dims, n_transitions, rounds, device):
    """Table 1 rows: per energy dimension, each method's time per leapfrog step."""
    return [
        row
        for n_features in dims
        for row in _sampling_rows(n_features, n_transitions, rounds, device)
    ]


def _training_estimators(n_steps_list, batch_size, device):
    from ..estimators import ADEDensityEstimator, ContrastiveDivergenceEstimator

    # The parameter objects are shared by the estimators, which never modify them.
    common = dict(
        energy_model=MLP(hidden_layer_sizes=HIDDEN),
        batch_size=batch_size,
        max_iter=0,
        random_state=0,
        device=str(device),
        partition=Quadrature(resolution=16),
    )
    estimators = {
        # One Langevin step (with its MALA test) per transition, 15 transitions.
        "CD-15 (15 Langevin steps + MALA test)": ContrastiveDivergenceEstimator(
            sampler=Langevin(n_steps=1, n_transitions=15), **common
        ),
        "CD-15 (adesk default: 15 HMC x 5 leapfrog)": ContrastiveDivergenceEstimator(
            sampler=HMC(n_transitions=15), **common
        ),
    }
    for n_steps in n_steps_list:
        estimators[f"ADE BPTT, T={n_steps}"] = ADEDensityEstimator(
            sampler=HMC(n_steps=n_steps),
            gradient="bptt",
            initial=Gaussian(replay_buffer_size=0),
            **common,
        )
        estimators[f"ADE BPTT + checkpointing, T={n_steps}"] = ADEDensityEstimator(
            sampler=HMC(n_steps=n_steps, gradient_checkpointing=True),
            gradient="bptt",
            initial=Gaussian(replay_buffer_size=0),
            **common,
        )
        estimators[f"ADE default (truncated), T={n_steps}"] = ADEDensityEstimator(
            sampler=HMC(n_steps=n_steps), **common
        )
    return estimators


def _prepared_step(est, X):
    """Build ``est`` on ``X`` (no iteration) and return a closure running one training step."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    data = est._to_standardized_tensor(X)
    est._set_training_mode(True)
    counter = iter(range(1, 10**9))

    def step():
        est._training_step(data, next(counter))

    return step


def training_table(n_steps_list, rounds, device, X=None):
    """Table 2 rows: ms per iteration, ratios to both CD-15 variants, autograd memory."""
    from ..datasets import make_toy

    if X is None:
        X = make_toy("moons", n_samples=5000, random_state=0)
    estimators = _training_estimators(n_steps_list, TRAINING_BATCH, device)
    steps = {name: _prepared_step(est, X) for name, est in estimators.items()}
    times = _interleaved(steps, rounds, device)
    memory = {name: saved_tensor_bytes(step) for name, step in steps.items()}
    peak = {}
    if device.type == "cuda":
        for name, step in steps.items():
            torch.cuda.reset_peak_memory_stats(device)
            step()
            peak[name] = torch.cuda.max_memory_allocated(device)
    langevin = times["CD-15 (15 Langevin steps + MALA test)"]
    hmc = times["CD-15 (adesk default: 15 HMC x 5 leapfrog)"]
    return [
        dict(
            method=name,
            ms_per_iteration=1e3 * float(np.median(seconds)),
            ratio_to_cd15_langevin=_median_ratio(seconds, langevin),
            ratio_to_cd15_hmc=_median_ratio(seconds, hmc),
            graph_mib=memory[name] / 2**20,
            peak_mib=peak.get(name, float("nan")) / 2**20,
        )
        for name, seconds in times.items()
    ]


def scaling_table(steps_list, batches, dims, rounds, device):
    """Table 3 rows: default ADE iteration time against T, batch size and dimension."""
    from ..estimators import ADEDensityEstimator

    rng = np.random.default_rng(0)
    settings = [("T", n_steps, 1000, 2) for n_steps in steps_list]
    settings += [("batch", batch, batch, 2) for batch in batches]
    settings += [("dimension", n_features, 1000, n_features) for n_features in dims]
    rows = []
    for varied, value, batch_size, n_features in settings:
        n_steps = value if varied == "T" else 10
        X = rng.standard_normal((max(2 * batch_size, 2000), n_features))
        est = ADEDensityEstimator(
            sampler=HMC(n_steps=n_steps),
            energy_model=MLP(hidden_layer_sizes=HIDDEN),
            batch_size=batch_size,
            max_iter=0,
            random_state=0,
            device=str(device),
            partition=ImportanceSampling(n_samples=64),
        )
        step = _prepared_step(est, X)
        x = torch.as_tensor(X[:batch_size], dtype=torch.float32, device=device)
        floor, _ = _floor_functions(est.energy_model_, x, 1)
        times = _interleaved({"step": step, "floor": floor}, rounds, device)
        rows.append(
            dict(
                varied=varied,
                value=value,
                n_steps=n_steps,
                batch_size=batch_size,
                n_features=n_features,
                ms_per_iteration=1e3 * float(np.median(times["step"])),
                floor_ms=1e3 * float(np.median(times["floor"])),
                floors_per_iteration=_median_ratio(times["step"], times["floor"]),
            )
        )
    return rows


def run_speed(
    mode="quick",
    device="cpu",
    threads=1,
    tables=("sampling", "training", "scaling"),
    settings=None,
):
    """Measure the requested tables; returns a dict of row lists plus the environment.

    Parameters
    ----------
    mode : {"quick", "full"}, default="quick"
        Rounds and grid sizes (``SPEED_MODES``).
    device : str, default="cpu"
    threads : int or None, default=1
        ``torch.set_num_threads`` for the run (restored afterwards); one thread gives the
        steadiest numbers on a shared machine.
    tables : sequence of {"sampling", "training", "scaling"}
    settings : dict or None, default=None
        Overrides of the mode's settings (``rounds``, ``dims``, ``n_transitions``,
        ``training_steps``, ``scaling_steps``, ``scaling_batches``, ``scaling_dims``).

    Returns
    -------
    results : dict
    """
    if mode not in SPEED_MODES:
        raise ValueError(f"mode must be one of {sorted(SPEED_MODES)}; got {mode!r}.")
    settings = {**SPEED_MODES[mode], **(settings or {})}
    device = torch.device(device)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    results = {
        "environment": dict(
            device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            processor=platform.processor() or platform.machine(),
            cpu_count=os.cpu_count(),
            torch=torch.__version__,
            threads=torch.get_num_threads(),
            mode=mode,
        )
    }
    try:
        rounds = settings["rounds"]
        if "sampling" in tables:
            results["sampling"] = sampling_table(
                settings["dims"], settings["n_transitions"], rounds, device
            )
        if "training" in tables:
            results["training"] = training_table(settings["training_steps"], rounds, device)
        if "scaling" in tables:
            results["scaling"] = scaling_table(
                settings["scaling_steps"],
                settings["scaling_batches"],
                settings["scaling_dims"],
                rounds,
                device,
            )
    finally:
        torch.set_num_threads(previous_threads)
    return results


def format_speed(results):
    """Markdown tables of :func:`run_speed`'s results."""
    env = results["environment"]
    lines = [
        f"Device: {env['device']} ({env['processor']}, {env['cpu_count']} cores, "
        f"{env['threads']} torch thread(s)); torch {env['torch']}; mode {env['mode']}.",
        "",
    ]
    if "sampling" in results:
        lines += [
            f"### Sampling from a fixed energy ({N_CHAINS} chains, HMC with {N_LEAPFROG} "
            "leapfrog steps per transition, Metropolis test on)",
            "",
            "| energy | method | ms per leapfrog step | chain-steps / s | x floor |",
            "|---|---|---|---|---|",
        ]
        for row in results["sampling"]:
            lines.append(
                f"| MLP {row['n_features']}-128-128-128-1 | {row['method']} | "
                f"{row['ms_per_leapfrog_step']:.3f} | {row['chain_steps_per_s']:,.0f} | "
                f"{row['ratio_to_floor']:.2f} |"
            )
        lines += [
            "",
            "x floor: time per leapfrog step over the time of one forward pass plus input "
            "gradient on the same batch (trainable weights), median of per-round ratios. "
            "ADE's sample() and ebmkit evaluate one more gradient per trajectory (at its "
            "start), included in their time (10% at 10 leapfrog steps).",
            "",
        ]
    if "training" in results:
        lines += [
            f"### One training iteration (MLP 2-128-128-128-1, batch {TRAINING_BATCH}, moons)",
            "",
            "| method | ms / iteration | x CD-15 Langevin | x CD-15 HMC | graph MiB |"
            + (" peak MiB |" if env["device"] != "cpu" else ""),
            "|---|---|---|---|---|" + ("---|" if env["device"] != "cpu" else ""),
        ]
        for row in results["training"]:
            line = (
                f"| {row['method']} | {row['ms_per_iteration']:.1f} | "
                f"{row['ratio_to_cd15_langevin']:.2f} | {row['ratio_to_cd15_hmc']:.2f} | "
                f"{row['graph_mib']:.1f} |"
            )
            if env["device"] != "cpu":
                line += f" {row['peak_mib']:.0f} |"
            lines.append(line)
        lines += [
            "",
            "graph MiB: distinct storages autograd holds for the backward pass (its peak).",
            "",
        ]
    if "scaling" in results:
        lines += [
            "### Scaling of one default ADE iteration (truncated gradient, learned step "
            "sizes, nonparametric q0 with replay buffer)",
            "",
            "| varied | T | batch | dimension | ms / iteration | floor ms | x floor |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in results["scaling"]:
            lines.append(
                f"| {row['varied']} | {row['n_steps']} | {row['batch_size']} | "
                f"{row['n_features']} | {row['ms_per_iteration']:.1f} | {row['floor_ms']:.2f} | "
                f"{row['floors_per_iteration']:.1f} |"
            )
        lines += [
            "",
            "x floor: iteration time over one forward pass plus input gradient of the energy "
            "on the batch; linear growth in T means a constant x floor per step.",
        ]
    return "\n".join(lines)


def add_speed_arguments(parser):
    """Add the flags of the ``speed`` command to an argparse (sub-)parser."""
    parser.add_argument("--mode", choices=sorted(SPEED_MODES), default="quick")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--tables",
        nargs="+",
        choices=["sampling", "training", "scaling"],
        default=["sampling", "training", "scaling"],
    )
    parser.add_argument("--output", default=None, help="also write the tables to this file")
    return parser


def main_speed(args):
    """Run the ``speed`` command: measure, print and optionally write the tables."""
    start = time.perf_counter()
    results = run_speed(
        mode=args.mode, device=args.device, threads=args.threads, tables=tuple(args.tables)
    )
    text = format_speed(results)
    minutes = (time.perf_counter() - start) / 60
    command = (
        f"python -m adesk.benchmarks speed --mode {args.mode} --device {args.device} "
        f"--threads {args.threads}"
    )
    text = f"Produced by `{command}` in {minutes:.1f} min.\n\n" + text
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    return results
