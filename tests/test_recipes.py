"""Recipe resolution: base defaults, the dataset's CPL thresholds, the recipe's own keys; the config's recipes."""

from pathlib import Path

import jsonschema
import pytest
import yaml

from air_core.recipes import BASE_DEFAULTS, dataset_cpl, grid_cells, methods_at, resolve_recipe, synthetic_needed
from air_core.workflow_checks import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EUROSAT_CPL = {"text": {"ul": {"alpha": 75, "beta": 0.80}, "ssl": {"alpha": 75, "beta": 0.80},
                        "trzsl": {"alpha": 75, "beta": "auto*3"}},
               "visual": {"ul_ssl": {"alpha": 90, "beta": 0.80}, "trzsl": {"alpha": 90, "beta": "auto*2"}}}


def test_cpl_base_brings_cpl_settings_and_keys_override():
    r = resolve_recipe("cpl", {"base": "cpl"})
    assert (r.pseudo_labels, r.iterations, r.epochs, r.batch_size, r.lr, r.momentum, r.weight_decay,
            r.warmup_epochs, r.grad_clip) == ("cpl", 10, 50, 64, 0.02, 0.9, 0.05, 2, 0.8)
    r = resolve_recipe("cpl_fast", {"base": "cpl", "lr": 0.01, "epochs": 5, "grad_clip": None})
    assert (r.lr, r.epochs, r.grad_clip, r.batch_size) == (0.01, 5, None, 64)


@pytest.mark.parametrize("entry,base,iterations", [
    ({"pseudo_labels": "fpl"}, "fpl", 1), ({"base": "grip"}, "grip", 10), ({}, "grip", 10),
    ({"pseudo_labels": "none"}, "none", 1), ({"base": "cpl", "pseudo_labels": "grip"}, "cpl", 10),
])
def test_base_defaults_to_the_strategy(entry, base, iterations):
    r = resolve_recipe("m", entry)
    assert r.base == base and r.iterations == iterations
    assert r.pseudo_labels == entry.get("pseudo_labels", BASE_DEFAULTS[base]["pseudo_labels"])
    assert (r.lr, r.batch_size) == ((0.02, 64) if base == "cpl" else (0.1, 16))


def test_cpl_thresholds_from_dataset_then_recipe_then_fallback():
    dataset = {"name": "eurosat", "cpl": EUROSAT_CPL}
    assert dataset_cpl(EUROSAT_CPL, "text", "ssl") == {"cpl_alpha": 75, "cpl_beta": 0.80}
    assert dataset_cpl(EUROSAT_CPL, "visual", "ssl") == {"cpl_alpha": 90, "cpl_beta": 0.80}  # 'ul_ssl' key
    assert dataset_cpl(None, "text", "ul") == {}
    r = resolve_recipe("cpl", {"base": "cpl"}, "text", "trzsl", dataset)
    assert (r.cpl_alpha, r.cpl_beta) == (75, "auto*3")
    r = resolve_recipe("cpl", {"base": "cpl", "cpl_alpha": 60}, "visual", "ul", dataset)  # the recipe wins
    assert (r.cpl_alpha, r.cpl_beta) == (60, 0.80)
    r = resolve_recipe("cpl", {"base": "cpl"}, "text", "ul", {"name": "mine", "cpl": None})  # fallback
    assert (r.cpl_alpha, r.cpl_beta) == (75.0, 0.95)
    assert resolve_recipe("cpl", {"base": "cpl"}, "text", "trzsl").cpl_beta == "auto*2"


@pytest.mark.parametrize("entry,message", [
    ({"base": "coop"}, "is not a base method"),
    ({"base": "cpl", "cpl_beta": "auto"}, "cpl_beta"),
    ({"base": "cpl", "cpl_alpha": 0.75e3}, "not a percentage"),
    ({"real_loss": 0.0}, "nothing would train"),
    ({"prototypes": "both"}, "prototypes"),
    ({"fusion_lamda": 1.0}, "unknown settings"),
])
def test_recipe_mistakes_name_the_key(entry, message):
    with pytest.raises(ConfigError, match=message):
        resolve_recipe("m", entry)


def test_synthetic_needed():
    assert not synthetic_needed({"fusion_lambda": 0.0, "synthetic_beta": 0.0})
    assert synthetic_needed({"fusion_lambda": 1.0, "synthetic_beta": 0.0, "prototypes": "synthetic"})
    assert synthetic_needed({"fusion_lambda": 0.0, "synthetic_beta": 1.0})
    assert not synthetic_needed({"fusion_lambda": 1.0, "synthetic_beta": 0.0, "prototypes": "real"})
    assert synthetic_needed({"fusion_lambda": 1.0, "synthetic_beta": 1.0, "prototypes": "real"})


@pytest.mark.parametrize("config_file", ["config.yaml", "demo.yaml"])
def test_every_configured_method_validates_and_resolves(config_file):
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())["properties"]["methods"]
    methods = yaml.safe_load((ROOT / "config" / config_file).read_text())["methods"]
    jsonschema.Draft202012Validator(schema).validate(methods)
    for name, entry in methods.items():
        for prompt in ("text", "visual"):
            for paradigm in ("ul", "ssl", "trzsl"):
                recipe = resolve_recipe(name, entry, prompt, paradigm, {"cpl": EUROSAT_CPL})
                assert recipe.name == name


def test_the_paper_config_has_every_table_row():
    methods = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["methods"]
    resolved = {n: resolve_recipe(n, e) for n, e in methods.items()}
    table1 = {r.paper_method if isinstance(r.paper_method, str) else r.paper_method["text"]
              for r in resolved.values() if r.paper_method}
    assert table1 == {"CLIP", "CoOp", "FPL", "GRIP", "CPL", "AiR"}
    assert resolved["air_cpl"].base == "cpl" and resolved["air_cpl"].uses_synthetic
    table2 = {(r.real_loss > 0, r.fusion_lambda > 0, r.synthetic_beta > 0) for r in resolved.values()
              if r.base == "grip" and r.prototypes == "synthetic"}
    assert table2 == {(True, False, False), (False, False, True), (True, True, False), (True, False, True),
                      (True, True, True)}
    table3 = {r.synthetic for r in resolved.values() if r.base == "cpl" and r.uses_synthetic}
    assert table3 == {"lora", "base"}
    control = resolved["real_proto_control"]
    assert control.prototypes == "real" and not control.uses_synthetic


def test_a_recipe_runs_on_the_cells_it_names_and_every_cell_by_default():
    methods = {"a": {}, "b": {"paradigms": ["ul"]}, "c": {"prompts": ["visual"]}, "d": {"paradigms": ["ssl"],
                                                                                     "prompts": ["text"]}}
    assert methods_at(methods, "ul", "text") == ["a", "b"]
    assert methods_at(methods, "ul", "visual") == ["a", "b", "c"]
    assert methods_at(methods, "ssl", "text") == ["a", "d"]
    assert methods_at(methods, "trzsl", "visual") == ["a", "c"]
    cells = grid_cells({"paradigms": ["ul", "trzsl"], "prompts": ["text"], "methods": methods})
    assert cells == [("ul", "text", "a"), ("ul", "text", "b"), ("trzsl", "text", "a")]


def test_the_paper_config_runs_table_1_everywhere_and_the_ablations_on_ul_text_only():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    table1 = [m for m, r in config["methods"].items() if r.get("paper_method")]
    assert table1 == ["zero_shot", "coop_vpt", "fpl", "grip", "cpl", "air_cpl"]
    cells = grid_cells(config)
    for paradigm in config["paradigms"]:
        for prompt in config["prompts"]:
            ran = [m for p, q, m in cells if (p, q) == (paradigm, prompt)]
            assert ran == (list(config["methods"]) if (paradigm, prompt) == ("ul", "text") else table1)
