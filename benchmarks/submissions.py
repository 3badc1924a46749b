"""SLURM submissions: how many the paper grid plans, what a job pays before its work, and what packing saves.

- ``paper_grid_plan``: ``snakemake --profile profiles/slurm -n all`` on config/config.yaml (the five paper
  datasets as empty folders: the plan does not read images), counted as sbatch submissions: packs of
  runs (Snakemake group jobs), other jobs one each, local rules none.
- ``job_startup``: from a finished run's logs and benchmark files, per model job the seconds before its
  script started (interpreter and imports), until its CLIP was built, until its first training step.
- ``stand_in_wall_times``: the tiny config's prompt runs through the stand-in SLURM (tests/fake_slurm),
  one job per submission against profiles/slurm's packs, same machine, same runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm"
STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "


def local_rules(configfile: Path, workdir: Path) -> set[str]:
    """Rules Snakemake runs on the login node: `localrules` and rules with nothing to run (targets)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(),
            storage_settings=StorageSettings(),
            config_settings=ConfigSettings(configfiles=[configfile]),
            workdir=workdir,
            snakefile=ROOT / "Snakefile",
        )._workflow  # the parsed workflow: no public accessor
        return {rule.name for rule in workflow.rules if rule.name in workflow._localrules or rule.norun}


def count_submissions(dry_run_output: str, local: set[str]) -> dict:
    """sbatch submissions of a dry run's job list: one per group job, one per other non-local job."""
    packs, alone, pack = [], Counter(), None
    for line in dry_run_output.splitlines():
        if re.match(r"^\[.*\] Group job ", line):
            pack = Counter()
            packs.append(pack)
        elif m := re.match(r"^(    )?(?:local)?rule (\w+):$", line):
            if m[1] and pack is not None:
                pack[m[2]] += 1
            else:
                pack = None
                alone[m[2]] += m[2] not in local
    alone = {rule: n for rule, n in alone.items() if n}
    sizes = Counter(max(p.values()) for p in packs)  # runs per pack: its train_prompts (= evaluate) jobs
    return {
        "submissions": len(packs) + sum(alone.values()),
        "packs": len(packs),
        "runs_per_pack": dict(sorted(sizes.items())),
        "alone": alone,
        "packed_jobs": dict(sum(packs, Counter())),
    }


def dry_run(workdir: Path, configfile: Path, *args: str, profile: Path = PROFILE) -> str:
    from tests.helpers import snakemake_argv

    cmd = snakemake_argv(
        workdir,
        "-n",
        "all",
        "--profile",
        str(profile),
        "--configfile",
        str(configfile),
        *args,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBATCH_", "AIR_SLURM_"))}
    return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, timeout=600).stdout


def paper_grid_plan(workdir: Path, *args: str, profile: Path = PROFILE) -> dict:
    """config/config.yaml's whole grid planned through ``profile`` (extra snakemake ``args`` appended)."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for entry in config["datasets"].values():  # each preset's root folder, empty
        entry["data_root"] = str(workdir / "data")
        preset = yaml.safe_load((ROOT / "config" / "datasets" / f"{entry['preset']}.yaml").read_text())
        Path(preset["root"].format(data_root=entry["data_root"])).mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    return count_submissions(dry_run(workdir, configfile, *args, profile=profile), local_rules(configfile, workdir))


def _stamps(log: Path) -> list[tuple[pd.Timestamp, str]]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [(pd.Timestamp(m[1].replace(",", ".")), line) for line in lines if (m := re.match(STAMP, line))]


def _script_start(stamps: list) -> tuple[pd.Timestamp, float] | None:
    """(when, seconds after its process) of the log's "script started" line (air_core.jobs.run_script)."""
    for t, line in stamps:
        if m := re.search(r"script started ([\d.]+) s after its process", line):
            return t, float(m[1])
    return None


def _seconds_to(stamps: list, origin: pd.Timestamp, pattern: str) -> float:
    """Seconds from ``origin`` to the first log line matching ``pattern`` (NaN if none)."""
    hit = next((t for t, line in stamps if re.search(pattern, line)), None)
    return (hit - origin).total_seconds() if hit is not None else float("nan")


def job_startup(
    results_dir: Path, rules=("encode_real", "zero_shot", "select", "train_prompts", "evaluate")
) -> pd.DataFrame:
    """Per job: seconds from process start to script start (imports), to its CLIP built, to its first step."""
    rows = []
    for rule in rules:
        for log in sorted((results_dir / "logs" / rule).glob("*.log")):
            stamps = _stamps(log)
            start = _script_start(stamps)
            bench = results_dir / "benchmarks" / rule / f"{log.stem}.tsv"
            if start is None or not bench.exists():
                continue
            began = start[0] - pd.Timedelta(seconds=start[1])
            rows.append(
                {
                    "rule": rule,
                    "job": log.stem,
                    "imports_s": start[1],
                    "model_built_s": _seconds_to(stamps, began, r"CLIP .* parameters on"),
                    "first_step_s": _seconds_to(stamps, began, r"round 0: training"),
                    "job_s": float(pd.read_csv(bench, sep="\t")["s"].iloc[0]),
                }
            )
    return pd.DataFrame(rows)


def step_startup(calls: list, results_dir: Path) -> pd.DataFrame:
    """Per job step (srun) of a stand-in run: seconds from the step's start to its script's process start
    (the job's own Snakemake), to the script's start (+ interpreter, imports), to its CLIP built, to its
    first training step. Read from the stand-in's call times and the rule logs that this run wrote."""
    rows = []
    for call in calls:
        rule, _, wildcards = call.get("target", "").partition(":")
        if call["cmd"] != "srun" or rule not in ("train_prompts", "evaluate"):
            continue
        w = dict(item.split("=", 1) for item in wildcards.split(","))
        log = results_dir / "logs" / rule / f"{w['d']}_{w['paradigm']}_{w['prompt']}_{w['method']}_seed{w['seed']}.log"
        stamps = _stamps(log)
        start = _script_start(stamps)
        if start is None:
            continue
        step = pd.Timestamp.fromtimestamp(call["time"])
        process = (start[0] - pd.Timedelta(seconds=start[1]) - step).total_seconds()

        rows.append(
            {
                "rule": rule,
                "method": w["method"],
                "snakemake_s": process,
                "script_s": process + start[1],
                "model_built_s": _seconds_to(stamps, step, r"CLIP .* parameters on"),
                "first_step_s": _seconds_to(stamps, step, r"round 0: training"),
            }
        )
    return pd.DataFrame(rows)


def without_packing(profile_dir: Path) -> Path:
    """A copy of profiles/slurm without its `groups:` and `group-components:` blocks: one job per submission."""
    out, skipping = [], False
    for line in (PROFILE / "config.yaml").read_text().splitlines():
        if re.match(r"^(groups|group-components):", line):
            skipping = True
            continue
        if skipping and line.startswith("  "):
            continue
        skipping = False
        out.append(line)
    profile_dir.mkdir(parents=True, exist_ok=True)
    (profile_dir / "config.yaml").write_text("\n".join(out) + "\n")
    return profile_dir


def through_stand_in(workdir: Path, profile: Path, targets: list[str], *args: str) -> tuple[float, list, str]:
    """Wall seconds, the stand-in's calls and the output of ``snakemake --profile <profile> targets``.

    FAKE_SLURM_SYNC=1: each sbatch returns when its job ended, so the submissions run one after another.
    """
    from tests.helpers import through_stand_in_slurm

    state = workdir / f"slurm_{profile.name}_{time.time_ns()}"
    env = {"FAKE_SLURM_ACCOUNTS": "bench", "SBATCH_ACCOUNT": "bench"}
    start = time.perf_counter()
    proc, calls = through_stand_in_slurm(
        workdir, state, profile, [*targets, "--configfile", str(workdir / "config.yaml"), *args], env
    )
    return time.perf_counter() - start, calls, proc.stdout + proc.stderr


def submission_startup(calls: list) -> list[float]:
    """Per submission, seconds from sbatch to its first job step: the Snakemake that runs inside the job."""
    submitted = {c["job_id"]: c["time"] for c in calls if c["cmd"] == "sbatch"}
    first_step: dict[str, float] = {}
    for c in calls:
        if c["cmd"] == "srun" and c.get("job_id") in submitted:
            first_step.setdefault(c["job_id"], c["time"])
    return [first_step[j] - t for j, t in submitted.items() if j in first_step]


def stand_in_wall_times(workdir: Path, seeds: tuple[int, ...] = (1, 2, 3), repeats: int = 2) -> dict:
    """The tiny config run locally (every job's log and benchmark), then its prompt runs again through the
    stand-in SLURM, unpacked and packed in turn, ``repeats`` times each, one submission at a time
    (``--jobs 1``): a pack runs its jobs one after another, and so, here, do the unpacked jobs, so that
    the two ways differ only in their submissions (on a cluster unpacked jobs would run side by side).

    Returns the local run's per-job start-up table (``job_startup``), per way the wall seconds of each
    repeat, its sbatch calls and each submission's start-up, and the last packed run's job steps
    (``step_startup``).
    """
    from tests.helpers import snakemake, tiny_config

    workdir.mkdir(parents=True, exist_ok=True)
    config = tiny_config(workdir / "results")
    config["seeds"] = list(seeds)
    proc = snakemake(workdir, config)
    if proc.returncode:
        raise RuntimeError(f"the tiny config failed locally:\n{proc.stderr[-3000:]}")
    startup = job_startup(workdir / "results")  # before the stand-in runs rewrite the prompt jobs' logs
    targets = sorted(str(p) for p in (workdir / "results").rglob("runs/**/metrics.parquet"))
    ways = {"one job per submission": without_packing(workdir / "profile_unpacked"), "packed": PROFILE}
    walls: dict[str, dict] = {
        name: {"seconds": [], "sbatch": 0, "runs": len(targets), "startup_s": []} for name in ways
    }
    for _ in range(repeats):
        for name, profile in ways.items():  # alternating, so that a load change hits both ways alike
            seconds, calls, output = through_stand_in(
                workdir, profile, targets, "--forcerun", "train_prompts", "--jobs", "1"
            )
            if "(100%) done" not in output:
                raise RuntimeError(f"the stand-in SLURM run ({name}) failed:\n{output[-3000:]}")
            walls[name]["seconds"].append(round(seconds, 1))
            walls[name]["sbatch"] = sum(c["cmd"] == "sbatch" for c in calls)
            walls[name]["startup_s"] += [round(s, 2) for s in submission_startup(calls)]
    steps = step_startup(calls, workdir / "results")  # the last (packed) run wrote the logs
    return {"startup": startup, "walls": walls, "steps": steps}
