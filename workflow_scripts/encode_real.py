"""Rule encode_real: frozen CLIP features of every real image of the manifest."""

import argparse

from air_core.config import ClipSpec, from_json
from air_core.jobs import run_script, set_threads
from air_core.stages.data import encode_real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clip", required=True, help="CLIP spec as JSON")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    args = parser.parse_args()
    set_threads(args.threads)
    encode_real(from_json(ClipSpec, args.clip), args.manifest, args.out, args.device, args.batch_size)


if __name__ == "__main__":
    run_script(main)
