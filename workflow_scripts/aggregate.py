"""Rule aggregate: every run's metrics -> the results table (Parquet, Markdown), paper beside."""

import argparse
import json

import pandas as pd

from air_core.artifacts import atomic_path, read_table, write_table
from air_core.evaluate import paper_rows, summarise, to_markdown
from air_core.runtime import run_script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", nargs="+", required=True)
    for name in ("--paper", "--paper-methods", "--table", "--markdown"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    metrics = pd.concat([read_table("metrics", p).to_pandas() for p in args.metrics], ignore_index=True)
    paper = paper_rows(pd.read_csv(args.paper), json.loads(args.paper_methods))
    table = summarise(metrics, paper)
    write_table("results", {c: table[c].tolist() for c in table.columns}, args.table)
    with atomic_path(args.markdown) as tmp:
        tmp.write_text(to_markdown(table))
    print(to_markdown(table))


if __name__ == "__main__":
    run_script(main)
