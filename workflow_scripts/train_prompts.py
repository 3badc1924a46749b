"""Rule train_prompts: the paradigm's split, then the recipe's relabel-and-train rounds."""

import argparse

from air_core.config import ClipSpec, Recipe, from_json
from air_core.jobs import run_script, set_threads
from air_core.stages.runs import train_prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in (
        "--clip",
        "--recipe",
        "--dataset",
        "--paradigm",
        "--prompt",
        "--manifest",
        "--features",
        "--text-features",
        "--out-dir",
    ):
        parser.add_argument(name, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--synthetic", default="", help="synthetic features table; empty when the recipe uses none")
    parser.add_argument("--synthetic-shards", nargs="*", default=[], help="shard tables (image paths), visual prompts")
    parser.add_argument(
        "--text-features-concat", default="", help="round 0's classifier where the recipe's round0_template is concat"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    args = parser.parse_args()
    set_threads(args.threads)
    train_prompts(
        from_json(ClipSpec, args.clip),
        from_json(Recipe, args.recipe),
        args.dataset,
        args.paradigm,
        args.prompt,
        args.seed,
        args.manifest,
        args.features,
        args.text_features,
        args.synthetic,
        args.synthetic_shards,
        args.out_dir,
        args.device,
        args.text_features_concat,
    )


if __name__ == "__main__":
    run_script(main)
