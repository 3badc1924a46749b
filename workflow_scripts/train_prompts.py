"""Rule train_prompts: the paradigm's split, then the recipe's relabel-and-train rounds."""

import argparse
import dataclasses
import json

from safetensors.numpy import load_file

from air_core.artifacts import read_table
from air_core.config import ClipSpec, from_dict
from air_core.models.clip import load_clip
from air_core.paradigms import make_split
from air_core.recipes import resolve_recipe
from air_core.run_data import attach_images, image_paths
from air_core.runtime import resolve_device, run_script, seed_everything, set_threads
from air_core.train import train_iterations, training_data, write_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--clip", "--recipe", "--dataset", "--paradigm", "--prompt", "--manifest", "--features",
                 "--text-features", "--out-dir"):
        parser.add_argument(name, required=True)
    parser.add_argument("--synthetic", default="", help="synthetic features table; empty when the recipe uses none")
    parser.add_argument("--synthetic-shards", nargs="*", default=[], help="shard tables (image paths), visual prompts")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    seed_everything(args.seed)
    device = resolve_device(args.device)
    entry, dataset = json.loads(args.recipe), json.loads(args.dataset)
    recipe = resolve_recipe(entry.get("name", "method"), entry, args.prompt, args.paradigm, dataset)
    clip = load_clip(from_dict(ClipSpec, json.loads(args.clip)), device)
    manifest = read_table("manifest", args.manifest).to_pandas()
    split = make_split(manifest, args.paradigm, args.seed)  # the split seed follows the run seed
    synthetic = read_table("synthetic_features", args.synthetic).to_pandas() if args.synthetic else None
    data, pool = training_data(manifest, split, read_table("features", args.features).to_pandas(),
                               load_file(args.text_features)["text_features"], clip.logit_scale, synthetic,
                               recipe.n_synthetic, recipe.prototypes)
    image_ids = manifest["image_id"].to_numpy()[pool]
    if args.prompt == "visual":
        shards = [read_table("synthetic_shard", s).to_pandas() for s in args.synthetic_shards]
        attach_images(data, image_ids, image_paths(manifest, shards), clip.preprocess, recipe)
    names = manifest.drop_duplicates("label").sort_values("label")["class_name"].tolist()
    result = train_iterations(data, recipe, clip.model, clip.tokenizer, names, args.seed, args.prompt, device)
    settings = {"recipe": dataclasses.asdict(recipe), "dataset": dataset.get("name"), "paradigm": args.paradigm,
                "prompt": args.prompt, "seed": args.seed, "clip": json.loads(args.clip)}
    write_run(args.out_dir, result, split, image_ids, manifest["label"].to_numpy()[pool], settings)


if __name__ == "__main__":
    run_script(main)
