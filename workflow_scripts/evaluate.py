"""Rule evaluate: test predictions, the paradigm's metric (TRZSL: harmonic mean), the pseudo-label accuracy."""

import argparse

from air_core.config import ClipSpec, from_json
from air_core.jobs import run_script
from air_core.stages.runs import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in (
        "--clip",
        "--manifest",
        "--features",
        "--classifier",
        "--prompt-file",
        "--settings",
        "--split",
        "--pseudo-labels",
        "--predictions",
        "--metrics",
    ):
        parser.add_argument(name, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    args = parser.parse_args()
    evaluate(
        from_json(ClipSpec, args.clip),
        args.manifest,
        args.features,
        args.classifier,
        args.prompt_file,
        args.settings,
        args.split,
        args.pseudo_labels,
        args.predictions,
        args.metrics,
        args.device,
        args.threads,
    )


if __name__ == "__main__":
    run_script(main)
