"""profiles/slurm end to end on a stand-in SLURM (tests/fake_slurm): which rules are submitted, and with what."""

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FAKE_SLURM = ROOT / "tests" / "fake_slurm" / "fake_slurm.py"
pytestmark = pytest.mark.workflow

GPU_RULES = {"encode_real", "train_lora", "generate", "select", "train_prompts", "evaluate"}
LOCAL_RULES = {"draw_shapes", "manifest", "aggregate", "fetch_models"}
# What profiles/slurm asks sbatch for on a first attempt: --mem (MB), -t (minutes), --cpus-per-task;
# a rule that the profile does not name gets the default resources.
FIRST_ATTEMPT = {"encode_real": ("16000", "60", "8"), "zero_shot": ("8000", "30", "4"),
                 "train_lora": ("32000", "240", "8"), "generate": ("32000", "240", "8"),
                 "select": ("24000", "60", "8"), "train_prompts": ("24000", "480", "8"),
                 "evaluate": ("16000", "30", "4")}
DEFAULT = ("4000", "30", "1")
TARGET = "results/tables/results.parquet"  # every stage but the report's plots


def small_config(results_dir: str) -> dict:
    """The demo world at its smallest: 3 classes, 2 generation shards, one AiR run."""
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["results_dir"] = str(results_dir)
    config["datasets"]["shapes"]["shapes"] = {"classes": 3, "train_per_class": 6, "test_per_class": 3, "size": 32}
    config["seeds"] = [1]
    config["lora"].update(steps=2, top_k=2)
    config["generate"].update(images_per_class=2, shards=2, steps=2)
    # tiny.yaml's AiR recipe (prototypes fused, synthetic loss on), one round of one epoch
    name, recipe = next((n, r) for n, r in config["methods"].items()
                        if r.get("fusion_lambda", 0) > 0 and r.get("synthetic_beta", 0) > 0)
    config["methods"] = {name: {**recipe, "iterations": 1, "epochs": 1, "warmup_epochs": 0}}
    return config


def run_on_fake_slurm(workdir: Path, slurm: str, env_extra: dict, targets: list, *options: str
                      ) -> tuple[subprocess.CompletedProcess, list]:
    """Run snakemake --profile profiles/slurm, the stand-in SLURM first on PATH; return the calls it got."""
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(small_config("results")))  # relative to --directory
    subprocess.run([sys.executable, str(FAKE_SLURM), "install", str(workdir / "bin")], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBATCH_", "AIR_SLURM_", "SLURM_"))}
    env.update({"PATH": os.pathsep.join([str(workdir / "bin"), str(Path(sys.executable).parent), env["PATH"]]),
                "FAKE_SLURM_DIR": str(workdir / slurm), "FAKE_SLURM_SYNC": "1", "FAKE_SLURM_ACCOUNTS": "air_test",
                "SBATCH_ACCOUNT": "air_test", "SBATCH_PARTITION": "short", **env_extra})
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--profile", str(ROOT / "profiles" / "slurm"), "--slurm-init-seconds-before-status-checks", "1",
           *options, "--configfile", str(configfile)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    log = workdir / slurm / "calls.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, calls


def rule_of(flags: dict) -> str:
    """The plugin names the rule in sbatch's --comment: rule_<rule>[_wildcards_<values>]."""
    return flags["--comment"].removeprefix("rule_").split("_wildcards_")[0]


def submissions(calls: list) -> list[tuple[str, dict]]:
    """(rule, sbatch flags) per sbatch call, in order."""
    return [(rule_of(c["flags"]), c["flags"]) for c in calls if c["cmd"] == "sbatch"]


@pytest.fixture(scope="module")
def gpus_run(tmp_path_factory):
    """Every stage up to the results table, GPUs asked for with --gpus; train_lora's first job runs out of memory."""
    workdir = tmp_path_factory.mktemp("slurm")
    proc, calls = run_on_fake_slurm(workdir, "gpus_run", {"AIR_SLURM_GPU_PARTITION": "gpu",
                                                          "FAKE_SLURM_OOM_ONCE": "train_lora"}, [TARGET])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return workdir, calls


def test_workflow_finishes_through_the_queue(gpus_run):
    workdir, _ = gpus_run
    assert (workdir / TARGET).is_file()


def test_heavy_rules_are_submitted_and_cheap_rules_run_locally(gpus_run):
    workdir, calls = gpus_run
    submitted = {rule for rule, _ in submissions(calls)}
    assert submitted >= GPU_RULES | {"zero_shot"}
    assert not submitted & LOCAL_RULES
    assert {"draw_shapes", "manifest", "aggregate"} <= {p.parent.name for p in (workdir / "results" / "logs").rglob(
        "*.log")}  # they ran, here


def test_diffusion_runs_once_per_dataset_and_generation_once_per_shard(gpus_run):
    _, calls = gpus_run
    rules = [rule for rule, _ in submissions(calls)]
    assert {r: rules.count(r) for r in GPU_RULES} == {"encode_real": 1, "train_lora": 2, "generate": 2, "select": 1,
                                                      "train_prompts": 1, "evaluate": 1}
    shards = sorted(f["--comment"] for r, f in submissions(calls) if r == "generate")
    assert shards == ["rule_generate_wildcards_shapes_lora_0", "rule_generate_wildcards_shapes_lora_1"]


def test_each_rule_asks_for_its_gpu_memory_time_and_cpus(gpus_run):
    _, calls = gpus_run
    seen = set()
    for rule, flags in submissions(calls):
        if rule in seen:  # a retry; see the next test
            continue
        seen.add(rule)
        assert (flags["--mem"], flags["--time"], flags["--cpus-per-task"]) == FIRST_ATTEMPT.get(rule, DEFAULT), rule
        assert flags["--account"] == "air_test"
        assert "--gres" not in flags
        if rule in GPU_RULES:
            assert flags["--gpus"] == "1" and flags["--partition"] == "gpu", rule
        else:
            assert "--gpus" not in flags and flags["--partition"] == "short", rule


def test_a_job_out_of_memory_is_resubmitted_with_twice_the_memory_and_time(gpus_run):
    _, calls = gpus_run
    lora = [flags for rule, flags in submissions(calls) if rule == "train_lora"]
    assert [(f["--mem"], f["--time"]) for f in lora] == [("32000", "240"), ("64000", "480")]


def test_job_steps_run_under_srun_with_their_gpu(gpus_run):
    _, calls = gpus_run
    rule_of_job = {c["job_id"]: rule_of(c["flags"]) for c in calls if c["cmd"] == "sbatch"}
    steps = {rule_of_job[c["job_id"]]: c["flags"] for c in calls if c["cmd"] == "srun"}  # srun inside the job
    assert set(steps) == {rule for rule, _ in submissions(calls)}
    assert all(flags.get("--gpus") == "1" for rule, flags in steps.items() if rule in GPU_RULES)
    assert not any("--gpus" in flags for rule, flags in steps.items() if rule not in GPU_RULES)


def test_gres_mode_asks_for_the_gpu_with_gres_and_its_model(gpus_run):
    workdir, _ = gpus_run  # encode_real again, alone
    proc, calls = run_on_fake_slurm(workdir, "gres_run", {"AIR_SLURM_GPU": "gres", "AIR_SLURM_GPU_MODEL": "h100"},
                                    ["results/shapes/features/real.parquet"], "--forcerun", "encode_real")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    [(rule, flags)] = submissions(calls)
    assert rule == "encode_real"
    assert flags["--gres"] == "gpu:h100:1" and "--gpus" not in flags
    assert flags["--partition"] == "short"  # no AIR_SLURM_GPU_PARTITION: every job in SBATCH_PARTITION
    [step] = [c["flags"] for c in calls if c["cmd"] == "srun"]
    assert "--gpus" not in step  # the job step uses the allocation's GRES


def test_a_misspelt_gpu_mode_stops_before_any_job(tmp_path):
    proc, calls = run_on_fake_slurm(tmp_path, "slurm", {"AIR_SLURM_GPU": "gpu"}, [], "-n")
    assert proc.returncode != 0
    assert "AIR_SLURM_GPU='gpu'" in proc.stdout + proc.stderr
    assert not submissions(calls)


def job_counts(output: str) -> dict[str, int]:
    """The dry run's 'Job stats' table: jobs per rule."""
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}


@pytest.fixture(scope="module")
def paper_config_two_datasets(tmp_path_factory) -> Path:
    """config/config.yaml's grid on two datasets, as image folders that exist."""
    workdir = tmp_path_factory.mktemp("plan")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["datasets"] = {}
    for name in ("first", "second"):
        for cls in ("cat", "dog", "owl"):
            (workdir / "data" / name / cls).mkdir(parents=True)
        config["datasets"][name] = {"layout": "imagefolder", "root": str(workdir / "data" / name)}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir


def dry_run(workdir: Path, *args: str) -> dict[str, int]:
    cmd = [sys.executable, "-m", "snakemake", *args, "-n", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--profile", str(ROOT / "profiles" / "slurm"), "--configfile", str(workdir / "config.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return job_counts(proc.stdout + proc.stderr)


def runs_per_dataset(config: dict) -> int:
    """Seeds x the grid cells each recipe runs on (its own paradigms/prompts, else the grid's)."""
    cells = sum(len(r.get("paradigms") or config["paradigms"]) * len(r.get("prompts") or config["prompts"])
                for r in config["methods"].values())
    return cells * len(config["seeds"])


def test_the_paper_config_plans_diffusion_once_per_dataset_and_generation_in_shards(paper_config_two_datasets):
    config = yaml.safe_load((paper_config_two_datasets / "config.yaml").read_text())
    runs = runs_per_dataset(config)
    jobs = dry_run(paper_config_two_datasets, "all")
    assert jobs["train_lora"] == jobs["encode_real"] == jobs["zero_shot"] == jobs["manifest"] == 2
    assert jobs["select"] >= 2 and jobs["generate"] == jobs["select"] * config["generate"]["shards"]
    assert jobs["train_prompts"] == jobs["evaluate"] == 2 * runs
    assert jobs["aggregate"] == 1


def test_a_dataset_target_plans_that_dataset_only(paper_config_two_datasets):
    config = yaml.safe_load((paper_config_two_datasets / "config.yaml").read_text())
    runs = runs_per_dataset(config)
    jobs = dry_run(paper_config_two_datasets, "dataset_second")
    assert jobs["train_lora"] == jobs["encode_real"] == 1 and jobs["dataset_second"] == 1
    assert jobs["train_prompts"] == jobs["evaluate"] == runs
    assert "aggregate" not in jobs
