"""Rule toy_vae: pretrain the toy SD's VAE on the source world; save it (diffusers' format) and the
latent posterior of every source image, which the UNet trains on."""

import argparse

from air_core.jobs import run_script, set_threads
from air_core.stages.toy import toy_vae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--sd", "--source", "--vae", "--latents", "--history"):
        parser.add_argument(name, required=True)
    parser.add_argument("--threads", type=int, required=True, help="torch threads: fixed, for reproducible weights")
    args = parser.parse_args()
    set_threads(args.threads)
    toy_vae(args.sd, args.source, args.vae, args.latents, args.history)


if __name__ == "__main__":
    run_script(main)
