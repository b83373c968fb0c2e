"""Command line for the benchmarks.

``python -m adesk.benchmarks quick [--datasets moons Ring] [--seed 0]``: ADE vs tuned
GaussianMixture / KernelDensity. ``python -m adesk.benchmarks samplers [--grid full]``: the
sampler x initial-distribution ablation. ``python -m adesk.benchmarks compare``: ADE against
the baseline estimators (CD-15, PCD-15, SM, NCE, NF) with the same energy and budget.
"""

import argparse
import json

from ._compare import COMPARE_DATASETS, COMPARED, format_comparison, run_comparison
from ._quick import QUICK_DATASETS, format_table, run_dataset
from ._samplers import ABLATION_DATASETS, format_ablation, run_ablation


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
        "--ade-params", type=json.loads, default=None, help="JSON dict of ADE parameters"
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
    args = parser.parse_args(argv)
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
