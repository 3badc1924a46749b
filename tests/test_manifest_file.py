"""A user's own CSV or Parquet manifest, and the manifest script with its skipped-images table."""

import io
import re
import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from air_core.artifacts import read_table
from air_core.data.manifest_file import read_manifest_file
from air_core.data.readers import read_dataset
from air_core.errors import DatasetError
from tests.helpers import manifest_argv

ROOT = Path(__file__).resolve().parents[1]


def _put(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 120, 10)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())


def _images(folder: Path, n: int) -> list[str]:
    for i in range(n):
        _put(folder / "img" / f"{i}.png")
    return [f"img/{i}.png" for i in range(n)]


def test_manifest_file_csv_with_splits(tmp_path):
    paths = _images(tmp_path, 4)
    table = pd.DataFrame(
        {
            "path": paths,
            "label": [0, 1, 1, 0],
            "split": ["train", "val", "test", "test"],
            "class_name": ["cat", "dog", "dog", "cat"],
        }
    )
    table.to_csv(tmp_path / "m.csv", index=False)
    manifest, names = read_dataset("manifest_file", tmp_path / "m.csv")
    assert names == ["cat", "dog"] and manifest["class_name"].tolist() == ["cat", "dog", "dog", "cat"]
    assert manifest["image_id"].tolist() == ["train/img/0.png", "val/img/1.png", "test/img/2.png", "test/img/3.png"]
    assert manifest["path"].tolist() == [str((tmp_path / p).resolve()) for p in paths]  # relative to the file


def test_manifest_file_parquet_without_splits_is_seeded_per_class(tmp_path):
    paths = _images(tmp_path, 20)
    names_file = tmp_path / "names.txt"
    names_file.write_text("cat\ndog\n")
    pd.DataFrame({"path": paths, "label": [i % 2 for i in range(20)]}).to_parquet(tmp_path / "m.parquet")
    first, names = read_manifest_file(tmp_path / "m.parquet", names_file, test_fraction=0.3, split_seed=4)
    again, _ = read_manifest_file(tmp_path / "m.parquet", names_file, test_fraction=0.3, split_seed=4)
    other, _ = read_manifest_file(tmp_path / "m.parquet", names_file, test_fraction=0.3, split_seed=5)
    assert names == ["cat", "dog"] and first.equals(again)
    assert first.groupby(["label", "split"]).size().to_dict() == {
        (0, "test"): 3,
        (0, "train"): 7,
        (1, "test"): 3,
        (1, "train"): 7,
    }
    assert set(first.loc[first["split"] == "test", "path"]) != set(other.loc[other["split"] == "test", "path"])


@pytest.mark.parametrize(
    "columns, problem",
    [
        ({"path": ["img/0.png"]}, "no column"),
        ({"path": ["img/0.png"], "label": [2]}, "out of range"),
        ({"path": ["img/0.png"], "label": ["x"]}, "not a class index"),
        ({"path": ["img/0.png", "img/1.png"], "label": [0, 1], "split": ["train", None]}, "have no split"),
        ({"path": ["img/0.png", "img/1.png"], "label": [0, 1], "split": ["train", "dev"]}, "'dev'"),
        ({"path": ["img/0.png", "img/0.png"], "label": [0, 1], "split": ["test", "test"]}, "listed twice"),
    ],
)
def test_manifest_file_errors_name_the_file(tmp_path, columns, problem):
    _images(tmp_path, 2)
    names_file = tmp_path / "names.txt"
    names_file.write_text("cat\ndog\n")
    pd.DataFrame(columns).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "m.csv")) + ".*" + re.escape(problem)):
        read_manifest_file(tmp_path / "m.csv", names_file)


def test_manifest_file_class_names_problems(tmp_path):
    _images(tmp_path, 2)
    pd.DataFrame({"path": ["img/0.png", "img/1.png"], "label": [0, 1]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(DatasetError, match="no 'class_name' column"):
        read_manifest_file(tmp_path / "m.csv")
    pd.DataFrame({"path": ["img/0.png", "img/1.png"], "label": [0, 0], "class_name": ["cat", "dog"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    with pytest.raises(DatasetError, match="one to one"):
        read_manifest_file(tmp_path / "m.csv")
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(DatasetError, match="neither CSV"):
        read_manifest_file(tmp_path / "m.json")


def _run_manifest_script(tmp_path: Path, on_unreadable: str, monkeypatch) -> Path:
    """Run workflow_scripts/manifest.py in this process (a subprocess would spend seconds importing torch)."""
    settings = {
        "name": "toy",
        "layout": "imagefolder",
        "root": str(tmp_path / "ds"),
        "class_names": None,
        "description": "",
        "test_fraction": 0.5,
        "split_seed": 0,
        "on_unreadable": on_unreadable,
        "preset": None,
        "data_root": None,
        "cpl": None,
        "shapes": {},
    }
    out = tmp_path / on_unreadable
    monkeypatch.setattr(
        sys,
        "argv",
        manifest_argv(settings, out, "--workers", "2"),
    )
    runpy.run_path(str(ROOT / "workflow_scripts" / "manifest.py"), run_name="__main__")
    return out


def test_manifest_script_writes_the_skipped_images_table(tmp_path, monkeypatch, caplog):
    for cls in ("cat", "dog"):
        for i in range(3):
            _put(tmp_path / "ds" / cls / f"{i}.png")
    (tmp_path / "ds" / "dog" / "1.png").write_bytes(b"\x89PNG garbage")
    out = _run_manifest_script(tmp_path, "skip", monkeypatch)
    manifest = read_table("manifest", out / "manifest.parquet").to_pandas()
    skipped = read_table("skipped_images", out / "skipped_images.parquet").to_pandas()
    assert len(manifest) == 5 and skipped["path"].tolist() == [str((tmp_path / "ds" / "dog" / "1.png").resolve())]
    assert skipped["reason"].iloc[0].startswith("unreadable") and "skipped 1 unreadable" in caplog.text
    assert read_table("classes", out / "classes.parquet").column("class_name").to_pylist() == ["cat", "dog"]

    with pytest.raises(SystemExit) as stop:  # a user's mistake: one clear log line, exit status 1
        _run_manifest_script(tmp_path, "error", monkeypatch)
    assert stop.value.code == 1
    assert re.search(r"1 of 6 images cannot be read, e\.g\. .*dog/1\.png", caplog.text)
    assert not (tmp_path / "error" / "manifest.parquet").exists()


# ---------------------------------------------------------------- one image, one split; nothing outside the folder


@pytest.mark.parametrize(
    "paths, splits, what",
    [
        (
            ["img/0.png", "img/1.png", "img/0.png"],
            ["train", "test", "test"],
            "in two splits",
        ),  # evaluated on its training
        (["img/0.png", "img/1.png", "./img/0.png"], ["train", "test", "train"], "twice in the same split"),
        (["img/0.png", "img/1.png", "img/../img/0.png"], ["train", "test", "val"], "in two splits"),
    ],
)
def test_an_image_listed_twice_is_an_error_naming_it_and_its_rows(tmp_path, paths, splits, what):
    _images(tmp_path, 2)
    pd.DataFrame({"path": paths, "label": [0, 1, 0], "split": splits, "class_name": ["cat", "dog", "cat"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    with pytest.raises(DatasetError) as err:
        read_dataset("manifest_file", tmp_path / "m.csv")
    message = str(err.value)
    assert f"image {(tmp_path / 'img' / '0.png').resolve()} is listed twice, {what}" in message
    assert f"row 1 ('img/0.png', train) and row 3 ({paths[2]!r}, {splits[2]})" in message


def _outside_image(tmp_path: Path) -> Path:
    """An image next to the dataset's folder, not in it."""
    _put(tmp_path / "elsewhere" / "secret.png")
    return tmp_path / "elsewhere" / "secret.png"


def _manifest_with(tmp_path: Path, third: str) -> Path:
    folder = tmp_path / "ds"
    _images(folder, 2)
    pd.DataFrame(
        {
            "path": ["img/0.png", "img/1.png", third],
            "label": [0, 1, 1],
            "split": ["train", "test", "train"],
            "class_name": ["cat", "dog", "dog"],
        }
    ).to_csv(folder / "m.csv", index=False)
    return folder / "m.csv"


@pytest.mark.parametrize("how", ["dot-dot", "absolute", "symlink"])
def test_a_row_outside_the_manifest_folder_is_an_error_unless_allowed(tmp_path, how):
    outside = _outside_image(tmp_path)
    if how == "symlink":
        (tmp_path / "ds" / "img").mkdir(parents=True)
        (tmp_path / "ds" / "img" / "link.png").symlink_to(outside)
    third = {"dot-dot": "../elsewhere/secret.png", "absolute": str(outside), "symlink": "img/link.png"}[how]
    path = _manifest_with(tmp_path, third)
    with pytest.raises(DatasetError) as err:
        read_dataset("manifest_file", path, dataset="mine")
    message = str(err.value)
    assert f"mine: 1 of 3 images lie outside {(tmp_path / 'ds').resolve()} (the manifest file's folder)" in message
    assert f"{path} row 3" in message and str(outside.resolve()) in message
    assert "datasets.mine.allow_outside_root: true" in message

    manifest, _ = read_dataset("manifest_file", path, allow_outside_root=True, dataset="mine")
    assert manifest["path"].iloc[2] == str(outside.resolve())


def test_etc_passwd_is_refused_before_anything_opens_it(tmp_path):
    path = _manifest_with(tmp_path, "../" * 40 + "etc/passwd")
    with pytest.raises(DatasetError, match=r"row 3 'train/(\.\./)+etc/passwd' -> /etc/passwd"):
        read_dataset("manifest_file", path)


def test_allow_outside_root_reaches_the_reader_from_the_dataset_config(tmp_path, monkeypatch, caplog):
    outside = _outside_image(tmp_path)
    path = _manifest_with(tmp_path, str(outside))

    def run(allow: bool | None) -> Path:
        settings = {"name": "mine", "layout": "manifest_file", "root": str(path), "allow_outside_root": allow}
        out = tmp_path / f"out_{allow}"
        monkeypatch.setattr(
            sys,
            "argv",
            manifest_argv(settings, out),
        )
        runpy.run_path(str(ROOT / "workflow_scripts" / "manifest.py"), run_name="__main__")
        return out

    for refused in (None, False):  # unset: the schema's default, false
        with pytest.raises(SystemExit) as stop:
            run(refused)
        assert stop.value.code == 1 and "datasets.mine.allow_outside_root: true" in caplog.text
    out = run(True)
    assert str(outside.resolve()) in read_table("manifest", out / "manifest.parquet").column("path").to_pylist()
