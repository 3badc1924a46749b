"""Rule toy_report: the toy-world demo's numbers side by side and its comparisons' intervals, Parquet and Markdown."""

import argparse
import json
import logging

from air_core.jobs import run_script
from air_core.stages.toy import toy_report


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
    markdown = toy_report(
        args.dataset,
        args.manifest,
        args.features,
        args.text_features,
        args.clip_summary,
        dict(zip(("lora", "base"), args.synthetic, strict=True)),
        args.metrics,
        json.loads(args.methods),
        args.fusion_lambda,
        args.lambdas,
        args.table,
        args.markdown,
    )
    logging.getLogger("toy_report").info("\n%s", markdown)


if __name__ == "__main__":
    run_script(main)
