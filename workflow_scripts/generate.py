"""Rule generate: M images per class for one class shard, from an SD variant (plain, or with its LoRA)."""

import argparse

from air_core.config import DiffusionSpec, GenerateConfig, from_json
from air_core.jobs import run_script, set_threads
from air_core.stages.diffusion import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--diffusion", "--generate", "--variant", "--classes", "--images", "--index"):
        parser.add_argument(name, required=True)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--lora", default="", help="the variant's LoRA weights file; empty for plain SD")
    parser.add_argument("--description", default="", help="t_data, the start of every caption")
    parser.add_argument("--precision", default="auto", help="auto, fp16, bf16 or fp32 for SD's frozen weights")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    parser.add_argument("--batch-size", type=int, default=8, help="images per pipeline call")
    args = parser.parse_args()
    set_threads(args.threads)
    generate(
        from_json(DiffusionSpec, args.diffusion),
        from_json(GenerateConfig, args.generate),
        args.shards,
        args.shard,
        args.variant,
        args.description,
        args.classes,
        args.lora,
        args.images,
        args.index,
        args.device,
        args.precision,
        args.batch_size,
    )


if __name__ == "__main__":
    run_script(main)
