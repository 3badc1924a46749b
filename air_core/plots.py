"""The figures of the report: plain arrays and DataFrames in, one PNG out (matplotlib, Agg).

Each ``plot_*`` function writes its PNG atomically (``air_core.artifacts.atomic_path``); the
computations behind them (``confusion_matrix``, ``embedding_points``, ``tsne``) are separate
functions so that they can be tested on known answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from air_core.artifacts import atomic_path  # noqa: E402
from air_core.prototypes import image_grid  # noqa: E402

MAX_LABELLED_CLASSES = 20  # above this, confusion cells and legends get no text


def _save(fig: plt.Figure, out_path: str | Path) -> None:
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _class_colors(n_classes: int) -> np.ndarray:
    cmap = plt.get_cmap("tab10" if n_classes <= 10 else "tab20" if n_classes <= 20 else "hsv")
    return cmap(np.arange(n_classes) % cmap.N if n_classes <= 20 else np.linspace(0, 1, n_classes, endpoint=False))


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(preds)), 1)
    return matrix


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], out_path: str | Path, title: str = "") -> None:
    """Row-normalised confusion matrix (paper fig. 1), with counts in the cells when there are few classes."""
    n = len(class_names)
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    side = min(3 + 0.45 * n, 24)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of the true class")
    if n <= MAX_LABELLED_CLASSES:
        ax.set_xticks(range(n), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), class_names, fontsize=7)
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                ax.text(
                    j,
                    i,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if rates[i, j] > 0.5 else "black",
                )
    accuracy = 100 * np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_xlabel("pseudo-label (zero-shot prediction)")
    ax.set_ylabel("true class")
    ax.set_title(f"{title}\naccuracy {accuracy:.1f}% on {matrix.sum()} images".strip(), fontsize=9)
    _save(fig, out_path)


def synthetic_grid(images: pd.DataFrame, per_class: int, out_path: str | Path, suptitle: str = "") -> None:
    """The first ``per_class`` usable synthetic images of every class, one row per class.

    Args:
        images: rows of the ``synthetic_shard`` table (columns path, label, class_name, index, black).
    """
    usable = images[~images["black"]].sort_values(["label", "index"])
    chosen = usable.groupby("label", sort=True).head(per_class)
    titles = [f"{row.class_name} #{row.index}" for row in chosen.itertuples()]
    image_grid(chosen["path"].tolist(), titles, out_path, columns=per_class, suptitle=suptitle)


def plot_loss_curve(
    steps: np.ndarray, loss: np.ndarray, out_path: str | Path, title: str = "", window: int = 10
) -> None:
    """A per-step loss with its running mean (the LoRA loss of eq. 4)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, loss, lw=0.8, alpha=0.45, label="batch loss")
    if len(loss) >= 2:
        window = max(1, min(window, len(loss)))
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, lw=1.8, label=f"running mean ({window} steps)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("ε-prediction MSE")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, out_path)


def plot_training(history: pd.DataFrame, out_path: str | Path, title: str = "") -> None:
    """Prompt-training curves: L, L_r, L_s and train accuracy per epoch, rounds end to end, a line per seed.

    Args:
        history: rows of the ``history`` table with an extra ``seed`` column.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    if history.empty:
        for ax in (ax_loss, ax_acc):
            ax.text(0.5, 0.5, "no training rounds\n(this recipe trains nothing here)", ha="center", va="center")
            ax.set_axis_off()
    for i, (seed, runs) in enumerate(history.groupby("seed", sort=True)):
        runs = runs.sort_values(["iteration", "epoch"])
        x = np.arange(len(runs))  # epochs of every round end to end
        color = f"C{i % 10}"
        ax_loss.plot(x, runs["loss"], color=color, label=f"L, seed {seed}")
        ax_loss.plot(x, runs["loss_real"], color=color, ls="--", lw=0.8, label=f"L_r, seed {seed}")
        if runs["loss_synthetic"].abs().sum() > 0:
            ax_loss.plot(x, runs["loss_synthetic"], color=color, ls=":", lw=0.8, label=f"L_s, seed {seed}")
        ax_acc.plot(x, 100 * runs["train_acc"], color=color, label=f"seed {seed}")
        for boundary in np.flatnonzero(np.diff(runs["iteration"].to_numpy())) + 0.5:
            for ax in (ax_loss, ax_acc):
                ax.axvline(boundary, color="grey", lw=0.5, alpha=0.5)
    if not history.empty:
        ax_loss.set(xlabel="epoch (rounds end to end; grey lines: relabelling)", ylabel="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy on the training targets (%)")
        for ax in (ax_loss, ax_acc):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_loss.legend(fontsize=6)
        ax_acc.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    _save(fig, out_path)


def plot_pseudo_label_accuracy(table: pd.DataFrame, out_path: str | Path, title: str = "") -> None:
    """Pseudo-label accuracy per iteration, a line per (method, scores): fused solid, text-only dashed (fig. 4).

    Args:
        table: rows of ``confident_accuracy`` tables (iteration, scores 'text' | 'fused' | 'real_proto',
            accuracy) with the run's method and seed; seeds are averaged.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if table.empty:
        ax.text(0.5, 0.5, "no pseudo-labels (no method here pseudo-labels)", ha="center", va="center")
        ax.set_axis_off()
    styles = {"text": "--", "fused": "-", "real_proto": ":"}
    means = table.groupby(["method", "scores", "iteration"], sort=True)["accuracy"].agg(["mean", "std"]).reset_index()
    colors = {method: f"C{i % 10}" for i, method in enumerate(sorted(means["method"].unique()))}  # a colour per method
    for (method, scores), rows in means.groupby(["method", "scores"], sort=True):
        ax.errorbar(
            rows["iteration"],
            rows["mean"],
            yerr=rows["std"].fillna(0),
            marker="o",
            ms=3,
            capsize=2,
            ls=styles.get(scores, "-."),
            color=colors[method],
            label=f"{method} ({scores})",
        )
    if not table.empty:
        ax.set(xlabel="iteration (relabelling round)", ylabel="pseudo-label accuracy (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    _save(fig, out_path)


def tsne(x: np.ndarray, perplexity: float = 30.0, max_iter: int = 1000, seed: int = 0) -> np.ndarray:
    """t-SNE (van der Maaten & Hinton 2008) of (N, D) features to (N, 2), float32: scikit-learn's ``TSNE``.

    Exact gradients: O(N^2) memory, meant for fig. 6's at most about 1300 points, where on a busy 2-core
    machine they are several times faster than Barnes-Hut's, whose OpenMP threads wait for the cores.
    scikit-learn's defaults otherwise: PCA initialisation
    (which keeps the global layout of the clusters, Kobak & Linderman 2021), early exaggeration 12 for the
    first 250 steps, learning rate max(N / 48, 50). ``max_iter`` counts those 250 steps (scikit-learn's
    minimum is 250); ``seed`` seeds scikit-learn's randomised PCA, so equal inputs give equal outputs. The
    perplexity is capped at (N - 1) / 3 so that small sets (the tests, a tiny dataset) still have the
    neighbours it asks for.
    """
    from sklearn.manifold import TSNE  # imported here: the other plot jobs start without scikit-learn's ~1.5 s

    data = np.asarray(x, dtype=np.float32)
    n = len(data)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    model = TSNE(perplexity=min(perplexity, (n - 1) / 3), max_iter=max_iter, method="exact", random_state=seed)
    return model.fit_transform(data).astype(np.float32)


def embedding_points(
    real: np.ndarray,
    real_labels: np.ndarray,
    text: np.ndarray,
    prototypes: np.ndarray | None,
    max_real: int,
    seed: int = 0,
    fused: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points of fig. 6: at most ``max_real`` images (an equal seeded share per class), the C text
    features, the C prototypes and the C fused classifier vectors, when given.

    Returns:
        (N, D) features, (N,) kinds ('real', 'text', 'prototype', 'fused'), (N,) class labels.
    """
    rng = np.random.default_rng(seed)
    n_classes = len(text)
    per_class = max(1, max_real // n_classes)
    keep = np.concatenate([rng.permutation(np.flatnonzero(real_labels == c))[:per_class] for c in range(n_classes)])
    keep = np.sort(keep).astype(int)
    parts = [(real[keep], "real", real_labels[keep]), (text, "text", np.arange(n_classes))]
    for kind, vectors in (("prototype", prototypes), ("fused", fused)):
        if vectors is not None:
            parts.append((vectors, kind, np.arange(n_classes)))
    x = np.concatenate([p[0] for p in parts]).astype(np.float32)
    kinds = np.concatenate([[p[1]] * len(p[0]) for p in parts])
    return x, kinds, np.concatenate([p[2] for p in parts]).astype(int)


def fused_classifier(text: np.ndarray, prototypes: np.ndarray, fusion_lambda: float) -> np.ndarray:
    """Fig. 6's fused classifier of a class, a point in the embedding space: normalise(g_c + lambda F(x*_c)).

    Eq. 7 fuses probabilities, not vectors; this is the vector whose cosine with an image is the sum of the
    two classifiers' cosines, the closest single point to what the fused classifier scores.
    """
    fused = text + fusion_lambda * prototypes
    return (fused / np.linalg.norm(fused, axis=1, keepdims=True)).astype(np.float32)


def plot_embedding(
    xy: np.ndarray,
    kinds: Sequence[str],
    labels: np.ndarray,
    class_names: Sequence[str],
    out_path: str | Path,
    title: str = "",
) -> None:
    """A 2-D embedding (fig. 6): colour = class, marker = kind ('real' dots, 'text' stars, 'prototype' triangles,
    'fused' plus signs)."""
    markers = {"real": ("o", 8, 0.45), "text": ("*", 160, 1.0), "prototype": ("^", 70, 1.0), "fused": ("P", 90, 1.0)}
    colors = _class_colors(len(class_names))
    kinds, labels = np.asarray(kinds), np.asarray(labels)
    fig, ax = plt.subplots(figsize=(7, 6))
    for kind, (marker, size, alpha) in markers.items():
        mask = kinds == kind
        if mask.any():
            ax.scatter(
                xy[mask, 0],
                xy[mask, 1],
                c=colors[labels[mask]],
                marker=marker,
                s=size,
                alpha=alpha,
                edgecolors="black" if kind != "real" else "none",
                linewidths=0.5,
                label=kind,
            )
    if len(class_names) <= MAX_LABELLED_CLASSES:
        for c, name in enumerate(class_names):
            ax.scatter([], [], color=colors[c], s=20, label=name)
    ax.legend(fontsize=6, loc="best", markerscale=0.7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    _save(fig, out_path)
