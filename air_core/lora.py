"""LoRA fine-tuning of SD's UNet on CLIP's most confident pseudo-labelled images (eq. 4).

The diffusers recipe: base frozen, LoRA on the attention projections, trainable weights in
fp32, epsilon-prediction MSE at uniform timesteps, adapter saved with ``save_lora_weights``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline
from diffusers.training_utils import _collate_lora_metadata, cast_training_params
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from torchvision import transforms
from tqdm import tqdm

from air_core.artifacts import publish
from air_core.config import LoraTrainConfig
from air_core.data.images import open_rgb
from air_core.models.diffusion import training_scheduler

log = logging.getLogger(__name__)
LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"


def _pixel_transform(resolution: int) -> transforms.Compose:
    return transforms.Compose(
        [
            transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(resolution),
            transforms.ToTensor(),
            transforms.Normalize([0.5], [0.5]),  # SD's VAE expects [-1, 1]
        ]
    )


@torch.no_grad()
def _encode_captions(pipe: StableDiffusionPipeline, captions: Sequence[str]) -> torch.Tensor:
    ids = pipe.tokenizer(
        list(captions),
        padding="max_length",
        max_length=pipe.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    return pipe.text_encoder(ids.to(pipe.device))[0]  # (B, 77, cross_attention_dim)


def train_lora(
    pipe: StableDiffusionPipeline, image_paths: Sequence[str], captions: Sequence[str], cfg: LoraTrainConfig
) -> list[dict]:
    """Add a LoRA adapter to ``pipe.unet`` and train it in place.

    Returns:
        One dict per step: step, timestep_mean, loss, seconds (since the first step began, at this step's end).
    """
    if len(image_paths) == 0:
        raise ValueError("the LoRA training set is empty: the zero-shot stage selected no image")
    unet, device = pipe.unet, pipe.device
    pipe.vae.requires_grad_(False)
    pipe.text_encoder.requires_grad_(False)
    unet.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, init_lora_weights="gaussian", target_modules=LORA_TARGETS)
    )
    cast_training_params(unet, dtype=torch.float32)  # only the LoRA weights train, in fp32
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr)
    noise_scheduler = training_scheduler(pipe)
    transform = _pixel_transform(cfg.resolution)
    generator = torch.Generator().manual_seed(cfg.seed)
    autocast = (
        torch.autocast(device.type, dtype=pipe.unet.dtype)
        if pipe.unet.dtype != torch.float32
        else contextlib.nullcontext()
    )
    unet.train()
    history, start = [], time.perf_counter()
    for step in tqdm(range(cfg.steps), desc="LoRA steps", mininterval=5):
        idx = torch.randint(len(image_paths), (cfg.batch_size,), generator=generator).tolist()
        pixels = torch.stack([transform(open_rgb(image_paths[i])) for i in idx])
        with torch.no_grad(), autocast:
            latents = pipe.vae.encode(pixels.to(device, pipe.vae.dtype)).latent_dist.sample(generator=None)
            latents = latents * pipe.vae.config.scaling_factor
            encoder_states = _encode_captions(pipe, [captions[i] for i in idx])
        noise = torch.randn(latents.shape, generator=generator).to(device, latents.dtype)
        timesteps = torch.randint(noise_scheduler.config.num_train_timesteps, (len(idx),), generator=generator)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps.to(device))
        with autocast:
            pred = unet(noisy, timesteps.to(device), encoder_states).sample
        loss = F.mse_loss(pred.float(), noise.float())  # eq. 4, epsilon prediction
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        # loss.item() waits for the step's kernels, so "seconds" (since the first step began) times every step
        history.append(
            {
                "step": step,
                "timestep_mean": float(timesteps.float().mean()),
                "loss": loss.item(),
                "seconds": time.perf_counter() - start,
            }
        )
    unet.eval()
    seconds = time.perf_counter() - start
    log.info(
        "LoRA: %d steps in %.1f s (%.2f steps/s), loss %.4f -> %.4f",
        cfg.steps,
        seconds,
        cfg.steps / max(seconds, 1e-9),
        np.mean([h["loss"] for h in history[:10]]),
        np.mean([h["loss"] for h in history[-10:]]),
    )
    return history


def save_lora(pipe: StableDiffusionPipeline, weights_path: str | Path) -> Path:
    """Save the UNet adapter in diffusers' format, atomically, as ``weights_path``.

    Name the file ``pytorch_lora_weights.safetensors`` for ``load_lora_weights(folder)`` to find it.
    """
    weights_path = Path(weights_path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    metadata = _collate_lora_metadata({"unet": pipe.unet})
    for config in metadata.values():  # peft keeps target_modules as a set: sorted, identical runs give identical files
        if isinstance(config.get("target_modules"), (set, list, tuple)):
            config["target_modules"] = sorted(config["target_modules"])
    with tempfile.TemporaryDirectory(dir=weights_path.parent, prefix=".lora.") as tmp:
        StableDiffusionPipeline.save_lora_weights(
            save_directory=tmp, unet_lora_layers=layers, safe_serialization=True, **metadata
        )
        publish(Path(tmp) / LORA_WEIGHTS, weights_path)  # a rename, and the checksum in a claimed results folder
    return weights_path


def load_lora(pipe: StableDiffusionPipeline, weights_path: str | Path, fuse: bool = True) -> StableDiffusionPipeline:
    """Load a ``save_lora`` file into ``pipe`` with diffusers' own ``load_lora_weights``; fused by default,
    so that inference pays no adapter overhead per denoising step."""
    weights_path = Path(weights_path)
    pipe.load_lora_weights(str(weights_path.parent), weight_name=weights_path.name)
    if fuse:
        pipe.fuse_lora()
    return pipe
