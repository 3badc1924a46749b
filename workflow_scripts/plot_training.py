"""Rule plot_training: prompt-training curves of one method, every seed and round (history tables)."""

import argparse

import pandas as pd

from air_core.artifacts import read_table
from air_core.plots import plot_training
from air_core.runtime import run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--histories", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True, help="the seed of each history, in order")
    for name in ("--out", "--title"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    if len(args.seeds) != len(args.histories):
        raise SystemExit(f"{len(args.histories)} histories but {len(args.seeds)} seeds: give one seed per history")
    history = pd.concat([read_table("history", h).to_pandas().assign(seed=s)
                         for h, s in zip(args.histories, args.seeds)], ignore_index=True)
    plot_training(history, args.out, args.title)


if __name__ == "__main__":
    run_script(main)
