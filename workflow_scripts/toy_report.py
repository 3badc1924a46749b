"""Rule toy_report: the toy-world demo's numbers side by side, as Parquet and Markdown."""

import argparse
import json
import logging

import numpy as np
import pandas as pd
from safetensors.numpy import load_file

from air_core.artifacts import column_matrix, read_table, write_text
from air_core.jobs import run_script
from air_core.toy.report import (agreement, final_rows, pseudo_label_rows, real_prototypes, synthetic_prototypes,
                                 to_markdown)
from air_core.toy.tables import write_toy_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--dataset", "--manifest", "--features", "--text-features", "--clip-summary", "--table",
                 "--markdown"):
        parser.add_argument(name, required=True)
    parser.add_argument("--synthetic", nargs=2, required=True, metavar=("LORA", "BASE"), help="synthetic features")
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--fusion-lambda", type=float, default=1.0)
    args = parser.parse_args()
    manifest = read_table("manifest", args.manifest).to_pandas()
    features = read_table("features", args.features).to_pandas().set_index("image_id")
    text = load_file(args.text_features)["text_features"]
    pool, test = manifest[manifest["split"].isin(["train", "val"])], manifest[manifest["split"] == "test"]
    pool_feats, test_feats = (column_matrix(features.loc[m["image_id"]], "feature") for m in (pool, test))
    zero_shot = 100 * np.mean((test_feats @ text.T).argmax(1) == test["label"].to_numpy())
    summary = json.loads(open(args.clip_summary).read())  # the toy CLIP's held-out accuracy and 1/tau
    rows = [{"group": "zero_shot", "name": "held-out source world images", "value": summary["source_heldout_top1"],
             "std": np.nan, "n": summary["n_heldout"]},
            {"group": "zero_shot", "name": f"target ({args.dataset}) test images", "value": zero_shot, "std": np.nan,
             "n": len(test)}]
    synthetic = {v: read_table("synthetic_features", p).to_pandas() for v, p in zip(("lora", "base"), args.synthetic)}
    for variant, table in (("base", synthetic["base"]), ("lora", synthetic["lora"])):
        rows.append({"group": "class_agreement", "name": f"{'LoRA-tuned' if variant == 'lora' else 'plain'} toy SD",
                     "value": agreement(column_matrix(table, "feature"), table["label"].to_numpy(), text),
                     "std": np.nan, "n": len(table)})
    prototypes = {"synthetic prototypes (LoRA SD)": synthetic_prototypes(synthetic["lora"], len(text)),
                  "synthetic prototypes (plain SD)": synthetic_prototypes(synthetic["base"], len(text)),
                  "real-image prototypes (reference)": real_prototypes(pool_feats, text, summary["logit_scale"])}
    rows += pseudo_label_rows(pool_feats, pool["label"].to_numpy(), text, summary["logit_scale"], prototypes,
                              args.fusion_lambda)
    rows += final_rows(pd.concat([read_table("metrics", m).to_pandas() for m in args.metrics], ignore_index=True))
    write_toy_table("toy_world", {k: [r[k] for r in rows] for k in ("group", "name", "value", "std", "n")}, args.table)
    markdown = to_markdown(rows, f"Toy world: {args.dataset}")
    write_text(markdown, args.markdown)
    logging.getLogger("toy_report").info("\n%s", markdown)


if __name__ == "__main__":
    run_script(main)
