"""Rule draw_shapes: the procedural shapes dataset (the tests' data) in the image-folder layout."""

import argparse

from air_core.config import ShapesConfig, from_json
from air_core.jobs import run_script
from air_core.stages.data import draw_shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shapes", required=True, help="datasets.<d>.shapes as JSON")
    parser.add_argument("--out", required=True, help="dataset root to write")
    args = parser.parse_args()
    draw_shapes(from_json(ShapesConfig, args.shapes), args.out)


if __name__ == "__main__":
    run_script(main)
