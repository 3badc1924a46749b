"""Rule toy_vae: pretrain the toy SD's VAE on the source world; save it (diffusers' format) and the
latent posterior of every source image, which the UNet trains on."""

import argparse

import torch
from safetensors.torch import save_file

from air_core.artifacts import atomic_path, write_table
from air_core.jobs import run_script, set_threads
from air_core.toy.sd_pretrain import ToySdConfig, pretrain_vae, save_folder
from air_core.toy.settings import from_settings
from air_core.toy.world import load_image_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--sd", "--source", "--vae", "--latents", "--history"):
        parser.add_argument(name, required=True)
    parser.add_argument("--threads", type=int, required=True, help="torch threads: fixed, for reproducible weights")
    args = parser.parse_args()
    set_threads(args.threads)
    cfg = from_settings(ToySdConfig, args.sd)
    images, labels, _ = load_image_folder(args.source, "train")
    vae, mean, std, latent_labels, history = pretrain_vae(images, labels, cfg)
    save_folder(vae, args.vae)
    latents = {"mean": mean.contiguous(), "std": std.contiguous(), "labels": torch.from_numpy(latent_labels)}
    with atomic_path(args.latents) as tmp:  # (N, c, h, w) posteriors and (N,) labels of the UNet's images
        save_file(latents, str(tmp))
    write_table("toy_sd_history", {k: [h[k] for h in history] for k in ("stage", "step", "loss", "mse")}, args.history)


if __name__ == "__main__":
    run_script(main)
