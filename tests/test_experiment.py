"""The config resolved once: defaults only in the schema, sweeps and SD variants as config, one predicate per switch."""

import copy
import dataclasses
import os
import subprocess
import sys

import pytest
import yaml

from air_core.config import (
    ClipSpec,
    DatasetConfig,
    DiffusionSpec,
    GenerateConfig,
    LoraTrainConfig,
    Recipe,
    ShapesConfig,
)
from air_core.config_checks import load_yaml
from air_core.errors import ConfigError
from air_core.experiment import GENERATE_JOB_KEYS, expand_sweeps, fill_defaults, load_experiment, schema
from tests.helpers import ROOT, tiny_config


def _node(path: str) -> dict:
    """The schema node at a dotted path; '*' steps into a map's values (additionalProperties)."""
    node = schema()
    for part in path.split("."):
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
    return node


# Each typed mirror and the schema node it mirrors; keys of the node that are not its fields are listed.
MIRRORS = [
    (ClipSpec, "models.clip", ()),
    (DiffusionSpec, "models.diffusion", ()),
    (ShapesConfig, "datasets.*.shapes", ()),
    (DatasetConfig, "datasets.*", ()),
    (LoraTrainConfig, "lora", ()),
    (GenerateConfig, "generate", GENERATE_JOB_KEYS),
    (Recipe, "methods.*", ("paper_method", "paper_row", "paradigms", "prompts", "datasets", "sweep")),
]


@pytest.mark.parametrize("cls,path,not_fields", MIRRORS, ids=[m[1] for m in MIRRORS])
def test_every_default_in_code_is_the_schemas(cls, path, not_fields):
    properties = _node(path)["properties"]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, field in fields.items():
        if name == "name":
            continue
        assert name in properties, f"{cls.__name__}.{name} is not a key of {path} in config/schema.yaml"
        code = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        if code is dataclasses.MISSING:  # a recipe's base-dependent key: the base's reference value, no default
            assert "default" not in properties[name], f"{path}.{name} has a schema default but none in code"
            continue
        if dataclasses.is_dataclass(code):
            code = dataclasses.asdict(code)
        assert "default" in properties[name], f"{cls.__name__}.{name} = {code!r} has no default in {path}"
        default = copy.deepcopy(properties[name]["default"])
        fill_defaults(default, properties[name])  # an object's default {} is its keys' defaults
        assert default == code, f"{path}.{name}: schema {default!r}, code {code!r}"
    assert set(properties) - set(fields) == set(not_fields), f"{path} keys without a field in {cls.__name__}"


def test_a_sweep_expands_into_named_methods_in_config_order():
    methods = {
        "a": {"base": "grip"},
        "lam": {"base": "cpl", "synthetic_beta": 1.0, "sweep": {"fusion_lambda": [0, 0.3, 1]}, "paradigms": ["ul"]},
        "both": {"base": "cpl", "sweep": {"fusion_lambda": [0, 1], "synthetic_beta": [0.5, 2]}},
    }
    expanded, origins = expand_sweeps(methods)
    assert list(expanded) == ["a", "lam-0", "lam-0.3", "lam-1", "both-0-0.5", "both-0-2", "both-1-0.5", "both-1-2"]
    assert expanded["lam-0.3"] == {"base": "cpl", "synthetic_beta": 1.0, "fusion_lambda": 0.3, "paradigms": ["ul"]}
    assert origins["both-1-0.5"] == ("both", {"fusion_lambda": 1, "synthetic_beta": 0.5})


def test_sweep_members_are_methods_that_keep_their_narrowing_and_origin(tmp_path):
    config = tiny_config(tmp_path / "results")
    config["paradigms"] = ["ul", "ssl"]
    config["methods"]["lam"] = {
        "base": "grip",
        "iterations": 1,
        "epochs": 1,
        "warmup_epochs": 0,
        "synthetic_beta": 1.0,
        "sweep": {"fusion_lambda": [0, 1]},
        "paradigms": ["ul"],
        "paper_method": "AiR",
    }
    exp = load_experiment(config)
    assert [m for m in exp.methods if m.startswith("lam")] == ["lam-0", "lam-1"]
    member = exp.methods["lam-1"]
    assert member.sweep_of == "lam" and member.sweep == {"fusion_lambda": 1} and member.paradigms == ("ul",)
    assert exp.recipe("lam-1", "shapes", "ul", "text").fusion_lambda == 1
    assert ("ssl", "text", "lam-0") not in exp.grid() and ("ul", "text", "lam-0") in exp.grid()
    assert "paper_method" not in member.entry  # table names are no recipe key: renaming re-runs nothing


@pytest.mark.parametrize(
    "sweep,message",
    [
        ({"fusion_lambda": [0, "much"]}, "methods.lam.sweep.fusion_lambda' (value 'much')"),
        ({"fusion_lambda": 0.3}, "methods.lam.sweep must map recipe keys to non-empty lists"),
        ({"fusion_lamda": [0, 1]}, "methods.lam.sweep.fusion_lamda' (value 0) is not a setting"),
    ],
)
def test_a_wrong_sweep_is_a_config_error_naming_the_key(tmp_path, sweep, message):
    config = tiny_config(tmp_path / "results")
    config["methods"]["lam"] = {"base": "grip", "sweep": sweep}
    with pytest.raises(ConfigError) as err:
        load_experiment(config)
    assert message in str(err.value), str(err.value)


def test_sd_variants_are_planned_only_when_a_recipe_reads_them(tmp_path):
    config = tiny_config(tmp_path / "results")
    config["sd_variants"] = {"lora": {}, "base": {"lora": False}, "lora_long": {"lora": {"steps": 7, "top_k": 2}}}
    exp = load_experiment(config)
    assert exp.variants_read("shapes") == ["lora"]  # base and lora_long: no recipe names them
    assert exp.sd_variants["lora_long"].lora.steps == 7 and exp.sd_variants["lora_long"].lora.rank == 4
    assert exp.sd_variants["base"].lora is None
    config = tiny_config(tmp_path / "results")
    config["sd_variants"] = {"lora": {}, "lora_long": {"lora": {"steps": 7}}}
    config["methods"]["air_long"] = {**config["methods"]["air_grip"], "synthetic": "lora_long"}
    assert load_experiment(config).variants_read("shapes") == ["lora", "lora_long"]


def test_each_switch_has_one_predicate():
    from air_core.recipes import resolve_recipe

    air = resolve_recipe("air", {"base": "cpl", "fusion_lambda": 1.0, "synthetic_beta": 1.0})
    assert air.fuses and air.synthetic_loss and air.reads_synthetic and air.relabels and air.real_training
    control = resolve_recipe("c", {"base": "grip", "fusion_lambda": 1.0, "prototypes": "real"})
    assert control.fuses and not control.reads_synthetic and control.prototype_scores == "real_proto"
    assert not resolve_recipe("z", {"base": "zero_shot"}).relabels


def test_a_key_written_twice_in_a_yaml_file_is_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("methods:\n  a: {base: grip}\nseeds: [1]\nmethods:\n  b: {base: cpl}\n")
    with pytest.raises(ConfigError, match=r"'methods' is written twice in one mapping \(lines 1 and 4\)"):
        load_yaml(path)
    assert load_yaml(ROOT / "config" / "config.yaml")["methods"]  # the shipped configs are fine


def test_threads_0_leaves_torch_its_default_and_a_count_fixes_it():
    code = (
        "import os; from air_core.jobs import set_threads; set_threads({n}); import torch; "
        "print(torch.get_num_threads())"
    )
    for n, expected in ((0, 1), (3, 3)):  # 0: torch's default, as Snakemake's OMP_NUM_THREADS sets it
        out = subprocess.run(
            [sys.executable, "-c", code.format(n=n)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            cwd=ROOT,
        ).stdout
        assert int(out) == expected


def test_the_demo_and_tiny_configs_resolve():
    for name in ("demo.yaml", "tiny.yaml"):
        exp = load_experiment(yaml.safe_load((ROOT / "config" / name).read_text()))
        assert exp.methods and exp.runs()
