"""The toy world's stages (rules/toy.smk): draw the worlds, pretrain the toy CLIP, the toy SD's VAE and UNet,
and the demo's table. Each function is one rule; its script only parses arguments and reads its inputs."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from air_core import artifacts

log = logging.getLogger(__name__)


def toy_world(world_json: str, source: str, target: str, workers: int) -> None:
    """Rule toy_world: the source world and the shifted target dataset, in the image-folder layout."""
    from air_core.errors import ConfigError
    from air_core.toy.settings import from_settings
    from air_core.toy.world import WorldConfig, check_world, write_source, write_target

    cfg = from_settings(WorldConfig, world_json)
    try:
        check_world(cfg)
    except ValueError as err:
        raise ConfigError(f"toy_world.world: {err}") from None
    names = write_source(source, cfg, workers)
    classes = write_target(target, cfg, workers)
    log.info(
        "source world: %d classes x %d images; target: %s, shift %.2f",
        len(names),
        cfg.source_per_class,
        classes,
        cfg.shift,
    )


def toy_clip(
    clip_json: str, source: str, model_config: str, checkpoint: str, history_path: str, summary_path: str, threads: int
) -> None:
    """Rule toy_clip: pretrain the toy CLIP on the source world, save it in open_clip's format, reload it
    through the workflow's own loader (as every later rule will) and measure it on held-out source images."""
    from air_core.config import ClipSpec
    from air_core.models.clip import load_clip
    from air_core.toy.clip_pretrain import (
        ToyClipConfig,
        build_clip,
        pretrain_clip,
        save_clip,
        write_model_config,
        zero_shot_accuracy,
    )
    from air_core.toy.settings import from_settings
    from air_core.toy.world import load_image_folder

    cfg = from_settings(ToyClipConfig, clip_json)
    images, labels, names = load_image_folder(source, "train")
    write_model_config(cfg, images.shape[1], model_config)
    model, tokenizer = build_clip(model_config, cfg.seed)
    history = pretrain_clip(model, tokenizer, images, labels, names, cfg)
    save_clip(model, checkpoint)
    clip = load_clip(ClipSpec(arch=model_config, pretrained=checkpoint))
    held_out, held_labels, _ = load_image_folder(source, "test")
    accuracy = zero_shot_accuracy(clip.model, clip.tokenizer, held_out, held_labels, names)
    log.info("toy CLIP: zero-shot top-1 on %d held-out source images: %.1f%%", len(held_labels), accuracy)
    artifacts.write_frame("toy_clip_history", pd.DataFrame(history), history_path)
    artifacts.write_json(
        {
            "source_heldout_top1": accuracy,
            "n_heldout": len(held_labels),
            "classes": len(names),
            "logit_scale": clip.logit_scale,
            "steps": cfg.steps,
            "batch_size": cfg.batch_size,
            "threads": threads,
        },
        summary_path,
    )


def toy_vae(sd_json: str, source: str, vae_dir: str, latents_path: str, history_path: str) -> None:
    """Rule toy_vae: pretrain the toy SD's VAE on the source world; save it (diffusers' format) and the latent
    posterior of every image the UNet trains on ((N, c, h, w) mean and std, (N,) labels)."""
    import torch
    from safetensors.torch import save_file

    from air_core.toy.sd_pretrain import ToySdConfig, pretrain_vae, save_folder
    from air_core.toy.settings import from_settings
    from air_core.toy.world import load_image_folder

    cfg = from_settings(ToySdConfig, sd_json)
    images, labels, _ = load_image_folder(source, "train")
    vae, mean, std, latent_labels, history = pretrain_vae(images, labels, cfg)
    save_folder(vae, vae_dir)
    latents = {"mean": mean.contiguous(), "std": std.contiguous(), "labels": torch.from_numpy(latent_labels)}
    with artifacts.atomic_path(latents_path) as tmp:
        save_file(latents, str(tmp))
    artifacts.write_frame("toy_sd_history", pd.DataFrame(history), history_path)


def toy_sd(
    sd_json: str,
    source: str,
    vae_dir: str,
    latents_path: str,
    clip_config: str,
    clip_checkpoint: str,
    out: str,
    history_path: str,
) -> None:
    """Rule toy_sd: pretrain the toy SD's UNet on the VAE's latents of the source world, conditioned on the toy
    CLIP's frozen text tower; save the pipeline with diffusers' save_pretrained."""
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file

    from air_core.config import ClipSpec
    from air_core.data.names import read_class_names
    from air_core.models.clip import load_clip
    from air_core.models.tokenizer import build_clip_tokenizer
    from air_core.toy.sd_pretrain import ToySdConfig, pretrain_sd, save_folder
    from air_core.toy.settings import from_settings
    from air_core.toy.text_encoder import to_clip_text_model

    cfg = from_settings(ToySdConfig, sd_json)
    clip = load_clip(ClipSpec(arch=clip_config, pretrained=clip_checkpoint))
    text_encoder = to_clip_text_model(clip.model)  # SD's frozen CLIP text encoder
    tokenizer = build_clip_tokenizer(text_encoder.config.max_position_embeddings)
    vae = AutoencoderKL.from_pretrained(vae_dir).eval().requires_grad_(False)
    latents = load_file(latents_path)
    names = read_class_names(Path(source) / "class_names.txt")
    pipe, history = pretrain_sd(
        vae, latents["mean"], latents["std"], latents["labels"].numpy(), names, text_encoder, tokenizer, cfg
    )
    save_folder(pipe, out)
    artifacts.write_frame("toy_sd_history", pd.DataFrame(history), history_path)


def toy_report(
    dataset: str,
    manifest_path: str,
    features_path: str,
    text_features_path: str,
    clip_summary: str,
    synthetic_paths: dict[str, str],
    metric_paths: list[str],
    methods: dict,
    fusion_lambda: float,
    lambdas: list[float],
    table_path: str,
    markdown_path: str,
) -> str:
    """Rule toy_report: the demo's table (Parquet, 'toy_world' schema, and Markdown); returns the Markdown."""
    from air_core.toy.report import report_rows, to_markdown

    rows = report_rows(
        dataset,
        artifacts.read_frame("manifest", manifest_path),
        artifacts.read_frame("features", features_path),
        artifacts.load_arrays(text_features_path)["text_features"],
        artifacts.read_json(clip_summary),
        {v: artifacts.read_frame("synthetic_features", p) for v, p in synthetic_paths.items()},
        pd.concat([artifacts.read_frame("metrics", m) for m in metric_paths], ignore_index=True),
        methods,
        fusion_lambda,
        lambdas,
    )
    artifacts.write_frame("toy_world", pd.DataFrame(rows), table_path)
    markdown = to_markdown(rows, f"Toy world: {dataset}")
    artifacts.write_text(markdown, markdown_path)
    return markdown
