"""Rule plot_cam: Grad-CAM of CLIP's image tower on test images, text-only vs fused prediction (paper fig. 5)."""

import argparse

from air_core.config import ClipSpec, from_json
from air_core.jobs import run_script, set_threads
from air_core.stages.report import plot_cam


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--clip", "--manifest", "--classes", "--text-features", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--prototypes", default="", help="prototypes table; empty: text-only maps")
    parser.add_argument("--fusion-lambda", type=float, default=0.0, help="eq. 7's lambda of the fused prediction")
    parser.add_argument("--n-images", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    args = parser.parse_args()
    set_threads(args.threads)
    plot_cam(
        from_json(ClipSpec, args.clip),
        args.manifest,
        args.classes,
        args.text_features,
        args.prototypes,
        args.fusion_lambda,
        args.n_images,
        args.device,
        args.out,
    )


if __name__ == "__main__":
    run_script(main)
