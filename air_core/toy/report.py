"""What the toy-world demo shows, side by side: zero-shot accuracy on the target, the toy SD's class
agreement with and without LoRA, pseudo-label accuracy text-only vs fused with synthetic or real
prototypes (eq. 7), and the final test accuracy of every method.

Pseudo-label accuracies are those of the first relabelling round (the zero-shot text classifier,
alone or fused), measured on the whole unlabeled train pool and on the most confident images
per class (the paper's fig. 4 measure), with the same functions the runs use.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from air_core.pseudo_labels import class_probs, fuse
from air_core.relabel import most_confident
from air_core.run_inputs import real_prototype_rows
from air_core.prototypes import select_prototypes

CONFIDENT_PER_CLASS = 50


def agreement(features: np.ndarray, labels: np.ndarray, text: np.ndarray) -> float:
    """% of synthetic images that the zero-shot text classifier assigns to the class they were generated for."""
    return float(100 * np.mean((features @ text.T).argmax(1) == labels)) if len(labels) else float("nan")


def synthetic_prototypes(synthetic: pd.DataFrame, n_classes: int) -> np.ndarray:
    """(C, D) x*_c of eq. 6 from a 'synthetic_features' table (highest zero-shot p of its own class)."""
    feats = np.stack(synthetic["feature"].to_numpy()).astype(np.float32)
    chosen = select_prototypes(synthetic["p_own"].to_numpy(), synthetic["label"].to_numpy(), n_classes)
    return feats[chosen]


def pseudo_label_rows(pool: np.ndarray, truth: np.ndarray, text: np.ndarray, logit_scale: float,
                      prototypes: Mapping[str, np.ndarray], fusion_lambda: float) -> list[dict]:
    """Round-0 pseudo-label accuracy of p (text only) and of p + lambda * p_hat for each prototype set.

    Args:
        pool: (N, D) features of the unlabeled images; truth: (N,) their held-back labels.
        text: (C, D) zero-shot text features; prototypes: name -> (C, D) prototype features.
    """
    p = class_probs(pool, text, logit_scale)  # eq. 1
    scores = {"text only (p)": p}
    for name, protos in prototypes.items():
        scores[f"fused, {name} (p + {fusion_lambda:g} p_hat)"] = fuse(p, class_probs(pool, protos, logit_scale),
                                                                       fusion_lambda)  # eq. 7
    rows = []
    classes = np.arange(text.shape[0])
    for name, s in scores.items():
        rows.append({"group": "pseudo_labels", "name": f"{name}: all {len(truth)} unlabeled images",
                     "value": float(100 * np.mean(s.argmax(1) == truth)), "std": np.nan, "n": len(truth)})
        picked, labels = most_confident(s, classes, CONFIDENT_PER_CLASS)
        rows.append({"group": "pseudo_labels", "name": f"{name}: {CONFIDENT_PER_CLASS} most confident per class",
                     "value": float(100 * np.mean(labels == truth[picked])), "std": np.nan, "n": len(picked)})
    return rows


def real_prototypes(pool: np.ndarray, text: np.ndarray, logit_scale: float) -> np.ndarray:
    """(C, D) the reference prototypes: per class the unlabeled real image most confidently of it."""
    return pool[real_prototype_rows(pool, np.arange(len(pool)), text, logit_scale)]


def final_rows(metrics: pd.DataFrame) -> list[dict]:
    """Per method: test top-1 and last-round pseudo-label accuracy, mean and std over seeds."""
    rows = []
    for method, runs in metrics.groupby("method", sort=False):
        for column, label in (("top1", "test top-1"), ("pseudo_label_acc", "last-round pseudo-label accuracy")):
            values = runs[column].dropna()
            if len(values):
                rows.append({"group": "final", "name": f"{method}: {label}", "value": float(values.mean()),
                             "std": float(values.std(ddof=0)), "n": len(values)})
    return rows


def to_markdown(rows: list[dict], title: str) -> str:
    """The table as Markdown, one section per group."""
    headings = {"zero_shot": "Toy CLIP zero-shot", "class_agreement": "Toy SD class agreement (toy CLIP judges)",
                "pseudo_labels": "Pseudo-label accuracy, first round (eq. 7)",
                "final": "Final, per method (mean ± std over seeds)"}
    lines = [f"## {title}", ""]
    for group, heading in headings.items():
        members = [r for r in rows if r["group"] == group]
        if not members:
            continue
        lines += [f"### {heading}", "", "| measure | % | n |", "|---|---|---|"]
        for r in members:
            value = f"{r['value']:.1f}" + ("" if np.isnan(r["std"]) else f" ± {r['std']:.1f}")
            lines.append(f"| {r['name']} | {value} | {r['n']} |")
        lines.append("")
    return "\n".join(lines)
