"""Rule evaluate: top-1 test accuracy of a run's final classifier, and its pseudo-label accuracy."""

import argparse
import logging

import numpy as np
from safetensors.numpy import load_file

from air_core.artifacts import column_matrix, read_table, write_table
from air_core.evaluate import top1
from air_core.runtime import run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--manifest", "--features", "--classifier", "--split", "--pseudo-labels", "--dataset",
                 "--paradigm", "--prompt", "--method", "--predictions", "--metrics"):
        parser.add_argument(name, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    manifest = read_table("manifest", args.manifest).to_pandas()
    split = read_table("split", args.split).to_pandas()
    features = read_table("features", args.features).to_pandas().set_index("image_id")
    test = manifest[split["role"].eq("test").to_numpy()]
    scores = column_matrix(features.loc[test["image_id"]], "feature") @ load_file(args.classifier)["classifier"].T
    pred, label = scores.argmax(1), test["label"].to_numpy()
    write_table("predictions", {"image_id": test["image_id"].tolist(), "label": label, "pred": pred,
                                "correct": pred == label}, args.predictions)
    pseudo = read_table("pseudo_labels", args.pseudo_labels).to_pandas()
    last = pseudo[pseudo["iteration"] == pseudo["iteration"].max()] if len(pseudo) else pseudo
    pl_acc = 100 * last["correct"].mean() if len(last) else np.nan
    write_table("metrics", {"dataset": [args.dataset], "paradigm": [args.paradigm], "prompt": [args.prompt],
                            "method": [args.method], "seed": [args.seed], "top1": [top1(pred, label)],
                            "pseudo_label_acc": [pl_acc], "n_test": [len(test)]}, args.metrics)
    logging.getLogger("evaluate").info("%s/%s/%s/%s/seed%d: top-1 %.2f%%, pseudo-label accuracy %.2f%%", args.dataset,
                                       args.paradigm, args.prompt, args.method, args.seed, top1(pred, label), pl_acc)


if __name__ == "__main__":
    run_script(main)
