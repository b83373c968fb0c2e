"""Command line for the benchmarks.

``python -m adesk.benchmarks quick [--datasets moons Ring] [--seed 0]``: ADE vs tuned
GaussianMixture / KernelDensity. ``python -m adesk.benchmarks quality [--datasets ...]
[--estimators ADE CD-15 exact NCE SM PCD-15] [--seeds 0 1 2] [--n-jobs 2]``: held-out
log-likelihood (mean +- sd over seeds), fit time and floors of every estimator with its
defaults on the 12 toys, beside tuned GMM and KDE, with the exact-gradient reference.
``python -m adesk.benchmarks realdefaults``: ADE and CD-15 with their defaults, untuned, on the
real data (test log-likelihood, energy gap, log Z). ``python -m adesk.benchmarks adaptation``:
ADE's step sizes learned by the paper's objective, adapted to the acceptance rate or fixed
(quality, cost, movement, sampling efficiency).
``python -m adesk.benchmarks samplers [--grid full]``: the sampler x initial-distribution
ablation. ``python -m adesk.benchmarks compare``: ADE against
the baseline estimators (CD-15, PCD-15, SM, NCE, NF) with the same energy and budget.
``python -m adesk.benchmarks likelihood [--datasets iris wine] [--n-jobs 2]``: test
log-likelihood on real tabular data (iris, wine, breast_cancer, dequantized digits) of every
estimator and of GaussianMixture / KernelDensity, all tuned on a validation split.
``python -m adesk.benchmarks paper [--mode quick|full] [--n-jobs 2]``: the paper's synthetic
experiments (Table 2 with the paper's and a stronger protocol, Figures 1/5 and 2, Table 5),
written under ``doc/paper``. ``python -m adesk.benchmarks recovery``: Table 5 alone.
``python -m adesk.benchmarks images [--mode quick|full] [--n-jobs 2]``: the image benchmark on
8x8 digits (classifier score and Frechet distance of ADE with and without its dynamics, ADE
nonparametric, PCD-Langevin, held-out real digits and noise), written under ``doc/images``.
``python -m adesk.benchmarks speed [--mode quick|full] [--device cuda]``: sampling and training
speed against the gradient floor and the peers ebmkit and torchebm (``bench`` extra).
"""

import argparse
import json
import os
import time

from ._adaptation import ADAPTATION_DATASETS, format_adaptation, run_adaptation
from ._compare import COMPARE_DATASETS, COMPARED, format_comparison, run_comparison
from ._images import add_images_arguments, main_images
from ._likelihood import (
    LIKELIHOOD_ESTIMATORS,
    REAL_DATASETS,
    format_likelihood,
    run_likelihood,
)
from ._paper import add_paper_arguments, main_paper
from ._quality import (
    DEFAULT_QUALITY_ESTIMATORS,
    QUALITY_DATASETS,
    QUALITY_ESTIMATORS,
    format_quality,
    run_quality,
)
from ._quick import QUICK_DATASETS, format_table, run_dataset
from ._real_defaults import (
    DEFAULT_ESTIMATORS,
    STANDARD_ESTIMATORS,
    format_real_defaults,
    run_real_defaults,
)
from ._recovery import add_recovery_arguments, format_recovery, main_recovery, run_recovery
from ._samplers import ABLATION_DATASETS, format_ablation, run_ablation
from ._speed import add_speed_arguments, main_speed


def run_paper_command(args):
    """Table 2 and the figures (:func:`main_paper`), then Table 5 in the same mode, written
    to ``table5.md`` beside them."""
    main_paper(args)
    start = time.perf_counter()
    rows = run_recovery(mode=args.mode, n_jobs=args.n_jobs)
    table = format_recovery(rows)
    minutes = (time.perf_counter() - start) / 60
    header = (
        "# Table 5: parameter recovery of diagonal Gaussians\n\n"
        f"Produced by `python -m adesk.benchmarks paper --mode {args.mode} --n-jobs "
        f"{args.n_jobs}` (Table 5 part: {minutes:.1f} min). Lower is better; the MLE row is "
        "the statistical floor.\n\n"
    )
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "table5.md"), "w") as handle:
        handle.write(header + table + "\n")
    if not args.quiet:
        print(table)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m adesk.benchmarks")
    commands = parser.add_subparsers(dest="command", required=True)
    quick = commands.add_parser(
        "quick", help="ADE vs tuned GaussianMixture / KernelDensity on 2-D toy data"
    )
    quick.add_argument("--datasets", nargs="+", default=list(QUICK_DATASETS))
    quick.add_argument("--seed", type=int, default=0)
    quick.add_argument("--n-train", type=int, default=10000)
    quick.add_argument(
        "--ade-params",
        type=json.loads,
        default=None,
        help='JSON dict of ADE parameters; nested settings by path, e.g. {"sampler__n_steps": 10}',
    )
    samplers = commands.add_parser(
        "samplers", help="ADE sampler x initial ablation (log-likelihood, MMD, times)"
    )
    samplers.add_argument("--datasets", nargs="+", default=list(ABLATION_DATASETS))
    samplers.add_argument("--grid", choices=["main", "full"], default="main")
    samplers.add_argument("--seed", type=int, default=0)
    samplers.add_argument("--n-train", type=int, default=10000)
    samplers.add_argument("--max-iter", type=int, default=1500)
    samplers.add_argument("--n-jobs", type=int, default=1)
    compare = commands.add_parser(
        "compare", help="ADE vs CD-15, PCD-15, SM, NCE and NF on the same energy and budget"
    )
    compare.add_argument("--datasets", nargs="+", default=list(COMPARE_DATASETS))
    compare.add_argument("--estimators", nargs="+", default=list(COMPARED), choices=list(COMPARED))
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--n-train", type=int, default=10000)
    compare.add_argument("--max-iter", type=int, default=1000)
    compare.add_argument("--n-jobs", type=int, default=1)
    quality = commands.add_parser(
        "quality",
        help="held-out log-likelihood over seeds of every estimator with its defaults, the "
        "exact-gradient reference, tuned GMM and KDE, with fit times and floors",
    )
    quality.add_argument("--datasets", nargs="+", default=list(QUALITY_DATASETS))
    quality.add_argument(
        "--estimators",
        nargs="+",
        default=list(DEFAULT_QUALITY_ESTIMATORS),
        choices=list(QUALITY_ESTIMATORS),
    )
    quality.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    quality.add_argument("--n-train", type=int, default=10000)
    quality.add_argument(
        "--max-iter", type=int, default=None, help="override every estimator's max_iter"
    )
    quality.add_argument("--n-jobs", type=int, default=1)
    quality.add_argument("--save", default=None, help="write the rows to this JSON file")
    quality.add_argument(
        "--load",
        nargs="+",
        default=(),
        help="JSON files of earlier runs whose rows join this run's in the tables",
    )
    realdefaults = commands.add_parser(
        "realdefaults",
        help="ADE and CD-15 with their defaults, untuned, on the real data sets: test ll, "
        "energy gap, log Z, time, beside tuned GMM / KDE",
    )
    realdefaults.add_argument(
        "--datasets", nargs="+", default=list(REAL_DATASETS), choices=list(REAL_DATASETS)
    )
    realdefaults.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    realdefaults.add_argument("--max-iter", type=int, default=None)
    realdefaults.add_argument("--n-jobs", type=int, default=1)
    realdefaults.add_argument(
        "--estimators",
        nargs="+",
        default=list(STANDARD_ESTIMATORS),
        choices=list(DEFAULT_ESTIMATORS),
    )
    adaptation = commands.add_parser(
        "adaptation",
        help="ADE's step sizes learned (paper), adapted to the acceptance rate, or fixed: "
        "quality, cost, movement, and sampling efficiency on one energy",
    )
    adaptation.add_argument("--datasets", nargs="+", default=list(ADAPTATION_DATASETS))
    adaptation.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    adaptation.add_argument("--max-iter", type=int, default=1000)
    adaptation.add_argument("--n-jobs", type=int, default=1)
    likelihood = commands.add_parser(
        "likelihood",
        help="test log-likelihood on real data vs GaussianMixture / KernelDensity, tuned on "
        "a validation split",
    )
    likelihood.add_argument(
        "--datasets", nargs="+", default=list(REAL_DATASETS), choices=list(REAL_DATASETS)
    )
    likelihood.add_argument(
        "--estimators",
        nargs="+",
        default=list(LIKELIHOOD_ESTIMATORS),
        choices=list(LIKELIHOOD_ESTIMATORS),
    )
    likelihood.add_argument("--max-iter", type=int, default=800)
    likelihood.add_argument("--seed", type=int, default=0)
    likelihood.add_argument("--n-jobs", type=int, default=1)
    likelihood.add_argument(
        "--ais-chains", type=int, default=None, help="AIS chains (default: 512)"
    )
    likelihood.add_argument("--ais-temperatures", type=int, default=500)
    likelihood.add_argument("--device", default="auto")
    add_paper_arguments(
        commands.add_parser(
            "paper", help="the paper's synthetic experiments: Table 2, Figures 1/5 and 2, Table 5"
        )
    )
    add_recovery_arguments(
        commands.add_parser("recovery", help="Table 5: parameter recovery of diagonal Gaussians")
    )
    add_images_arguments(
        commands.add_parser(
            "images",
            help="ADE, its q0 alone, PCD-Langevin and real digits: classifier score and "
            "Frechet distance on 8x8 digits",
        )
    )
    add_speed_arguments(
        commands.add_parser(
            "speed",
            help="sampling and training speed against the gradient floor, ebmkit and torchebm",
        )
    )
    args = parser.parse_args(argv)
    if args.command == "speed":
        main_speed(args)
        return
    if args.command == "images":
        main_images(args)
        return
    if args.command == "paper":
        run_paper_command(args)
        return
    if args.command == "recovery":
        main_recovery(args)
        return
    if args.command == "likelihood":
        rows = run_likelihood(
            args.datasets,
            args.estimators,
            args.max_iter,
            args.seed,
            args.n_jobs,
            args.ais_chains,
            args.ais_temperatures,
            args.device,
        )
        print(format_likelihood(rows))
        return
    if args.command == "realdefaults":
        rows = run_real_defaults(
            args.datasets, args.seeds, args.max_iter, args.n_jobs, args.estimators
        )
        print(format_real_defaults(rows))
        return
    if args.command == "adaptation":
        fits, sampler_rows = run_adaptation(args.datasets, args.seeds, args.max_iter, args.n_jobs)
        print(format_adaptation(fits, sampler_rows))
        return
    if args.command == "quality":
        start = time.perf_counter()
        rows = run_quality(
            args.datasets, args.estimators, args.seeds, args.n_train, args.max_iter, args.n_jobs
        )
        if args.save:
            with open(args.save, "w") as handle:
                json.dump(rows, handle, indent=1)
        for path in args.load:
            with open(path) as handle:
                rows += json.load(handle)
        print(format_quality(rows))
        print(f"\n{len(rows)} fits in {(time.perf_counter() - start) / 60:.1f} min.")
        return
    if args.command == "compare":
        rows = run_comparison(
            args.datasets, args.estimators, args.n_train, args.seed, args.max_iter, args.n_jobs
        )
        print(format_comparison(rows))
        return
    if args.command == "samplers":
        rows, references = run_ablation(
            args.datasets, args.grid, args.n_train, args.seed, args.max_iter, args.n_jobs
        )
        print(format_ablation(rows, references))
        return
    rows = []
    for name in args.datasets:
        rows.append(run_dataset(name, args.n_train, args.seed, args.ade_params))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(format_table(rows))


if __name__ == "__main__":
    main()
