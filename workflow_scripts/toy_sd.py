"""Rule toy_sd: pretrain the toy Stable Diffusion's UNet on the VAE's latents of the source world,
conditioned on the toy CLIP's frozen text tower; save the pipeline with diffusers' save_pretrained."""

import argparse

from air_core.jobs import run_script, set_threads
from air_core.stages.toy import toy_sd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--sd", "--source", "--vae", "--latents", "--clip-config", "--clip-checkpoint", "--out", "--history"):
        parser.add_argument(name, required=True)
    parser.add_argument("--threads", type=int, required=True, help="torch threads: fixed, for reproducible weights")
    args = parser.parse_args()
    set_threads(args.threads)
    toy_sd(args.sd, args.source, args.vae, args.latents, args.clip_config, args.clip_checkpoint, args.out, args.history)


if __name__ == "__main__":
    run_script(main)
