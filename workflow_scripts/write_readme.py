"""Rule results_index: <R>/README.md, an index of the results tree generated from the docs."""

import argparse
import json

from air_core.jobs import run_script
from air_core.stages.report import results_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", nargs="+", required=True, help="docs pages whose ```text blocks are trees")
    parser.add_argument("--settings", required=True, help="JSON {placeholder: [values]} of this experiment")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    results_index(args.docs, json.loads(args.settings), args.out)


if __name__ == "__main__":
    run_script(main)
