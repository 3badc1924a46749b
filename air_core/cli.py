"""Small commands around the workflow: `python -m air_core.cli show-results | fetch-models`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import yaml

log = logging.getLogger("air")


def show_results(configfile: str) -> int:
    """Print the results table of an experiment and where it lies."""
    config = yaml.safe_load(Path(configfile).read_text()) or {}
    table = Path(config.get("results_dir", "results")) / "tables" / "results.md"
    if not table.is_file():
        print(f"No results table at {table}: run the workflow first (snakemake --configfile {configfile}).")
        return 1
    print(table.read_text())
    for toy in sorted(table.parent.glob("toy_world_*.md")):  # the toy world's side-by-side table (demo)
        print(toy.read_text())
        print(f"Toy world table: {toy.resolve()} (docs/toy_world.md explains it)\n")
    print(f"Results table: {table.resolve()}")
    print(f"As Parquet:    {table.with_suffix('.parquet').resolve()}")
    return 0


def fetch_models(clip_json: str, diffusion_json: str, out: str | None) -> int:
    """Fill the local caches with the given models (run where there is network)."""
    from diffusers import StableDiffusionPipeline

    from air_core.config import ClipSpec, DiffusionSpec, from_dict
    from air_core.models.availability import clip_problem, diffusion_problem
    from air_core.models.clip import load_clip

    os.environ["HF_HUB_OFFLINE"] = "0"
    clip, sd = from_dict(ClipSpec, json.loads(clip_json)), from_dict(DiffusionSpec, json.loads(diffusion_json))
    load_clip(clip)  # open_clip downloads the weights into its cache on first use
    if diffusion_problem(sd):
        path = StableDiffusionPipeline.download(sd.id, revision=sd.revision, use_safetensors=True)
        log.info("Stable Diffusion %s is in %s", sd.id, path)
    problems = [p for p in (clip_problem(clip), diffusion_problem(sd)) if p]
    for problem in problems:
        log.error("%s", problem)
    if out and not problems:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps({"clip": json.loads(clip_json), "diffusion": json.loads(diffusion_json)}))
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m air_core.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show-results", help="print an experiment's results table and its path")
    show.add_argument("--configfile", default="config/config.yaml")
    fetch = commands.add_parser("fetch-models", help="fill the local model caches (needs network)")
    fetch.add_argument("--clip", required=True, help="CLIP spec as JSON, as in the config's models.clip")
    fetch.add_argument("--diffusion", required=True, help="diffusion spec as JSON, as in models.diffusion")
    fetch.add_argument("--out", default=None, help="marker file written when both models are present")
    args = parser.parse_args(argv)
    if args.command == "show-results":
        return show_results(args.configfile)
    return fetch_models(args.clip, args.diffusion, args.out)


if __name__ == "__main__":
    sys.exit(main())
