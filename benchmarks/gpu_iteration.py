"""Milliseconds per default ADE training iteration, CPU against GPU, by batch size.

Usage (on a machine with a CUDA device; prints a Markdown table)::

    python benchmarks/gpu_iteration.py                  # batch 256 ... 16384, CPU and CUDA
    python benchmarks/gpu_iteration.py --quick          # two batch sizes, fewer iterations

For each device and batch size it fits ``ADEDensityEstimator`` with its defaults on moons for
``--warmup + --iterations`` iterations and reports the median duration of the iterations after
the warm-up (time stamps from a callback), so allocation and compilation are left out.
``--compile`` adds rows whose energy network is wrapped in ``torch.compile(mode=...)``
(``"reduce-overhead"`` captures CUDA graphs on a GPU); a configuration that fails is reported
with its error instead of stopping the run. All rows of
one run are measured side by side, so their ratios are comparable; the GPU/CPU column divides
by the CPU row of the same batch size.

Written when no GPU was available to the project (issue 18): the CPU rows were run here, the
CUDA rows wait for a GPU machine.
"""

import argparse
import time

import numpy as np
import torch

from adesk import ADEDensityEstimator
from adesk.datasets import make_toy
from adesk.energies import MLP, MLPEnergy
from adesk.partition import AutoPartition


def compiled_energy(mode):
    """An ``energy_model`` factory: the default MLP energy wrapped in ``torch.compile``."""

    defaults = MLP()  # ADE's default energy_model="mlp"

    def factory(n_features):
        energy = MLPEnergy(
            n_features,
            hidden_layer_sizes=defaults.hidden_layer_sizes,
            activation=defaults.activation,
            base_precision=defaults.base_precision,
        )
        return torch.compile(energy, mode=mode)

    return factory


def ms_per_iteration(device, batch_size, warmup, iterations, energy_model="mlp"):
    """Median training milliseconds per iteration after the warm-up iterations, from a
    callback's time stamps (each iteration ends with its logged floats on the host, so the
    stamps include the device's work)."""
    X = make_toy("moons", max(10000, batch_size), random_state=0)
    stamps = []
    ADEDensityEstimator(
        batch_size=batch_size,
        max_iter=warmup + iterations,
        energy_model=energy_model,
        device=device,
        random_state=0,
        partition=AutoPartition(resolution=32),
        callbacks=lambda estimator, iteration, logs: stamps.append(time.perf_counter()),
    ).fit(X)
    return 1e3 * float(np.median(np.diff(stamps[warmup - 1 :])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--compile", default="reduce-overhead", help="torch.compile mode or ''")
    args = parser.parse_args(argv)
    batches = (256, 4096) if args.quick else (256, 1024, 4096, 16384)
    warmup = args.warmup or (10 if args.quick else 30)
    iterations = args.iterations or (40 if args.quick else 200)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    variants = {"eager": "mlp"}
    if args.compile:
        variants[f"compile({args.compile})"] = compiled_energy(args.compile)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device'}; "
        f"ADE defaults on moons, {iterations} iterations after {warmup} of warm-up\n"
    )
    print("| device | variant | batch | ms / iteration | vs CPU eager, same batch |")
    print("|---|---|---|---|---|")
    cpu_eager = {}
    for batch in batches:
        for device in devices:
            for name, energy_model in variants.items():
                start = time.perf_counter()
                try:
                    ms = ms_per_iteration(device, batch, warmup, iterations, energy_model)
                except Exception as error:  # a failed configuration is a result, not a crash
                    print(f"| {device} | {name} | {batch} | failed: {type(error).__name__} | |")
                    continue
                if device == "cpu" and name == "eager":
                    cpu_eager[batch] = ms
                ratio = ms / cpu_eager[batch] if batch in cpu_eager else np.nan
                print(
                    f"| {device} | {name} | {batch} | {ms:.2f} | {ratio:.2f} |  "
                    f"<!-- {time.perf_counter() - start:.0f} s -->",
                    flush=True,
                )


if __name__ == "__main__":
    main()
