"""Rule aggregate: every run's metrics -> the results table and the paper's tables 1-3, paper beside."""

import argparse
import json
from pathlib import Path

import pandas as pd

from air_core.artifacts import atomic_path, read_table, write_table
from air_core.evaluate import paper_rows, summarise, to_markdown
from air_core.runtime import run_script
from air_core.tables import parse_ablations, write_paper_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", nargs="+", required=True)
    for name in ("--paper", "--paper-methods", "--table", "--markdown", "--ablations", "--recipes", "--tables-dir"):
        parser.add_argument(name, required=True)
    for name in ("--paradigms", "--prompts", "--datasets"):
        parser.add_argument(name, nargs="+", required=True)
    args = parser.parse_args()
    metrics = pd.concat([read_table("metrics", p).to_pandas() for p in args.metrics], ignore_index=True)
    paper = paper_rows(pd.read_csv(args.paper), json.loads(args.paper_methods))
    table = summarise(metrics, paper)
    write_table("results", {c: table[c].tolist() for c in table.columns}, args.table)
    with atomic_path(args.markdown) as tmp:
        tmp.write_text(to_markdown(table))
    print(to_markdown(table))
    ablations = parse_ablations(Path(args.ablations).read_text(encoding="utf-8"))
    write_paper_tables(table, json.loads(args.recipes), ablations, args.prompts, args.paradigms, args.datasets,
                       args.tables_dir)


if __name__ == "__main__":
    run_script(main)
