"""The paper's table layouts (table 1 per prompt type, the ablations of tables 2 and 3) and the results index.

A paper table is written four ways: Markdown (to read), CSV (the same cells, for a spreadsheet),
HTML (for the Snakemake report) and Parquet. The Parquet file is the long form of the table in the
documented ``results`` schema: one row per measured (dataset, paradigm, prompt, method) cell with
the number of *that* paper table beside it in ``paper_top1``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from air_core.artifacts import SCHEMAS, atomic_path, markdown_table, write_table
from air_core.experiment import STUDY_CELL

ABLATIONS = {  # paper table -> (base pseudo-labelling, columns that name a row)
    "table2": ("grip", ["L_r", "p_hat", "L_s"]),
    "table3": ("cpl", ["lora"]),
}
ABLATION_TITLES = {
    "table2": "Table 2 (UL, text prompts, on GRIP): L_r real loss, p_hat prototype fusion, L_s synthetic loss",
    "table3": "Table 3 (UL, text prompts, on CPL): synthetic images from SD without (0) or with (1) LoRA",
}
_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title><style>
body {{font-family: sans-serif; font-size: 14px}} table {{border-collapse: collapse}}
th, td {{padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; white-space: nowrap}}
</style></head><body><h3>{title}</h3>
{table}
</body></html>
"""  # tables 2 and 3 are UL with text prompts


def cell(mean: float, std: float, paper: float) -> str:
    """'73.1 ± 0.4 (73.6)': measured mean ± std over seeds, the paper's number in brackets; '–' when unmeasured."""
    measured = "–" if np.isnan(mean) else f"{mean:.1f} ± {0.0 if np.isnan(std) else std:.1f}"
    return measured if np.isnan(paper) else f"{measured} ({paper:.1f})"


def table1(
    results: pd.DataFrame, prompt: str, paradigms: list[str], datasets: list[str], methods: dict[str, dict]
) -> pd.DataFrame:
    """Paper table 1 for one prompt type: a row per method, a column per (paradigm, dataset).

    Args:
        results: rows of the ``results`` table (paper_top1 = the paper's table 1 number).
        methods: ``Experiment.method_summary()``; ``paper_method`` names the paper's row (``paper_name``).
    """
    rows = results[results["prompt"] == prompt].set_index(["method", "paradigm", "dataset"])
    methods = {m: info for m, info in methods.items() if prompt in (info.get("prompts") or [prompt])}
    wide = {"method": list(methods), "paper row": [paper_name(info, prompt) or "–" for info in methods.values()]}
    for paradigm in paradigms:
        for dataset in datasets:
            column = []
            for method in methods:
                key = (method, paradigm, dataset)
                found = rows.loc[key] if key in rows.index else None
                column.append(
                    cell(np.nan, np.nan, np.nan)
                    if found is None
                    else cell(found["top1_mean"], found["top1_std"], found["paper_top1"])
                )
            wide[f"{paradigm.upper()} {dataset}"] = column
    return pd.DataFrame(wide)


def paper_name(method: dict, prompt: str) -> str | None:
    """The paper's table 1 row of a method: ``paper_method``, a name or one per prompt type ({text: CoOp, ...})."""
    name = method.get("paper_method")
    return name.get(prompt) if isinstance(name, dict) else name


def parse_ablations(text: str) -> dict[str, pd.DataFrame]:
    """The blocks of config/paper/paper_ablations.txt: '# Paper table N ...' then CSV lines, -> {'tableN': frame}."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"#\s*Paper table (\d+)", line)
        if heading:
            current = f"table{heading.group(1)}"
            blocks[current] = []
        elif line.strip() and not line.startswith("#") and current is not None:
            blocks[current].append(line)
    return {name: pd.read_csv(io.StringIO("\n".join(lines))) for name, lines in blocks.items()}


def ablation_row(method: dict, table: str) -> str | None:
    """The paper row ('1,1,0') of ``table`` that a method reproduces, or None.

    Args:
        method: the method's entry of ``Experiment.method_summary()`` (its switches, resolved once there).
        table: table2 or table3.

    An explicit ``paper_row`` wins, as ``{'table2': '1,1,0'}`` or as ``'table2:1,1,0'``. Otherwise the row
    follows from the switches: table 2 (on GRIP) is (L_r on, eq. 7 on, L_s on); table 3 (on CPL, with
    synthetic images) is (the SD variant has a LoRA). Real-prototype controls map nowhere.
    """
    explicit = method.get("paper_row")
    if isinstance(explicit, dict):
        return explicit.get(table)
    if isinstance(explicit, str) and ":" in explicit:
        name, row = explicit.split(":", 1)
        return row.strip() if name.strip() == table else None
    if method["base"] != ABLATIONS[table][0] or method["prototypes"] != "synthetic":
        return None  # another base method, or the real-prototype control
    if table == "table2":
        return f"{int(method['real_training'])},{int(method['fuses'])},{int(method['synthetic_loss'])}"
    if method["fuses"] or method["synthetic_loss"]:
        return str(int(method["lora"]))
    return None


def ablation_table(
    results: pd.DataFrame, methods: dict[str, dict], paper: pd.DataFrame, table: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paper table 2 or 3: a line per (paper row, method mapped to it), a column per dataset.

    Returns:
        (the wide table of cells, its long form in the ``results`` schema with this table's paper numbers).
    """
    keys = ABLATIONS[table][1]
    paper = paper.assign(row=paper[keys].astype(str).agg(",".join, axis=1))
    paper_datasets = [c for c in paper.columns if c not in keys + ["row"]]
    paradigm, prompt = STUDY_CELL
    measured = results[(results["paradigm"] == paradigm) & (results["prompt"] == prompt)]
    datasets = list(dict.fromkeys(measured["dataset"].tolist() + paper_datasets))
    mapped = {m: ablation_row(info, table) for m, info in methods.items()}
    lines, long = [], []
    extra = sorted({r for r in mapped.values() if r} - set(paper["row"]))
    for row in list(paper["row"]) + extra:  # the paper's order, then rows only this config has
        numbers = paper[paper["row"] == row]
        methods = [m for m, r in mapped.items() if r == row] or [None]
        for method in methods:
            line = dict(zip(keys, row.split(","), strict=True), method=method or "–")
            for dataset in datasets:
                number = float(numbers[dataset].iloc[0]) if dataset in numbers and len(numbers) else np.nan
                found = measured[(measured["method"] == method) & (measured["dataset"] == dataset)]
                if len(found):
                    long.append(found.assign(paper_top1=number))
                line[dataset] = cell(
                    *(found[["top1_mean", "top1_std"]].iloc[0] if len(found) else (np.nan,) * 2), number
                )
            lines.append(line)
    long_form = pd.concat(long, ignore_index=True) if long else results.iloc[0:0]
    return pd.DataFrame(lines), long_form


def to_markdown(wide: pd.DataFrame, title: str) -> str:
    """A wide table as Markdown under a title line."""
    return "\n".join([f"{title}", "", *markdown_table(list(wide.columns), wide.itertuples(index=False))]) + "\n"


def write_paper_table(wide: pd.DataFrame, long: pd.DataFrame, title: str, stem: str | Path) -> list[Path]:
    """Write ``<stem>.md``, ``.csv``, ``.html`` (the wide layout) and ``.parquet`` (long, ``results`` schema)."""
    stem = Path(stem)
    paths = [stem.with_suffix(s) for s in (".md", ".csv", ".html", ".parquet")]
    with atomic_path(paths[0]) as tmp:
        tmp.write_text(to_markdown(wide, title), encoding="utf-8")
    with atomic_path(paths[1]) as tmp:
        wide.to_csv(tmp, index=False)
    with atomic_path(paths[2]) as tmp:
        tmp.write_text(_HTML.format(title=title, table=wide.to_html(index=False, border=0)), encoding="utf-8")
    write_table("results", {c: long[c].tolist() for c in SCHEMAS["results"]}, paths[3])
    return paths


def write_paper_tables(
    results: pd.DataFrame,
    methods: dict[str, dict],
    ablations: dict[str, pd.DataFrame],
    prompts: list[str],
    paradigms: list[str],
    datasets: list[str],
    out_dir: str | Path,
) -> None:
    """Table 1 per prompt type (``table1_<prompt>.*``) and the ablations (``table2.*``, ``table3.*``) in ``out_dir``."""
    out_dir = Path(out_dir)
    for prompt in prompts:
        wide = table1(results, prompt, paradigms, datasets, methods)
        write_paper_table(
            wide,
            results[results["prompt"] == prompt],
            f"Table 1 ({prompt} prompts): top-1 % mean ± std over seeds (paper's number in brackets)",
            out_dir / f"table1_{prompt}",
        )
    for name, paper in ablations.items():
        if name not in ABLATIONS:
            continue
        wide, long = ablation_table(results, methods, paper, name)
        write_paper_table(wide, long, f"{ABLATION_TITLES[name]}; top-1 % mean ± std (paper)", out_dir / name)


def _code_blocks(markdown: str) -> list[str]:
    """The ```text blocks of a Markdown page (the results trees of the docs)."""
    return re.findall(r"```text\n(.*?)```", markdown, flags=re.S)


def results_readme(docs: dict[str, str], settings: dict[str, list]) -> str:
    """``<R>/README.md``: what each file of the results tree is, generated from the docs' trees and ``SCHEMAS``.

    Args:
        docs: page name (e.g. 'docs/artifacts.md') -> its Markdown text; every ```text block is a tree.
        settings: what tells runs apart here, e.g. {'datasets': [...], 'methods': [...], 'seeds': [...]}.
    """
    lines = [
        "# Results of the AiR workflow",
        "",
        "Written by the AiR Snakemake workflow; regenerated on every run (do not edit). `<R>` below is this "
        "folder. The values of the placeholders in this experiment:",
        "",
    ]
    lines += [f"- `<{key}>`: {', '.join(f'`{v}`' for v in values)}" for key, values in settings.items()]
    for page, text in docs.items():
        for block in _code_blocks(text):
            lines += ["", f"## Files (from `{page}`)", "", "```text", block.rstrip("\n"), "```"]
    lines += [
        "",
        "## Parquet tables and their columns",
        "",
        "Every `.parquet` file is one of these tables (types and meanings: `docs/artifacts.md`).",
        "",
    ]
    lines += [f"- `{name}`: {', '.join(columns)}" for name, columns in SCHEMAS.items()]
    return "\n".join(lines) + "\n"
