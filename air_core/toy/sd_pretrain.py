"""Pretrain the toy Stable Diffusion on the source world, and save it in diffusers' format.

SD v1's parts, shrunk: an ``AutoencoderKL`` with 4x downsampling (32 px images, 8x8x8
latents), a ``UNet2DConditionModel`` with cross-attention on the text encoder's per-token
states (and, by default, their attention-pooled summary added to the time embedding, diffusers'
``addition_embed_type="text"``: the standard pipeline still drives it with the prompt alone),
and, as in SD, a frozen CLIP text encoder: the toy CLIP's text tower converted to a
``CLIPTextModel`` (``air_core.toy.text_encoder``). The VAE trains first (reconstruction + a small
KL term); the UNet then learns epsilon prediction on the VAE's latents with min-SNR weighting,
with a fraction of empty captions so that classifier-free guidance works at generation.
``load_pipeline(DiffusionSpec(id=<directory>))`` loads the result.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from tqdm import tqdm
from transformers import CLIPTextModel, CLIPTokenizer

from air_core.artifacts import atomic_dir
from air_core.generate import caption

log = logging.getLogger(__name__)
# SD v1's noise schedule.
SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
}


@dataclass(frozen=True)
class ToySdConfig:
    """Architecture and training of the toy SD (config key ``toy_world.sd``)."""

    description: str = "Shapes:"  # t_data: captions are "{description} {class}", as in eq. 4-5
    vae_steps: int = 1500  # shapes' thin parts (star points) need them: see docs/toy_world.md
    vae_batch_size: int = 16
    vae_lr: float = 3e-3
    vae_kl_weight: float = 1e-4
    vae_latent_channels: int = 8  # SD v1 has 4; 8 reconstructs the toy world much better after a short training
    unet_steps: int = 1800
    unet_images_per_class: int = 200  # source images per class whose latents the UNet trains on
    unet_batch_size: int = 32
    unet_lr: float = 3e-3
    caption_dropout: float = 0.1  # empty captions: the unconditional model of classifier-free guidance
    snr_gamma: float = 5.0  # min-SNR weighting of the epsilon loss
    vae_channels: tuple[int, ...] = (16, 32, 32)  # len - 1 = log2 of the latent downscale
    unet_channels: tuple[int, ...] = (32, 64)
    # Heads per attention layer (diffusers' UNet2DConditionModel calls the head count attention_head_dim): one
    # head of full width trains as well as 8 narrow ones and each step costs about 40% less on a CPU.
    unet_attention_heads: int = 1
    unet_pooled_text: bool = True  # add the attention-pooled caption to the time embedding (addition_embed_type "text")
    seed: int = 0


def build_vae(cfg: ToySdConfig, image_size: int) -> AutoencoderKL:
    n = len(cfg.vae_channels)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=cfg.vae_latent_channels,
        layers_per_block=1,
        block_out_channels=list(cfg.vae_channels),
        down_block_types=["DownEncoderBlock2D"] * n,
        up_block_types=["UpDecoderBlock2D"] * n,
        norm_num_groups=8,
        sample_size=image_size,
    )
    with torch.no_grad():  # start near-deterministic (posterior std ~0.05): a short training then fits quickly
        vae.encoder.conv_out.bias[vae.config.latent_channels :] = -6.0  # the log-variance channels
    return vae


def build_unet(
    cfg: ToySdConfig, latent_size: int, latent_channels: int, cross_attention_dim: int
) -> UNet2DConditionModel:
    n = len(cfg.unet_channels)
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=latent_channels,
        out_channels=latent_channels,
        layers_per_block=1,
        block_out_channels=list(cfg.unet_channels),
        down_block_types=["CrossAttnDownBlock2D"] * (n - 1) + ["DownBlock2D"],
        up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (n - 1),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=cfg.unet_attention_heads,
        norm_num_groups=8,
        # Every ResNet block then sees the class through the time embedding, not only the cross-attention
        # layers: the UNet learns to draw the right shape in fewer steps.
        addition_embed_type="text" if cfg.unet_pooled_text else None,
        addition_embed_type_num_heads=cfg.unet_attention_heads,
    )


def pixels(images: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) in [-1, 1], SD's VAE input."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _cosine_lr(optimizer: torch.optim.Optimizer, base: float, step: int, steps: int, warmup: int = 20) -> None:
    lr = base * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / steps))
    for group in optimizer.param_groups:
        group["lr"] = lr


def train_vae(vae: AutoencoderKL, images: np.ndarray, cfg: ToySdConfig) -> list[dict]:
    """Reconstruction (MSE) + ``vae_kl_weight`` * KL, ``cfg.vae_steps`` steps; returns per-step losses."""
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0, fused=True)
    vae.train()
    history = []
    for step in tqdm(range(cfg.vae_steps), desc="toy SD: VAE steps", mininterval=10):
        idx = torch.randint(len(images), (cfg.vae_batch_size,), generator=generator).numpy()
        x = pixels(images[idx])
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample(generator=generator)).sample
        mse = F.mse_loss(recon, x)
        kl = posterior.kl().mean() / x[0].numel()  # per pixel, as the reconstruction loss
        loss = mse + cfg.vae_kl_weight * kl
        _cosine_lr(optimizer, cfg.vae_lr, step, cfg.vae_steps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({"stage": "vae", "step": step, "loss": loss.item(), "mse": mse.item()})
    vae.eval().requires_grad_(False)
    return history


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, images: np.ndarray, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std (N, 4, h, w) of every image; also sets the VAE's ``scaling_factor``.

    SD scales latents to about unit variance (0.18215 for SD v1); the toy VAE's factor is
    measured the same way, as 1 / std of the sampled latents.
    """
    means, stds = [], []
    for i in tqdm(range(0, len(images), batch_size), desc="toy SD: encoding latents", mininterval=10):
        dist = vae.encode(pixels(images[i : i + batch_size])).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
    mean, std = torch.cat(means), torch.cat(stds)
    sample = mean + std * torch.randn(mean.shape, generator=torch.Generator().manual_seed(0))
    vae.register_to_config(scaling_factor=float(1.0 / sample.std()))
    log.info("VAE latents %s, scaling factor %.4f", tuple(mean.shape[1:]), vae.config.scaling_factor)
    return mean, std


@torch.no_grad()
def caption_states(tokenizer: CLIPTokenizer, text_encoder: CLIPTextModel, captions: Sequence[str]) -> torch.Tensor:
    """(N, L, W) per-token text-encoder states of ``captions``, tokenized as the SD pipeline does."""
    ids = tokenizer(
        list(captions),
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    return text_encoder(ids)[0]


def train_unet(
    unet: UNet2DConditionModel,
    latent_mean: torch.Tensor,
    latent_std: torch.Tensor,
    labels: np.ndarray,
    states: torch.Tensor,
    empty: torch.Tensor,
    scaling_factor: float,
    cfg: ToySdConfig,
) -> list[dict]:
    """Epsilon prediction with min-SNR-gamma weights, ``cfg.unet_steps`` steps.

    Args:
        latent_mean, latent_std: (N, 4, h, w) VAE posteriors of the source images.
        labels: (N,) class of each image, indexing ``states`` (C, L, W), its caption's text states.
        empty: (1, L, W) states of the empty caption, used with probability ``cfg.caption_dropout``.
    """
    scheduler = DDPMScheduler(**SCHEDULE)
    alphas = scheduler.alphas_cumprod
    snr = alphas / (1 - alphas)  # (T,)
    generator = torch.Generator().manual_seed(cfg.seed + 1)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.unet_lr, weight_decay=0.01, fused=True)
    unet.train()
    history = []
    for step in tqdm(range(cfg.unet_steps), desc="toy SD: UNet steps", mininterval=10):
        idx = torch.randint(len(labels), (cfg.unet_batch_size,), generator=generator)
        noise_latent = torch.randn(latent_mean[idx].shape, generator=generator)
        latents = (latent_mean[idx] + latent_std[idx] * noise_latent) * scaling_factor
        cond = states[torch.from_numpy(labels[idx.numpy()])]  # (B, L, W)
        drop = torch.rand(len(idx), generator=generator) < cfg.caption_dropout
        cond = torch.where(drop[:, None, None], empty.expand_as(cond), cond)
        noise = torch.randn(latents.shape, generator=generator)
        t = torch.randint(scheduler.config.num_train_timesteps, (len(idx),), generator=generator)
        pred = unet(scheduler.add_noise(latents, noise, t), t, cond).sample
        weight = torch.clamp(snr[t], max=cfg.snr_gamma) / snr[t]  # min-SNR for epsilon prediction
        loss = (weight * F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3))).mean()
        _cosine_lr(optimizer, cfg.unet_lr, step, cfg.unet_steps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({"stage": "unet", "step": step, "loss": loss.item(), "mse": float("nan")})
    unet.eval().requires_grad_(False)
    return history


def pretrain_vae(
    images: np.ndarray, labels: np.ndarray, cfg: ToySdConfig
) -> tuple[AutoencoderKL, torch.Tensor, torch.Tensor, np.ndarray, list[dict]]:
    """The toy VAE trained on ``images``; the latent posteriors (mean, std; ``encode_latents``) and labels of
    the first ``cfg.unet_images_per_class`` images of each class, which the UNet trains on."""
    torch.manual_seed(cfg.seed)
    start = time.perf_counter()
    vae = build_vae(cfg, images.shape[1])
    history = train_vae(vae, images, cfg)
    keep = np.concatenate([np.flatnonzero(labels == c)[: cfg.unet_images_per_class] for c in np.unique(labels)])
    mean, std = encode_latents(vae, images[keep])
    log.info(
        "toy VAE: %.2fM parameters, %d steps, reconstruction MSE %.4f, %.0f s",
        sum(p.numel() for p in vae.parameters()) / 1e6,
        cfg.vae_steps,
        np.mean([h["mse"] for h in history[-20:]]),
        time.perf_counter() - start,
    )
    return vae, mean, std, labels[keep], history


def pretrain_sd(
    vae: AutoencoderKL,
    latent_mean: torch.Tensor,
    latent_std: torch.Tensor,
    labels: np.ndarray,
    class_names: Sequence[str],
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    cfg: ToySdConfig,
) -> tuple[StableDiffusionPipeline, list[dict]]:
    """The UNet on the VAE's latents, conditioned on the frozen ``text_encoder``: the whole pipeline and losses.

    Args:
        latent_mean, latent_std: (N, 4, h, w) posteriors of the source images (``pretrain_vae``).
        labels: (N,) class of each image, indexing ``class_names``; captions are "{description} {class}".
    """
    start = time.perf_counter()
    states = caption_states(tokenizer, text_encoder, [caption(cfg.description, n) for n in class_names])
    empty = caption_states(tokenizer, text_encoder, [""])
    torch.manual_seed(cfg.seed + 1)
    unet = build_unet(cfg, latent_mean.shape[-1], latent_mean.shape[1], text_encoder.config.hidden_size)
    log.info(
        "toy SD: UNet %.2fM, text encoder %.2fM parameters",
        *(sum(p.numel() for p in m.parameters()) / 1e6 for m in (unet, text_encoder)),
    )
    history = train_unet(unet, latent_mean, latent_std, labels, states, empty, vae.config.scaling_factor, cfg)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DPMSolverMultistepScheduler(**SCHEDULE),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    log.info("toy SD UNet: %d steps in %.0f s", cfg.unet_steps, time.perf_counter() - start)
    return pipe, history


def save_folder(model, out_dir: str | Path) -> Path:
    """``model.save_pretrained`` (a pipeline or a model) into ``out_dir`` atomically: a temporary folder
    beside it, then a rename (``air_core.artifacts.atomic_dir``)."""
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
    return Path(out_dir)
