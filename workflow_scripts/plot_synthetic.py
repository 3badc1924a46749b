"""Rule plot_synthetic: a few synthetic images per class of one SD variant."""

import argparse

from air_core.jobs import run_script
from air_core.stages.report import plot_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", nargs="+", required=True)
    parser.add_argument("--per-class", type=int, default=6)
    for name in ("--out", "--title"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    plot_synthetic(args.shards, args.per_class, args.out, args.title)


if __name__ == "__main__":
    run_script(main)
