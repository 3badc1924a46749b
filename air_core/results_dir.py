"""The results folder: claimed before the first job, its finished artifacts verified against checksums.

``results_dir`` pointed at another project's folder used to overwrite its files and keep its README
as the index. The workflow now claims the folder: a marker file ``<R>/.air_results.json`` is
written in an empty or new folder, accepted when it is there, and a non-empty folder without it is
refused with a ``ConfigError`` naming the key. Artifacts written through ``air_core.artifacts``
into a claimed folder carry checksums (``air_core.checksums``); ``verify_results`` finds the files
whose bytes no longer match, e.g. a Parquet file cut in half with its modification time kept,
which Snakemake cannot notice.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from air_core import checksums
from air_core.atomic import replace_text
from air_core.checksums import MARKER
from air_core.errors import ConfigError

log = logging.getLogger("air")

PROJECT = "air"  # the marker's project name: AiR's Snakemake workflow
SCHEMA_VERSION = 1  # of the marker and of the checksum files it announces
_NOT_ARTIFACTS = ("logs", "benchmarks", ".air")  # written by Snakemake and the shell; our bookkeeping
# The folders the workflow itself keeps at the top of a results folder, beside one folder per dataset
# (rules/common.smk, models.smk, aggregate.smk, toy.smk); a dataset of the same name would share one. The
# toy world's folder holds source, target, clip, vae and sd: a dataset 'toy' (the demo's) fits beside them,
# unless it is drawn (layout shapes), whose 'source' folder would be the toy world's.
TREE_FOLDERS = ("tables", "logs", "benchmarks", "models", "toy", ".air")
_DIRECTORY_OUTPUT = ".snakemake_timestamp"  # Snakemake leaves it in every directory() output


def _marker_problem(root: Path) -> str | None:
    """What is wrong with the marker of ``root`` (another project's, unreadable, newer), or None."""
    marker = root / MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"its marker {marker} cannot be read ({error}); remove the marker only if the folder is this workflow's"
    if not isinstance(data, dict) or data.get("project") != PROJECT:
        owner = data.get("project") if isinstance(data, dict) else None
        return f"its marker {marker} says it belongs to project {owner!r}, not {PROJECT!r}"
    if int(data.get("schema_version", 0)) > SCHEMA_VERSION:
        return (f"its marker {marker} was written by a newer version of this workflow (schema "
                f"{data['schema_version']}, this one reads {SCHEMA_VERSION}); update this checkout")
    return None


def _refusal(root: Path, adopt: bool = False) -> str | None:
    """Why ``root`` cannot be this workflow's results folder, or None (missing, empty or claimed)."""
    where = f"results_dir '{root}'"
    fix = "set results_dir to an empty or new folder"
    if not os.path.lexists(root):
        return None
    if not root.is_dir():
        return f"{where} is not a folder: {fix}"
    if (root / MARKER).is_file():
        problem = _marker_problem(root)
        return f"{where} is not this workflow's results folder: {problem}; {fix}" if problem else None
    try:
        entries = sorted(os.listdir(root))
    except OSError as error:
        return f"{where} cannot be read ({error}): {fix}, or fix its permissions"
    if "Snakefile" in entries:
        return f"{where} is the workflow's own checkout (it holds the Snakefile): {fix}, e.g. 'results'"
    if not entries or adopt:
        return None
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
    return (f"{where} is not empty ({shown}) and has no {MARKER}, so it is not a results folder of this "
            f"workflow; a run would overwrite its files. {fix[0].upper() + fix[1:]}, or remove the other project's "
            f"files from it. If it holds this workflow's results from before results folders were claimed, "
            f"claim it with: python -m air_core.cli claim --adopt --configfile <your config>")


def check_results_dir(results_dir: str | os.PathLike) -> None:
    """Raise ``ConfigError`` if ``results_dir`` is not missing, empty or claimed by this workflow.

    Writes nothing: for the planning step (a dry run must not create the folder).
    """
    problem = _refusal(Path(results_dir))
    if problem:
        raise ConfigError(problem)


def claim_results_dir(results_dir: str | os.PathLike, adopt: bool = False) -> Path:
    """Claim ``results_dir`` for this workflow: create it and its marker if it is missing or empty, accept
    it if it has the marker, raise ``ConfigError`` otherwise. ``adopt`` claims a non-empty folder without
    a marker too (this workflow's results from before markers existed); its files get checksums when
    they are next written."""
    root = Path(results_dir)
    problem = _refusal(root, adopt)
    if problem:
        raise ConfigError(problem)
    if not (root / MARKER).is_file():
        root.mkdir(parents=True, exist_ok=True)
        marker = {"project": PROJECT, "schema_version": SCHEMA_VERSION,
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "checksums": checksums.CHECKSUMS.as_posix(),
                  "about": "results folder of the AiR Snakemake workflow; see docs/artifacts.md"}
        replace_text(root / MARKER, json.dumps(marker, indent=2) + "\n")
        log.info("claimed the results folder %s (%s)", root, MARKER)
    return root


def check_dataset_names(config: dict) -> None:
    """ConfigError when a dataset's name is one of the results tree's own folders (``TREE_FOLDERS``).

    A dataset's artifacts lie in ``<R>/<dataset>/``: a dataset named ``logs`` put its tables into the logs
    folder, which ``verify`` skips, so its damage went unseen. Compared without case, as macOS and
    Windows compare names. Method and SD variant names lie a level deeper, in folders of their own.
    """
    datasets = config.get("datasets")
    for name, entry in datasets.items() if isinstance(datasets, dict) else ():
        if not isinstance(name, str) or name.casefold() not in TREE_FOLDERS:
            continue
        layout = entry.get("layout") if isinstance(entry, dict) else None
        if name.casefold() == "toy" and not (config.get("toy_world") and layout == "shapes"):
            continue  # the demo's dataset 'toy' shares <R>/toy with the toy world: their subfolders differ
        raise ConfigError(
            f"datasets.{name}: the dataset name '{name}' is a folder the workflow keeps for itself in "
            f"results_dir ({', '.join(TREE_FOLDERS)}), and a dataset's files go to <results_dir>/<name>/; "
            f"rename the dataset, e.g. '{name}_data'"
        )


@dataclass(frozen=True)
class Damaged:
    """A finished artifact whose bytes do not match its checksum."""

    path: Path  # the file, under the results folder as given
    problem: str
    rebuild: Path  # the Snakemake target that rebuilds it: the file, or the directory output holding it


@dataclass
class Verification:
    """What ``scan_results`` found."""

    checked: int = 0
    damaged: list[Damaged] = field(default_factory=list)
    unchecked: list[Path] = field(default_factory=list)  # no checksum, written before the folder was claimed


def rebuild_target(root: Path, path: Path) -> Path:
    """The Snakemake output that holds ``path`` (under ``root``): the nearest directory() output above it,
    else the file itself (Snakemake cannot rebuild one file of a directory output). For a file whose folder
    is gone too, the topmost missing folder: a deleted directory() output is that output."""
    for folder in path.parents:
        if folder == root or folder == folder.parent:
            break
        if (folder / _DIRECTORY_OUTPUT).exists():
            return folder
    gone = [folder for folder in path.parents if root in folder.parents and not folder.exists()]
    return gone[-1] if gone else path


def _artifact_files(root: Path, under: str | None) -> list[Path]:
    """Every file under ``root`` (or ``root/under``) but logs, benchmarks and the folder's bookkeeping."""
    top = root / under if under else root
    files = []
    for folder, dirs, names in os.walk(top):
        if Path(folder) == root:
            dirs[:] = [d for d in dirs if d not in _NOT_ARTIFACTS]
        dirs.sort()
        files += [Path(folder) / n for n in sorted(names) if n not in (MARKER, _DIRECTORY_OUTPUT)]
    return files


def _recorded_files(root: Path, under: str | None) -> list[Path]:
    """Every artifact under ``root`` (or ``root/under``) that has a checksum file, whether it exists or not."""
    records = root / checksums.CHECKSUMS
    top = records / under if under else records
    suffix = ".sha256"
    return sorted(root / p.relative_to(records).as_posix()[: -len(suffix)] for p in top.rglob(f"*{suffix}"))


def scan_results(results_dir: str | os.PathLike, under: str | None = None) -> Verification:
    """Compare every artifact of a claimed results folder (or of its subfolder ``under``) with its checksum.

    Damaged: a file whose bytes differ from its checksum, a file with a checksum that is gone, and a file
    written after the claim that has no checksum (its checksum file was removed, or the job writing it was
    killed between the rename and the record: either way nothing vouches for its bytes, and Snakemake's
    own rerun of an interrupted job rewrites it anyway). Unchecked: files older than the claim (``claim
    --adopt`` of this workflow's older results), which never had a checksum.
    """
    root = Path(results_dir)
    if not (root / MARKER).is_file():
        raise ConfigError(f"results_dir '{root}' has no {MARKER}: it is not a claimed results folder, so its files "
                          "have no checksums to verify (the workflow claims a new or empty results_dir before its "
                          "first job; this workflow's older results are claimed with "
                          "python -m air_core.cli claim --adopt --configfile <your config>)")
    claimed_ns = (root / MARKER).stat().st_mtime_ns  # the marker is written once, when the folder is claimed
    found = Verification()
    for path in tqdm(_artifact_files(root, under), desc="verify", unit="file", mininterval=5):
        expected = checksums.recorded(root, path)
        if expected is None:
            if os.lstat(path).st_mtime_ns < claimed_ns:
                found.unchecked.append(path)
            else:
                found.damaged.append(Damaged(path, _NO_CHECKSUM, rebuild_target(root, path)))
            continue
        found.checked += 1
        problem = _problem(root, path, expected)
        if problem:
            found.damaged.append(Damaged(path, problem, rebuild_target(root, path)))
    for path in _recorded_files(root, under):
        if not os.path.lexists(path):
            found.checked += 1
            found.damaged.append(Damaged(path, _MISSING, rebuild_target(root, path)))
    return found


_MISSING = "missing: the workflow wrote it (its checksum is recorded) and it is gone"
_NO_CHECKSUM = (
    "no checksum: written after the folder was claimed, but its checksum file is gone (removed, or the job "
    "writing it was killed before recording it), so nothing vouches for its bytes"
)


def _problem(root: Path, path: Path, expected: str) -> str | None:
    """Why ``path`` does not match its recorded checksum ``expected`` ('' = unreadable record), or None."""
    if not expected:
        return f"its checksum file {checksums.checksum_file(root, path)} is damaged"
    try:
        actual = checksums.sha256_file(path)
    except OSError as error:
        return f"unreadable ({error})"
    return None if actual == expected else f"checksum mismatch: recorded {expected[:12]}..., now {actual[:12]}..."


def verify_results(results_dir: str | os.PathLike, under: str | None = None) -> list[Damaged]:
    """The damaged artifacts of a claimed results folder (an empty list when every checksum matches)."""
    return scan_results(results_dir, under).damaged
