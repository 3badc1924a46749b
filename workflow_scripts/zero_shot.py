"""Rule zero_shot: the text classifier and the class probabilities of every image (eq. 1)."""

import argparse

from air_core.config import ClipSpec, from_json
from air_core.jobs import run_script, set_threads
from air_core.stages.data import zero_shot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in (
        "--clip",
        "--template",
        "--manifest",
        "--classes",
        "--features",
        "--probs",
        "--text-features",
        "--text-features-concat",
    ):
        parser.add_argument(name, required=True)
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    args = parser.parse_args()
    set_threads(args.threads)
    zero_shot(
        from_json(ClipSpec, args.clip),
        args.template,
        args.manifest,
        args.classes,
        args.features,
        args.probs,
        args.text_features,
        args.text_features_concat,
    )


if __name__ == "__main__":
    run_script(main)
