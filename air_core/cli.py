"""Small commands around the workflow: `python -m air_core.cli show-results | verify | claim | fetch-models`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path

from air_core.checksums import MARKER
from air_core.errors import ConfigError
from air_core.results_dir import Damaged, claim_results_dir, scan_results, verify_results
from air_core.results_lock import holder

log = logging.getLogger("air")


def _results_dir(configfiles: list[str]) -> Path:
    """The config's results_dir as written (relative to the folder snakemake runs in, like its targets); with
    several config files, as Snakemake merges them: the last one that sets it."""
    from air_core.config_checks import load_yaml
    from air_core.experiment import schema

    results_dir = schema()["properties"]["results_dir"]["default"]
    for configfile in configfiles:
        if not Path(configfile).is_file():
            raise ConfigError(f"config file {configfile} not found: pass the experiment's config with --configfile")
        results_dir = (load_yaml(configfile) or {}).get("results_dir", results_dir)
    return Path(results_dir)


def _quoted(configfiles: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in configfiles)


def _for(error: Exception, configfiles: list[str]) -> str:
    """An error message with these config files in its commands."""
    return str(error).replace("<your config>", _quoted(configfiles))


def rebuild_command(configfiles: list[str], targets: list[Path], profile: str = "profiles/local") -> str:
    """The snakemake call that rebuilds exactly ``targets`` (``--force``: those jobs only; the next usual
    run re-runs what reads them, their inputs being newer)."""
    words = ["snakemake", "--profile", profile, "--configfile", *configfiles, "--force", *map(str, targets)]
    return " ".join(shlex.quote(w) for w in words)


def _report_damage(damaged: list[Damaged], configfile: list[str], profile: str, shown: int = 5) -> None:
    """One line and its rebuild command per damaged file; past ``shown`` files of one rebuild target (a
    deleted folder of images), a count instead."""
    per_target: dict[Path, int] = {}
    for item in damaged:
        per_target[item.rebuild] = per_target.get(item.rebuild, 0) + 1
        if per_target[item.rebuild] <= shown:
            command = rebuild_command(configfile, [item.rebuild], profile)
            print(f"DAMAGED {item.path}: {item.problem}\n  rebuild: {command}")
    for target, count in per_target.items():
        if count > shown:
            print(f"... and {count - shown} more damaged files in {target} (the same rebuild)")
    targets = sorted({item.rebuild for item in damaged})
    if len(targets) > 1:
        print(f"Rebuild them all: {rebuild_command(configfile, targets, profile)}")


def verify(configfile: list[str], profile: str = "profiles/local") -> int:
    """Check every artifact of an experiment's results folder against its checksum; 1 if one is damaged."""
    results = _results_dir(configfile)
    busy = holder(results)
    if busy:  # its running jobs' files are half-way between the rename and the checksum for a moment
        print(f"NOTE: a workflow is writing into {results} now ({busy}); files of its running jobs may be named below")
    found = scan_results(results)
    _report_damage(found.damaged, configfile, profile)
    print(
        f"{results}: {found.checked} files checked, {len(found.damaged)} damaged, "
        f"{len(found.unchecked)} without a checksum (older than the folder's claim: written before it was claimed)"
    )
    return 1 if found.damaged else 0


def show_results(configfile: list[str]) -> int:
    """Print the results table of an experiment and where it lies; refuse a damaged one."""
    results = _results_dir(configfile)
    table = results / "tables" / "results.md"
    if not table.is_file():
        print(f"No results table at {table}: run the workflow first (snakemake --configfile {_quoted(configfile)}).")
        return 1
    if (results / MARKER).is_file():
        damaged = verify_results(results, under="tables")
        if damaged:
            print(f"The results tables of {results} are damaged; not showing them.")
            _report_damage(damaged, configfile, "profiles/local")
            print(f"Check the whole folder: python -m air_core.cli verify --configfile {_quoted(configfile)}")
            return 1
    else:
        log.warning("%s has no %s: its tables cannot be checked against checksums", results, MARKER)
    print(table.read_text())
    for toy in sorted(table.parent.glob("toy_world_*.md")):  # the toy world's side-by-side table (demo)
        print(toy.read_text())
        print(f"Toy world table: {toy.resolve()} (docs/toy_world.md explains it)\n")
    print(f"Results table: {table.resolve()}")
    print(f"As Parquet:    {table.with_suffix('.parquet').resolve()}")
    return 0


def claim(configfile: list[str], adopt: bool) -> int:
    """Claim an experiment's results folder (the workflow does this itself before its first job)."""
    root = claim_results_dir(_results_dir(configfile), adopt=adopt)
    print(f"{root} is claimed: {root / MARKER}")
    return 0


def fetch_models(clip_json: str, diffusion_json: str, out: str | None) -> int:
    """Fill the local caches with the given models (run where there is network)."""
    from diffusers import StableDiffusionPipeline

    from air_core.artifacts import write_text
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
        write_text(json.dumps({"clip": json.loads(clip_json), "diffusion": json.loads(diffusion_json)}), out)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m air_core.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show-results", help="print an experiment's results table and its path")
    check = commands.add_parser("verify", help="list damaged artifacts (checksum mismatch) and how to rebuild them")
    check.add_argument("--profile", default="profiles/local", help="Snakemake profile for the rebuild commands")
    own = commands.add_parser("claim", help="claim the results folder (the workflow does it before its first job)")
    own.add_argument("--adopt", action="store_true", help="claim a non-empty folder: this workflow's older results")
    for command in (show, check, own):
        command.add_argument(
            "--configfile",
            nargs="+",
            default=["config/config.yaml"],
            help="the experiment's config file(s), as given to snakemake",
        )
    fetch = commands.add_parser("fetch-models", help="fill the local model caches (needs network)")
    fetch.add_argument("--clip", required=True, help="CLIP spec as JSON, as in the config's models.clip")
    fetch.add_argument("--diffusion", required=True, help="diffusion spec as JSON, as in models.diffusion")
    fetch.add_argument("--out", default=None, help="marker file written when both models are present")
    args = parser.parse_args(argv)
    if args.command == "fetch-models":
        return fetch_models(args.clip, args.diffusion, args.out)
    try:
        if args.command == "show-results":
            return show_results(args.configfile)
        if args.command == "verify":
            return verify(args.configfile, args.profile)
        return claim(args.configfile, args.adopt)
    except ConfigError as error:  # a message naming the key or file and the fix, not a traceback
        print(f"{args.command}: {_for(error, args.configfile)}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
