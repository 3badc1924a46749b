"""Rule plot_zero_shot: confusion matrix of the zero-shot pseudo-labels on the train pool (paper fig. 1)."""

import argparse

from air_core.jobs import run_script
from air_core.stages.report import plot_zero_shot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--manifest", "--classes", "--probs", "--out", "--title"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    plot_zero_shot(args.manifest, args.classes, args.probs, args.out, args.title)


if __name__ == "__main__":
    run_script(main)
