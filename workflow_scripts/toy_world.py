"""Rule toy_world: draw the toy source world and the shifted target dataset, in the image-folder layout."""

import argparse

from air_core.jobs import run_script
from air_core.stages.toy import toy_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", required=True, help="toy_world.world settings as JSON")
    parser.add_argument("--source", required=True, help="source world root to write")
    parser.add_argument("--target", required=True, help="target dataset root to write")
    parser.add_argument("--workers", type=int, default=1, help="drawing processes (the images do not depend on it)")
    args = parser.parse_args()
    toy_world(args.world, args.source, args.target, args.workers)


if __name__ == "__main__":
    run_script(main)
