"""Rule plot_studies: accuracy against lambda, beta and M (paper fig. 3) and against the SD variant."""

import argparse
import json

from air_core.jobs import run_script
from air_core.stages.report import plot_studies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--methods", "--paper", "--ablations", "--dataset", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--metrics", nargs="+", required=True, help="the dataset's UL/text runs' metrics")
    args = parser.parse_args()
    plot_studies(args.metrics, json.loads(args.methods), args.paper, args.ablations, args.dataset, args.out)


if __name__ == "__main__":
    run_script(main)
