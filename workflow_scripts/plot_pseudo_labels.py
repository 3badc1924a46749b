"""Rule plot_pseudo_labels: pseudo-label accuracy per round, text-only vs fused (paper fig. 4)."""

import argparse

from air_core.jobs import run_script
from air_core.stages.report import plot_pseudo_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", nargs="+", required=True, help="the confident_accuracy table of every run")
    parser.add_argument("--methods", nargs="+", required=True, help="the method of each table, in order")
    parser.add_argument("--seeds", nargs="+", type=int, required=True, help="the seed of each table, in order")
    for name in ("--out", "--title"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    if not len(args.tables) == len(args.methods) == len(args.seeds):
        raise SystemExit("give one method and one seed per table (--tables, --methods, --seeds)")
    plot_pseudo_labels(args.tables, args.methods, args.seeds, args.out, args.title)


if __name__ == "__main__":
    run_script(main)
