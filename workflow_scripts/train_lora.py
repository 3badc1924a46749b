"""Rule train_lora: LoRA on SD's UNet from the zero-shot top-K set; adapter in diffusers' format."""

import argparse
import json

from air_core.artifacts import read_table, write_table
from air_core.config import DiffusionSpec, LoraTrainConfig, from_dict
from air_core.lora import save_lora, train_lora
from air_core.models.diffusion import load_pipeline
from air_core.runtime import precision, resolve_device, run_script, seed_everything, set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--diffusion", "--lora", "--lora-set", "--weights", "--loss"):
        parser.add_argument(name, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", help="auto, fp16, bf16 or fp32 for SD's frozen weights")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    cfg = from_dict(LoraTrainConfig, json.loads(args.lora))
    seed_everything(cfg.seed)
    device = resolve_device(args.device)
    pipe = load_pipeline(from_dict(DiffusionSpec, json.loads(args.diffusion)), device, precision(device, args.precision))
    lora_set = read_table("lora_set", args.lora_set).to_pandas()
    history = train_lora(pipe, lora_set["path"].tolist(), lora_set["caption"].tolist(), cfg)
    save_lora(pipe, args.weights)
    write_table("lora_loss", {k: [h[k] for h in history] for k in ("step", "timestep_mean", "loss")}, args.loss)


if __name__ == "__main__":
    run_script(main)
