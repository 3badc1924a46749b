"""Rule plot_tsne: t-SNE of real-image, text and prototype embeddings (paper fig. 6)."""

import argparse

from air_core.jobs import run_script, set_threads
from air_core.stages.report import plot_tsne


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--manifest", "--classes", "--features", "--text-features", "--out", "--title"):
        parser.add_argument(name, required=True)
    parser.add_argument("--prototypes", default="", help="prototypes table; empty when no method makes prototypes")
    parser.add_argument("--fusion-lambda", type=float, default=0.0, help="eq. 7's lambda of the fused classifier")
    parser.add_argument("--max-points", type=int, default=1000, help="test images at most (t-SNE is O(N^2))")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    args = parser.parse_args()
    set_threads(args.threads)
    plot_tsne(
        args.manifest,
        args.classes,
        args.features,
        args.text_features,
        args.prototypes,
        args.fusion_lambda,
        args.max_points,
        args.seed,
        args.out,
        args.title,
    )


if __name__ == "__main__":
    run_script(main)
