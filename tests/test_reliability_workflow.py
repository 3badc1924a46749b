"""Interruption, determinism and awkward class names, on one tiny image-folder workflow run twice.

Run A goes from scratch to the end without a break. Run B starts from scratch in another folder and
is killed five times, each time with a signal to snakemake's whole process group (as a crash, a
scheduler's time limit or a pre-emption would send it): SIGTERM, then SIGKILL, during train_lora;
SIGKILL during generate; SIGTERM, then SIGKILL, during train_prompts. After each kill it is resumed
(``--unlock`` when the kill left the lock behind, ``--rerun-incomplete``). B must end bit-identical to
A, and no job that finished before a kill may run again; B runs with --cores 1 and A with --cores 2, so
this also shows that a run's numbers do not depend on the cores Snakemake has. Run C is a copy of
finished A with another ``generate.seed``, killed with SIGTERM during generation and resumed: only
generation runs again, and every image changes. The dataset's class names are ones that break naive paths.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from air_core.artifacts import read_table
from air_core.data.names import slugify
from tests.helpers import snakefile, snakemake_argv

pytestmark = pytest.mark.workflow

NAMES = ["colt's foot", "707-320", "Île de Ré", "AC/DC", "naïve café"]  # label order = class-folder order
DESCRIPTION = "Things:"
D = "names"  # the dataset's name in the config, a part of every output path
RUN = f"{D}/runs/ul/text/air/seed1"
TARGET = "results/tables/results.parquet"
STAGES = [
    "manifest",
    "encode_real",
    "zero_shot",
    "train_lora",
    "generate",
    "select",
    "train_prompts",
    "evaluate",
    "aggregate",
]  # the target's jobs, one at a time (a chain)
SAFE_PART = re.compile(r"^[A-Za-z0-9_.=-]+$")


def names_dataset(folder: Path) -> tuple[Path, Path]:
    """An image folder c0..c4 of 6 noisy colour images per class, and the class-name file of NAMES."""
    rng = np.random.default_rng(0)
    for label in range(len(NAMES)):
        (folder / "images" / f"c{label}").mkdir(parents=True)
        colour = np.array([50 * label, 255 - 50 * label, 120], float)
        for i in range(6):
            pixels = np.clip(colour + rng.normal(0, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / "images" / f"c{label}" / f"{i}.png")
    (folder / "class_names.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    return folder / "images", folder / "class_names.txt"


def names_config(images: Path, class_names: Path) -> dict:
    """Tiny models, one AiR recipe; LoRA, generation and prompt training each last a few seconds of work."""
    return {
        "results_dir": "results",
        "device": "cpu",
        "threads": 2,  # torch threads, whatever --cores gives a job
        "models": {"clip": {"arch": "air-tiny-vit", "pretrained": None}, "diffusion": {"id": "air-tiny-sd"}},
        "datasets": {
            D: {
                "layout": "imagefolder",
                "root": str(images),
                "class_names": str(class_names),
                "description": DESCRIPTION,
            }
        },
        "paradigms": ["ul"],
        "prompts": ["text"],
        "seeds": [1],
        "encode": {"batch_size": 64},
        "lora": {"top_k": 2, "steps": 30, "batch_size": 2, "resolution": 64},
        "generate": {"images_per_class": 3, "shards": 1, "steps": 3, "batch_size": 1, "resolution": 64},
        "methods": {
            "air": {
                "base": "grip",
                "iterations": 2,
                "epochs": 80,
                "warmup_epochs": 1,
                "fusion_lambda": 1.0,
                "synthetic_beta": 1.0,
            }
        },
    }


# Run B gets one core, A two: with the config's fixed torch threads (2) their numbers must not differ.
CORES = {"b": "1"}


def snakemake_cmd(workdir: Path, *args: str, target: str = TARGET) -> list[str]:
    return snakemake_argv(
        workdir,
        target,
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        CORES.get(workdir.name, "2"),
        "--resources",
        "gpu=1",
        *args,
        snakefile=snakefile(),
    )


ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def snakemake(workdir: Path, *args: str, target: str = TARGET) -> str:
    proc = subprocess.run(
        snakemake_cmd(workdir, *args, target=target), capture_output=True, text=True, env=ENV, timeout=900
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def planned_jobs(out: str) -> dict[str, int]:
    """The first 'Job stats' table of a snakemake output: rule -> jobs."""
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if m[1] != "total"}


def outputs(results: Path, leave_out: tuple[str, ...] = ()) -> list[Path]:
    """The artifacts under ``results`` (not logs, benchmarks or hidden files), less the ``leave_out`` folders."""
    return sorted(
        p
        for p in results.rglob("*")
        if p.is_file()
        and not p.relative_to(results).as_posix().startswith(("logs/", "benchmarks/", ".air/", *leave_out))
        and not p.name.startswith(".")
    )


def fingerprint(paths) -> dict[Path, tuple[int, str]]:
    return {p: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths}


@dataclass
class Kill:
    stage: str
    signal: signal.Signals
    job_outputs: str  # the killed job's folder under results: not finished, so not fingerprinted
    done_marker: str  # an output the killed job writes at its end: must not exist after the kill
    log: str = ""  # the job's log under results/logs, and the line in it that says the work is under way;
    text: str = ""  # without a log: a shard whose first images exist but whose index does not

    def under_way(self, results: Path) -> bool:
        if not self.log:
            shard = results / D / "synthetic" / "lora"
            return not (shard / "shard0.parquet").exists() and any(  # a renamed PNG, not a '.0000.png.tmp'
                not p.name.startswith(".") for p in (shard / "shard0").rglob("*.png")
            )
        log = results / "logs" / self.log
        return log.is_file() and self.text in log.read_text(errors="replace")


LORA, SHARD = f"{D}/lora/lora/pytorch_lora_weights.safetensors", f"{D}/synthetic/lora/shard0.parquet"
LORA_LOG = {"log": f"train_lora/{D}_lora.log", "text": "LoRA steps"}
PROMPTS_LOG = {"log": f"train_prompts/{D}_ul_text_air_seed1.log", "text": "round 0: training"}
KILLS = [
    Kill("train_lora", signal.SIGTERM, f"{D}/lora/", LORA, **LORA_LOG),
    Kill("train_lora", signal.SIGKILL, f"{D}/lora/", LORA, **LORA_LOG),
    Kill("generate", signal.SIGKILL, f"{D}/synthetic/", SHARD),
    Kill("train_prompts", signal.SIGTERM, f"{RUN}/", f"{RUN}/settings.json", **PROMPTS_LOG),
    Kill("train_prompts", signal.SIGKILL, f"{RUN}/", f"{RUN}/settings.json", **PROMPTS_LOG),
]


def run_and_kill(workdir: Path, kill: Kill, attempt: int, target: str = TARGET) -> str:
    """Start (or resume) the run; send ``kill.signal`` to its process group once the stage is under way."""
    results, log_path = workdir / "results", workdir / f"attempt{attempt}.log"
    if kill.log:
        (results / "logs" / kill.log).unlink(missing_ok=True)  # an earlier attempt's log would say so too soon
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            snakemake_cmd(workdir, "--rerun-incomplete", target=target),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=ENV,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline and not kill.under_way(results):
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before {kill.stage} was under way:\n{log_path.read_text()[-3000:]}"
        os.killpg(proc.pid, kill.signal)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return log_path.read_text()


def unlock_if_locked(workdir: Path) -> bool:
    if not any((workdir / ".snakemake" / "locks").glob("*")):
        return False
    snakemake(workdir, "--unlock")
    return True


def interrupted_run(workdir: Path) -> dict:
    """Run B: the kills in order, then a resume to the end. Returns what each step saw."""
    results, record = workdir / "results", {"plans": [], "kept": [], "unlocked": [], "killed": []}
    for attempt, kill in enumerate(KILLS):
        record["unlocked"].append(unlock_if_locked(workdir))
        out = run_and_kill(workdir, kill, attempt)
        record["plans"].append(planned_jobs(out))
        record["killed"].append(
            {
                "marker_missing": not (results / kill.done_marker).exists(),
                "half_made": [
                    p.relative_to(results).as_posix()
                    for p in outputs(results)
                    if p.as_posix().endswith(".png") and kill.job_outputs in p.as_posix()
                ],
            }
        )
        # every artifact of a job that finished before the kill: it must never be made again
        record["kept"].append(fingerprint(outputs(results, leave_out=(kill.job_outputs,))))
    record["unlocked"].append(unlock_if_locked(workdir))
    record["plans"].append(planned_jobs(snakemake(workdir, "--rerun-incomplete")))
    return record


def other_seed_run(a: Path, c: Path) -> dict:
    """Run C: a copy of finished run A with another generate.seed, asked for its synthetic images again;
    killed with SIGTERM during generation, then resumed."""
    shutil.copytree(a, c, symlinks=True)  # copy2: modification times kept, so nothing looks newer than it is
    config = yaml.safe_load((c / "config.yaml").read_text())
    config["generate"]["seed"] = 1
    (c / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    kept = fingerprint(outputs(c / "results", leave_out=(f"{D}/synthetic/",)))
    kill = Kill(
        "generate",
        signal.SIGTERM,
        f"{D}/synthetic/",
        SHARD,
        log=f"generate/{D}_lora_shard0.log",
        text="generating shard",
    )
    out = run_and_kill(c, kill, 0, target=f"results/{SHARD}")
    killed = not (c / "results" / SHARD).exists()
    unlocked = unlock_if_locked(c)
    resumed = snakemake(c, "--rerun-incomplete", target=f"results/{SHARD}")
    return {"kept": kept, "plans": [planned_jobs(out), planned_jobs(resumed)], "killed": killed, "unlocked": unlocked}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs A (then C) and B side by side: each is a chain of one-at-a-time jobs, so two use two cores."""
    base = tmp_path_factory.mktemp("reliability")
    config = names_config(*names_dataset(base / "dataset"))
    a, b, c = base / "a", base / "b", base / "c"
    for workdir in (a, b):
        workdir.mkdir()
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    background: dict = {}

    def uninterrupted_then_other_seed():
        try:
            background["a"] = snakemake(a)
            background["c"] = other_seed_run(a, c)
        except BaseException as err:  # reported by the fixture in the main thread
            background["error"] = err

    thread = threading.Thread(target=uninterrupted_then_other_seed, daemon=True)
    thread.start()
    try:
        record = interrupted_run(b)
    finally:
        thread.join(timeout=900)
    if "error" in background:
        raise background["error"]
    assert not thread.is_alive(), "run A or C did not finish in 15 minutes"
    return {"a": a, "b": b, "c": c, "record": record, "c_record": background["c"]}


def test_each_kill_landed_while_its_stage_was_running(runs):
    record = runs["record"]
    assert all(k["marker_missing"] for k in record["killed"]), record["killed"]
    assert record["killed"][2]["half_made"], "the SIGKILL during generate left no half-made shard"


def test_each_resume_plans_only_the_stage_that_was_killed_and_what_follows_it(runs):
    plans = runs["record"]["plans"]
    assert set(plans[0]) == set(STAGES)
    for kill, plan in zip(KILLS, plans[1:], strict=True):
        assert set(plan) == set(STAGES[STAGES.index(kill.stage) :]), (kill.stage, plan)
    assert all(count == 1 for plan in plans for count in plan.values())


def test_no_job_finished_before_a_kill_is_redone(runs):
    for kill, kept in zip(KILLS, runs["record"]["kept"], strict=True):
        assert kept, kill.stage
        assert fingerprint(kept) == kept, f"artifacts made before the kill during {kill.stage} were rewritten"


def test_a_sigkill_leaves_the_lock_and_unlock_then_resume_works(runs):
    # before each attempt and before the last resume: a SIGTERM lets snakemake clean up and release its lock
    assert runs["record"]["unlocked"] == [False] + [k.signal == signal.SIGKILL for k in KILLS]


def _relative_rows(path: Path, workdir: Path) -> str:
    """A table's rows with the run folder left out of every path, as exact text (repr keeps every float bit)."""
    rows = pq.read_table(path).to_pylist()
    return repr(rows).replace(str(workdir.resolve()), "<run>")


def _tensors_and_metadata(path: Path) -> tuple[dict, dict]:
    """A safetensors file's tensors, bit for bit, and its metadata as data. Its bytes are not reproducible:
    safetensors writes the metadata from a hash map, and peft keeps the LoRA's target_modules in a set."""
    from safetensors import safe_open

    def plain(value):
        if isinstance(value, str) and value[:1] in "{[":
            return plain(json.loads(value))
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return sorted(map(repr, value)) if isinstance(value, list) else value

    with safe_open(path, "np") as f:
        tensors = {k: (t.dtype.str, t.shape, t.tobytes()) for k in f.keys() for t in [f.get_tensor(k)]}
        return tensors, plain(f.metadata() or {})


def test_interrupted_and_resumed_run_is_bit_identical_to_the_uninterrupted_one(runs):
    a, b = runs["a"] / "results", runs["b"] / "results"
    files_a, files_b = outputs(a), outputs(b)
    assert [p.relative_to(a) for p in files_a] == [p.relative_to(b) for p in files_b]
    assert any(p.suffix == ".parquet" for p in files_a) and any(p.suffix == ".png" for p in files_a)
    different = []
    for pa_, pb_ in zip(files_a, files_b, strict=True):
        if pa_.suffix == ".parquet":
            same = _relative_rows(pa_, runs["a"]) == _relative_rows(pb_, runs["b"])
        elif pa_.suffix == ".safetensors":
            same = _tensors_and_metadata(pa_) == _tensors_and_metadata(pb_)
        else:  # PNGs, JSON, Markdown, CSV, HTML: bytes, the run folder left out
            same = pa_.read_bytes().replace(bytes(runs["a"].resolve()), b"<run>") == pb_.read_bytes().replace(
                bytes(runs["b"].resolve()), b"<run>"
            )
        if not same:
            different.append(pa_.relative_to(a).as_posix())
    assert not different, different
    # and nothing temporary left behind by the killed writes
    assert not [
        p
        for p in b.rglob(".*")
        if p.name not in (".snakemake_timestamp", ".air_results.json", ".air") and ".air" not in p.relative_to(b).parts
    ]


def test_another_generate_seed_regenerates_only_the_images_and_changes_every_one(runs):
    record = runs["c_record"]
    assert record["killed"] and not record["unlocked"]  # SIGTERM during generate: no shard, no lock left
    assert record["plans"] == [{"generate": 1}, {"generate": 1}]
    assert fingerprint(record["kept"]) == record["kept"]  # LoRA and everything before it: untouched
    shard = f"results/{D}/synthetic/lora/shard0"
    pngs_a = sorted((runs["a"] / shard).rglob("*.png"))
    pngs_c = sorted((runs["c"] / shard).rglob("*.png"))
    assert [p.relative_to(runs["a"]) for p in pngs_a] == [p.relative_to(runs["c"]) for p in pngs_c]
    for pa_, pc_ in zip(pngs_a, pngs_c, strict=True):
        assert np.abs(np.asarray(Image.open(pa_), int) - np.asarray(Image.open(pc_), int)).max() > 0, pa_.name


def test_class_names_come_back_unchanged_in_every_table(runs):
    data = runs["a"] / "results" / D
    classes = read_table("classes", data / "data" / "classes.parquet").to_pandas()
    assert classes["class_name"].tolist() == NAMES and classes["label"].tolist() == list(range(len(NAMES)))
    assert classes["slug"].tolist() == [slugify(n) for n in NAMES]
    manifest = read_table("manifest", data / "data" / "manifest.parquet").to_pandas()
    assert (manifest["class_name"] == [NAMES[label] for label in manifest["label"]]).all()
    lora_set = read_table("lora_set", data / "lora" / "lora" / "lora_set.parquet").to_pandas()
    assert (lora_set["class_name"] == [NAMES[label] for label in lora_set["pseudo_label"]]).all()
    assert (lora_set["caption"] == [f"{DESCRIPTION} {n}" for n in lora_set["class_name"]]).all()
    shard = read_table("synthetic_shard", data / "synthetic" / "lora" / "shard0.parquet").to_pandas()
    assert sorted(set(shard["class_name"])) == sorted(NAMES)
    assert (shard["class_name"] == [NAMES[label] for label in shard["label"]]).all()
    assert (shard["prompt"] == [f"{DESCRIPTION} {NAMES[label]}" for label in shard["label"]]).all()
    prototypes = read_table("prototypes", data / "synthetic" / "lora" / "prototypes.parquet").to_pandas()
    assert prototypes["class_name"].tolist() == NAMES
    results = read_table("results", runs["a"] / "results" / "tables" / "results.parquet").to_pandas()
    assert results[["dataset", "method"]].values.tolist() == [[D, "air"]]


def test_class_names_reach_paths_only_as_slugs_inside_the_results_folder(runs):
    workdir, results = runs["a"], runs["a"] / "results"
    assert sorted(p.name for p in workdir.iterdir()) == [".snakemake", "config.yaml", "results"]
    for path in results.rglob("*"):
        parts = path.relative_to(results).parts
        assert all(SAFE_PART.match(part) for part in parts), path
    data = results / D
    shard = read_table("synthetic_shard", data / "synthetic" / "lora" / "shard0.parquet").to_pandas()
    for _, row in shard.iterrows():
        path = Path(row["path"])
        assert path.resolve().is_relative_to(results.resolve()) and path.is_file(), path
        assert path.parent.name == slugify(NAMES[row["label"]]) and row["image_id"].split("/")[1] == path.parent.name
    prototypes = read_table("prototypes", data / "synthetic" / "lora" / "prototypes.parquet").to_pandas()
    assert all(Path(p).resolve().is_relative_to(results.resolve()) for p in prototypes["path"])
