"""Test accuracy and the results table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from air_core.artifacts import markdown_table

if TYPE_CHECKING:
    import torch


def top1(pred: np.ndarray, label: np.ndarray) -> float:
    """Top-1 accuracy in %."""
    return float(100.0 * np.mean(pred == label)) if len(label) else float("nan")


def harmonic_mean(a: float, b: float) -> float:
    """The TRZSL metric: harmonic mean of seen and unseen accuracy."""
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def paradigm_metrics(pred: np.ndarray, label: np.ndarray, seen: np.ndarray, paradigm: str) -> dict[str, float]:
    """The metrics table's accuracies: ``top1`` is the paradigm's metric (H of seen and unseen in TRZSL).

    Args:
        pred, label: (N,) predicted and true class of each test image (prediction over all classes).
        seen: (N,) the image's class is seen (always true outside TRZSL).
    """
    seen_acc = top1(pred[seen], label[seen])
    if paradigm == "trzsl":
        unseen_acc = top1(pred[~seen], label[~seen])
        return {"top1": harmonic_mean(seen_acc, unseen_acc), "top1_seen": seen_acc, "top1_unseen": unseen_acc}
    return {"top1": top1(pred, label), "top1_seen": seen_acc, "top1_unseen": float("nan")}


def visual_test_features(
    clip,
    prompt_state: dict,
    n_ctx: int,
    class_features: np.ndarray,
    paths: list[str],
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Test-image features (N, D) through the image tower with a trained visual prompt (loaded strictly)."""
    import torch

    from air_core.fitting import embed
    from air_core.visual_prompts import VisualPromptLearner, cache_images

    learner = VisualPromptLearner(clip.model, torch.from_numpy(class_features), n_ctx).to(device)
    learner.load_prompt_state({k: torch.as_tensor(v) for k, v in prompt_state.items()})
    images = cache_images(paths, clip.preprocess, "caching test images").to(device)
    return embed(learner, images, np.arange(len(paths)))


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
    header = ("dataset", "paradigm", "prompt", "method", "top-1 % (mean ± std)", "seeds", "paper")
    rows = [
        (
            r.dataset,
            r.paradigm,
            r.prompt,
            r.method,
            f"{r.top1_mean:.1f} ± {r.top1_std:.1f}",
            r.n_seeds,
            "" if np.isnan(r.paper_top1) else f"{r.paper_top1:.1f}",
        )
        for r in table.itertuples()
    ]
    return "\n".join(markdown_table(header, rows)) + "\n"


def paper_rows(paper_table: pd.DataFrame, paper_methods: dict[str, str | dict | None]) -> pd.DataFrame:
    """The paper's table 1 rows renamed to this config's method names (dataset, paradigm, prompt, method, top1).

    A method's paper name is one row name for every prompt type, or a mapping by prompt type
    (``{text: CoOp, visual: VPT}``).
    """
    rows = []
    for method, paper_name in paper_methods.items():
        by_prompt = paper_name if isinstance(paper_name, dict) else {None: paper_name}  # {text: CoOp, visual: VPT}
        for prompt, name in by_prompt.items():
            match = paper_table["method"] == name
            if prompt is not None:
                match &= paper_table["prompt"] == prompt
            if name:
                rows.append(paper_table[match].assign(method=method))
    if not rows:
        return pd.DataFrame(columns=["dataset", "paradigm", "prompt", "method", "top1"])
    return pd.concat(rows, ignore_index=True)[["dataset", "paradigm", "prompt", "method", "top1"]]
