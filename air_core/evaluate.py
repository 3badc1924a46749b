"""Test accuracy and the results table."""

from __future__ import annotations

import numpy as np
import pandas as pd


def top1(pred: np.ndarray, label: np.ndarray) -> float:
    """Top-1 accuracy in %."""
    return float(100.0 * np.mean(pred == label)) if len(label) else float("nan")


def harmonic_mean(a: float, b: float) -> float:
    """The TRZSL metric: harmonic mean of seen and unseen accuracy."""
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def summarise(metrics: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and std of top-1 over seeds per (dataset, paradigm, prompt, method), the paper's number beside.

    Args:
        metrics: rows of the 'metrics' table.
        paper: columns dataset, paradigm, prompt, method, top1 (the paper's table), optional.
    """
    keys = ["dataset", "paradigm", "prompt", "method"]
    grouped = metrics.groupby(keys, sort=False)["top1"]
    table = grouped.agg(top1_mean="mean", top1_std=lambda s: float(s.std(ddof=0)), n_seeds="count").reset_index()
    table["paper_top1"] = np.nan
    if paper is not None and len(paper):
        merged = table[keys].merge(paper.rename(columns={"top1": "paper_top1"}), on=keys, how="left")
        table["paper_top1"] = merged["paper_top1"].to_numpy(dtype=float)
    return table


def to_markdown(table: pd.DataFrame) -> str:
    """The results table as Markdown: mean ± std over seeds, the paper's number beside."""
    lines = ["| dataset | paradigm | prompt | method | top-1 % (mean ± std) | seeds | paper |",
             "|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        paper = "" if np.isnan(row.paper_top1) else f"{row.paper_top1:.1f}"
        lines.append(f"| {row.dataset} | {row.paradigm} | {row.prompt} | {row.method} | "
                     f"{row.top1_mean:.1f} ± {row.top1_std:.1f} | {row.n_seeds} | {paper} |")
    return "\n".join(lines) + "\n"


def paper_rows(paper_table: pd.DataFrame, paper_methods: dict[str, str | None]) -> pd.DataFrame:
    """The paper's table 1 rows renamed to this config's method names (dataset, paradigm, prompt, method, top1)."""
    rows = []
    for method, paper_name in paper_methods.items():
        if paper_name:
            rows.append(paper_table[paper_table["method"] == paper_name].assign(method=method))
    if not rows:
        return pd.DataFrame(columns=["dataset", "paradigm", "prompt", "method", "top1"])
    return pd.concat(rows, ignore_index=True)[["dataset", "paradigm", "prompt", "method", "top1"]]
