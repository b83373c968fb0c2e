"""Command line: ``python -m adesk.benchmarks quick [--datasets moons Ring] [--seed 0]``."""

import argparse
import json

from ._quick import QUICK_DATASETS, format_table, run_dataset


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
    args = parser.parse_args(argv)
    rows = []
    for name in args.datasets:
        rows.append(run_dataset(name, args.n_train, args.seed, args.ade_params))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(format_table(rows))


if __name__ == "__main__":
    main()
