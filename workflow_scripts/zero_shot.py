"""Rule zero_shot: class probabilities of every image (eq. 1) and the top-K set LoRA trains on."""

import argparse
import json
import logging

import numpy as np
import torch
from safetensors.torch import save_file

from air_core.artifacts import atomic_path, column_matrix, read_table, write_table
from air_core.config import ClipSpec, from_dict
from air_core.encode import encode_class_prompts
from air_core.evaluate import top1
from air_core.generate import caption
from air_core.models.clip import load_clip
from air_core.pseudo_labels import class_probs, ranked_top_k
from air_core.runtime import run_script, set_threads

log = logging.getLogger("zero_shot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--clip", "--manifest", "--classes", "--features", "--template", "--probs", "--text-features",
                 "--lora-set"):
        parser.add_argument(name, required=True)
    parser.add_argument("--description", default="")
    parser.add_argument("--top-k", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    clip = load_clip(from_dict(ClipSpec, json.loads(args.clip)))
    manifest = read_table("manifest", args.manifest).to_pandas()
    names = read_table("classes", args.classes).to_pandas()["class_name"].tolist()
    features = column_matrix(read_table("features", args.features), "feature")
    text = encode_class_prompts(clip, names, args.template)
    probs = class_probs(features, text, clip.logit_scale)  # eq. 1
    with atomic_path(args.text_features) as tmp:
        save_file({"text_features": torch.from_numpy(text)}, str(tmp))
    write_table("zero_shot", {"image_id": manifest["image_id"].tolist(), "split": manifest["split"].tolist(),
                              "pred": probs.argmax(1), "confidence": probs.max(1).astype(np.float32),
                              "probs": probs}, args.probs)
    pool = np.flatnonzero(manifest["split"].isin(["train", "val"]).to_numpy())
    rows, labels, conf, rank = ranked_top_k(probs[pool], args.top_k)  # eq. 2-3
    keep = pool[rows]
    write_table("lora_set", {"image_id": manifest["image_id"].to_numpy()[keep].tolist(),
                             "path": manifest["path"].to_numpy()[keep].tolist(), "pseudo_label": labels,
                             "class_name": [names[c] for c in labels], "confidence": conf.astype(np.float32),
                             "rank": rank, "caption": [caption(args.description, names[c]) for c in labels]},
                args.lora_set)
    test = manifest["split"].eq("test").to_numpy()
    truth = manifest["label"].to_numpy()
    log.info("zero-shot test top-1 %.1f%%; LoRA set: %d images, pseudo-label accuracy %.1f%%",
             top1(probs[test].argmax(1), truth[test]), len(keep), top1(labels, truth[keep]))

if __name__ == "__main__":
    run_script(main)
