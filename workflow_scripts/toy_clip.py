"""Rule toy_clip: pretrain the toy CLIP on the source world; save it in open_clip's format."""

import argparse

from air_core.jobs import run_script, set_threads
from air_core.stages.toy import toy_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--clip", "--source", "--model-config", "--checkpoint", "--history", "--summary"):
        parser.add_argument(name, required=True)
    parser.add_argument("--threads", type=int, required=True, help="torch threads: fixed, for reproducible weights")
    args = parser.parse_args()
    set_threads(args.threads)
    toy_clip(args.clip, args.source, args.model_config, args.checkpoint, args.history, args.summary, args.threads)


if __name__ == "__main__":
    run_script(main)
