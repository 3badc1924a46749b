"""Rule toy_world: draw the toy source world and the shifted target dataset, in the image-folder layout."""

import argparse
import logging

from air_core.jobs import run_script
from air_core.toy.settings import from_settings
from air_core.toy.world import WorldConfig, check_world, write_source, write_target

log = logging.getLogger("toy_world")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", required=True, help="toy_world.world settings as JSON")
    parser.add_argument("--source", required=True, help="source world root to write")
    parser.add_argument("--target", required=True, help="target dataset root to write")
    parser.add_argument("--workers", type=int, default=1, help="drawing processes (the images do not depend on it)")
    args = parser.parse_args()
    cfg = from_settings(WorldConfig, args.world)
    try:
        check_world(cfg)
    except ValueError as err:
        raise SystemExit(f"toy_world: {err}") from None
    source = write_source(args.source, cfg, args.workers)
    target = write_target(args.target, cfg, args.workers)
    log.info(
        "source world: %d classes x %d images; target: %s, shift %.2f",
        len(source),
        cfg.source_per_class,
        target,
        cfg.shift,
    )


if __name__ == "__main__":
    run_script(main)
