"""The paper tables on known inputs, and the Snakemake report of a tiny run: every figure and table, captioned."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from air_core.artifacts import SCHEMAS, read_table
from air_core.config import GenerateConfig, LoraTrainConfig, SDVariant
from air_core.experiment import method_info, method_of
from air_core.tables import (
    ablation_row,
    ablation_table,
    cell,
    parse_ablations,
    results_readme,
    table1,
    write_paper_table,
)
from tests.helpers import snakemake

VARIANTS = {
    "lora": SDVariant("lora", LoraTrainConfig(), GenerateConfig()),
    "base": SDVariant("base", None, GenerateConfig()),
}


def info(entry: dict) -> dict:
    """A method's entry of Experiment.method_summary(), from its config entry."""
    return method_info(method_of("m", entry), VARIANTS)


ROOT = Path(__file__).resolve().parents[1]
ABLATIONS = parse_ablations((ROOT / "config" / "paper" / "paper_ablations.txt").read_text())


def _results(rows):
    columns = ["dataset", "paradigm", "prompt", "method", "top1_mean", "top1_std", "n_seeds", "paper_top1"]
    return pd.DataFrame(rows, columns=columns)


def test_cell_puts_the_paper_number_in_brackets():
    assert cell(73.14, 0.44, 73.6) == "73.1 ± 0.4 (73.6)"
    assert cell(73.14, 0.44, np.nan) == "73.1 ± 0.4"
    assert cell(np.nan, np.nan, 70.6) == "– (70.6)"


def test_table1_has_a_row_per_method_and_a_column_per_paradigm_and_dataset():
    results = _results(
        [
            ("flowers102", "ul", "text", "grip", 70.0, 1.0, 3, 69.8),
            ("flowers102", "ssl", "text", "grip", 71.0, 0.5, 3, np.nan),
            ("flowers102", "ul", "visual", "grip", 1.0, 0.0, 3, np.nan),
        ]
    )
    recipes = {
        "grip": info({"paper_method": "GRIP"}),
        "mine": info({}),
        "coop_vpt": info({"base": "none", "paper_method": {"text": "CoOp"}}),
    }
    wide = table1(results, "text", ["ssl", "ul"], ["flowers102"], recipes)
    assert list(wide.columns) == ["method", "paper row", "SSL flowers102", "UL flowers102"]
    assert wide.values.tolist() == [
        ["grip", "GRIP", "71.0 ± 0.5", "70.0 ± 1.0 (69.8)"],
        ["mine", "–", "–", "–"],
        ["coop_vpt", "CoOp", "–", "–"],
    ]
    assert table1(results, "visual", ["ul"], ["flowers102"], recipes)["paper row"].tolist() == ["GRIP", "–", "–"]
    narrowed = {**recipes, "mine": info({"prompts": ["text"]})}  # a recipe that never runs with visual prompts
    assert table1(results, "visual", ["ul"], ["flowers102"], narrowed)["method"].tolist() == ["grip", "coop_vpt"]


def test_shipped_ablations_parse_into_tables_2_and_3():
    assert list(ABLATIONS["table2"].columns) == ["L_r", "p_hat", "L_s", "resisc45", "flowers102", "dtd"]
    assert len(ABLATIONS["table2"]) == 5 and ABLATIONS["table2"]["resisc45"].iloc[-1] == 73.6
    assert ABLATIONS["table3"]["lora"].tolist() == [0, 1] and ABLATIONS["table3"]["eurosat"].tolist() == [66.2, 71.4]


@pytest.mark.parametrize(
    "recipe,table,row",
    [
        ({"pseudo_labels": "grip"}, "table2", "1,0,0"),
        ({"base": "grip", "fusion_lambda": 1.0}, "table2", "1,1,0"),
        ({"pseudo_labels": "grip", "fusion_lambda": 1.0, "synthetic_beta": 1.0}, "table2", "1,1,1"),
        ({"base": "grip", "real_loss": 0.0, "synthetic_beta": 1.0}, "table2", "0,0,1"),
        ({"pseudo_labels": "grip", "fusion_lambda": 1.0, "prototypes": "real"}, "table2", None),
        ({"pseudo_labels": "cpl", "synthetic_beta": 1.0, "synthetic": "base"}, "table3", "0"),
        ({"base": "cpl", "fusion_lambda": 1.0, "synthetic_beta": 1.0}, "table3", "1"),
        ({"base": "cpl"}, "table3", None),
        ({"pseudo_labels": "none"}, "table2", None),
        ({"pseudo_labels": "grip", "paper_row": {"table2": "0,0,1"}}, "table2", "0,0,1"),
        ({"pseudo_labels": "grip", "paper_row": "table2:0,0,1"}, "table2", "0,0,1"),
        ({"pseudo_labels": "grip", "paper_row": "table2:0,0,1"}, "table3", None),
        ({"pseudo_labels": "grip", "paper_row": None, "real_loss": None}, "table2", "1,0,0"),
    ],
)
def test_ablation_row_follows_the_explicit_key_else_the_switches(recipe, table, row):
    assert ablation_row(info(recipe), table) == row


def test_ablation_table_places_methods_on_paper_rows_with_the_paper_number(tmp_path):
    results = _results(
        [
            ("dtd", "ul", "text", "grip", 46.5, 0.5, 3, 46.0),
            ("dtd", "ul", "text", "air", 52.0, 1.0, 3, np.nan),
            ("dtd", "ssl", "text", "air", 60.0, 1.0, 3, np.nan),
        ]
    )  # not UL: not in table 2
    recipes = {
        "grip": info({"pseudo_labels": "grip"}),
        "air": info({"pseudo_labels": "grip", "fusion_lambda": 1.0, "synthetic_beta": 1.0}),
    }
    wide, long = ablation_table(results, recipes, ABLATIONS["table2"], "table2")
    assert list(wide.columns) == ["L_r", "p_hat", "L_s", "method", "dtd", "resisc45", "flowers102"]
    assert wide["method"].tolist() == ["grip", "–", "–", "–", "air"]  # the paper's row order
    assert wide["dtd"].tolist() == ["46.5 ± 0.5 (46.0)", "– (41.4)", "– (51.4)", "– (50.8)", "52.0 ± 1.0 (52.3)"]
    assert long["method"].tolist() == ["grip", "air"] and long["paper_top1"].tolist() == [46.0, 52.3]
    paths = write_paper_table(wide, long, "Table 2", tmp_path / "table2")
    assert [p.name for p in paths] == ["table2.md", "table2.csv", "table2.html", "table2.parquet"]
    assert "| 1 | 1 | 1 | air | 52.0 ± 1.0 (52.3) |" in paths[0].read_text()
    assert pd.read_csv(paths[1])["dtd"].iloc[0] == "46.5 ± 0.5 (46.0)"
    assert "<table" in paths[2].read_text() and 'charset="utf-8"' in paths[2].read_text()
    assert read_table("results", paths[3]).num_rows == 2


def test_results_readme_holds_the_docs_trees_the_placeholders_and_every_table():
    docs = {
        "docs/artifacts.md": "intro\n```text\n<R>/\n└── a.parquet   table `a`\n```\n",
        "docs/report.md": "```bash\nsnakemake\n```\n```text\n<R>/\n└── README.md   this index\n```\n",
    }
    readme = results_readme(docs, {"dataset": ["flowers102", "dtd"], "seed": [1, 2]})
    assert "└── a.parquet   table `a`" in readme and "└── README.md   this index" in readme
    assert "snakemake" not in readme  # only the trees, not other code blocks
    assert "- `<dataset>`: `flowers102`, `dtd`" in readme
    assert all(f"- `{name}`: " in readme for name in SCHEMAS)


def test_docs_report_page_names_every_plot_rule():
    page = (ROOT / "docs" / "report.md").read_text()
    rules = re.findall(r"^rule (\w+):", (ROOT / "rules" / "report.smk").read_text(), flags=re.M)
    assert {r for r in rules if r.startswith("plot_")} <= set(re.findall(r"rule (plot_\w+)", page))
    assert "rule results_index" in page


# The report of a tiny run --------------------------------------------------------------------------

CAPTIONS = [
    "zero_shot_confusion",
    "lora_loss",
    "synthetic",
    "prototypes",
    "tsne",
    "cam",
    "studies",
    "pseudo_labels",
    "training",
    "table1",
    "table2",
    "table3",
]  # report/<caption>.rst; a published file's name starts with its caption's


def _script_json(html: str, name: str) -> dict:
    match = re.search(rf'<script id="{name}">\s*var {name} = (\{{.*\}});', html)
    assert match, f"the report has no '{name}' data"
    return json.loads(match.group(1))


def _expected(config: dict) -> dict:
    """category -> subcategory -> file names, as rules/report.smk and rules/aggregate.smk publish them."""
    methods, runs = list(config["methods"]), [(p, q) for p in config["paradigms"] for q in config["prompts"]]
    per_dataset = {
        "1 zero-shot pseudo-labels": ["zero_shot_confusion.png"],
        "2 diffusion": ["lora_loss_lora.png", "prototypes.png", "synthetic_lora.png"],
        "3 embeddings": ["cam.png", "tsne.png"],
        "4 pseudo-label accuracy": [f"pseudo_labels_{p}_{q}.png" for p, q in runs],
        "5 prompt training": [f"training_{p}_{q}_{m}.png" for p, q in runs for m in methods],
    }
    tables = {
        "table 1": [f"table1_{q}.html" for q in config["prompts"]],
        "table 2": ["table2.html"],
        "table 3": ["table3.html"],
    }
    return {**{d: per_dataset for d in config["datasets"]}, "paper tables": tables}


@pytest.fixture(scope="module")
def built_report(tiny_run):
    workdir, config = tiny_run
    html = workdir / "report.html"
    proc = snakemake(workdir, config, "--report", str(html))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return workdir, config, html.read_text(encoding="utf-8")


@pytest.mark.workflow
def test_report_groups_every_plot_and_table_by_dataset(built_report):
    _, config, html = built_report
    categories = _script_json(html, "categories")
    found = {
        cat: {sub: sorted(Path(p).name for p in paths) for sub, paths in subs.items()}
        for cat, subs in categories.items()
    }
    assert found == {
        cat: {sub: sorted(names) for sub, names in subs.items()} for cat, subs in _expected(config).items()
    }


@pytest.mark.workflow
def test_every_report_item_is_embedded_with_its_caption(built_report):
    _, _, html = built_report
    results = _script_json(html, "results")
    for path, item in results.items():
        stem = Path(path).stem
        caption = next(k for k in CAPTIONS if stem.startswith(k))
        first_words = " ".join((ROOT / "report" / f"{caption}.rst").read_text().split()[:3])
        assert item["caption"].startswith(f"<p>{first_words}"), (path, item["caption"][:80])
        assert item["data_uri"].startswith(f"data:{item['mime_type']}") and len(item["data_uri"]) > 200
    assert "AiR: unsupervised prompt learning of CLIP" in html  # the global description, report/workflow.rst


@pytest.mark.workflow
def test_results_folder_has_its_readme_and_the_paper_tables(built_report):
    workdir, config, _ = built_report
    results = Path(config["results_dir"])
    readme = (results / "README.md").read_text()
    assert "zero_shot_confusion.png" in readme and "manifest.parquet" in readme
    for name in [f"table1_{q}" for q in config["prompts"]] + ["table2", "table3"]:
        assert read_table("results", results / "tables" / f"{name}.parquet") is not None
        assert (results / "tables" / f"{name}.md").read_text().count("|") > 10
    table1_md = (results / "tables" / "table1_text.md").read_text()
    assert all(f"| {m} |" in table1_md for m in config["methods"])
