"""Rule plot_zero_shot: confusion matrix of the zero-shot pseudo-labels on the train pool (paper fig. 1)."""

import argparse

from air_core.artifacts import read_table
from air_core.plots import confusion_matrix, plot_confusion
from air_core.runtime import run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--manifest", "--classes", "--probs", "--out", "--title"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    manifest = read_table("manifest", args.manifest).to_pandas()
    probs = read_table("zero_shot", args.probs).to_pandas()[["image_id", "pred"]]
    classes = read_table("classes", args.classes).to_pandas()
    pool = manifest[manifest["split"].isin(["train", "val"])].merge(probs, on="image_id", validate="one_to_one")
    matrix = confusion_matrix(pool["label"].to_numpy(), pool["pred"].to_numpy(), len(classes))
    plot_confusion(matrix, classes["class_name"].tolist(), args.out, args.title)


if __name__ == "__main__":
    run_script(main)
