"""The figures of the studies: accuracy against lambda, beta, M (fig. 3) and the SD variant; CAMs (fig. 5).

The sweep figure reads the results table only (no torch): one panel per sweep of a dataset's UL/text runs,
mean ± std over seeds at each value, and the paper's numbers beside where it gives them (fig. 3's M = 0 is
CPL's table-1 number, M = 120 AiR's; table 3's rows for the variants without and with LoRA).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from air_core.experiment import STUDY_CELL  # noqa: E402
from air_core.plots import _save  # noqa: E402


def sweep_panels(results: pd.DataFrame, methods: dict[str, dict], dataset: str) -> list[dict]:
    """One panel per single-key sweep that ran on ``dataset`` (UL, text): key, values, means, stds, names."""
    rows = results[
        (results["dataset"] == dataset) & (results["paradigm"] == STUDY_CELL[0]) & (results["prompt"] == STUDY_CELL[1])
    ].set_index("method")
    panels: dict[str, dict] = {}
    for name, info in methods.items():
        sweep = info.get("sweep") or {}
        if len(sweep) != 1 or name not in rows.index:
            continue
        key, value = next(iter(sweep.items()))
        panel = panels.setdefault(info["sweep_of"], {"sweep": info["sweep_of"], "key": key, "points": []})
        row = rows.loc[name]
        panel["points"].append((value, float(row["top1_mean"]), float(row["top1_std"]), int(row["n_seeds"])))
    for panel in panels.values():
        panel["points"].sort(key=lambda p: (p[0] is None, p[0]))
    return list(panels.values())


def variant_points(results: pd.DataFrame, methods: dict[str, dict], dataset: str) -> list[tuple]:
    """AiR-on-CPL runs (UL, text) that differ in their SD variant, not members of a sweep:
    (variant, has LoRA, mean, std, method)."""
    rows = results[
        (results["dataset"] == dataset) & (results["paradigm"] == STUDY_CELL[0]) & (results["prompt"] == STUDY_CELL[1])
    ].set_index("method")
    points = []
    for name, info in methods.items():
        if (
            info["base"] == "cpl"
            and not info.get("sweep_of")
            and info["prototypes"] == "synthetic"
            and (info["fuses"] or info["synthetic_loss"])
            and name in rows.index
        ):
            row = rows.loc[name]
            points.append((info["synthetic"], info["lora"], float(row["top1_mean"]), float(row["top1_std"]), name))
    return points


def plot_studies(
    panels: list[dict], variants: list[tuple], paper: dict[str, dict], dataset: str, out_path: str | Path
) -> None:
    """One figure: a panel per sweep (accuracy vs the swept value) and one for the SD variants.

    Args:
        paper: per panel key ('n_synthetic', 'variant'), {x: the paper's top-1} to draw beside.
    """
    n = len(panels) + bool(variants)
    fig, axes = plt.subplots(1, max(n, 1), figsize=(4.2 * max(n, 1), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=False):
        xs = [p[0] for p in panel["points"]]
        ax.errorbar(
            range(len(xs)),
            [p[1] for p in panel["points"]],
            yerr=[p[2] for p in panel["points"]],
            marker="o",
            capsize=3,
            label="measured, mean ± std over seeds",
        )
        marks = paper.get(panel["key"], {})
        for i, x in enumerate(xs):
            if x in marks:
                ax.scatter(
                    [i],
                    [marks[x]],
                    marker="D",
                    color="black",
                    zorder=3,
                    label="paper" if i == min(j for j, v in enumerate(xs) if v in marks) else None,
                )
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_xlabel(panel["key"])
        ax.set_title(panel["sweep"], fontsize=9)
    if variants:
        ax = axes[0][len(panels)]
        ax.bar(
            range(len(variants)),
            [v[2] for v in variants],
            yerr=[v[3] for v in variants],
            capsize=3,
            color=["tab:blue" if v[1] else "tab:gray" for v in variants],
        )
        marks = paper.get("variant", {})
        for i, v in enumerate(variants):
            if v[1] in marks:
                ax.scatter([i], [marks[v[1]]], marker="D", color="black", zorder=3)
        ax.set_xticks(range(len(variants)), [f"{v[0]}\n({v[4]})" for v in variants], fontsize=7)
        ax.set_title("SD variant (AiR on CPL); ◆ = paper table 3", fontsize=9)
    if not panels and not variants:
        axes[0][0].text(0.5, 0.5, "no sweep or SD-variant comparison ran here", ha="center", va="center")
    for ax in axes[0]:
        ax.set_ylabel("top-1 % (UL, text)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Studies on {dataset}: accuracy against lambda, beta, M (fig. 3) and the SD variant", fontsize=10)
    _save(fig, out_path)


def plot_cams(images: Sequence[np.ndarray], rows: Sequence[dict], out_path: str | Path) -> None:
    """Fig. 5: per test image, the image, the CAM of the text-only prediction and that of the fused one.

    Args:
        images: (H, W, 3) uint8 images, as the model saw them (after its resize and crop).
        rows: per image, {'truth', 'text': (class, map), 'fused': (class, map) or None}.
    """
    columns = 3 if any(r["fused"] is not None for r in rows) else 2
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.6 * columns, 2.6 * len(rows)), squeeze=False)
    for ax_row, image, row in zip(axes, images, rows, strict=True):
        ax_row[0].imshow(image)
        ax_row[0].set_title(f"true: {row['truth']}", fontsize=7)
        for ax, kind in zip(ax_row[1:], ("text", "fused"), strict=False):
            if row.get(kind) is None:
                continue
            name, cam = row[kind]
            ax.imshow(image)
            ax.imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
            ax.set_title(f"{'text only' if kind == 'text' else 'fused (eq. 7)'}: {name}", fontsize=7)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Grad-CAM of CLIP's image tower for the predicted class", fontsize=9)
    _save(fig, out_path)
