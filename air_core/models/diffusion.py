"""Load any Stable Diffusion the workflow uses: a hub id, a local directory, or a tiny one.

Hub ids are read from the local Hugging Face cache only; a tiny architecture
(``air_core/model_configs/<name>.json``) is built offline with seeded random weights from
SD v1's own component classes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import diffusers
import torch
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel

from air_core.config import DiffusionSpec
from air_core.errors import ModelNotFoundError
from air_core.models.configs import MODEL_CONFIGS, tiny_sd_names
from air_core.models.tokenizer import build_clip_tokenizer

log = logging.getLogger(__name__)


def build_tiny_pipeline(name: str, seed: int = 0) -> StableDiffusionPipeline:
    """SD v1's classes and layout, shrunk, with random weights drawn from ``seed``."""
    arch = json.loads((MODEL_CONFIGS / f"{name}.json").read_text())
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**arch["unet"])
    vae = AutoencoderKL(**arch["vae"])
    text_encoder = CLIPTextModel(CLIPTextConfig(**arch["text_encoder"]))
    scheduler_class = getattr(diffusers, arch.get("scheduler_class", "DPMSolverMultistepScheduler"))
    scheduler = scheduler_class(**arch["scheduler"])
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=build_clip_tokenizer(arch["text_encoder"]["max_position_embeddings"]),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def load_pipeline(
    spec: DiffusionSpec, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> StableDiffusionPipeline:
    """The pipeline of ``spec`` without safety checker, with a multistep DPM-Solver scheduler."""
    if spec.id in tiny_sd_names():
        pipe = build_tiny_pipeline(spec.id, spec.seed)
    else:
        local = Path(spec.id).expanduser()
        source = str(local) if local.is_dir() else spec.id
        try:
            pipe = StableDiffusionPipeline.from_pretrained(
                source,
                revision=None if local.is_dir() else spec.revision,
                safety_checker=None,
                requires_safety_checker=False,
                local_files_only=True,
                dtype=dtype,
            )
        except (OSError, ValueError) as err:
            from air_core.models.availability import diffusion_problem

            raise ModelNotFoundError(f"{diffusion_problem(spec) or spec.id}: {err}") from err
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)  # multistep solver
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to(device)
    return pipe if dtype == torch.float32 else pipe.to(dtype=dtype)


def training_scheduler(pipe: StableDiffusionPipeline) -> DDPMScheduler:
    """The DDPM noise schedule SD was trained with, for the LoRA loss (eq. 4)."""
    return DDPMScheduler.from_config(pipe.scheduler.config)


def resolution(pipe: StableDiffusionPipeline) -> int:
    """Native image size of the pipeline in pixels."""
    return pipe.unet.config.sample_size * pipe.vae_scale_factor
