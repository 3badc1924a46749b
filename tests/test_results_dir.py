"""The results folder is claimed by a marker; artifacts in it carry checksums that find damaged files."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from air_core import checksums
from air_core.artifacts import atomic_dir, atomic_path, publish, read_table, save_image, write_table, write_text
from air_core.checksums import MARKER
from air_core.errors import ConfigError
from air_core.results_dir import (
    PROJECT,
    SCHEMA_VERSION,
    check_results_dir,
    claim_results_dir,
    scan_results,
    verify_results,
)

ROOT = Path(__file__).resolve().parents[1]


def _classes(path: Path) -> None:
    write_table("classes", {"label": [0, 1], "class_name": ["a", "b"], "slug": ["a", "b"]}, path)


def _cut_in_half_keeping_the_time(path: Path) -> None:
    """The damage Snakemake cannot see: fewer bytes, the same modification time."""
    stat, data = path.stat(), path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns


@pytest.mark.parametrize("exists", [False, True])
def test_a_missing_or_empty_folder_is_claimed_with_a_marker(tmp_path, exists):
    results = tmp_path / "results"
    if exists:
        results.mkdir()
    assert claim_results_dir(results) == results
    marker = json.loads((results / MARKER).read_text())
    assert marker["project"] == PROJECT and marker["schema_version"] == SCHEMA_VERSION
    assert marker["checksums"] == ".air/checksums" and marker["created"].endswith("+00:00")
    before = (results / MARKER).read_bytes()
    _classes(results / "data" / "classes.parquet")
    claim_results_dir(results)  # a resumed run: the claim is accepted, the marker kept as it was
    check_results_dir(results)
    assert (results / MARKER).read_bytes() == before


def test_check_results_dir_writes_nothing(tmp_path):
    check_results_dir(tmp_path / "results")  # a dry run plans; it must not create the folder
    assert list(tmp_path.iterdir()) == []


def test_another_projects_folder_is_refused_naming_the_key_the_folder_and_the_way_out(tmp_path):
    other = tmp_path / "their results"
    (other / "tables").mkdir(parents=True)
    (other / "README.md").write_text("their index")
    (other / "tables" / "results.parquet").write_bytes(b"their table")
    for call in (check_results_dir, claim_results_dir):
        with pytest.raises(ConfigError) as error:
            call(other)
        message = str(error.value)
        assert f"results_dir '{other}'" in message and "README.md, tables" in message
        assert "empty or new folder" in message and "remove the other project's files" in message
        assert "python -m air_core.cli claim --adopt" in message
    assert sorted(p.name for p in other.iterdir()) == ["README.md", "tables"]  # nothing written
    assert (other / "tables" / "results.parquet").read_bytes() == b"their table"


def test_the_checkout_itself_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"workflow's own checkout \(it holds the Snakefile\)"):
        check_results_dir(ROOT)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "Snakefile").write_text("")
    with pytest.raises(ConfigError, match="own checkout"):
        claim_results_dir(checkout, adopt=True)  # not even on purpose
    assert not (checkout / MARKER).exists()


@pytest.mark.parametrize(
    "marker, problem",
    [
        ({"project": "someone-else", "schema_version": 1}, "belongs to project 'someone-else'"),
        ({"project": PROJECT, "schema_version": SCHEMA_VERSION + 1}, "newer version of this workflow"),
        ("{not json", "cannot be read"),
    ],
)
def test_a_foreign_unreadable_or_newer_marker_is_refused(tmp_path, marker, problem):
    results = tmp_path / "results"
    results.mkdir()
    (results / MARKER).write_text(marker if isinstance(marker, str) else json.dumps(marker))
    with pytest.raises(ConfigError, match=problem):
        claim_results_dir(results)


def test_a_file_is_not_a_results_folder(tmp_path):
    (tmp_path / "results").write_text("")
    with pytest.raises(ConfigError, match="is not a folder"):
        claim_results_dir(tmp_path / "results")


def test_adopt_claims_this_workflows_older_results(tmp_path):
    results = tmp_path / "results"
    _classes(results / "data" / "classes.parquet")  # written before the folder was claimed: no checksum
    claim_results_dir(results, adopt=True)
    found = scan_results(results)
    assert found.checked == 0 and found.damaged == [] and found.unchecked == [results / "data" / "classes.parquet"]
    _classes(results / "data" / "classes.parquet")  # written again: now it has one
    assert scan_results(results).checked == 1


def test_artifacts_in_a_claimed_folder_get_checksums_in_sha256sum_format(tmp_path):
    results = claim_results_dir(tmp_path / "results")
    outside = tmp_path / "elsewhere"
    written = [
        results / "d" / "data" / "classes.parquet",
        results / "d" / "x.png",
        results / "tables" / "r.md",
        results / "d" / "runs" / "settings.json",
        outside / "classes.parquet",
    ]
    for path in (written[0], written[-1]):
        _classes(path)
    save_image(Image.new("RGB", (4, 4), (1, 2, 3)), written[1])
    write_text("| a |\n", written[2])
    with atomic_path(written[3]) as tmp:
        tmp.write_text("{}")
    for path in written[:4]:
        record = checksums.checksum_file(results, path)
        assert record == results / ".air" / "checksums" / path.relative_to(results).parent / f"{path.name}.sha256"
        rel = path.relative_to(results).as_posix()
        assert record.read_text() == f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}\n"
    assert [p.parent for p in tmp_path.rglob(".air")] == [results]  # a file outside a claimed folder gets none
    if shutil.which("sha256sum"):  # the records check without this project
        listed = "".join(p.read_text() for p in sorted((results / ".air").rglob("*.sha256")))
        proc = subprocess.run(["sha256sum", "-c"], input=listed, cwd=results, capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout.count(": OK") == 4, proc.stdout + proc.stderr
    assert verify_results(results) == [] and scan_results(results).checked == 4


def test_a_parquet_file_cut_in_half_with_its_time_kept_is_reported(tmp_path):
    results = claim_results_dir(tmp_path / "results")
    table, intact = results / "tables" / "results.parquet", results / "d" / "data" / "classes.parquet"
    write_table(
        "results",
        {
            "dataset": ["d"],
            "paradigm": ["ul"],
            "prompt": ["text"],
            "method": ["air"],
            "top1_mean": [50.0],
            "top1_std": [1.0],
            "n_seeds": [2],
            "paper_top1": [np.nan],
        },
        table,
    )
    _classes(intact)
    _cut_in_half_keeping_the_time(table)
    with pytest.raises(Exception):  # noqa: B017  the damage is real: Parquet cannot read it (pyarrow's error class varies)
        read_table("results", table)
    damaged = verify_results(results)
    assert [(d.path, d.rebuild) for d in damaged] == [(table, table)]
    assert damaged[0].problem.startswith("checksum mismatch")
    assert verify_results(results, under="d") == []  # only the damaged file is named


def test_a_damaged_file_of_a_directory_output_is_rebuilt_through_its_folder(tmp_path):
    results = claim_results_dir(tmp_path / "results")
    shard = results / "d" / "synthetic" / "lora" / "shard0"
    image = shard / "a-123" / "0000.png"
    save_image(Image.new("RGB", (8, 8), (9, 9, 9)), image)
    (shard / ".snakemake_timestamp").touch()  # what Snakemake leaves in a directory() output
    _cut_in_half_keeping_the_time(image)
    assert [(d.path, d.rebuild) for d in verify_results(results)] == [(image, shard)]


def test_a_damaged_checksum_file_is_reported(tmp_path):
    results = claim_results_dir(tmp_path / "results")
    _classes(results / "classes.parquet")
    checksums.checksum_file(results, results / "classes.parquet").write_text("garbage\n")
    [damaged] = verify_results(results)
    assert "checksum file" in damaged.problem and damaged.path == results / "classes.parquet"


def test_a_kill_between_the_rename_and_the_checksum_is_reported_as_no_checksum_never_as_a_mismatch(
    tmp_path, monkeypatch
):
    results = claim_results_dir(tmp_path / "results")
    path = results / "classes.parquet"
    _classes(path)

    def killed(_root, _path):
        raise KeyboardInterrupt  # the job dies right after the rename

    monkeypatch.setattr(checksums, "record", killed)
    with pytest.raises(KeyboardInterrupt):
        write_table("classes", {"label": [0], "class_name": ["c"], "slug": ["c"]}, path)
    assert read_table("classes", path).num_rows == 1  # the new file is in place
    [damaged] = scan_results(results).damaged  # the job did not finish: Snakemake reruns it, verify agrees
    assert damaged.path == path and damaged.problem.startswith("no checksum") and damaged.rebuild == path


def test_atomic_dir_and_publish_record_every_file(tmp_path):
    results = claim_results_dir(tmp_path / "results")
    folder = results / "toy" / "sd"
    for content in ("old", "new"):
        with atomic_dir(folder) as tmp:
            (tmp / "unet").mkdir()
            (tmp / "unet" / "weights.bin").write_text(content)
            if content == "old":
                (tmp / "gone.json").write_text("{}")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == ["unet", "unet/weights.bin"]
    assert [p.name for p in folder.parent.iterdir()] == ["sd"]  # no temporary folder left
    assert not checksums.checksum_file(results, folder / "gone.json").exists()  # the old folder's records went with it
    loose = tmp_path / "weights.safetensors"
    loose.write_bytes(b"lora")
    publish(loose, results / "d" / "lora" / "w.safetensors")
    found = scan_results(results)
    assert found.checked == 2 and found.damaged == [] and found.unchecked == []


def test_verify_needs_a_claimed_folder(tmp_path):
    with pytest.raises(ConfigError, match=f"has no {MARKER}"):
        verify_results(tmp_path)


def test_a_deleted_artifact_is_damage_with_its_rebuild_target(tmp_path):
    results = claim_results_dir(tmp_path / "results")
    table, kept = results / "d" / "data" / "classes.parquet", results / "d" / "data" / "manifest_like.parquet"
    _classes(table)
    _classes(kept)
    shard = results / "d" / "synthetic" / "lora" / "shard0"
    image = shard / "a-123" / "0000.png"
    save_image(Image.new("RGB", (8, 8), (9, 9, 9)), image)
    (shard / ".snakemake_timestamp").touch()
    table.unlink()
    image.unlink()
    found = scan_results(results)
    assert sorted((d.path, d.rebuild) for d in found.damaged) == sorted([(table, table), (image, shard)])
    assert all(d.problem.startswith("missing") for d in found.damaged)
    assert [d.path for d in verify_results(results, under="d/synthetic")] == [image]
    shutil.rmtree(shard)  # the whole directory() output gone: rebuild it, not a file Snakemake has no rule for
    assert {d.rebuild for d in verify_results(results, under="d/synthetic")} == {shard}


def test_a_changed_file_whose_checksum_was_removed_is_damage(tmp_path):
    results = claim_results_dir(tmp_path / "results")
    table = results / "tables" / "results.parquet"
    _classes(table)
    checksums.checksum_file(results, table).unlink()
    table.write_bytes(table.read_bytes()[:10])
    [damaged] = verify_results(results)
    assert damaged.path == table and damaged.problem.startswith("no checksum") and damaged.rebuild == table


def test_files_older_than_the_claim_stay_unchecked(tmp_path):
    results = tmp_path / "results"
    old = results / "tables" / "results.md"
    old.parent.mkdir(parents=True)
    old.write_text("| older results |\n")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    claim_results_dir(results, adopt=True)
    found = scan_results(results)
    assert found.damaged == [] and found.unchecked == [old]


@pytest.mark.parametrize("name", ["logs", "tables", "benchmarks", "models", "toy", "Logs"])
def test_a_dataset_named_like_a_folder_of_the_results_tree_is_refused(tmp_path, name):
    from air_core.experiment import load_experiment
    from tests.helpers import tiny_config

    config = tiny_config(tmp_path / "results")
    config["datasets"] = {name: config["datasets"]["shapes"]}
    if name == "toy":  # drawn into <R>/toy/source, the toy world's source folder
        config["toy_world"] = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["toy_world"]
    with pytest.raises(ConfigError, match=rf"datasets\.{name}: the dataset name '{name}' is a folder"):
        load_experiment(config)


def test_the_reserved_names_are_every_top_level_folder_the_rules_write():
    """TREE_FOLDERS lists every `{R}/<name>` of the rules but the dataset folders and files (README.md)."""
    import re

    from air_core.results_dir import TREE_FOLDERS

    text = "".join(p.read_text() for p in sorted((ROOT / "rules").glob("*.smk")))
    written = set(re.findall(r"\{R\}/([A-Za-z0-9_.-]+)", text))
    assert written and {w for w in written if "." not in w} <= set(TREE_FOLDERS), written


@pytest.mark.workflow
def test_a_dataset_named_logs_stops_snakemake_before_any_job(tmp_path):
    from tests.helpers import snakemake, tiny_config

    config = tiny_config(tmp_path / "results")
    config["datasets"] = {"logs": config["datasets"]["shapes"]}
    proc = snakemake(tmp_path, config, "-n")
    assert proc.returncode != 0 and "datasets.logs: the dataset name 'logs' is a folder" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
