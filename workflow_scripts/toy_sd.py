"""Rule toy_sd: pretrain the toy Stable Diffusion's UNet on the VAE's latents of the source world,
conditioned on the toy CLIP's frozen text tower; save the pipeline with diffusers' save_pretrained."""

import argparse
from pathlib import Path

from diffusers import AutoencoderKL
from safetensors.torch import load_file

from air_core.artifacts import write_table
from air_core.config import ClipSpec
from air_core.jobs import run_script, set_threads
from air_core.models.clip import load_clip
from air_core.models.tokenizer import build_clip_tokenizer
from air_core.toy.sd_pretrain import ToySdConfig, pretrain_sd, save_folder
from air_core.toy.settings import from_settings
from air_core.toy.text_encoder import to_clip_text_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--sd", "--source", "--vae", "--latents", "--clip-config", "--clip-checkpoint", "--out", "--history"):
        parser.add_argument(name, required=True)
    parser.add_argument("--threads", type=int, required=True, help="torch threads: fixed, for reproducible weights")
    args = parser.parse_args()
    set_threads(args.threads)
    cfg = from_settings(ToySdConfig, args.sd)
    clip = load_clip(ClipSpec(arch=args.clip_config, pretrained=args.clip_checkpoint))
    text_encoder = to_clip_text_model(clip.model)  # SD's frozen CLIP text encoder
    tokenizer = build_clip_tokenizer(text_encoder.config.max_position_embeddings)
    vae = AutoencoderKL.from_pretrained(args.vae).eval().requires_grad_(False)
    latents = load_file(args.latents)
    names = [n for n in (Path(args.source) / "class_names.txt").read_text().splitlines() if n]
    pipe, history = pretrain_sd(
        vae, latents["mean"], latents["std"], latents["labels"].numpy(), names, text_encoder, tokenizer, cfg
    )
    save_folder(pipe, args.out)
    write_table("toy_sd_history", {k: [h[k] for h in history] for k in ("stage", "step", "loss", "mse")}, args.history)


if __name__ == "__main__":
    run_script(main)
