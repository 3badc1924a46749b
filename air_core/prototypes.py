"""Prototype selection (eq. 6): per class, the synthetic image CLIP finds most typical of it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from air_core.artifacts import atomic_path
from air_core.data.images import open_rgb


def own_class_probs(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p_{y_i}(x_i): each synthetic image's zero-shot probability of its generating class."""
    return probs[np.arange(len(labels)), labels]


def select_prototypes(
    p_own: np.ndarray, labels: np.ndarray, n_classes: int, usable: np.ndarray | None = None
) -> np.ndarray:
    """x^*_c = argmax over the images of class c of p_c (eq. 6).

    Args:
        p_own: (S,) zero-shot probability of each image's own class.
        labels: (S,) generating class of each image.
        usable: (S,) False for images to skip (all black).
    Returns:
        (C,) index into the S images of each class's prototype.
    """
    usable = np.ones(len(labels), bool) if usable is None else usable
    chosen = np.empty(n_classes, dtype=int)
    for c in range(n_classes):
        candidates = np.flatnonzero((labels == c) & usable)
        if len(candidates) == 0:
            raise ValueError(
                f"class {c} has no usable synthetic image to choose a prototype from; "
                "raise generate.images_per_class or check the generation logs for black images"
            )
        chosen[c] = candidates[np.argmax(p_own[candidates])]
    return chosen


def image_grid(
    paths: Sequence[str], titles: Sequence[str], out_path: str | Path, columns: int = 8, suptitle: str = ""
) -> None:
    """A PNG grid of images with a title under each (e.g. the prototypes, one per class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(1, min(columns, len(paths)))
    rows = int(np.ceil(len(paths) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.8 * columns, 2.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, path, title in zip(axes.flat, paths, titles, strict=False):
        ax.imshow(open_rgb(path))
        ax.set_title(title, fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
