"""Rule plot_training: the prompt-training curves of one method over its seeds and rounds."""

import argparse

from air_core.jobs import run_script
from air_core.stages.report import plot_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--histories", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True, help="the seed of each history, in order")
    for name in ("--out", "--title"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    if len(args.seeds) != len(args.histories):
        raise SystemExit(f"{len(args.histories)} histories but {len(args.seeds)} seeds: give one seed per history")
    plot_training(args.histories, args.seeds, args.out, args.title)


if __name__ == "__main__":
    run_script(main)
