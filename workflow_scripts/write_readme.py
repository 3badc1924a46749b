"""Rule results_index: <R>/README.md, what each file of the results tree is (from the docs' trees)."""

import argparse
import json
from pathlib import Path

from air_core.artifacts import atomic_path
from air_core.runtime import run_script
from air_core.tables import results_readme


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", nargs="+", required=True, help="docs pages whose ```text blocks are trees")
    parser.add_argument("--settings", required=True, help="JSON {placeholder: [values]} of this experiment")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    docs = {f"docs/{Path(p).name}": Path(p).read_text(encoding="utf-8") for p in args.docs}
    with atomic_path(args.out) as tmp:
        tmp.write_text(results_readme(docs, json.loads(args.settings)), encoding="utf-8")


if __name__ == "__main__":
    run_script(main)
