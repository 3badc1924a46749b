"""Rule select: CLIP features of all synthetic images and one prototype per class (eq. 6)."""

import argparse
import json
import logging

import numpy as np
import pandas as pd
from safetensors.numpy import load_file

from air_core.artifacts import read_table, write_table
from air_core.config import ClipSpec, from_dict
from air_core.encode import encode_images
from air_core.models.clip import load_clip
from air_core.pseudo_labels import class_probs
from air_core.runtime import resolve_device, run_script, set_threads
from air_core.select import image_grid, own_class_probs, select_prototypes

log = logging.getLogger("select")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards", nargs="+", required=True)
    for name in ("--clip", "--classes", "--text-features", "--features", "--prototypes", "--grid"):
        parser.add_argument(name, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    device = resolve_device(args.device)
    clip = load_clip(from_dict(ClipSpec, json.loads(args.clip)), device)
    synthetic = pd.concat([read_table("synthetic_shard", s).to_pandas() for s in args.shards], ignore_index=True)
    synthetic = synthetic.sort_values(["label", "index"], ignore_index=True)
    log.info("%d synthetic images, %d all black (dropped)", len(synthetic), synthetic["black"].sum())
    synthetic = synthetic[~synthetic["black"]].reset_index(drop=True)
    classes = read_table("classes", args.classes).to_pandas()
    features = encode_images(clip, synthetic["path"].tolist(), args.batch_size, device, "encoding synthetic images")
    labels = synthetic["label"].to_numpy()
    p_own = own_class_probs(class_probs(features, load_file(args.text_features)["text_features"], clip.logit_scale),
                            labels).astype(np.float32)
    write_table("synthetic_features", {"image_id": synthetic["image_id"].tolist(), "label": labels,
                                       "index": synthetic["index"].to_numpy(), "feature": features, "p_own": p_own},
                args.features)
    chosen = select_prototypes(p_own, labels, len(classes))  # eq. 6
    write_table("prototypes", {"label": classes["label"].to_numpy(), "class_name": classes["class_name"].tolist(),
                               "image_id": synthetic["image_id"].to_numpy()[chosen].tolist(),
                               "path": synthetic["path"].to_numpy()[chosen].tolist(), "p_own": p_own[chosen],
                               "feature": features[chosen]}, args.prototypes)
    image_grid(synthetic["path"].to_numpy()[chosen].tolist(),
               [f"{n}\np={p:.2f}" for n, p in zip(classes["class_name"], p_own[chosen])], args.grid,
               suptitle="Prototype per class x*_c (eq. 6): highest zero-shot p of its own class")


if __name__ == "__main__":
    run_script(main)
