"""A run killed mid-generation: no half-written shard counts as done, and the rerun makes only the rest."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from air_core.artifacts import read_table
from tests.helpers import snakemake_argv

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow
SHARDS = 3
M = 4  # images per class; one class per shard, one image per pipeline call: a shard takes a few seconds
VARIANT = "base"  # plain SD: generation right after the manifest, no LoRA to train first


def shard_config(results_dir: str) -> dict:
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["results_dir"] = str(results_dir)
    config["datasets"]["shapes"]["shapes"] = {"classes": 3, "train_per_class": 6, "test_per_class": 3, "size": 32}
    config["seeds"] = [1]
    config["generate"].update(images_per_class=M, shards=SHARDS, steps=4, batch_size=1)
    # tiny.yaml's AiR recipe (prototypes fused, synthetic loss on), one round of one epoch
    name, recipe = next(
        (n, r) for n, r in config["methods"].items() if r.get("fusion_lambda", 0) > 0 and r.get("synthetic_beta", 0) > 0
    )
    config["methods"] = {name: {**recipe, "iterations": 1, "epochs": 1, "warmup_epochs": 0}}
    return config


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    targets = [f"results/shapes/synthetic/{VARIANT}/shard{i}.parquet" for i in range(SHARDS)]
    profile = str(ROOT / "profiles" / "local")
    return snakemake_argv(workdir, *targets, "--profile", profile, *args, "--configfile", str(workdir / "config.yaml"))


def fingerprint(paths) -> dict:
    return {p: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths}


def kill_while_a_shard_is_being_generated(workdir: Path, synthetic: Path) -> None:
    """Start the run; SIGKILL snakemake and its jobs once a shard is done and another is half-way."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with open(workdir / "first_run.log", "w") as log:
        proc = subprocess.Popen(
            snakemake_cmd(workdir), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            done = {i for i in range(SHARDS) if (synthetic / f"shard{i}.parquet").exists()}
            if done and any(any((synthetic / f"shard{i}").rglob("*.png")) for i in set(range(SHARDS)) - done):
                return
            time.sleep(0.05)
        pytest.fail(f"never saw a finished and a half-made shard together:\n{(workdir / 'first_run.log').read_text()}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its running job, as a crash would
        proc.wait()


def test_killed_generation_leaves_no_false_shard_and_the_rerun_makes_only_the_rest(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(shard_config("results")))  # relative to --directory
    synthetic = tmp_path / "results" / "shapes" / "synthetic" / VARIANT
    kill_while_a_shard_is_being_generated(tmp_path, synthetic)

    done = [i for i in range(SHARDS) if (synthetic / f"shard{i}.parquet").exists()]
    half = [i for i in range(SHARDS) if i not in done and (synthetic / f"shard{i}").exists()]
    assert done and half and len(done) < SHARDS
    kept = fingerprint(
        [synthetic / f"shard{i}.parquet" for i in done]
        + [p for i in done for p in sorted((synthetic / f"shard{i}").rglob("*.png"))]
    )

    # The killed snakemake left its lock behind: --unlock, then the rerun redoes the incomplete job only.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    unlock = subprocess.run(snakemake_cmd(tmp_path, "--unlock"), capture_output=True, text=True, env=env)
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    rerun = subprocess.run(
        snakemake_cmd(tmp_path, "--rerun-incomplete"), capture_output=True, text=True, env=env, timeout=600
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    stats = re.search(r"^generate\s+(\d+)$", rerun.stdout + rerun.stderr, re.MULTILINE)
    assert stats and int(stats.group(1)) == SHARDS - len(done), rerun.stdout + rerun.stderr

    assert fingerprint(kept) == kept  # finished shards: not regenerated, not touched
    for i in range(SHARDS):
        shard = read_table("synthetic_shard", synthetic / f"shard{i}.parquet").to_pandas()
        assert len(shard) == M and shard["label"].tolist() == [i] * M  # class i is shard i's one class
        assert all(Path(p).is_file() for p in shard["path"])
        assert len(list((synthetic / f"shard{i}").rglob("*.png"))) == M
    # no temporary file left from the killed write (Snakemake's own directory timestamps aside)
    assert not [p for p in synthetic.rglob(".*") if p.name != ".snakemake_timestamp"]
