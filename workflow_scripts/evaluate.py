"""Rule evaluate: the paradigm's test metric of a run's final classifier, and its pseudo-label accuracy."""

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from safetensors.torch import load_file as load_tensors

from air_core.artifacts import column_matrix, read_table, write_table
from air_core.config import ClipSpec, from_dict
from air_core.evaluate import paradigm_metrics, visual_test_features
from air_core.models.clip import load_clip
from air_core.runtime import resolve_device, run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--manifest", "--features", "--classifier", "--prompt-file", "--settings", "--clip", "--split",
                 "--pseudo-labels", "--dataset", "--paradigm", "--prompt", "--method", "--predictions", "--metrics"):
        parser.add_argument(name, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    manifest = read_table("manifest", args.manifest).to_pandas()
    split = read_table("split", args.split).to_pandas()
    is_test = split["role"].eq("test").to_numpy()
    test = manifest[is_test]
    classifier = load_file(args.classifier)["classifier"]
    prompt_state = load_tensors(args.prompt_file)
    if args.prompt == "visual" and prompt_state:  # the image side was trained: encode with the prompt
        device = resolve_device(args.device)
        n_ctx = json.loads(Path(args.settings).read_text())["recipe"]["n_ctx"]
        clip = load_clip(from_dict(ClipSpec, json.loads(args.clip)), device)
        features = visual_test_features(clip, prompt_state, n_ctx, classifier, test["path"].tolist(), device)
    else:
        cached = read_table("features", args.features).to_pandas().set_index("image_id")
        features = column_matrix(cached.loc[test["image_id"]], "feature")
    pred, label = (features @ classifier.T).argmax(1), test["label"].to_numpy()  # over all classes
    write_table("predictions", {"image_id": test["image_id"].tolist(), "label": label, "pred": pred,
                                "correct": pred == label}, args.predictions)
    metrics = paradigm_metrics(pred, label, split["seen"].to_numpy()[is_test], args.paradigm)
    pseudo = read_table("pseudo_labels", args.pseudo_labels).to_pandas()
    last = pseudo[pseudo["iteration"] == pseudo["iteration"].max()] if len(pseudo) else pseudo
    pl_acc = 100 * last["correct"].mean() if len(last) else np.nan
    write_table("metrics", {"dataset": [args.dataset], "paradigm": [args.paradigm], "prompt": [args.prompt],
                            "method": [args.method], "seed": [args.seed], **{k: [v] for k, v in metrics.items()},
                            "pseudo_label_acc": [pl_acc], "n_test": [len(test)]}, args.metrics)
    logging.getLogger("evaluate").info("%s/%s/%s/%s/seed%d: %s, pseudo-label accuracy %.2f%%", args.dataset,
                                       args.paradigm, args.prompt, args.method, args.seed, metrics, pl_acc)


if __name__ == "__main__":
    run_script(main)
