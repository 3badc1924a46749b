"""Recipe resolution: base defaults, the dataset's CPL thresholds, the recipe's own keys; the config's recipes."""

from pathlib import Path

import pytest
import yaml

from air_core.errors import ConfigError
from air_core.experiment import load_experiment
from air_core.recipes import BASE_DEFAULTS, dataset_cpl, resolve_recipe
from tests.helpers import paper_config, tiny_config

ROOT = Path(__file__).resolve().parents[1]
EUROSAT_CPL = {
    "text": {
        "ul": {"alpha": 75, "beta": 0.80},
        "ssl": {"alpha": 75, "beta": 0.80},
        "trzsl": {"alpha": 75, "beta": "auto*3"},
    },
    "visual": {"ul_ssl": {"alpha": 90, "beta": 0.80}, "trzsl": {"alpha": 90, "beta": "auto*2"}},
}


def test_cpl_base_brings_cpl_settings_and_keys_override():
    r = resolve_recipe("cpl", {"base": "cpl"})
    assert (
        r.pseudo_labels,
        r.iterations,
        r.epochs,
        r.batch_size,
        r.lr,
        r.momentum,
        r.weight_decay,
        r.warmup_epochs,
        r.grad_clip,
    ) == ("cpl", 10, 50, 64, 0.02, 0.9, 0.05, 2, 0.8)
    r = resolve_recipe("cpl_fast", {"base": "cpl", "lr": 0.01, "epochs": 5, "grad_clip": None})
    assert (r.lr, r.epochs, r.grad_clip, r.batch_size) == (0.01, 5, None, 64)


@pytest.mark.parametrize(
    "entry,base,iterations",
    [
        ({"pseudo_labels": "fpl"}, "fpl", 1),
        ({"base": "grip"}, "grip", 10),
        ({}, "grip", 10),
        ({"pseudo_labels": "none"}, "none", 1),
        ({"base": "cpl", "pseudo_labels": "grip"}, "cpl", 10),
    ],
)
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
    r = resolve_recipe("cpl", {"base": "cpl"}, "text", "trzsl", dataset["cpl"])
    assert (r.cpl_alpha, r.cpl_beta) == (75, "auto*3")
    r = resolve_recipe("cpl", {"base": "cpl", "cpl_alpha": 60}, "visual", "ul", dataset["cpl"])  # the recipe wins
    assert (r.cpl_alpha, r.cpl_beta) == (60, 0.80)
    r = resolve_recipe("cpl", {"base": "cpl"}, "text", "ul", None)  # fallback
    assert (r.cpl_alpha, r.cpl_beta) == (75.0, 0.95)
    assert resolve_recipe("cpl", {"base": "cpl"}, "text", "trzsl").cpl_beta == "auto*2"


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"base": "coop"}, "is not a base method"),
        ({"base": "cpl", "cpl_beta": "auto"}, "cpl_beta"),
        ({"base": "cpl", "cpl_alpha": 0.75e3}, "not a percentage"),
        ({"real_loss": 0.0}, "nothing would train"),
        ({"prototypes": "both"}, "prototypes"),
        ({"fusion_lamda": 1.0}, "unknown settings"),
    ],
)
def test_recipe_mistakes_name_the_key(entry, message):
    with pytest.raises(ConfigError, match=message):
        resolve_recipe("m", entry)


def test_every_configured_method_resolves_in_every_cell(tmp_path):
    for config in (paper_config(tmp_path), yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())):
        exp = load_experiment(config)
        for d in exp.datasets:
            for paradigm in ("ul", "ssl", "trzsl"):
                for prompt in ("text", "visual"):
                    for name, method in exp.methods.items():
                        assert method.recipe(exp.datasets[d], paradigm, prompt).name == name


def test_the_paper_config_has_every_table_row(tmp_path):
    exp = load_experiment(paper_config(tmp_path))
    summary = exp.method_summary()
    table1 = {
        i["paper_method"] if isinstance(i["paper_method"], str) else i["paper_method"]["text"]
        for i in summary.values()
        if i["paper_method"]
    }
    assert table1 == {"CLIP", "CoOp", "FPL", "GRIP", "CPL", "AiR"}
    assert summary["air_cpl"]["base"] == "cpl" and exp.methods["air_cpl"].recipe().reads_synthetic
    table2 = {
        (i["real_training"], i["fuses"], i["synthetic_loss"])
        for i in summary.values()
        if i["base"] == "grip" and i["prototypes"] == "synthetic" and not i["sweep_of"]
    }
    assert table2 == {
        (True, False, False),
        (False, False, True),
        (True, True, False),
        (True, False, True),
        (True, True, True),
    }
    table3 = {i["synthetic"] for i in summary.values() if i["base"] == "cpl" and (i["fuses"] or i["synthetic_loss"])}
    assert {"lora", "base"} <= table3
    control = exp.methods["real_proto_control"].recipe()
    assert control.prototypes == "real" and not control.reads_synthetic


def test_a_method_runs_on_the_cells_it_names_and_every_cell_by_default(tmp_path):
    config = tiny_config(tmp_path / "results")
    config.update(paradigms=["ul", "ssl", "trzsl"], prompts=["text", "visual"])
    config["datasets"]["shapes"]["shapes"]["classes"] = 5  # TRZSL needs 4 or more
    config["methods"] = {
        "a": {},
        "b": {"paradigms": ["ul"]},
        "c": {"prompts": ["visual"]},
        "d": {"paradigms": ["ssl"], "prompts": ["text"]},
    }
    exp = load_experiment(config)
    assert exp.methods_at("ul", "text") == ["a", "b"]
    assert exp.methods_at("ul", "visual") == ["a", "b", "c"]
    assert exp.methods_at("ssl", "text") == ["a", "d"]
    assert exp.methods_at("trzsl", "visual") == ["a", "c"]
    assert [c for c in exp.grid() if c[0] != "ssl" and c[1] == "text"] == [
        ("ul", "text", "a"),
        ("ul", "text", "b"),
        ("trzsl", "text", "a"),
    ]


def test_the_paper_config_runs_table_1_everywhere_and_the_studies_on_ul_text_only(tmp_path):
    exp = load_experiment(paper_config(tmp_path))
    table1 = [m for m, method in exp.methods.items() if method.paper_method]
    assert table1 == ["zero_shot", "coop_vpt", "fpl", "grip", "cpl", "air_cpl"]
    for d in exp.datasets:
        for paradigm in exp.paradigms:
            for prompt in exp.prompts:
                ran = exp.methods_at(paradigm, prompt, d)
                if (paradigm, prompt) != ("ul", "text"):
                    assert ran == table1
                else:
                    assert set(table1) < set(ran)
