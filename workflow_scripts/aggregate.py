"""Rule aggregate: the results table and the paper's tables 1-3, mean ± std over seeds, the paper's number beside."""

import argparse
import json

from air_core.jobs import run_script
from air_core.stages.report import aggregate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", nargs="+", required=True, help="every run's metrics table")
    for name in ("--paper", "--ablations", "--table", "--markdown", "--tables-dir"):
        parser.add_argument(name, required=True)
    parser.add_argument("--methods", required=True, help="Experiment.method_summary() as JSON, in config order")
    parser.add_argument("--grid", required=True, help="JSON {paradigms, prompts, datasets}")
    args = parser.parse_args()
    aggregate(
        args.metrics,
        args.paper,
        args.ablations,
        json.loads(args.methods),
        json.loads(args.grid),
        args.table,
        args.markdown,
        args.tables_dir,
    )


if __name__ == "__main__":
    run_script(main)
