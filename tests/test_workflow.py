"""The workflow end to end on a tiny config: every stage runs, every artifact is as documented."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from air_core.artifacts import SCHEMAS, read_table, schema_for_path

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


def tiny_config(results_dir: Path) -> dict:
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["results_dir"] = str(results_dir)
    config["datasets"]["shapes"]["shapes"] = {"classes": 3, "train_per_class": 8, "test_per_class": 4, "size": 32}
    config["seeds"] = [1]
    config["lora"].update(steps=3, top_k=4)
    config["generate"].update(images_per_class=3, shards=2, steps=3)
    config["methods"] = {
        "zero_shot": {"pseudo_labels": "none", "paper_method": "CLIP"},
        "air_grip": {"pseudo_labels": "grip", "iterations": 2, "epochs": 2, "warmup_epochs": 1,
                     "fusion_lambda": 1.0, "synthetic_beta": 1.0},
    }
    return config


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), "--cores", "2", "--resources", "gpu=1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    config = tiny_config(workdir / "results")
    proc = snakemake(workdir, config, "--show-failed-logs")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return workdir, config


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
        if "/zero_shot/seed" not in path.as_posix():  # zero-shot trains nothing: no history rows
            assert table.num_rows > 0, path
        seen.add(name)
    assert seen == set(SCHEMAS)


def test_every_rule_has_a_log_and_heavy_rules_a_benchmark(finished_run):
    workdir, _ = finished_run
    logs = {p.parent.name for p in (workdir / "results" / "logs").rglob("*.log")}
    assert logs == {"draw_shapes", "manifest", "encode_real", "zero_shot", "train_lora", "generate", "select",
                    "train_prompts", "evaluate", "aggregate"}
    benchmarks = {p.parent.name for p in (workdir / "results" / "benchmarks").rglob("*.tsv")}
    assert benchmarks == {"encode_real", "train_lora", "generate", "select", "train_prompts"}


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
