"""Rule toy_report: the toy-world demo's numbers side by side and its comparisons' intervals, Parquet and Markdown."""

import argparse
import json
import logging

import pandas as pd

from air_core.artifacts import load_arrays, read_frame, read_json, write_table, write_text
from air_core.jobs import run_script
from air_core.toy.report import report_rows, to_markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in (
        "--dataset",
        "--manifest",
        "--features",
        "--text-features",
        "--clip-summary",
        "--table",
        "--markdown",
        "--methods",
    ):
        parser.add_argument(name, required=True)
    parser.add_argument("--synthetic", nargs=2, required=True, metavar=("LORA", "BASE"), help="synthetic features")
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--fusion-lambda", type=float, required=True, help="eq. 7's lambda of the fused rows")
    parser.add_argument("--lambdas", type=float, nargs="+", required=True, help="the lambda sweep's values")
    args = parser.parse_args()
    rows = report_rows(
        args.dataset,
        read_frame("manifest", args.manifest),
        read_frame("features", args.features),
        load_arrays(args.text_features)["text_features"],
        read_json(args.clip_summary),
        {v: read_frame("synthetic_features", p) for v, p in zip(("lora", "base"), args.synthetic, strict=True)},
        pd.concat([read_frame("metrics", m) for m in args.metrics], ignore_index=True),
        json.loads(args.methods),
        args.fusion_lambda,
        args.lambdas,
    )
    write_table(
        "toy_world",
        {k: [r[k] for r in rows] for k in ("group", "name", "value", "std", "n", "low", "high")},
        args.table,
    )
    markdown = to_markdown(rows, f"Toy world: {args.dataset}")
    write_text(markdown, args.markdown)
    logging.getLogger("toy_report").info("\n%s", markdown)


if __name__ == "__main__":
    run_script(main)
