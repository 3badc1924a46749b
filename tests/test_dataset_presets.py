"""Dataset presets: what a user writes, what the validated config then holds, and the shipped class names."""

import copy
from pathlib import Path

import pytest
import yaml

from air_core.config_checks import schema_errors
from air_core.datasets_config import DataSource, available_presets, load_preset, resolve_datasets, resolve_preset
from air_core.errors import ConfigError
from air_core.experiment import load_experiment

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
REFERENCE = Path("/work/shared/reference/class_names")
PRESETS = {
    "flowers102": ("Flowers102", 102, "Flowers:"),
    "dtd": ("DTD", 47, "Textures:"),
    "fgvc_aircraft": ("FGVCAircraft", 100, "Aircraft:"),
    "eurosat": ("EuroSAT", 10, "Satellite image:"),
    "resisc45": ("RESICS45", 45, "Remote sensing image:"),
}
# PROTOCOL.md's CPL table: (text alpha, beta UL/SSL, beta TRZSL), (visual alpha, beta UL/SSL, beta TRZSL)
CPL = {
    "eurosat": ((75, 0.80, "auto*3"), (90, 0.80, "auto*2")),
    "flowers102": ((60, 0.99, "auto*1"),) * 2,
    "fgvc_aircraft": ((90, 0.97, "auto*1.5"), (90, 0.99, "auto*2")),
    "dtd": ((75, 0.95, "auto*2"), (60, 0.97, "auto*2")),
    "resisc45": ((90, 0.97, "auto*2"),) * 2,
}


def test_every_preset_is_shipped_with_its_class_names():
    assert available_presets() == sorted(PRESETS)
    for name, (_, n_classes, description) in PRESETS.items():
        preset = load_preset(name)
        assert preset["layout"] == name and preset["description"] == description
        lines = Path(preset["class_names"]).read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(set(lines)) == n_classes
        if REFERENCE.is_dir():
            assert Path(preset["class_names"]).read_bytes() == (REFERENCE / f"{name}.txt").read_bytes()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_cpl_thresholds_are_the_protocol_table(name):
    cpl = load_preset(name)["cpl"]
    for prompt, (alpha, beta, auto) in zip(("text", "visual"), CPL[name], strict=True):
        assert cpl[prompt] == {
            "ul": {"alpha": alpha, "beta": beta},
            "ssl": {"alpha": alpha, "beta": beta},
            "trzsl": {"alpha": alpha, "beta": auto},
        }


def _config(datasets: dict) -> dict:
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["datasets"] = datasets
    return config


def test_a_user_enables_the_five_datasets_with_one_line_each(tmp_path):
    for folder, _, _ in PRESETS.values():
        (tmp_path / folder).mkdir()
    entries = {name: {"preset": name, "data_root": str(tmp_path)} for name in PRESETS}
    entries["eurosat"] = {
        "preset": "eurosat",
        "root": str(tmp_path / "EuroSAT"),
        "on_unreadable": "error",
        "description": "A satellite photo:",
    }
    config = _config(copy.deepcopy(entries))
    resolve_datasets(config)
    assert schema_errors(config, SCHEMA) == []
    for name, (folder, _, _) in PRESETS.items():
        ds = config["datasets"][name]
        assert ds["root"] == str(tmp_path / folder) and Path(ds["class_names"]).is_absolute()
        assert ds["layout"] == name and ds["cpl"]["visual"]["trzsl"]["alpha"] == CPL[name][1][0]
    assert config["datasets"]["eurosat"]["description"] == "A satellite photo:"  # the entry's own keys win
    again = copy.deepcopy(config)
    resolve_datasets(again)
    assert again == config  # resolving twice changes nothing
    source = DataSource.of(load_experiment(config).datasets["eurosat"])
    assert (source.layout, source.on_unreadable, source.root) == ("eurosat", "error", str(tmp_path / "EuroSAT"))


def test_an_entry_overrides_part_of_the_cpl_thresholds(tmp_path):
    entry = {"preset": "dtd", "root": str(tmp_path), "cpl": {"text": {"ul": {"alpha": 50, "beta": 0.5}}}}
    ds = resolve_preset("dtd", entry)
    assert ds["cpl"]["text"]["ul"] == {"alpha": 50, "beta": 0.5}
    assert ds["cpl"]["text"]["ssl"] == {"alpha": 75, "beta": 0.95} and ds["cpl"]["visual"]["ul"]["alpha"] == 60


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"preset": "imagenet", "data_root": "/tmp"}, "preset 'imagenet' does not exist"),
        ({"preset": "dtd"}, "datasets.textures: set 'data_root'"),
        ({"preset": "dtd", "data_root": "/nowhere"}, "datasets.textures.root = '/nowhere/DTD' is not a folder"),
        ({"layout": "manifest_file", "root": "/nowhere.csv"}, "is not a file"),
        ({"layout": "resisc45"}, "datasets.textures.root is not set"),
    ],
)
def test_preset_mistakes_are_config_errors(entry, problem):
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.").replace("(", r"\(")):
        resolve_datasets(_config({"textures": entry}))


def test_entries_without_preset_and_malformed_entries_are_left_to_the_schema():
    config = _config({"shapes": {"layout": "shapes"}, "broken": "not a mapping"})
    resolve_datasets(config)
    assert config["datasets"] == {"shapes": {"layout": "shapes"}, "broken": "not a mapping"}
    assert any("broken" in line for line in schema_errors(config, SCHEMA))


def test_schema_rejects_bad_dataset_settings(tmp_path):
    good = {"layout": "dtd", "root": str(tmp_path)}
    for bad, key in [
        ({"on_unreadable": "ignore"}, "on_unreadable"),
        ({"layout": "coco"}, "layout"),
        ({"cpl": {"text": {"ul": {"alpha": 50, "beta": "auto3"}}}}, "beta"),
        ({"cpl": {"text": {"ul": {"alpha": 50, "beta": 1.5}}}}, "beta"),
        ({"cpl": {"txt": {}}}, "txt"),
    ]:
        errors = schema_errors(_config({"d": {**good, **bad}}), SCHEMA)
        assert errors and key in " ".join(errors), (bad, errors)
    for paradigms, ok in ((["ul", "ssl", "trzsl"], True), (["fewshot"], False)):
        config = _config({"d": good})
        config["paradigms"] = paradigms
        assert (schema_errors(config, SCHEMA) == []) is ok
