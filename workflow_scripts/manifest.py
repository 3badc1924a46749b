"""Rule manifest: the dataset's on-disk layout as the manifest and class tables; unreadable images left out."""

import argparse

from air_core.config import from_json
from air_core.datasets_config import DataSource
from air_core.jobs import run_script
from air_core.stages.data import manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True, help="the dataset's DataSource as JSON")
    parser.add_argument("--drawn", default="", help="the dataset's folder when the workflow draws it (layout shapes)")
    parser.add_argument("--workers", type=int, default=0, help="image-checking threads (0 = up to 8)")
    for name in ("--manifest", "--classes", "--skipped"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    manifest(from_json(DataSource, args.source), args.drawn, args.workers, args.manifest, args.classes, args.skipped)


if __name__ == "__main__":
    run_script(main)
