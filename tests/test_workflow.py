"""The workflow end to end on a tiny config: every stage runs, every artifact is as documented."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from air_core.artifacts import SCHEMAS, read_table, schema_for_path
from tests.helpers import ROOT, snakemake, tiny_config
pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def finished_run(tiny_run):
    return tiny_run


def test_results_table_has_every_method(finished_run):
    workdir, config = finished_run
    table = read_table("results", workdir / "results" / "tables" / "results.parquet").to_pandas()
    assert sorted(table["method"]) == sorted(config["methods"])
    assert table["top1_mean"].between(0, 100).all()
    assert (workdir / "results" / "tables" / "results.md").read_text().count("| shapes |") == 2


def test_every_parquet_artifact_has_its_documented_schema(finished_run):
    workdir, _ = finished_run
    seen = set()
    for path in sorted((workdir / "results").rglob("*.parquet")):
        name = schema_for_path(path)
        table = read_table(name, path)  # raises on any column or type mismatch
        # Empty by design: a zero-shot run trains nothing (no history), a clean dataset skips no image,
        # and a paper table none of whose methods the config runs.
        unmeasured = path.parent.name == "tables" and path.name.startswith("table")
        if "/zero_shot/seed" not in path.as_posix() and not unmeasured and name != "skipped_images":
            assert table.num_rows > 0, path
        seen.add(name)
    assert seen == set(SCHEMAS)


def test_every_job_has_a_log_and_a_benchmark(finished_run):
    workdir, _ = finished_run
    results = workdir / "results"
    logs = {p.relative_to(results / "logs").with_suffix("") for p in (results / "logs").rglob("*.log")}
    assert {p.parts[0] for p in logs} == {
        "draw_shapes", "manifest", "encode_real", "zero_shot", "train_lora", "generate", "select", "train_prompts",
        "evaluate", "aggregate", "plot_zero_shot", "plot_lora_loss", "plot_synthetic", "plot_tsne",
        "plot_pseudo_labels", "plot_training", "results_index"}
    # `make bench` reads every stage's wall time and peak memory from these (docs/performance.md, e)
    benchmarks = {p.relative_to(results / "benchmarks").with_suffix("")
                  for p in (results / "benchmarks").rglob("*.tsv")}
    assert benchmarks == logs


def test_lora_output_loads_in_plain_diffusers_and_synthetic_images_exist(finished_run):
    from air_core.config import DiffusionSpec
    from air_core.models.diffusion import load_pipeline

    workdir, config = finished_run
    data = workdir / "results" / "shapes"
    pipe = load_pipeline(DiffusionSpec(id="air-tiny-sd"))
    pipe.load_lora_weights(str(data / "lora"))
    assert any("lora" in n for n, _ in pipe.unet.named_parameters())
    pngs = sorted((data / "synthetic" / "lora").rglob("*.png"))
    assert len(pngs) == 3 * 3 + 1  # M per class, and the prototype grid
    prototypes = read_table("prototypes", data / "synthetic" / "lora" / "prototypes.parquet").to_pandas()
    assert prototypes["label"].tolist() == [0, 1, 2]
    assert all(Path(p).is_file() for p in prototypes["path"])


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


@pytest.mark.parametrize("mistake,key", [
    (lambda c: c["generate"].update(images_per_clas=3), "generate.images_per_clas"),
    (lambda c: c.update(seeds="one"), "seeds"),
    (lambda c: c["methods"]["air_grip"].update(pseudo_labels="cpl?"), "methods.air_grip.pseudo_labels"),
    (lambda c: c["methods"]["air_grip"].update(fusion_lambda=-1), "methods.air_grip.fusion_lambda"),
])
def test_config_mistake_stops_before_any_job_and_names_the_key(tmp_path, mistake, key):
    config = tiny_config(tmp_path / "results")
    mistake(config)
    proc = snakemake(tmp_path, config, "-n")
    assert proc.returncode != 0
    assert f"config key '{key}'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_snakemake_lint_is_clean():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--configfile", "config/demo.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
