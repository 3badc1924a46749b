"""Rule plot_lora_loss: the LoRA fine-tuning loss per optimizer step (eq. 4)."""

import argparse

from air_core.artifacts import read_table
from air_core.plots import plot_loss_curve
from air_core.runtime import run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--loss", "--out", "--title"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    loss = read_table("lora_loss", args.loss).to_pandas()
    plot_loss_curve(loss["step"].to_numpy(), loss["loss"].to_numpy(), args.out, args.title)


if __name__ == "__main__":
    run_script(main)
