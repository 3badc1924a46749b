"""Rule generate: M images per class for one class shard, from the LoRA-tuned or the plain SD."""

import argparse
import json
from pathlib import Path

from air_core.artifacts import read_table, write_table
from air_core.config import DiffusionSpec, GenerateConfig, from_dict
from air_core.generate import classes_of_shard, generate_images
from air_core.models.diffusion import load_pipeline
from air_core.runtime import precision, resolve_device, run_script, set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--diffusion", "--generate", "--classes", "--images", "--index"):
        parser.add_argument(name, required=True)
    parser.add_argument("--lora", default="", help="LoRA weights file; empty for the plain SD")
    parser.add_argument("--description", default="")
    parser.add_argument("--variant", default="lora")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", help="auto, fp16, bf16 or fp32 for SD's frozen weights")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    cfg = from_dict(GenerateConfig, json.loads(args.generate))
    device = resolve_device(args.device)
    pipe = load_pipeline(from_dict(DiffusionSpec, json.loads(args.diffusion)), device, precision(device, args.precision))
    if args.lora:
        pipe.load_lora_weights(str(Path(args.lora).parent), weight_name=Path(args.lora).name)
        pipe.fuse_lora()  # no adapter overhead per denoising step
    classes = read_table("classes", args.classes).to_pandas()
    labels = classes_of_shard(len(classes), args.shard, cfg.shards)
    rows = generate_images(pipe, labels, classes["class_name"].tolist(), classes["slug"].tolist(), args.description,
                           cfg, args.images, args.shard)
    rows["image_id"] = [f"{args.variant}/{i}" for i in rows["image_id"]]
    write_table("synthetic_shard", rows, args.index)


if __name__ == "__main__":
    run_script(main)
