"""Rule train_lora: the SD variant's top-K zero-shot set, then LoRA on SD's UNet; adapter in diffusers' format."""

import argparse

from air_core.config import DiffusionSpec, LoraTrainConfig, from_json
from air_core.jobs import run_script, set_threads
from air_core.stages.diffusion import train_lora


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--diffusion", "--lora", "--manifest", "--classes", "--probs", "--weights", "--lora-set", "--loss"):
        parser.add_argument(name, required=True)
    parser.add_argument("--description", default="", help="t_data, the start of every caption")
    parser.add_argument("--precision", default="auto", help="auto, fp16, bf16 or fp32 for SD's frozen weights")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads, 0 = torch's default")
    args = parser.parse_args()
    set_threads(args.threads)
    train_lora(
        from_json(DiffusionSpec, args.diffusion),
        from_json(LoraTrainConfig, args.lora),
        args.description,
        args.manifest,
        args.classes,
        args.probs,
        args.weights,
        args.lora_set,
        args.loss,
        args.device,
        args.precision,
    )


if __name__ == "__main__":
    run_script(main)
