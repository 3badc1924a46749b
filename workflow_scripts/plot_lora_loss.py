"""Rule plot_lora_loss: the LoRA loss per optimizer step (eq. 4)."""

import argparse

from air_core.jobs import run_script
from air_core.stages.report import plot_lora_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--loss", "--out", "--title"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    plot_lora_loss(args.loss, args.out, args.title)


if __name__ == "__main__":
    run_script(main)
