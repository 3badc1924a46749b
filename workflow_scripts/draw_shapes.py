"""Rule draw_shapes: draw the procedural shapes dataset in the image-folder layout."""

import argparse
import json

from air_core.config import DatasetConfig, from_dict
from air_core.data.shapes import write_shapes_dataset
from air_core.runtime import run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True, help="dataset settings as JSON")
    parser.add_argument("--out", required=True, help="dataset root to write")
    args = parser.parse_args()
    dataset = from_dict(DatasetConfig, json.loads(args.dataset))
    write_shapes_dataset(args.out, dataset.shapes)


if __name__ == "__main__":
    run_script(main)
