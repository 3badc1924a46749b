"""profiles/slurm end to end on a stand-in SLURM (tests/fake_slurm): which rules are submitted, and with what;
runs packed into few submissions; a failed run submitted again without the pack mates that had finished;
the whole workflow as one SLURM job that submits the rest (profiles/slurm/submit_workflow.sh)."""

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks.submissions import paper_grid_plan, without_packing
from tests.helpers import stand_in_calls, stand_in_slurm_env, through_stand_in_slurm

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow

GPU_RULES = {"encode_real", "train_lora", "generate", "select", "train_prompts", "evaluate"}
PACKED = {"train_prompts", "evaluate"}  # a run's two jobs, packed with other runs' (group `run`)
LOCAL_RULES = {"draw_shapes", "manifest", "aggregate", "fetch_models"}
PROFILE = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
RUNS_PER_PACK = PROFILE["group-components"]["run"]


def _first_attempt(resources: dict, threads: int) -> tuple[str, str, str]:
    """--mem (MB), -t (minutes), --cpus-per-task that the profile's expressions give on attempt 1."""
    return tuple(str(eval(str(resources[key]), {"attempt": 1})) for key in ("mem_mb", "runtime")) + (str(threads),)


# What profiles/slurm asks sbatch for on a first attempt, read from the profile itself;
# a rule that the profile does not name gets the default resources.
FIRST_ATTEMPT = {
    rule: _first_attempt(res, PROFILE["set-threads"][rule]) for rule, res in PROFILE["set-resources"].items()
}
DEFAULT = _first_attempt(PROFILE["default-resources"], 1)
TARGET = "results/tables/results.parquet"  # every stage but the report's plots
METHOD = "air"


def small_config(results_dir: str) -> dict:
    """The demo world at its smallest: 3 classes, 2 generation shards, an AiR recipe on two seeds (two runs)."""
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["results_dir"] = str(results_dir)
    config["datasets"]["shapes"]["shapes"] = {"classes": 3, "train_per_class": 6, "test_per_class": 3, "size": 32}
    config["seeds"] = [1, 2]
    config["lora"].update(steps=2, top_k=2)
    config["generate"].update(images_per_class=2, shards=2, steps=2)
    # tiny.yaml's AiR recipe (prototypes fused, synthetic loss on), one round of one epoch
    recipe = next(
        r for r in config["methods"].values() if r.get("fusion_lambda", 0) > 0 and r.get("synthetic_beta", 0) > 0
    )
    config["methods"] = {METHOD: {**recipe, "iterations": 1, "epochs": 1, "warmup_epochs": 0}}
    return config


def run_on_fake_slurm(
    workdir: Path, slurm: str, env_extra: dict, targets: list, *options: str
) -> tuple[subprocess.CompletedProcess, list]:
    """Run snakemake --profile profiles/slurm, the stand-in SLURM first on PATH; return the calls it got."""
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(small_config("results")))  # relative to --directory
    env = {"FAKE_SLURM_ACCOUNTS": "air_test", "SBATCH_ACCOUNT": "air_test", "SBATCH_PARTITION": "short", **env_extra}
    args = [*targets, *options, "--configfile", str(configfile)]
    return through_stand_in_slurm(workdir, workdir / slurm, ROOT / "profiles" / "slurm", args, env, timeout=600)


def members(command: str) -> list[str]:
    """The Snakemake jobs a submission runs: its --target-jobs, e.g. 'evaluate:d=shapes,...,seed=2'."""
    return shlex.split(re.search(r"--target-jobs (.*?) --", command)[1])


def submissions(calls: list) -> list[tuple[str, dict, list[str]]]:
    """(rule, sbatch flags, member jobs) per sbatch call, in order; a pack of runs is named 'pack'."""
    out = []
    for call in (c for c in calls if c["cmd"] == "sbatch"):
        jobs = members(call["command"])
        rules = {job.split(":")[0] for job in jobs}
        out.append(("pack" if rules <= PACKED and len(jobs) > 1 else rules.pop(), call["flags"], jobs))
    return out


def steps(calls: list, job_id: str) -> list[dict]:
    """The job steps (srun) that ran inside one submission, in order."""
    return [c for c in calls if c["cmd"] == "srun" and c["job_id"] == job_id]


def run_files(workdir: Path, member: str) -> dict[str, int]:
    """Output files of a packed member job and their modification times (ns)."""
    rule, wildcards = member.split(":")
    w = dict(item.split("=") for item in wildcards.split(","))
    run = workdir / "results" / w["d"] / "runs" / w["paradigm"] / w["prompt"] / w["method"] / f"seed{w['seed']}"
    names = (
        ["metrics.parquet", "predictions.parquet"] if rule == "evaluate" else ["prompt.safetensors", "settings.json"]
    )
    return {n: (run / n).stat().st_mtime_ns for n in names if (run / n).exists()}


FAILING = f"evaluate:d=shapes,paradigm=ul,prompt=text,method={METHOD},seed=2"


@pytest.fixture(scope="module")
def gpus_run(tmp_path_factory):
    """Every stage up to the results table, GPUs asked for with --gpus; train_lora's first job runs out of
    memory and one run's evaluate fails once inside its pack. Then the same command again."""
    workdir = tmp_path_factory.mktemp("slurm")
    env = {"AIR_SLURM_GPU_PARTITION": "gpu", "FAKE_SLURM_OOM_ONCE": "train_lora", "FAKE_SLURM_STEP_FAIL_ONCE": FAILING}
    first, calls = run_on_fake_slurm(workdir, "gpus_run", env, [TARGET])
    assert first.returncode != 0 and "Error in group run" in first.stdout + first.stderr, first.stderr[-5000:]
    [(_, _, jobs)] = [s for s in submissions(calls) if s[0] == "pack"]
    done = {j: run_files(workdir, j) for j in jobs}  # after the failed pack: what its finished members wrote
    again, all_calls = run_on_fake_slurm(workdir, "gpus_run", env, [TARGET])
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-5000:]
    return workdir, calls, all_calls[len(calls) :], done


def test_workflow_finishes_through_the_queue(gpus_run):
    workdir, *_ = gpus_run
    assert (workdir / TARGET).is_file()


def test_heavy_rules_are_submitted_and_cheap_rules_run_locally(gpus_run):
    workdir, calls, _, _ = gpus_run
    submitted = {rule for rule, *_ in submissions(calls)}
    assert submitted == GPU_RULES - PACKED | {"zero_shot", "pack"}
    assert {"draw_shapes", "manifest", "aggregate"} <= {
        p.parent.name for p in (workdir / "results" / "logs").rglob("*.log")
    }  # they ran, here


def test_diffusion_runs_once_per_dataset_and_generation_once_per_shard(gpus_run):
    _, calls, _, _ = gpus_run
    rules = [rule for rule, *_ in submissions(calls)]
    assert {r: rules.count(r) for r in GPU_RULES - PACKED} == {
        "encode_real": 1,
        "train_lora": 2,
        "generate": 2,
        "select": 1,
    }
    shards = sorted(f["--comment"] for r, f, _ in submissions(calls) if r == "generate")
    assert shards == ["rule_generate_wildcards_shapes_lora_0", "rule_generate_wildcards_shapes_lora_1"]


def test_both_runs_train_and_evaluate_in_one_submission_one_after_another(gpus_run):
    _, calls, _, _ = gpus_run
    [(_, flags, jobs)] = [s for s in submissions(calls) if s[0] == "pack"]
    runs = {job.split(":")[1] for job in jobs}
    assert len(runs) == 2 and sorted(job.split(":")[0] for job in jobs) == ["evaluate"] * 2 + ["train_prompts"] * 2
    ran = steps(calls, [c for c in calls if c["cmd"] == "sbatch" and c["flags"] is flags][0]["job_id"])
    assert all(step["flags"]["--gpus"] == "1" for step in ran)  # each member on the pack's one GPU
    assert ran[-1]["target"] == FAILING and ran[-1]["failed"]  # the pack stops at its failed member
    for i, step in enumerate(ran):  # a run's evaluate after its own train_prompts
        if step["target"].startswith("evaluate"):
            assert step["target"].replace("evaluate", "train_prompts") in [s["target"] for s in ran[:i]]


def test_each_submission_asks_for_its_gpu_memory_time_and_cpus(gpus_run):
    _, calls, later, _ = gpus_run
    seen = set()
    for rule, flags, jobs in submissions(calls) + submissions(later):
        if rule == "pack":  # its runs' largest memory and CPUs, the sum of their times; one GPU
            n_runs = len({job.split(":")[1] for job in jobs})
            per_job = [FIRST_ATTEMPT[job.split(":")[0]] for job in jobs]
            expected = (
                max(m for m, _, _ in per_job),
                str(sum(int(t) for _, t, _ in per_job)),
                max(c for _, _, c in per_job),
            )
            assert n_runs <= RUNS_PER_PACK
        elif rule in seen:  # a retry; see the next test
            continue
        else:
            expected = FIRST_ATTEMPT.get(rule, DEFAULT)
        seen.add(rule)
        assert (flags["--mem"], flags["--time"], flags["--cpus-per-task"]) == expected, rule
        assert flags["--account"] == "air_test"
        assert "--gres" not in flags
        if rule in GPU_RULES | {"pack"}:
            assert flags["--gpus"] == "1" and flags["--partition"] == "gpu", rule
        else:
            assert "--gpus" not in flags and flags["--partition"] == "short", rule


def test_a_job_out_of_memory_is_resubmitted_with_twice_the_memory_and_time(gpus_run):
    _, calls, _, _ = gpus_run
    lora = [flags for rule, flags, _ in submissions(calls) if rule == "train_lora"]
    assert [(f["--mem"], f["--time"]) for f in lora] == [("32000", "240"), ("64000", "480")]


def test_a_failed_run_is_submitted_again_without_its_finished_pack_mates(gpus_run):
    workdir, calls, later, done = gpus_run
    [(_, _, first)] = [s for s in submissions(calls) if s[0] == "pack"]
    assert len([s for s in submissions(calls) if s[0] == "pack"]) == 1  # not resubmitted whole in the same run
    ran = [s["target"] for s in steps(calls, [c for c in calls if c["cmd"] == "sbatch"][-1]["job_id"])]
    finished = ran[:-1]  # every member before the failed one
    assert finished and all(done[job] for job in finished)  # their files survived the pack's failure
    [(rule, _, second)] = submissions(later)  # the same command again: one submission
    assert sorted(second) == sorted(set(first) - set(finished)) and FAILING in second
    assert {c["target"] for c in later if c["cmd"] == "srun"} == set(second)
    for job in finished:  # not run again: same files, same times
        assert run_files(workdir, job) == done[job]


def test_job_steps_run_under_srun_with_their_gpu(gpus_run):
    _, calls, _, _ = gpus_run
    rule_of_step = {c["target"].split(":")[0] for c in calls if c["cmd"] == "srun"}
    assert rule_of_step >= GPU_RULES | {"zero_shot"}
    for step in (c for c in calls if c["cmd"] == "srun"):
        assert (step["flags"].get("--gpus") == "1") == (step["target"].split(":")[0] in GPU_RULES), step["target"]


SUBMIT = ROOT / "profiles" / "slurm" / "submit_workflow.sh"
ELSEWHERE_CONF = "/etc/slurm-elsewhere/slurm.conf"  # a cluster whose sbatch needs SLURM_CONF


def sbatch_workflow(workdir: Path, env_extra: dict, *args: str) -> tuple[subprocess.CompletedProcess, list]:
    """`sbatch profiles/slurm/submit_workflow.sh <args>` from ``workdir`` on the stand-in SLURM; it runs that
    job, and the jobs the Snakemake inside it submits, before sbatch returns."""
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(small_config("results")))
    env = {"FAKE_SLURM_ACCOUNTS": "air_test", "SBATCH_ACCOUNT": "air_test", "SBATCH_PARTITION": "short"}
    env = stand_in_slurm_env(workdir / "slurm", {**env, "SLURM_CONF": ELSEWHERE_CONF, **env_extra})
    cmd = [str(workdir / "slurm" / "bin" / "sbatch"), str(SUBMIT), *args, "--configfile", str(configfile)]
    cmd += ["--slurm-init-seconds-before-status-checks", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=900)
    return proc, stand_in_calls(workdir / "slurm")


@pytest.fixture(scope="module")
def in_job_run(tmp_path_factory):
    """Every stage up to the results table, Snakemake itself in a SLURM job (sbatch run from a folder of
    its own, the workflow's folder given by AIR_WORKFLOW_DIR), GPUs asked for as GRES of a model."""
    workdir = tmp_path_factory.mktemp("in-job")
    env = {"AIR_WORKFLOW_DIR": str(ROOT), "AIR_SLURM_GPU": "gres", "AIR_SLURM_GPU_MODEL": "h100"}
    proc, calls = sbatch_workflow(workdir, env, TARGET)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [outer, *inner] = [c for c in calls if c["cmd"] == "sbatch"]
    job = json.loads((workdir / "slurm" / "jobs" / f"{outer['job_id']}.json").read_text())
    log = (workdir / job["output"]).read_text()
    assert job["state"] == "COMPLETED", log[-5000:]
    return workdir, outer, inner, log


def test_the_workflow_runs_in_one_job_that_submits_the_rest(in_job_run):
    workdir, outer, inner, log = in_job_run
    assert (workdir / TARGET).is_file()
    assert f"SLURM job {outer['job_id']} runs the workflow of {ROOT} in {workdir}" in log
    assert outer["flags"]["--cpus-per-task"] == "2" and outer["flags"]["--signal"] == "B:INT@600"  # #SBATCH
    assert {rule for rule, *_ in submissions(inner)} == GPU_RULES - PACKED | {"zero_shot", "pack"}
    assert {"draw_shapes", "manifest", "aggregate"} <= {
        p.parent.name for p in (workdir / "results" / "logs").rglob("*.log")
    }  # the local rules ran in the workflow's own job


def test_jobs_submitted_from_the_job_inherit_none_of_its_slurm_variables(in_job_run):
    _, outer, inner, log = in_job_run
    assert outer["slurm_env"] == ["SLURM_CONF"]
    assert inner and all(call["slurm_env"] == ["SLURM_CONF"] for call in inner)  # SLURM_CONF kept
    assert "SLURM job context" not in log  # the plugin saw no job around it: nothing of its own to undo
    encode = next(flags for rule, flags, _ in submissions(inner) if rule == "encode_real")
    assert encode["--cpus-per-task"] == FIRST_ATTEMPT["encode_real"][2]  # the profile's 8, not the job's 2


def test_gres_mode_asks_for_the_gpu_with_gres_and_its_model(in_job_run):
    """The in-job run asks for GPUs with AIR_SLURM_GPU=gres and AIR_SLURM_GPU_MODEL=h100 (in_job_run)."""
    _, _, inner, _ = in_job_run
    asked = {rule: (flags, jobs) for rule, flags, jobs in submissions(inner)}
    assert {"encode_real", "pack"} <= set(asked)
    for rule in ("encode_real", "pack"):
        flags = asked[rule][0]
        assert flags["--gres"] == "gpu:h100:1" and "--gpus" not in flags
        assert flags["--partition"] == "short"  # no AIR_SLURM_GPU_PARTITION: every job in SBATCH_PARTITION
    flags, jobs = asked["pack"]
    assert flags["--time"] == str(sum(int(FIRST_ATTEMPT[job.split(":")[0]][1]) for job in jobs))  # in series
    assert all("--gpus" not in c["flags"] for c in inner if c["cmd"] == "srun")  # steps use the allocation's GRES


def test_the_submit_script_outside_the_workflows_folder_says_what_to_do(tmp_path):
    copy = tmp_path / "slurm_script"  # as sbatch runs it: a copy, called from a folder without the workflow
    copy.write_text(SUBMIT.read_text())
    copy.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "AIR_WORKFLOW_DIR"}
    proc = subprocess.run(
        [str(copy), "all"], capture_output=True, text=True, cwd=tmp_path, env={**env, "SLURM_SUBMIT_DIR": str(tmp_path)}
    )
    assert proc.returncode == 2 and "set AIR_WORKFLOW_DIR" in proc.stderr, proc.stderr


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
    """config/config.yaml's grid on two of its datasets (the M study's), as image folders that exist."""
    workdir = tmp_path_factory.mktemp("plan")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["datasets"] = {}
    for name in ("resisc45", "eurosat"):
        for cls in ("cat", "dog", "owl", "fox"):  # 4 classes: TRZSL sees 2
            (workdir / "data" / name / cls).mkdir(parents=True)
        config["datasets"][name] = {"layout": "imagefolder", "root": str(workdir / "data" / name)}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir


def dry_run(workdir: Path, *args: str) -> dict[str, int]:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        *args,
        "-n",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        "--configfile",
        str(workdir / "config.yaml"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return job_counts(proc.stdout + proc.stderr)


def experiment_of(workdir: Path):
    from air_core.experiment import load_experiment

    return load_experiment(yaml.safe_load((workdir / "config.yaml").read_text()))


def test_the_paper_config_plans_diffusion_once_per_dataset_and_variant(paper_config_two_datasets):
    exp = experiment_of(paper_config_two_datasets)
    variants = {d: exp.variants_read(d) for d in exp.datasets}
    loras = sum(exp.sd_variants[v].lora is not None for vs in variants.values() for v in vs)
    jobs = dry_run(paper_config_two_datasets, "all")
    assert jobs["encode_real"] == jobs["zero_shot"] == jobs["manifest"] == 2
    assert jobs["train_lora"] == loras == 4  # lora and lora_long, once per dataset, whatever the sweeps
    assert jobs["select"] == sum(map(len, variants.values())) == 6  # lora, lora_long, base
    assert jobs["generate"] == jobs["select"] * exp.generate_shards
    assert jobs["train_prompts"] == jobs["evaluate"] == len(exp.runs())
    assert jobs["aggregate"] == 1


def test_a_dataset_target_plans_that_dataset_only(paper_config_two_datasets):
    exp = experiment_of(paper_config_two_datasets)
    jobs = dry_run(paper_config_two_datasets, "dataset_eurosat")
    assert jobs["train_lora"] == 2 and jobs["encode_real"] == 1 and jobs["dataset_eurosat"] == 1
    assert jobs["train_prompts"] == jobs["evaluate"] == len(exp.runs(["eurosat"]))
    assert "aggregate" not in jobs


def test_the_whole_paper_grid_fits_in_150_submissions(tmp_path):
    from air_core.config_checks import load_yaml
    from air_core.experiment import load_experiment

    runs = len(load_experiment(load_yaml(ROOT / "config" / "config.yaml"), check_data=False).runs())
    plan = paper_grid_plan(tmp_path)
    assert plan["submissions"] <= 150
    assert plan["packed_jobs"] == {"train_prompts": runs, "evaluate": runs} and not PACKED & set(plan["alone"])
    assert plan["packs"] == math.ceil(runs / RUNS_PER_PACK) and max(plan["runs_per_pack"]) == RUNS_PER_PACK
    smaller = paper_grid_plan(tmp_path, "--group-components", "run=4")  # how a user picks another pack size
    assert smaller["packs"] == math.ceil(runs / 4) and smaller["alone"] == plan["alone"]
    unpacked = paper_grid_plan(tmp_path, profile=without_packing(tmp_path / "unpacked"))
    assert unpacked["packs"] == 0 and unpacked["submissions"] == plan["submissions"] - plan["packs"] + 2 * runs
