"""`python -m air_core.cli verify` and `show-results` on a copy of a finished tiny run: a damaged table is
named with the command that rebuilds it, show-results refuses it, and that command repairs it."""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from air_core.checksums import MARKER

pytestmark = pytest.mark.workflow
ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "air_core.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )


def run_printed(command: str, workdir: Path) -> subprocess.CompletedProcess:
    """Run a `snakemake ...` line as printed, from the checkout, on the copy's working directory."""
    words = shlex.split(command)
    assert words[0] == "snakemake"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), *words[1:]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=900,
    )


def rebuild_line(out: str, path: Path) -> str:
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"DAMAGED {path}:"))
    assert lines[at + 1].startswith("  rebuild: ")
    return lines[at + 1].removeprefix("  rebuild: ")


@pytest.fixture
def claimed_copy(tiny_run, tmp_path):
    """A copy of the shared finished run (never damage that one), claimed, its tables rebuilt through
    air_core.artifacts so they carry checksums."""
    workdir, config = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, symlinks=True)  # copy2: modification times kept, Snakemake sees a finished run
    results = copy / Path(config["results_dir"]).name
    (results / MARKER).unlink()  # as a results folder written before folders were claimed
    configfile = copy / "config.yaml"
    configfile.write_text(yaml.safe_dump({**config, "results_dir": str(results)}))
    assert cli("verify", "--configfile", str(configfile)).returncode == 2  # not claimed yet: nothing to verify
    assert cli("claim", "--configfile", str(configfile)).returncode == 2  # a non-empty folder needs --adopt
    assert cli("claim", "--adopt", "--configfile", str(configfile)).returncode == 0
    table = results / "tables" / "results.parquet"
    proc = run_printed(
        f"snakemake --profile profiles/local --configfile {shlex.quote(str(configfile))} "
        f"--force {shlex.quote(str(table))}",
        copy,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return copy, configfile, results


def test_verify_names_a_table_cut_in_half_and_its_rebuild_repairs_it(claimed_copy):
    copy, configfile, results = claimed_copy
    assert (results / MARKER).is_file()
    clean = cli("verify", "--configfile", str(configfile))
    assert clean.returncode == 0 and " 0 damaged" in clean.stdout, clean.stdout + clean.stderr
    assert int(clean.stdout.split(" files checked")[0].split()[-1]) >= len(list((results / "tables").iterdir()))

    table = results / "tables" / "results.parquet"
    stat, data = table.stat(), table.read_bytes()
    table.write_bytes(data[: len(data) // 2])
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # Snakemake sees nothing to do

    damaged = cli("verify", "--configfile", str(configfile))
    assert damaged.returncode == 1 and " 1 damaged" in damaged.stdout, damaged.stdout
    command = rebuild_line(damaged.stdout, table)
    assert command.startswith("snakemake --profile profiles/local --configfile") and command.endswith(
        f"--force {shlex.quote(str(table))}"
    )

    shown = cli("show-results", "--configfile", str(configfile))
    assert shown.returncode == 1 and f"DAMAGED {table}" in shown.stdout and command in shown.stdout
    assert f"python -m air_core.cli verify --configfile {configfile}" in shown.stdout
    assert "| " not in shown.stdout  # no table printed

    proc = run_printed(command, copy)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert cli("verify", "--configfile", str(configfile)).returncode == 0
    shown = cli("show-results", "--configfile", str(configfile))
    assert shown.returncode == 0 and "| " in shown.stdout and str(table.resolve()) in shown.stdout


def test_snakemake_marks_directory_outputs_as_rebuild_targets(tiny_run):
    """verify names a directory() output (not the file inside it) as the rebuild target of a damaged image;
    it finds the output by the file Snakemake leaves in it."""
    _, config = tiny_run
    shards = [p for p in (Path(config["results_dir"]) / "shapes" / "synthetic" / "lora").glob("shard*") if p.is_dir()]
    assert shards and all((s / ".snakemake_timestamp").is_file() for s in shards)


@pytest.fixture
def finished_copy(tiny_run, tmp_path):
    """A copy of the shared finished run as it is: claimed before its first job, every artifact checksummed."""
    workdir, config = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, symlinks=True)  # times kept: the marker stays older than every artifact
    results = copy / Path(config["results_dir"]).name
    configfile = copy / "config.yaml"
    configfile.write_text(yaml.safe_dump({**config, "results_dir": str(results)}))
    return copy, configfile, results


def test_verify_names_a_deleted_image_and_a_changed_table_without_its_checksum(finished_copy):
    from air_core.checksums import checksum_file
    from tests.helpers import snakemake_argv

    copy, configfile, results = finished_copy
    clean = cli("verify", "--configfile", str(configfile))
    assert clean.returncode == 0 and " 0 damaged, 0 without a checksum" in clean.stdout, clean.stdout
    shard = sorted(p for p in (results / "shapes" / "synthetic" / "lora").glob("shard*") if p.is_dir())[0]
    image = sorted(shard.rglob("*.png"))[0]
    image.unlink()
    table = results / "tables" / "results.parquet"
    checksum_file(results, table).unlink()
    stat = table.stat()
    table.write_bytes(table.read_bytes()[:100])
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    dry = subprocess.run(
        snakemake_argv(copy, "-n", "--configfile", str(configfile)), capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert "Nothing to be done" in dry.stdout + dry.stderr  # Snakemake sees neither: only verify does

    damaged = cli("verify", "--configfile", str(configfile))
    assert damaged.returncode == 1 and " 2 damaged" in damaged.stdout, damaged.stdout
    assert f"DAMAGED {image}: missing" in damaged.stdout and f"DAMAGED {table}: no checksum" in damaged.stdout
    assert rebuild_line(damaged.stdout, image).endswith(f"--force {shlex.quote(str(shard))}")
    assert rebuild_line(damaged.stdout, table).endswith(f"--force {shlex.quote(str(table))}")
    everything = next(line for line in damaged.stdout.splitlines() if line.startswith("Rebuild them all: "))
    proc = run_printed(everything.removeprefix("Rebuild them all: "), copy)
    assert proc.returncode == 0, proc.stderr[-3000:]
    repaired = cli("verify", "--configfile", str(configfile))
    assert repaired.returncode == 0 and " 0 damaged" in repaired.stdout and image.is_file(), repaired.stdout
