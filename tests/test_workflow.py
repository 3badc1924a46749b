"""The workflow end to end on a tiny config: every stage runs, every artifact is as documented."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from air_core.artifacts import SCHEMAS, read_table, schema_for_path
from air_core.recipes import CLEAN
from tests.helpers import ROOT, snakemake, tiny_config

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def finished_run(tiny_run):
    return tiny_run


def test_results_table_has_every_method(finished_run):
    workdir, config = finished_run
    table = read_table("results", Path(config["results_dir"]) / "tables" / "results.parquet").to_pandas()
    assert sorted(table["method"]) == sorted(config["methods"])
    assert table["top1_mean"].between(0, 100).all()
    assert (Path(config["results_dir"]) / "tables" / "results.md").read_text().count("| shapes |") == 2


def test_every_run_records_every_reference_switch_in_its_settings(finished_run):
    """docs/lineage.md: a run's settings.json shows the value of every reference-code switch it ran with."""
    _, config = finished_run
    settings = sorted(Path(config["results_dir"]).glob("*/runs/*/*/*/seed*/settings.json"))
    assert settings, "the tiny run wrote no settings.json"
    for path in settings:
        recorded = json.loads(path.read_text())
        assert {"mode", *CLEAN} <= set(recorded["recipe"]), path
        assert recorded["recipe"]["mode"] in ("reference", "clean")
        assert recorded["clip"]["cuda_dtype"] in ("float16", "float32")


def test_every_parquet_artifact_has_its_documented_schema(finished_run):
    _, config = finished_run
    seen = set()
    for path in sorted(Path(config["results_dir"]).rglob("*.parquet")):
        name = schema_for_path(path)
        table = read_table(name, path)  # raises on any column or type mismatch
        # Empty by design: a zero-shot run trains nothing (no history), a clean dataset skips no image,
        # and a paper table none of whose methods the config runs.
        unmeasured = path.parent.name == "tables" and path.name.startswith("table")
        if "/zero_shot/seed" not in path.as_posix() and not unmeasured and name != "skipped_images":
            assert table.num_rows > 0, path
        seen.add(name)
    assert seen == {name for name in SCHEMAS if not name.startswith("toy_")}  # the toy world's: tests/test_toy.py


def test_every_job_has_a_log_and_a_benchmark(finished_run):
    _, config = finished_run
    results = Path(config["results_dir"])
    logs = {p.relative_to(results / "logs").with_suffix("") for p in (results / "logs").rglob("*.log")}
    assert {p.parts[0] for p in logs} == {
        "draw_shapes",
        "manifest",
        "encode_real",
        "zero_shot",
        "train_lora",
        "generate",
        "select",
        "train_prompts",
        "evaluate",
        "aggregate",
        "plot_zero_shot",
        "plot_lora_loss",
        "plot_synthetic",
        "plot_tsne",
        "plot_cam",
        "plot_pseudo_labels",
        "plot_training",
        "results_index",
    }
    # `make bench` reads every stage's wall time and peak memory from these (docs/performance.md, e)
    benchmarks = {
        p.relative_to(results / "benchmarks").with_suffix("") for p in (results / "benchmarks").rglob("*.tsv")
    }
    assert benchmarks == logs


def test_lora_output_loads_in_plain_diffusers_and_synthetic_images_exist(finished_run):
    from air_core.config import DiffusionSpec
    from air_core.models.diffusion import load_pipeline

    workdir, config = finished_run
    data = Path(config["results_dir"]) / "shapes"
    pipe = load_pipeline(DiffusionSpec(id="air-tiny-sd"))
    pipe.load_lora_weights(str(data / "lora" / "lora"))  # the folder of the SD variant 'lora'
    assert any("lora" in n for n, _ in pipe.unet.named_parameters())
    pngs = sorted((data / "synthetic" / "lora").rglob("*.png"))
    assert len(pngs) == 3 * 3 + 1  # M per class, and the prototype grid
    prototypes = read_table("prototypes", data / "synthetic" / "lora" / "prototypes.parquet").to_pandas()
    assert prototypes["label"].tolist() == [0, 1, 2]
    assert all(Path(p).is_file() for p in prototypes["path"])


def test_no_path_or_name_reaches_a_shell_unquoted(finished_run):
    """The run went from a checkout under a folder with a space into the results folder
    "res $(touch INJECTED) it's": it finished there, and no command in the name ran."""
    from tests.helpers import HOSTILE_NAME, checkout_copy

    workdir, config = finished_run
    assert " " in str(checkout_copy()) and Path(config["results_dir"]).name == HOSTILE_NAME
    assert (workdir / HOSTILE_NAME / "tables" / "results.parquet").is_file()
    strays = {p.name for p in workdir.iterdir() if not p.name.startswith(".")} - {"config.yaml", "report.html"}
    assert strays == {HOSTILE_NAME}  # no 'res', 'its' or other piece of a split name
    assert not list(workdir.rglob("INJECTED")) and not (ROOT / "INJECTED").exists()
    assert not (checkout_copy() / "INJECTED").exists()


def test_finished_workflow_has_nothing_left_to_do(finished_run):
    workdir, config = finished_run
    proc = snakemake(workdir, config, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_narrowing_a_recipe_to_the_cells_it_ran_on_reruns_none_of_its_runs(finished_run):
    workdir, config = finished_run
    narrowed = copy.deepcopy(config)
    for recipe in narrowed["methods"].values():
        recipe.update(paradigms=list(config["paradigms"]), prompts=list(config["prompts"]))
    proc = snakemake(workdir, narrowed, "-n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = proc.stdout.split("Job stats:")[1].split("Reasons:")[0]
    assert "aggregate" in jobs  # the tables read where each recipe runs
    assert "train_prompts" not in jobs and "evaluate" not in jobs


def _planned(workdir: Path, config: dict) -> dict[str, int]:
    """Jobs per rule that `snakemake -n` plans (default rerun triggers) for ``config`` on a finished run."""
    proc = snakemake(workdir, config, "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].split("total")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}


DOWNSTREAM_OF_GENERATE = {
    "select": 1,
    "plot_synthetic": 1,
    "plot_tsne": 1,
    "plot_cam": 1,
    "train_prompts": 1,
    "evaluate": 1,
    "plot_pseudo_labels": 1,
    "plot_training": 1,
    "aggregate": 1,
    "all": 1,
}  # air_grip's run


@pytest.mark.parametrize(
    "change,expected",
    [
        # how a job runs, not what it writes: no job
        (lambda c: c["generate"].update(batch_size=5), {}),
        (lambda c: c["encode"].update(batch_size=5), {}),
        (lambda c: c.update(threads=1), {}),
        (lambda c: c.update(device="auto"), {}),
        (lambda c: c["methods"]["air_grip"].update(paper_method="AiR"), {"aggregate": 1, "all": 1}),  # a table name
        # what it writes: exactly the jobs downstream of the change (zero_shot's run reads no synthetic image)
        (lambda c: c["generate"].update(steps=4), {"generate": 2, **DOWNSTREAM_OF_GENERATE}),
        (
            lambda c: c["lora"].update(steps=4),
            {"train_lora": 1, "plot_lora_loss": 1, "generate": 2, **DOWNSTREAM_OF_GENERATE},
        ),
        (
            lambda c: c["methods"]["air_grip"].update(fusion_lambda=0.5),
            {
                "train_prompts": 1,
                "evaluate": 1,
                "plot_pseudo_labels": 1,
                "plot_training": 1,
                "aggregate": 1,
                "all": 1,
                "plot_cam": 1,
                "plot_tsne": 1,
            },
        ),  # the CAM and t-SNE figures' fused classifier uses the recipe's λ
        (  # a recipe's reference switches: its own runs and what reads them, nothing upstream
            lambda c: c["methods"]["air_grip"].update(mode="clean"),
            {"train_prompts": 1, "evaluate": 1, "plot_pseudo_labels": 1, "plot_training": 1, "aggregate": 1, "all": 1},
        ),
        # a shard is a job whose files are its declared outputs: another count is other jobs (docs/reliability.md)
        (lambda c: c["generate"].update(shards=3), {"generate": 3, **DOWNSTREAM_OF_GENERATE}),
    ],
    ids=[
        "generate.batch_size",
        "encode.batch_size",
        "threads",
        "device",
        "paper_method",
        "generate.steps",
        "lora.steps",
        "fusion_lambda",
        "mode",
        "generate.shards",
    ],
)
def test_a_change_plans_exactly_the_jobs_it_changes(finished_run, change, expected):
    workdir, config = finished_run
    changed = copy.deepcopy(config)
    change(changed)
    assert _planned(workdir, changed) == expected


@pytest.mark.parametrize(
    "mistake,key",
    [
        (lambda c: c["generate"].update(images_per_clas=3), "generate.images_per_clas"),
        (lambda c: c.update(seeds="one"), "seeds"),
        (lambda c: c["methods"]["air_grip"].update(pseudo_labels="cpl?"), "methods.air_grip.pseudo_labels"),
        (lambda c: c["methods"]["air_grip"].update(fusion_lambda=-1), "methods.air_grip.fusion_lambda"),
    ],
)
def test_config_mistake_stops_before_any_job_and_names_the_key(tmp_path, mistake, key):
    config = tiny_config(tmp_path / "results")
    mistake(config)
    proc = snakemake(tmp_path, config, "-n")
    assert proc.returncode != 0
    assert f"config key '{key}'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_snakemake_lint_is_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", "config/demo.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
