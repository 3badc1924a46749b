"""What the toy-world demo shows, side by side: zero-shot accuracy on the target, the toy SD's class
agreement with and without LoRA, pseudo-label accuracy text-only vs fused with synthetic or real
prototypes (eq. 7) and against eq. 7's lambda, the final test accuracy of every method, and the
comparisons the demo draws as paired differences over the run seeds with a 95 % interval and the
verdict it supports (air_core.intervals).

Pseudo-label accuracies are those of the first relabelling round (the zero-shot text classifier,
alone or fused), measured on the whole unlabeled train pool and on the most confident images
per class (the paper's fig. 4 measure), with the same functions the runs use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from air_core.artifacts import column_matrix, markdown_table
from air_core.intervals import comparison_line, paired_difference, replicates_needed
from air_core.prototypes import select_prototypes
from air_core.pseudo_labels import class_probs, fuse
from air_core.relabel import most_confident
from air_core.run_inputs import real_prototype_rows

CONFIDENT_PER_CLASS = 50
HALF_WIDTH = 3.0  # points: the interval the demo aims for on its first comparison (docs/toy_world.md)
MEASURES = {"top1": "", "pseudo_label_acc": "last-round pseudo-label accuracy"}


def agreement(features: np.ndarray, labels: np.ndarray, text: np.ndarray) -> float:
    """% of synthetic images that the zero-shot text classifier assigns to the class they were generated for."""
    return float(100 * np.mean((features @ text.T).argmax(1) == labels)) if len(labels) else float("nan")


def synthetic_prototypes(synthetic: pd.DataFrame, n_classes: int) -> np.ndarray:
    """(C, D) x*_c of eq. 6 from a 'synthetic_features' table (highest zero-shot p of its own class)."""
    feats = np.stack(synthetic["feature"].to_numpy()).astype(np.float32)
    chosen = select_prototypes(synthetic["p_own"].to_numpy(), synthetic["label"].to_numpy(), n_classes)
    return feats[chosen]


def row(
    group: str, name: str, value: float, n: int, std: float = np.nan, low: float = np.nan, high: float = np.nan
) -> dict:
    """One row of the 'toy_world' table."""
    return {"group": group, "name": name, "value": float(value), "std": std, "n": n, "low": low, "high": high}


def accuracy_rows(group: str, name: str, scores: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Pseudo-label accuracy of ``scores`` (N, C) on all images and on the most confident per class (fig. 4)."""
    picked, labels = most_confident(scores, np.arange(scores.shape[1]), CONFIDENT_PER_CLASS)
    return [
        row(group, f"{name}: all {len(truth)} unlabeled images", 100 * np.mean(scores.argmax(1) == truth), len(truth)),
        row(
            group,
            f"{name}: {CONFIDENT_PER_CLASS} most confident per class",
            100 * np.mean(labels == truth[picked]),
            len(picked),
        ),
    ]


def pseudo_label_rows(
    pool: np.ndarray,
    truth: np.ndarray,
    text: np.ndarray,
    logit_scale: float,
    prototypes: Mapping[str, np.ndarray],
    fusion_lambda: float,
) -> list[dict]:
    """Round-0 pseudo-label accuracy of p (text only) and of p + lambda * p_hat for each prototype set.

    Args:
        pool: (N, D) features of the unlabeled images; truth: (N,) their held-back labels.
        text: (C, D) zero-shot text features; prototypes: name -> (C, D) prototype features.
    """
    p = class_probs(pool, text, logit_scale)  # eq. 1
    scores = {"text only (p)": p}
    for name, protos in prototypes.items():
        scores[f"fused, {name} (p + {fusion_lambda:g} p_hat)"] = fuse(
            p, class_probs(pool, protos, logit_scale), fusion_lambda
        )  # eq. 7
    return [r for name, s in scores.items() for r in accuracy_rows("pseudo_labels", name, s, truth)]


def lambda_rows(
    pool: np.ndarray,
    truth: np.ndarray,
    text: np.ndarray,
    logit_scale: float,
    prototypes: np.ndarray,
    lambdas: Sequence[float],
) -> list[dict]:
    """Round-0 pseudo-label accuracy of p + lambda * p_hat (eq. 7) for each lambda: all images and the most
    confident per class. lambda = 0 is the text classifier alone."""
    p, p_hat = class_probs(pool, text, logit_scale), class_probs(pool, prototypes, logit_scale)
    return [
        r for lam in lambdas for r in accuracy_rows("lambda_sweep", f"lambda = {lam:g}", fuse(p, p_hat, lam), truth)
    ]


def comparison_pairs(methods: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(a, b, metrics column) of every comparison the demo draws, from the recipes' switches (method_info):
    each recipe that fuses prototypes against the text-only recipe of its base (test top-1), each text-only
    recipe against zero-shot CLIP, and each recipe that fuses synthetic prototypes against the text-only
    one on its last round's pseudo-label accuracy (fused vs text pseudo-labels)."""
    zero_shot = [m for m, info in methods.items() if info["base"] == "zero_shot"]
    text_only: dict[str, str] = {}
    for m, info in methods.items():
        if info["base"] != "zero_shot" and not info["fuses"] and not info["synthetic_loss"]:
            text_only.setdefault(info["base"], m)
    fusing = [
        (m, text_only[info["base"]], info) for m, info in methods.items() if info["fuses"] and info["base"] in text_only
    ]
    pairs = [(m, ref, "top1") for m, ref, _ in fusing]
    pairs += [(ref, zero_shot[0], "top1") for ref in text_only.values() if zero_shot]
    pairs += [(m, ref, "pseudo_label_acc") for m, ref, info in fusing if info["prototypes"] == "synthetic"]
    return pairs


def comparison_rows(metrics: pd.DataFrame, pairs: Sequence[tuple[str, str, str]]) -> list[dict]:
    """Each pair's paired difference over the run seeds both methods ran (mean, sd of the differences,
    95 % interval), then the replicates the first pair needs for a half-width of HALF_WIDTH points at
    the measured sd."""
    rows = []
    for a, b, column in pairs:
        wide = metrics[metrics["method"].isin([a, b])].pivot_table(index="seed", columns="method", values=column)
        wide = wide.dropna()
        if a not in wide or b not in wide or wide.empty:
            continue
        cmp = paired_difference(wide[a].to_numpy(), wide[b].to_numpy(), a, b, measure=MEASURES[column])
        rows.append(row("comparisons", cmp.label, cmp.mean, cmp.n, cmp.sd, cmp.low, cmp.high))
    if rows and rows[0]["n"] > 1:
        needed = replicates_needed(rows[0]["std"], HALF_WIDTH)
        name = f"{rows[0]['name']}: replicates for a half-width of {HALF_WIDTH:g} points at the measured sd"
        rows.append(row("replicates", name, needed, rows[0]["n"], rows[0]["std"]))
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
                rows.append(row("final", f"{method}: {label}", values.mean(), len(values), float(values.std(ddof=0))))
    return rows


def report_rows(
    dataset: str,
    manifest: pd.DataFrame,
    features: pd.DataFrame,
    text: np.ndarray,
    clip_summary: Mapping[str, Any],
    synthetic: Mapping[str, pd.DataFrame],
    metrics: pd.DataFrame,
    methods: Mapping[str, Mapping[str, Any]],
    fusion_lambda: float,
    lambdas: Sequence[float],
) -> list[dict]:
    """Every row of the demo's table ('toy_world' schema).

    Args:
        manifest, features: the target dataset's manifest and real-image features tables.
        text: (C, D) zero-shot text features; clip_summary: the toy CLIP's held-out accuracy and 1/tau.
        synthetic: 'lora' and 'base' -> the SD variant's synthetic_features table.
        metrics: every run's metrics; methods: method name -> method_info (the recipes' switches).
        fusion_lambda: eq. 7's lambda of the fused pseudo-label rows; lambdas: the lambda sweep's values.
    """
    features = features.set_index("image_id")
    pool, test = manifest[manifest["split"].isin(["train", "val"])], manifest[manifest["split"] == "test"]
    pool_feats, test_feats = (column_matrix(features.loc[m["image_id"]], "feature") for m in (pool, test))
    zero_shot = 100 * np.mean((test_feats @ text.T).argmax(1) == test["label"].to_numpy())
    rows = [
        row(
            "zero_shot", "held-out source world images", clip_summary["source_heldout_top1"], clip_summary["n_heldout"]
        ),
        row("zero_shot", f"target ({dataset}) test images", zero_shot, len(test)),
    ]
    for variant, label in (("base", "plain"), ("lora", "LoRA-tuned")):
        table = synthetic[variant]
        value = agreement(column_matrix(table, "feature"), table["label"].to_numpy(), text)
        rows.append(row("class_agreement", f"{label} toy SD", value, len(table)))
    scale, truth = clip_summary["logit_scale"], pool["label"].to_numpy()
    lora_prototypes = synthetic_prototypes(synthetic["lora"], len(text))
    prototypes = {
        "synthetic prototypes (LoRA SD)": lora_prototypes,
        "synthetic prototypes (plain SD)": synthetic_prototypes(synthetic["base"], len(text)),
        "real-image prototypes (reference)": real_prototypes(pool_feats, text, scale),
    }
    rows += pseudo_label_rows(pool_feats, truth, text, scale, prototypes, fusion_lambda)
    rows += lambda_rows(pool_feats, truth, text, scale, lora_prototypes, lambdas)
    rows += final_rows(metrics)
    rows += comparison_rows(metrics, comparison_pairs(methods))
    return rows


def to_markdown(rows: list[dict], title: str) -> str:
    """The table as Markdown, one section per group; comparisons as one line each with their verdict."""
    headings = {
        "zero_shot": "Toy CLIP zero-shot",
        "class_agreement": "Toy SD class agreement (toy CLIP judges)",
        "pseudo_labels": "Pseudo-label accuracy, first round (eq. 7)",
        "lambda_sweep": "Pseudo-label accuracy, first round, against eq. 7's lambda (LoRA SD prototypes)",
        "final": "Final, per method (mean ± std over seeds, ddof 0)",
    }
    lines = [f"## {title}", ""]
    comparisons = [r for r in rows if r["group"] == "comparisons"]
    if comparisons:
        lines += [
            f"### Comparisons: paired differences over {comparisons[0]['n']} run seeds, 95 % t interval",
            "",
            "```",
        ]
        lines += [comparison_line(r["name"], r["value"], r["low"], r["high"], r["n"]) for r in comparisons]
        lines += ["```", ""]
        for r in rows:
            if r["group"] == "replicates":
                lines += [
                    f"{r['name']}: {r['value']:.0f} (sd of the differences {r['std']:.1f}, {r['n']} replicates ran)",
                    "",
                ]
    for group, heading in headings.items():
        members = [r for r in rows if r["group"] == group]
        if not members:
            continue
        values = [f"{r['value']:.1f}" + ("" if np.isnan(r["std"]) else f" ± {r['std']:.1f}") for r in members]
        lines += [f"### {heading}", ""]
        lines += markdown_table(
            ("measure", "%", "n"), [(r["name"], v, r["n"]) for r, v in zip(members, values, strict=True)]
        )
        lines.append("")
    return "\n".join(lines)
