"""Rule plot_synthetic: a grid of the first few synthetic images of every class (eq. 5)."""

import argparse

import pandas as pd

from air_core.artifacts import read_table
from air_core.plots import synthetic_grid
from air_core.runtime import run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", nargs="+", required=True)
    parser.add_argument("--per-class", type=int, default=6)
    for name in ("--out", "--title"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    images = pd.concat([read_table("synthetic_shard", s).to_pandas() for s in args.shards], ignore_index=True)
    synthetic_grid(images, args.per_class, args.out, args.title)


if __name__ == "__main__":
    run_script(main)
