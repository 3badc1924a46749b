"""Rule select: CLIP features of the synthetic images and the most representative one per class (eq. 6)."""

import argparse

from air_core.config import ClipSpec, from_json
from air_core.jobs import run_script, set_threads
from air_core.stages.diffusion import select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", nargs="+", required=True)
    for name in ("--clip", "--classes", "--text-features", "--features", "--prototypes", "--grid"):
        parser.add_argument(name, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    args = parser.parse_args()
    set_threads(args.threads)
    select(
        from_json(ClipSpec, args.clip),
        args.shards,
        args.classes,
        args.text_features,
        args.features,
        args.prototypes,
        args.grid,
        args.device,
        args.batch_size,
    )


if __name__ == "__main__":
    run_script(main)
