"""Small commands around the workflow: `python -m air_core.cli show-results | fetch-models`."""

from __future__ import annotations

import argparse
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
    print(f"Results table: {table.resolve()}")
    print(f"As Parquet:    {table.with_suffix('.parquet').resolve()}")
    return 0


def fetch_models(configfile: str) -> int:
    """Fill the local caches with the config's models (run where there is network)."""
    from air_core.config import ClipSpec, DiffusionSpec, from_dict
    from air_core.models.clip import load_clip
    from diffusers import StableDiffusionPipeline

    os.environ["HF_HUB_OFFLINE"] = "0"
    models = (yaml.safe_load(Path(configfile).read_text()) or {})["models"]
    clip = from_dict(ClipSpec, models["clip"])
    if clip.pretrained and not Path(clip.pretrained).is_file():
        import open_clip

        open_clip.create_model(clip.arch, pretrained=clip.pretrained)  # downloads into open_clip's cache
    load_clip(clip)
    sd = from_dict(DiffusionSpec, models["diffusion"])
    if not Path(sd.id).is_dir() and not sd.id.startswith("air-tiny"):
        path = StableDiffusionPipeline.download(sd.id, revision=sd.revision)
        log.info("Stable Diffusion %s is in %s", sd.id, path)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m air_core.cli", description=__doc__)
    parser.add_argument("command", choices=["show-results", "fetch-models"])
    parser.add_argument("--configfile", default="config/config.yaml")
    args = parser.parse_args(argv)
    return {"show-results": show_results, "fetch-models": fetch_models}[args.command](args.configfile)


if __name__ == "__main__":
    sys.exit(main())
