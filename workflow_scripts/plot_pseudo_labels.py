"""Rule plot_pseudo_labels: pseudo-label accuracy per iteration, text-only vs fused (paper fig. 4).

Every run's ``confident_accuracy`` table holds, per iteration and kind of scores (text, fused,
real_proto), the accuracy of the most confident pseudo-labels per class; the plot averages seeds.
"""

import argparse

import pandas as pd

from air_core.artifacts import read_table
from air_core.plots import plot_pseudo_label_accuracy
from air_core.runtime import run_script


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
    frames = [read_table("confident_accuracy", table).to_pandas().assign(method=method, seed=seed)
              for table, method, seed in zip(args.tables, args.methods, args.seeds)]
    plot_pseudo_label_accuracy(pd.concat(frames, ignore_index=True), args.out, args.title)


if __name__ == "__main__":
    run_script(main)
