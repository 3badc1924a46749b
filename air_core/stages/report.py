"""The report stages: the results and paper tables, the figures, and the results folder's index."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from air_core import artifacts

log = logging.getLogger(__name__)


def aggregate(metric_paths: list[str], paper_path: str, ablations_path: str, methods: dict, grid: dict,
              table_path: str, markdown_path: str, tables_dir: str) -> None:
    """Rule aggregate: mean ± std over seeds of every (dataset, paradigm, prompt, method), the paper's number
    beside; the paper's tables 1-3 in their layouts."""
    from air_core.evaluate import paper_rows, summarise, to_markdown
    from air_core.tables import parse_ablations, write_paper_tables

    metrics = pd.concat([artifacts.read_frame("metrics", p) for p in metric_paths], ignore_index=True)
    paper = paper_rows(pd.read_csv(paper_path), {m: info["paper_method"] for m, info in methods.items()})
    table = summarise(metrics, paper)
    artifacts.write_frame("results", table, table_path)
    artifacts.write_text(to_markdown(table), markdown_path)
    ablations = parse_ablations(Path(ablations_path).read_text(encoding="utf-8"))
    write_paper_tables(table, methods, ablations, grid["prompts"], grid["paradigms"], grid["datasets"], tables_dir)
    log.info("results of %d runs in %s", len(metrics), table_path)


def plot_zero_shot(manifest_path: str, classes_path: str, probs_path: str, out: str, title: str) -> None:
    """Rule plot_zero_shot: confusion matrix of the zero-shot pseudo-labels on the train pool (fig. 1)."""
    from air_core.plots import confusion_matrix, plot_confusion

    manifest = artifacts.read_frame("manifest", manifest_path)
    probs = artifacts.read_frame("zero_shot", probs_path)[["image_id", "pred"]]
    classes = artifacts.read_frame("classes", classes_path)
    pool = manifest[manifest["split"].isin(["train", "val"])].merge(probs, on="image_id", validate="one_to_one")
    matrix = confusion_matrix(pool["label"].to_numpy(), pool["pred"].to_numpy(), len(classes))
    plot_confusion(matrix, classes["class_name"].tolist(), out, title)


def plot_lora_loss(loss_path: str, out: str, title: str) -> None:
    """Rule plot_lora_loss: the LoRA loss per optimizer step (eq. 4)."""
    from air_core.plots import plot_loss_curve

    loss = artifacts.read_frame("lora_loss", loss_path)
    plot_loss_curve(loss["step"].to_numpy(), loss["loss"].to_numpy(), out, title)


def plot_synthetic(shard_paths: list[str], per_class: int, out: str, title: str) -> None:
    """Rule plot_synthetic: a few synthetic images per class."""
    from air_core.plots import synthetic_grid

    images = pd.concat([artifacts.read_frame("synthetic_shard", s) for s in shard_paths], ignore_index=True)
    synthetic_grid(images, per_class, out, title)


def plot_pseudo_labels(table_paths: list[str], methods: list[str], seeds: list[int], out: str, title: str) -> None:
    """Rule plot_pseudo_labels: accuracy of the most confident pseudo-labels per round, text vs fused (fig. 4)."""
    from air_core.plots import plot_pseudo_label_accuracy

    frames = [artifacts.read_frame("confident_accuracy", path).assign(method=method, seed=seed)
              for path, method, seed in zip(table_paths, methods, seeds, strict=True)]
    plot_pseudo_label_accuracy(pd.concat(frames, ignore_index=True), out, title)


def plot_training(history_paths: list[str], seeds: list[int], out: str, title: str) -> None:
    """Rule plot_training: the prompt-training curves of one method over its seeds and rounds."""
    from air_core.plots import plot_training as plot

    history = pd.concat([artifacts.read_frame("history", path).assign(seed=seed)
                         for path, seed in zip(history_paths, seeds, strict=True)], ignore_index=True)
    plot(history, out, title)


def plot_tsne(manifest_path: str, classes_path: str, features_path: str, text_features_path: str,
              prototypes_path: str, max_points: int, seed: int, out: str, title: str) -> None:
    """Rule plot_tsne: t-SNE of real-image, text and prototype embeddings (fig. 6)."""
    from air_core.plots import embedding_points, plot_embedding, tsne

    manifest = artifacts.read_frame("manifest", manifest_path)
    features = artifacts.read_frame("features", features_path).merge(manifest, on="image_id", validate="one_to_one")
    pool = features[features["split"].isin(["train", "val"])]
    prototypes = artifacts.read_frame("prototypes", prototypes_path) if prototypes_path else None
    x, kinds, labels = embedding_points(
        artifacts.column_matrix(pool, "feature"), pool["label"].to_numpy(),
        artifacts.load_arrays(text_features_path)["text_features"],
        None if prototypes is None else artifacts.column_matrix(prototypes, "feature"), max_points, seed)
    classes = artifacts.read_frame("classes", classes_path)
    plot_embedding(tsne(x, seed=seed), kinds, labels, classes["class_name"].tolist(), out, title)


def results_index(doc_paths: list[str], settings: dict, out: str) -> None:
    """Rule results_index: <R>/README.md, what each file of the results tree is."""
    from air_core.tables import results_readme

    docs = {f"docs/{Path(p).name}": Path(p).read_text(encoding="utf-8") for p in doc_paths}
    artifacts.write_text(results_readme(docs, settings), out)
