"""Class names that collide: twice the same, the same slug, or the same text to CLIP's tokenizer.

Each collision stops the manifest stage with both names and where each comes from (a folder, a
line of the class-name file, a row of the manifest file), for every way a dataset gives names.
"""

import re
import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from air_core.data.names import check_distinct_names, clip_tokens, read_class_names, slugify
from air_core.data.readers import read_dataset
from air_core.errors import DatasetError
from tests.helpers import manifest_argv

ROOT = Path(__file__).resolve().parents[1]
NAMES_DIR = ROOT / "config" / "class_names"


def _png(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (90, 40, 200)).save(path)
    return str(path)


def _folders(root: Path, folders: list[str]) -> Path:
    for folder in folders:
        for i in range(2):
            _png(root / folder / f"{i}.png")
    return root


# ---------------------------------------------------------------- image folders


def test_folders_whose_names_read_alike_stop_the_manifest(tmp_path):
    # 'a_b' reads as the class 'a b': both folders would share one class name and one synthetic-image folder
    root = _folders(tmp_path / "ds", ["a b", "a_b", "c"])
    with pytest.raises(
        DatasetError,
        match=r"class name 'a b' is given twice: folder 'a b' of .*ds and folder "
        r"'a_b' of .*ds; .*rename one of the two folders.*class_names",
    ):
        read_dataset("imagefolder", root)


def test_folders_that_differ_only_in_case_stop_the_manifest(tmp_path):
    root = _folders(tmp_path / "ds", ["C0", "c0"])
    with pytest.raises(
        DatasetError,
        match=r"'C0' \(folder 'C0' of .*\) and 'c0' \(folder 'c0' of .*\) are the "
        r"same text to CLIP .*reads both as 'c0'.*identical text features",
    ):
        read_dataset("imagefolder", root)


def test_split_folders_are_checked_as_well(tmp_path):
    root = tmp_path / "ds"
    for split in ("train", "test"):
        _folders(root / split, ["Rose", "rose"])
    with pytest.raises(DatasetError, match=r"'Rose' \(folder 'Rose'.*'rose' \(folder 'rose'"):
        read_dataset("imagefolder", root)


# ---------------------------------------------------------------- class-name files


@pytest.mark.parametrize(
    "lines, first, second, problem",
    [
        (["cat", "dog", "cat"], "cat", "cat", "is given twice"),
        (["cat", "C0", "dog", "c0"], "C0", "c0", "same text to CLIP"),
        (["sea  lake", "sea lake"], "sea  lake", "sea lake", "same text to CLIP"),  # spacing is ignored too
        (["x y", slugify("x y")], "x y", slugify("x y"), "one folder"),  # a name that is another's slug
    ],
)
def test_class_name_file_collisions_name_both_lines(tmp_path, lines, first, second, problem):
    names_file = tmp_path / "names.txt"
    names_file.write_text("\n\n".join(lines) + "\n")  # blank lines between: line numbers are the file's own
    first_line, second_line = 2 * lines.index(first) + 1, 2 * (len(lines) - 1 - lines[::-1].index(second)) + 1
    with pytest.raises(DatasetError) as err:
        read_class_names(names_file)
    message = str(err.value)
    assert problem in message and f"rename one of the two lines of {names_file}" in message
    assert f"{names_file} line {first_line}" in message and f"{names_file} line {second_line}" in message
    assert repr(first) in message and repr(second) in message


def test_a_class_name_file_collision_stops_every_layout_that_reads_one(tmp_path):
    names_file = tmp_path / "names.txt"
    names_file.write_text("banded\nBanded\n")
    _folders(tmp_path / "ds", ["b1", "b2"])
    (tmp_path / "dtd").mkdir()
    for layout, root in (("imagefolder", tmp_path / "ds"), ("dtd", tmp_path / "dtd")):
        with pytest.raises(
            DatasetError, match=re.escape(f"{names_file} line 1") + ".*" + re.escape(f"{names_file} line 2")
        ):
            read_dataset(layout, root, names_file)


def test_the_shipped_class_name_files_have_no_collisions():
    for path in sorted(NAMES_DIR.glob("*.txt")):
        names = read_class_names(path)
        assert len({clip_tokens(n) for n in names}) == len(names), path


def test_names_that_differ_to_clip_pass():
    names = ["a_b", "a b", "a-b", "707-320", "707 320", "colt's foot", "Zoë", "Zoe"]
    check_distinct_names(names, [f"line {i}" for i in range(len(names))], "rename one")
    assert len({clip_tokens(n) for n in names}) == len(names)


# ---------------------------------------------------------------- manifest files


def _manifest(tmp_path: Path, labels: list[int], class_names: list[str]) -> Path:
    paths = [_png(tmp_path / "img" / f"{i}.png") for i in range(len(labels))]
    pd.DataFrame({"path": paths, "label": labels, "class_name": class_names}).to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv"


def test_manifest_class_name_column_collisions_name_the_rows(tmp_path):
    path = _manifest(tmp_path, [0, 1, 0, 1], ["C0", "c0", "C0", "c0"])
    with pytest.raises(
        DatasetError,
        match=re.escape(f"'C0' ({path} row 1) and 'c0' ({path} row 2)")
        + r" are the same text to CLIP.*fix the 'class_name' column",
    ):
        read_dataset("manifest_file", path)


def test_manifest_one_name_for_two_labels_names_the_rows(tmp_path):
    path = _manifest(tmp_path, [0, 0, 1], ["cat", "cat", "cat"])
    with pytest.raises(
        DatasetError, match=re.escape(f"class name 'cat' is given twice: {path} row 1 and {path} row 3")
    ):
        read_dataset("manifest_file", path)


def test_manifest_with_a_class_name_file_checks_the_file(tmp_path):
    path = _manifest(tmp_path, [0, 1], ["x", "y"])
    names_file = tmp_path / "names.txt"
    names_file.write_text("Rose\nrose\n")
    with pytest.raises(DatasetError, match=re.escape(f"'Rose' ({names_file} line 1) and 'rose' ({names_file} line 2)")):
        read_dataset("manifest_file", path, names_file)


# ---------------------------------------------------------------- the manifest rule


def test_the_manifest_rule_stops_with_one_line_and_writes_nothing(tmp_path, monkeypatch, caplog):
    _folders(tmp_path / "ds", ["a b", "a_b"])
    settings = {"name": "mine", "layout": "imagefolder", "root": str(tmp_path / "ds")}
    out = tmp_path / "out"
    monkeypatch.setattr(
        sys,
        "argv",
        manifest_argv(settings, out),
    )
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(ROOT / "workflow_scripts" / "manifest.py"), run_name="__main__")
    assert stop.value.code == 1
    assert "class name 'a b' is given twice: folder 'a b'" in caplog.text and "folder 'a_b'" in caplog.text
    assert not out.exists() or not any(out.iterdir())
