"""Pretrain the toy CLIP on the source world, and save it in open_clip's format.

The toy CLIP is an ``open_clip.CLIP``: a ModifiedResNet image tower (the RN50 family, shrunk)
and a text transformer with open_clip's own tokenizer, described by a model-config JSON like
open_clip's ``model_configs/RN50.json``. It is trained with the CLIP loss, counting every
image-caption pair of the same class in a batch as a positive (the world has few distinct
captions). ``load_clip(ClipSpec(arch=<json>, pretrained=<checkpoint>))`` loads the result.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from safetensors.torch import save_file
from tqdm import tqdm

from air_core.artifacts import atomic_path

log = logging.getLogger(__name__)
TEMPLATES = ("a photo of a {}", "a {}", "{}", "Shapes: {}", "a drawing of a {}", "a picture of the {}")


@dataclass(frozen=True)
class ToyClipConfig:
    """Architecture and training of the toy CLIP (config key ``toy_world.clip``)."""

    steps: int = 500
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    seed: int = 0
    embed_dim: int = 64
    image_width: int = 16  # ModifiedResNet stem width; layers (1, 1, 1, 1)
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 2
    context_length: int = 16


def model_config(cfg: ToyClipConfig, image_size: int) -> dict:
    """The open_clip model config (the JSON of ``model_configs/``) of the toy CLIP."""
    return {
        "embed_dim": cfg.embed_dim,
        "vision_cfg": {"image_size": image_size, "layers": [1, 1, 1, 1], "width": cfg.image_width, "patch_size": None},
        "text_cfg": {
            "context_length": cfg.context_length,
            "vocab_size": 49408,
            "width": cfg.text_width,
            "heads": cfg.text_heads,
            "layers": cfg.text_layers,
        },
    }


def write_model_config(cfg: ToyClipConfig, image_size: int, path: str | Path) -> Path:
    """Write the model config JSON; its file stem is the model's open_clip name."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(model_config(cfg, image_size), indent=2) + "\n")
    return Path(path)


def build_clip(config_path: str | Path, seed: int = 0) -> tuple[open_clip.CLIP, open_clip.tokenizer.SimpleTokenizer]:
    """A randomly initialised CLIP of the model config at ``config_path``, and its tokenizer."""
    path = Path(config_path)
    open_clip.add_model_config(path)
    torch.manual_seed(seed)
    model = open_clip.create_model(path.stem)
    return model, open_clip.get_tokenizer(path.stem)


def image_batch(images: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) normalised as open_clip's eval transform does (images already at size)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def clip_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, labels: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric CLIP loss in which every same-class pair of the batch is a positive (soft targets)."""
    logits = logit_scale * image_features @ text_features.T  # (B, B)
    positives = (labels[:, None] == labels[None, :]).float()  # (B, B)
    targets = positives / positives.sum(dim=1, keepdim=True)
    return 0.5 * (
        torch.sum(-targets * F.log_softmax(logits, dim=1), dim=1).mean()
        + torch.sum(-targets * F.log_softmax(logits.T, dim=1), dim=1).mean()
    )


def _lr(step: int, cfg: ToyClipConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


def pretrain_clip(
    model: open_clip.CLIP,
    tokenizer,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    cfg: ToyClipConfig,
) -> list[dict]:
    """Train ``model`` in place on (image, "<template> <class>") pairs for ``cfg.steps`` steps.

    Args:
        images: (N, H, W, 3) uint8 source images; labels: (N,) index into ``class_names``.
    Returns:
        One dict per step: step, lr, loss, logit_scale.
    """
    captions = [t.format(name) for name in class_names for t in TEMPLATES]  # class-major
    tokens = tokenizer(captions)  # (C * T, context_length)
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    model.train()
    history, start = [], time.perf_counter()
    for step in tqdm(range(cfg.steps), desc="toy CLIP steps", mininterval=10):
        idx = torch.randint(len(images), (cfg.batch_size,), generator=generator)
        y = torch.from_numpy(labels[idx.numpy()])
        template = torch.randint(len(TEMPLATES), (cfg.batch_size,), generator=generator)
        lr = _lr(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        image_features = F.normalize(model.encode_image(image_batch(images[idx.numpy()])), dim=-1)
        text_features = F.normalize(model.encode_text(tokens[y * len(TEMPLATES) + template]), dim=-1)
        loss = clip_loss(image_features, text_features, y, model.logit_scale.exp())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        history.append({"step": step, "lr": lr, "loss": loss.item(), "logit_scale": model.logit_scale.exp().item()})
    model.eval()
    seconds = time.perf_counter() - start
    log.info(
        "toy CLIP: %d steps in %.0f s (%.2f steps/s), loss %.3f -> %.3f",
        cfg.steps,
        seconds,
        cfg.steps / max(seconds, 1e-9),
        np.mean([h["loss"] for h in history[:20]]),
        np.mean([h["loss"] for h in history[-20:]]),
    )
    return history


@torch.no_grad()
def zero_shot_accuracy(
    model: open_clip.CLIP,
    tokenizer,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    template: str = "a photo of a {}",
) -> float:
    """Top-1 (%) of the text classifier "<template> <class>" on ``images``."""
    model.eval()
    text = F.normalize(model.encode_text(tokenizer([template.format(n) for n in class_names])), dim=-1)
    preds = []
    for i in range(0, len(images), 512):
        preds.append((F.normalize(model.encode_image(image_batch(images[i : i + 512])), dim=-1) @ text.T).argmax(1))
    return float(100 * (torch.cat(preds).numpy() == labels).mean())


def save_clip(model: open_clip.CLIP, path: str | Path) -> Path:
    """The state dict as a safetensors checkpoint, which open_clip's ``pretrained=<path>`` loads strictly."""
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    return Path(path)
