"""Images that leave the data root (a symlink, a '..' in a split file) stop the manifest unless the
dataset's ``allow_outside_root: true`` says they belong to it; for every layout that reads a root folder."""

import json
import re
from pathlib import Path

import pytest
import yaml

from air_core.config import DatasetConfig
from air_core.config_checks import schema_errors
from air_core.data.benchmarks import EUROSAT_FOLDERS
from air_core.data.readers import read_dataset
from air_core.datasets_config import DataSource
from air_core.errors import DatasetError
from tests.test_datasets import _put, build_eurosat, build_resisc45, build_split_text

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["alpha", "beta", "gamma"]


def _names_file(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def _elsewhere(tmp_path: Path) -> Path:
    """A folder of images beside the dataset's root."""
    for i in range(2):
        _put(tmp_path / "elsewhere" / f"{i}.png")
    return tmp_path / "elsewhere"


def _refused_then_allowed(layout: str, root: Path, names: Path | None, outside: Path) -> None:
    with pytest.raises(DatasetError) as err:
        read_dataset(layout, root, names, dataset="mine")
    message = str(err.value)
    assert re.search(
        rf"mine: \d+ of \d+ images lie outside {re.escape(str(root.resolve()))} \(the dataset root\)", message
    ), message
    assert str(outside.resolve()) in message and "datasets.mine.allow_outside_root: true" in message
    manifest, _ = read_dataset(layout, root, names, allow_outside_root=True, dataset="mine")
    assert any(p.startswith(str(outside.resolve())) for p in manifest["path"])


# ---------------------------------------------------------------- image folders


def test_a_symlinked_image_leaving_an_image_folder(tmp_path):
    outside = _elsewhere(tmp_path)
    for cls in ("cat", "dog"):
        for i in range(3):
            _put(tmp_path / "ds" / cls / f"{i}.png")
    (tmp_path / "ds" / "dog" / "link.png").symlink_to(outside / "0.png")
    _refused_then_allowed("imagefolder", tmp_path / "ds", None, outside)


def test_a_symlinked_class_folder_leaving_an_image_folder(tmp_path):
    outside = _elsewhere(tmp_path)
    for i in range(3):
        _put(tmp_path / "ds" / "train" / "cat" / f"{i}.png")
        _put(tmp_path / "ds" / "test" / "cat" / f"{i}.png")
    (tmp_path / "ds" / "train" / "dog").symlink_to(outside, target_is_directory=True)
    _put(tmp_path / "ds" / "test" / "dog" / "0.png")
    _refused_then_allowed("imagefolder", tmp_path / "ds", None, outside)


def test_symlinks_inside_the_root_and_a_symlinked_root_are_fine(tmp_path):
    for cls in ("cat", "dog"):
        for i in range(3):
            _put(tmp_path / "data" / cls / f"{i}.png")
    (tmp_path / "data" / "dog" / "again.png").symlink_to(tmp_path / "data" / "cat" / "0.png")
    (tmp_path / "ds").symlink_to(tmp_path / "data", target_is_directory=True)  # e.g. /data -> /mnt/big/data
    manifest, names = read_dataset("imagefolder", tmp_path / "ds")
    assert names == ["cat", "dog"] and len(manifest) == 7


# ---------------------------------------------------------------- the benchmark layouts


@pytest.mark.parametrize("layout", ["flowers102", "dtd", "fgvc_aircraft"])
def test_a_split_file_line_leaving_the_root(tmp_path, layout):
    outside = _elsewhere(tmp_path)
    root = build_split_text(tmp_path / layout, layout, NAMES)
    with (root / "train.txt").open("a") as lines:
        lines.write(f"{layout}.zip@../../elsewhere/1.png 2\n")
    _refused_then_allowed(layout, root, _names_file(tmp_path, NAMES), outside)


@pytest.mark.parametrize("layout", ["flowers102", "dtd"])
def test_a_symlinked_image_leaving_a_split_text_root(tmp_path, layout):
    outside = _elsewhere(tmp_path)
    root = build_split_text(tmp_path / layout, layout, NAMES)
    listed = sorted((root / "test").rglob("*.png"))[0]
    listed.unlink()
    listed.symlink_to(outside / "0.png")
    _refused_then_allowed(layout, root, _names_file(tmp_path, NAMES), outside)


def test_a_symlinked_eurosat_class_folder(tmp_path):
    outside = _elsewhere(tmp_path)
    root = build_eurosat(tmp_path / "eurosat", pool=2, test=0)
    (root / "test.txt").write_text("eurosat.zip@Forest/0.png 1\n")
    forest = root / EUROSAT_FOLDERS[1]
    for image in forest.iterdir():
        image.unlink()
    forest.rmdir()
    forest.symlink_to(outside, target_is_directory=True)
    _refused_then_allowed("eurosat", root, ROOT / "config" / "class_names" / "eurosat.txt", outside)


def test_a_resisc45_file_name_leaving_the_root(tmp_path):
    outside = _elsewhere(tmp_path)
    root = build_resisc45(tmp_path / "resisc45", NAMES)
    data = json.loads((root / "train.json").read_text())
    data["images"].append({"id": 99, "file_name": "resisc45.zip@alpha/../../elsewhere/0.png"})
    (root / "train.json").write_text(json.dumps(data))
    _refused_then_allowed("resisc45", root, None, outside)


# ---------------------------------------------------------------- the config key


def test_allow_outside_root_is_a_documented_boolean_that_defaults_to_false():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    key = schema["properties"]["datasets"]["additionalProperties"]["properties"]["allow_outside_root"]
    assert key["type"] == "boolean" and key["default"] is False and "symlink" in key["description"]
    assert "allow_outside_root" in (ROOT / "docs" / "datasets.md").read_text()

    base = {
        "models": {"clip": {"arch": "air-tiny-vit"}, "diffusion": {"id": "air-tiny-sd"}},
        "methods": {"zero_shot": {"base": "zero_shot"}},
    }
    for value, ok in ((True, True), (False, True), ("yes", False)):
        config = {**base, "datasets": {"d": {"layout": "imagefolder", "root": "x", "allow_outside_root": value}}}
        errors = schema_errors(config, schema)
        assert (errors == []) is ok, errors
        assert ok or any("allow_outside_root" in line for line in errors)
    assert DataSource.of(DatasetConfig(name="d", layout="imagefolder")).allow_outside_root is False
    assert DataSource.of(DatasetConfig(name="d", layout="imagefolder", allow_outside_root=True)).allow_outside_root
