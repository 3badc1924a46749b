"""Bad data is said out loud: animated images are skipped and listed, duplicated images are named, look-alike
class names show their code points, an overlong class name is refused naming its file and line."""

import logging
import runpy
import shutil
import sys
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from air_core.data.readers import drop_unreadable, find_duplicates, read_dataset, warn_duplicates
from air_core.errors import ConfigError, DatasetError
from tests.helpers import manifest_argv, tiny_config

ROOT = Path(__file__).resolve().parents[1]


def _folder(root: Path, per_class: int = 3, shade: int = 7) -> Path:
    """An image folder of two classes whose images all differ (and differ from another ``shade``'s)."""
    for k, name in enumerate(("cat", "dog")):
        for i in range(per_class):
            path = root / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (40 * i, 100 * k, shade)).save(path)
    return root


def _animated_gif(path: Path, frames: int = 3) -> None:
    images = [Image.new("RGB", (8, 8), (60 * k, 0, 0)) for k in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:])


def test_an_animated_gif_is_skipped_and_listed_with_its_reason_and_a_still_gif_is_read(tmp_path):
    root = _folder(tmp_path / "ds")
    _animated_gif(root / "cat" / "moving.gif")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(root / "dog" / "still.gif")
    manifest, names = read_dataset("imagefolder", root)
    kept, skipped = drop_unreadable(manifest, names)
    assert skipped["path"].tolist() == [str((root / "cat" / "moving.gif").resolve())]
    assert skipped["reason"].iloc[0].startswith("3 frames (animated or multi-page)")
    assert str((root / "dog" / "still.gif").resolve()) in set(kept["path"])
    with pytest.raises(DatasetError, match="moving.gif"):  # on_unreadable: error names the file
        drop_unreadable(manifest, names, on_unreadable="error", dataset="mine")


def test_the_manifest_rule_lists_the_animated_gif_and_warns_of_a_duplicate(tmp_path, monkeypatch, caplog):
    root = _folder(tmp_path / "ds")
    _animated_gif(root / "cat" / "moving.gif")
    shutil.copy(root / "cat" / "0.png", root / "dog" / "also_cat.png")  # one image in two classes
    out = tmp_path / "out"
    settings = {"name": "mine", "layout": "imagefolder", "root": str(root), "test_fraction": 0.3}
    monkeypatch.setattr(sys, "argv", manifest_argv(settings, out))
    with caplog.at_level(logging.INFO):
        runpy.run_path(str(ROOT / "workflow_scripts" / "manifest.py"), run_name="__main__")
    skipped = pd.read_parquet(out / "skipped_images.parquet")
    assert skipped["path"].str.endswith("moving.gif").tolist() == [True]
    assert "mine: 1 set of identical images has two roles" in caplog.text
    line = next(r.getMessage() for r in caplog.records if "also_cat.png" in r.getMessage())
    assert r"cat/0.png" in line and r"class 'dog'" in line and r"class 'cat'" in line


@pytest.mark.parametrize("where", ["two classes", "train and test"])
def test_identical_images_with_two_roles_are_found(tmp_path, where):
    root = tmp_path / "ds"
    _folder(root / "train")
    _folder(root / "test", per_class=1, shade=99)
    other = root / ("train" if where == "two classes" else "test") / "dog" / "copy.png"
    shutil.copy(root / "train" / "cat" / "1.png", other)
    shutil.copy(root / "train" / "cat" / "2.png", root / "train" / "cat" / "same_role.png")  # harmless
    manifest, _ = read_dataset("imagefolder", root)
    found = find_duplicates(manifest)
    assert sorted(Path(p).name for p in found["path"]) == ["1.png", "copy.png"]
    assert found["group"].nunique() == 1


def test_no_duplicate_no_warning(tmp_path, caplog):
    manifest, _ = read_dataset("imagefolder", _folder(tmp_path / "ds"))
    with caplog.at_level(logging.WARNING):
        assert warn_duplicates(manifest, "mine").empty
    assert not caplog.records


def test_nfc_and_nfd_twins_are_shown_with_their_code_points(tmp_path):
    from air_core.data.names import read_class_names

    names = tmp_path / "names.txt"
    names.write_text(f"{unicodedata.normalize('NFC', 'café')}\n{unicodedata.normalize('NFD', 'café')}\n")
    with pytest.raises(DatasetError) as error:
        read_class_names(names)
    message = str(error.value)
    assert "line 1; code points U+0063 U+0061 U+0066 U+00E9)" in message
    assert "line 2; code points U+0063 U+0061 U+0066 U+0065 U+0301)" in message and "NFD" in message


def _long_name_config(tmp_path: Path, methods: dict) -> dict:
    root = _folder(tmp_path / "ds")
    names = tmp_path / "names.txt"
    names.write_text("cat\n" + "x" * 10_000 + "\n")
    config = tiny_config(tmp_path / "results")
    config["datasets"] = {"mine": {"layout": "imagefolder", "root": str(root), "class_names": str(names)}}
    config["methods"] = methods
    return config


@pytest.mark.parametrize("text_prompts", [False, True])
def test_a_10000_character_class_name_is_refused_naming_the_file_and_line(tmp_path, text_prompts):
    from air_core.experiment import load_experiment

    methods = {"zero_shot": {"base": "zero_shot"}}  # the zero-shot prompt alone used to be cut without a word
    if text_prompts:
        methods["grip"] = {"base": "grip", "iterations": 1, "epochs": 1, "warmup_epochs": 1}
    with pytest.raises(ConfigError) as error:
        load_experiment(_long_name_config(tmp_path, methods))
    message = str(error.value)
    assert message.startswith("datasets.mine: the class name") and "(10,000 characters)" in message
    assert f"{tmp_path / 'names.txt'} line 2" in message and len(message) < 600


def test_an_overlong_class_name_known_only_to_the_manifest_stops_zero_shot_naming_its_row():
    from air_core.stages.data import _refuse_overlong_prompts

    with pytest.raises(DatasetError, match=r"classes.parquet row 2\) makes the prompt"):
        _refuse_overlong_prompts(["cat", "y " * 200], "classes.parquet", "a photo of a {}", 77)
    _refuse_overlong_prompts(["cat", "dog"], "classes.parquet", "a photo of a {}", 77)
