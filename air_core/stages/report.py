"""The report stages: the results and paper tables, the figures, and the results folder's index."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd

from air_core import artifacts

log = logging.getLogger(__name__)


def aggregate(
    metric_paths: list[str],
    paper_path: str,
    ablations_path: str,
    methods: dict,
    grid: dict,
    table_path: str,
    markdown_path: str,
    tables_dir: str,
) -> None:
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

    frames = [
        artifacts.read_frame("confident_accuracy", path).assign(method=method, seed=seed)
        for path, method, seed in zip(table_paths, methods, seeds, strict=True)
    ]
    plot_pseudo_label_accuracy(pd.concat(frames, ignore_index=True), out, title)


def plot_training(history_paths: list[str], seeds: list[int], out: str, title: str) -> None:
    """Rule plot_training: the prompt-training curves of one method over its seeds and rounds."""
    from air_core.plots import plot_training as plot

    history = pd.concat(
        [
            artifacts.read_frame("history", path).assign(seed=seed)
            for path, seed in zip(history_paths, seeds, strict=True)
        ],
        ignore_index=True,
    )
    plot(history, out, title)


def plot_tsne(
    manifest_path: str,
    classes_path: str,
    features_path: str,
    text_features_path: str,
    prototypes_path: str,
    fusion_lambda: float,
    max_points: int,
    seed: int,
    out: str,
    title: str,
) -> None:
    """Rule plot_tsne: t-SNE of the test images' features with the text classifier, the synthetic prototypes
    and the fused classifier (fig. 6)."""
    from air_core.plots import embedding_points, fused_classifier, plot_embedding, tsne

    manifest = artifacts.read_frame("manifest", manifest_path)
    features = artifacts.read_frame("features", features_path).merge(manifest, on="image_id", validate="one_to_one")
    test = features[features["split"] == "test"]
    text = artifacts.load_arrays(text_features_path)["text_features"]
    prototypes = (
        artifacts.column_matrix(artifacts.read_frame("prototypes", prototypes_path), "feature")
        if prototypes_path
        else None
    )
    fused = fused_classifier(text, prototypes, fusion_lambda) if prototypes is not None and fusion_lambda else None
    x, kinds, labels = embedding_points(
        artifacts.column_matrix(test, "feature"), test["label"].to_numpy(), text, prototypes, max_points, seed, fused
    )
    classes = artifacts.read_frame("classes", classes_path)
    plot_embedding(tsne(x, seed=seed), kinds, labels, classes["class_name"].tolist(), out, title)


def plot_studies(
    metric_paths: list[str], methods: dict, paper_path: str, ablations_path: str, dataset: str, out: str
) -> None:
    """Rule plot_studies: accuracy against each swept value (lambda, beta, M) and the SD variant (fig. 3), from
    the dataset's UL/text runs, summarised over seeds as rule aggregate does."""
    from air_core.evaluate import summarise
    from air_core.study_plots import plot_studies as plot
    from air_core.study_plots import sweep_panels, variant_points
    from air_core.tables import parse_ablations

    results = summarise(pd.concat([artifacts.read_frame("metrics", p) for p in metric_paths], ignore_index=True))
    table1 = pd.read_csv(paper_path)
    paper: dict[str, dict] = {}
    ul_text = table1[(table1["dataset"] == dataset) & (table1["paradigm"] == "ul") & (table1["prompt"] == "text")]
    numbers = dict(zip(ul_text["method"], ul_text["top1"], strict=True))
    if {"CPL", "AiR"} <= set(numbers):  # fig. 3: M = 0 is CPL, M = 120 AiR
        paper["n_synthetic"] = {0: numbers["CPL"], 120: numbers["AiR"]}
    table3 = parse_ablations(Path(ablations_path).read_text(encoding="utf-8")).get("table3")
    if table3 is not None and dataset in table3:
        paper["variant"] = {bool(int(row["lora"])): float(row[dataset]) for _, row in table3.iterrows()}
    plot(sweep_panels(results, methods, dataset), variant_points(results, methods, dataset), paper, dataset, out)


def plot_cam(
    clip_spec,
    manifest_path: str,
    classes_path: str,
    text_features_path: str,
    prototypes_path: str,
    fusion_lambda: float,
    n_images: int,
    device: str,
    out: str,
) -> None:
    """Rule plot_cam: Grad-CAM of the image tower for the text-only and the fused prediction of a few test
    images (fig. 5), preferring images whose prediction the fusion changes."""
    import numpy as np
    import torch

    from air_core.cam import fused_vector, grad_cam
    from air_core.data.images import open_rgb
    from air_core.jobs import resolve_device
    from air_core.models.clip import load_clip

    # float32 towers on any device: Grad-CAM's gradients of a figure, not a reference number (cuda_dtype)
    clip = load_clip(dataclasses.replace(clip_spec, cuda_dtype="float32"), resolve_device(device))
    manifest = artifacts.read_frame("manifest", manifest_path)
    test = manifest[manifest["split"] == "test"].reset_index(drop=True)
    names = artifacts.read_frame("classes", classes_path)["class_name"].tolist()
    text = torch.from_numpy(artifacts.load_arrays(text_features_path)["text_features"]).to(clip.device)
    protos = (
        torch.from_numpy(artifacts.column_matrix(artifacts.read_frame("prototypes", prototypes_path), "feature")).to(
            clip.device
        )
        if prototypes_path
        else None
    )
    rows, images = [], []
    for index in _cam_images(clip, test, text, protos, fusion_lambda, n_images):
        pil = open_rgb(test.loc[index, "path"])
        x = clip.preprocess(pil)[None].to(clip.device)  # (1, 3, H, W)
        with torch.no_grad():
            feature = torch.nn.functional.normalize(clip.model.encode_image(x).float(), dim=-1)
        pred = int((feature @ text.T).argmax())
        row = {
            "truth": names[int(test.loc[index, "label"])],
            "fused": None,
            "text": (names[pred], grad_cam(clip.model, x, text[pred])),
        }
        if protos is not None:
            with torch.no_grad():  # eq. 7's argmax
                fused = torch.softmax(clip.logit_scale * feature @ text.T, dim=-1) + fusion_lambda * torch.softmax(
                    clip.logit_scale * feature @ protos.T, dim=-1
                )
            label = int(fused.argmax())
            row["fused"] = (names[label], grad_cam(clip.model, x, fused_vector(text, protos, fusion_lambda, label)))
        rows.append(row)
        shown = x[0].permute(1, 2, 0).cpu().numpy()  # the preprocessed image, un-normalised for display
        images.append(np.clip((shown - shown.min()) / max(np.ptp(shown), 1e-6), 0, 1))
    from air_core.study_plots import plot_cams

    plot_cams(images, rows, out)


def _cam_images(clip, test: pd.DataFrame, text, protos, fusion_lambda: float, n_images: int) -> list[int]:
    """Test rows to show: those whose prediction the fusion changes first, then the first others (by image_id)."""
    import torch

    from air_core.encode import encode_images

    order = test.sort_values("image_id").index.tolist()[: max(n_images * 20, n_images)]
    if protos is None:
        return order[:n_images]
    feats = torch.from_numpy(encode_images(clip, test.loc[order, "path"].tolist(), 64, clip.device)).to(clip.device)
    p = torch.softmax(clip.logit_scale * feats @ text.T, dim=-1)
    fused = p + fusion_lambda * torch.softmax(clip.logit_scale * feats @ protos.T, dim=-1)
    changed = (p.argmax(1) != fused.argmax(1)).cpu().numpy()
    pairs = list(zip(order, changed, strict=True))
    ranked = [i for i, c in pairs if c] + [i for i, c in pairs if not c]
    return ranked[:n_images]


def results_index(doc_paths: list[str], settings: dict, out: str) -> None:
    """Rule results_index: <R>/README.md, what each file of the results tree is."""
    from air_core.tables import results_readme

    docs = {f"docs/{Path(p).name}": Path(p).read_text(encoding="utf-8") for p in doc_paths}
    artifacts.write_text(results_readme(docs, settings), out)
