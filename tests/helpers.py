"""Running the workflow from tests: the tiny config and a snakemake call in a scratch folder.

Every workflow test runs the Snakefile of a copy of this checkout that lies under a folder whose name
has a space, and the shared tiny run writes to a results folder whose name would run a command, split
into words or end a quote if it reached a shell unquoted (issue 19): every test that reads a finished
run is a quoting test too.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
FAKE_SLURM = ROOT / "tests" / "fake_slurm" / "fake_slurm.py"
HOSTILE_NAME = "res $(touch INJECTED) it's"  # $(...) runs a command, the space splits, the ' ends a quote
_NOT_COPIED = (".venv*", ".git", ".snakemake", "results*", ".pytest_cache", "logs")  # at the top only
_NEVER_COPIED = shutil.ignore_patterns("__pycache__", "*.egg-info")  # anywhere


def _not_copied(folder: str, names: list[str]) -> set[str]:
    """What a copy leaves out: run outputs at the top (not air_core/results_dir.py), caches anywhere."""
    top = shutil.ignore_patterns(*_NOT_COPIED)(folder, names) if Path(folder) == ROOT else set()
    return top | _NEVER_COPIED(folder, names)


@functools.cache
def checkout_copy() -> Path:
    """This checkout's workflow files, copied once per test process under '<tmp>/check out/air'."""
    copy = Path(tempfile.mkdtemp(prefix="air-tests-")) / "check out" / "air"
    shutil.copytree(ROOT, copy, ignore=_not_copied)
    return copy


def source_json(settings: dict) -> str:
    """A dataset entry's manifest settings as the manifest script takes them (``--source``); keys it does
    not read, and keys set to None, are left out."""
    import dataclasses

    from air_core.config import to_json
    from air_core.datasets_config import DataSource

    names = {f.name for f in dataclasses.fields(DataSource)}
    return to_json(DataSource(**{k: v for k, v in settings.items() if k in names and v is not None}))


def manifest_argv(settings: dict, out: Path, *extra: str) -> list[str]:
    """sys.argv of workflow_scripts/manifest.py for a dataset's ``settings``, its tables written under ``out``."""
    tables = ("manifest", "classes", "skipped_images")
    flags = [w for name in tables for w in (f"--{name.split('_')[0]}", str(out / f"{name}.parquet"))]
    return ["manifest.py", "--source", source_json(settings), *flags, *extra]


def snakefile() -> Path:
    return checkout_copy() / "Snakefile"


def tiny_config(results_dir: Path) -> dict:
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["results_dir"] = str(results_dir)
    config["datasets"]["shapes"]["shapes"] = {"classes": 3, "train_per_class": 8, "test_per_class": 4, "size": 32}
    config["seeds"] = [1]
    config["lora"].update(steps=3, top_k=4)
    config["generate"].update(images_per_class=3, shards=2, steps=3)
    config["methods"] = {
        "zero_shot": {"base": "zero_shot", "paper_method": "CLIP"},
        "air_grip": {
            "pseudo_labels": "grip",
            "iterations": 2,
            "epochs": 2,
            "warmup_epochs": 1,
            "fusion_lambda": 1.0,
            "synthetic_beta": 1.0,
        },
    }
    return config


def paper_config(tmp_path: Path) -> dict:
    """config/config.yaml with every dataset's root at an empty folder: it passes the config checks (the
    presets' class-name files are real), so the experiment it describes can be resolved without the data."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for name, entry in config["datasets"].items():
        entry.pop("data_root", None)
        entry["root"] = str(tmp_path / name)
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    return config


def snakemake_argv(workdir: Path, *args: str, snakefile: Path = ROOT / "Snakefile") -> list[str]:
    """``python -m snakemake -s <snakefile> --directory <workdir> <args>``, with this interpreter."""
    return [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(workdir), *args]


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = snakemake_argv(
        workdir, "--configfile", str(configfile), "--cores", "2", "--resources", "gpu=1", *args, snakefile=snakefile()
    )
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)


def stand_in_slurm_env(state: Path, env_extra: dict) -> dict[str, str]:
    """This environment without SLURM settings, the stand-in SLURM (its state in ``state``) first on PATH."""
    subprocess.run([sys.executable, str(FAKE_SLURM), "install", str(state / "bin")], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBATCH_", "AIR_SLURM_", "SLURM_"))}
    env.update(
        {
            "PATH": os.pathsep.join([str(state / "bin"), str(Path(sys.executable).parent), env["PATH"]]),
            "FAKE_SLURM_DIR": str(state),
            "FAKE_SLURM_SYNC": "1",
            **env_extra,
        }
    )
    return env


def stand_in_calls(state: Path) -> list[dict]:
    """The sbatch/srun/... calls the stand-in SLURM got, in order."""
    log = state / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def through_stand_in_slurm(
    workdir: Path, state: Path, profile: Path, args: list[str], env_extra: dict, timeout: int = 3600
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """``snakemake --profile <profile> <args>`` with the stand-in SLURM (tests/fake_slurm) first on PATH,
    keeping its state in ``state``; the finished process and the sbatch/srun/... calls the stand-in got.
    FAKE_SLURM_SYNC=1: each sbatch returns when its job ended, so submissions run one after another."""
    env = stand_in_slurm_env(state, env_extra)
    cmd = snakemake_argv(workdir, "--profile", str(profile), "--slurm-init-seconds-before-status-checks", "1", *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    return proc, stand_in_calls(state)


def easy_problem(clip, n_classes=3, per_class=20, seed=0):
    """Image features = a class direction in text space + noise: learnable, zero-shot is poor."""
    rng = np.random.default_rng(seed)
    dim = clip.model.text_projection.shape[1]
    centres = rng.normal(size=(n_classes, dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    feats = centres[labels] + 0.3 * rng.normal(size=(len(labels), dim))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    zs = rng.normal(size=(n_classes, dim))
    zs /= np.linalg.norm(zs, axis=1, keepdims=True)
    return feats.astype(np.float32), labels, zs.astype(np.float32), centres
