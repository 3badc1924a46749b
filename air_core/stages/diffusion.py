"""The diffusion stages, once per dataset and SD variant: LoRA (eq. 4), generation (eq. 5), prototypes (eq. 6)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from air_core import artifacts
from air_core.config import ClipSpec, DiffusionSpec, GenerateConfig, LoraTrainConfig

log = logging.getLogger(__name__)


def lora_set(manifest: pd.DataFrame, names: list[str], probs: np.ndarray, top_k: int, description: str) -> dict:
    """Columns of the ``lora_set`` table: the top-K zero-shot pseudo-labelled train-pool images per class
    (eq. 2-3, FPL's leaderboard), each with its caption "{t_data} {class}"."""
    from air_core.evaluate import top1
    from air_core.generate import caption
    from air_core.pseudo_labels import ranked_top_k

    pool = np.flatnonzero(manifest["split"].isin(["train", "val"]).to_numpy())
    rows, labels, confidence, rank = ranked_top_k(probs[pool], top_k)
    keep = pool[rows]
    log.info(
        "LoRA set: %d images, pseudo-label accuracy %.1f%%", len(keep), top1(labels, manifest["label"].to_numpy()[keep])
    )
    return {
        "image_id": manifest["image_id"].to_numpy()[keep].tolist(),
        "path": manifest["path"].to_numpy()[keep].tolist(),
        "pseudo_label": labels,
        "class_name": [names[c] for c in labels],
        "confidence": confidence.astype(np.float32),
        "rank": rank,
        "caption": [caption(description, names[c]) for c in labels],
    }


def train_lora(
    diffusion: DiffusionSpec,
    cfg: LoraTrainConfig,
    description: str,
    manifest_path: str,
    classes_path: str,
    probs_path: str,
    weights_path: str,
    lora_set_path: str,
    loss_path: str,
    device: str,
    precision: str,
) -> None:
    """Rule train_lora: the variant's top-K set, then LoRA on SD's UNet; the adapter in diffusers' format."""
    from air_core.jobs import dtype_of, resolve_device, seed_everything
    from air_core.lora import save_lora
    from air_core.lora import train_lora as fit_lora
    from air_core.models.diffusion import load_pipeline

    seed_everything(cfg.seed)
    probs = artifacts.column_matrix(artifacts.read_table("zero_shot", probs_path), "probs")
    names = artifacts.read_frame("classes", classes_path)["class_name"].tolist()
    chosen = artifacts.write_table(
        "lora_set",
        lora_set(artifacts.read_frame("manifest", manifest_path), names, probs, cfg.top_k, description),
        lora_set_path,
    ).to_pandas()
    torch_device = resolve_device(device)
    pipe = load_pipeline(diffusion, torch_device, dtype_of(torch_device, precision))
    history = fit_lora(pipe, chosen["path"].tolist(), chosen["caption"].tolist(), cfg)
    save_lora(pipe, weights_path)
    artifacts.write_table(
        "lora_loss", {k: [h[k] for h in history] for k in ("step", "timestep_mean", "loss")}, loss_path
    )


def generate(
    diffusion: DiffusionSpec,
    cfg: GenerateConfig,
    shards: int,
    shard: int,
    variant: str,
    description: str,
    classes_path: str,
    lora_path: str,
    images_dir: str,
    index_path: str,
    device: str,
    precision: str,
    batch_size: int,
) -> None:
    """Rule generate: M images for each class of one shard (eq. 5), from the variant's SD."""
    from air_core.generate import classes_of_shard, generate_images
    from air_core.jobs import dtype_of, resolve_device
    from air_core.lora import load_lora
    from air_core.models.diffusion import load_pipeline

    torch_device = resolve_device(device)
    pipe = load_pipeline(diffusion, torch_device, dtype_of(torch_device, precision))
    if lora_path:
        load_lora(pipe, lora_path)
    classes = artifacts.read_frame("classes", classes_path)
    labels = classes_of_shard(len(classes), shard, shards)
    rows = generate_images(
        pipe,
        labels,
        classes["class_name"].tolist(),
        classes["slug"].tolist(),
        description,
        cfg,
        images_dir,
        shard,
        batch_size,
    )
    rows["image_id"] = [f"{variant}/{i}" for i in rows["image_id"]]
    artifacts.write_table("synthetic_shard", rows, index_path)


def select(
    clip_spec: ClipSpec,
    shard_paths: list[str],
    classes_path: str,
    text_features_path: str,
    features_path: str,
    prototypes_path: str,
    grid_path: str,
    device: str,
    batch_size: int,
) -> None:
    """Rule select: CLIP features of every synthetic image and the one per class with the highest p_own (eq. 6)."""
    from air_core.encode import encode_images
    from air_core.jobs import resolve_device
    from air_core.models.clip import load_clip
    from air_core.prototypes import image_grid, own_class_probs, select_prototypes
    from air_core.pseudo_labels import class_probs

    clip = load_clip(clip_spec, resolve_device(device))
    synthetic = pd.concat([artifacts.read_frame("synthetic_shard", s) for s in shard_paths], ignore_index=True)
    synthetic = synthetic.sort_values(["label", "index"], ignore_index=True)
    log.info("%d synthetic images, %d all black (dropped)", len(synthetic), synthetic["black"].sum())
    synthetic = synthetic[~synthetic["black"]].reset_index(drop=True)
    classes = artifacts.read_frame("classes", classes_path)
    features = encode_images(clip, synthetic["path"].tolist(), batch_size, clip.device, "encoding synthetic images")
    labels = synthetic["label"].to_numpy()
    text = artifacts.load_arrays(text_features_path)["text_features"]
    p_own = own_class_probs(class_probs(features, text, clip.logit_scale), labels).astype(np.float32)
    artifacts.write_table(
        "synthetic_features",
        {
            "image_id": synthetic["image_id"].tolist(),
            "label": labels,
            "index": synthetic["index"].to_numpy(),
            "feature": features,
            "p_own": p_own,
        },
        features_path,
    )
    chosen = select_prototypes(p_own, labels, len(classes))  # eq. 6
    paths = synthetic["path"].to_numpy()[chosen].tolist()
    artifacts.write_table(
        "prototypes",
        {
            "label": classes["label"].to_numpy(),
            "class_name": classes["class_name"].tolist(),
            "image_id": synthetic["image_id"].to_numpy()[chosen].tolist(),
            "path": paths,
            "p_own": p_own[chosen],
            "feature": features[chosen],
        },
        prototypes_path,
    )
    image_grid(
        paths,
        [f"{n}\np={p:.2f}" for n, p in zip(classes["class_name"], p_own[chosen], strict=True)],
        grid_path,
        suptitle="Prototype per class x*_c (eq. 6): highest zero-shot p of its own class",
    )
