"""Rule train_prompts: the paradigm's split, then the recipe's relabel-and-train rounds."""

import argparse
import dataclasses
import json
from pathlib import Path

import torch
from safetensors.numpy import load_file
from safetensors.torch import save_file

from air_core.artifacts import atomic_path, read_table, write_table
from air_core.config import ClipSpec, Recipe, from_dict
from air_core.models.clip import load_clip
from air_core.paradigms import make_split
from air_core.runtime import run_script, seed_everything, set_threads
from air_core.train import pseudo_label_columns, train_iterations, training_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--clip", "--recipe", "--paradigm", "--manifest", "--features", "--text-features", "--out-dir"):
        parser.add_argument(name, required=True)
    parser.add_argument("--synthetic", default="", help="synthetic features table; empty when the recipe uses none")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    seed_everything(args.seed)
    out = Path(args.out_dir)
    recipe = from_dict(Recipe, json.loads(args.recipe))
    clip = load_clip(from_dict(ClipSpec, json.loads(args.clip)))
    manifest = read_table("manifest", args.manifest).to_pandas()
    split = make_split(manifest, args.paradigm)
    synthetic = read_table("synthetic_features", args.synthetic).to_pandas() if args.synthetic else None
    data, pool = training_data(manifest, split, read_table("features", args.features).to_pandas(),
                               load_file(args.text_features)["text_features"], clip.logit_scale, synthetic,
                               recipe.n_synthetic)
    names = manifest.drop_duplicates("label").sort_values("label")["class_name"].tolist()
    result = train_iterations(data, recipe, clip.model, clip.tokenizer, names, args.seed)

    write_table("split", {c: split[c].tolist() for c in split.columns}, out / "split.parquet")
    write_table("pseudo_labels", pseudo_label_columns(result, manifest["image_id"].to_numpy()[pool],
                                                      manifest["label"].to_numpy()[pool]), out / "pseudo_labels.parquet")
    history = {k: [h[k] for h in result.history] for k in
               ("iteration", "epoch", "lr", "loss_real", "loss_synthetic", "loss", "train_acc")}
    write_table("history", history, out / "history.parquet")
    for name, tensors in (("prompt", result.prompt), ("classifier", {"classifier": torch.from_numpy(result.classifier)})):
        with atomic_path(out / f"{name}.safetensors") as tmp:
            save_file(tensors, str(tmp))
    settings = {"recipe": dataclasses.asdict(recipe), "paradigm": args.paradigm, "seed": args.seed,
                "clip": json.loads(args.clip)}
    with atomic_path(out / "settings.json") as tmp:
        tmp.write_text(json.dumps(settings, indent=2, sort_keys=True))


if __name__ == "__main__":
    run_script(main)
