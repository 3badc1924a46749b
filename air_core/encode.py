"""Frozen CLIP image features, computed once per image and cached."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from air_core.data.images import open_rgb
from air_core.models.clip import ClipBundle

log = logging.getLogger(__name__)


@torch.no_grad()
def encode_images(
    clip: ClipBundle,
    paths: Sequence[str],
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    desc: str = "encoding images",
) -> np.ndarray:
    """L2-normalised image embeddings (N, D) as float32, streaming the images in batches."""
    out = []
    start = time.perf_counter()
    for i in tqdm(range(0, len(paths), batch_size), desc=desc, mininterval=5):
        batch = torch.stack([clip.preprocess(open_rgb(p)) for p in paths[i : i + batch_size]])
        out.append(F.normalize(clip.model.encode_image(batch.to(device)).float(), dim=-1).cpu().numpy())
    seconds = time.perf_counter() - start
    log.info("encoded %d images in %.1f s (%.1f images/s)", len(paths), seconds, len(paths) / max(seconds, 1e-9))
    width = clip.model.text_projection.shape[-1] if clip.model.text_projection is not None else 0
    return np.concatenate(out) if out else np.zeros((0, width), np.float32)


@torch.no_grad()
def encode_class_prompts(
    clip: ClipBundle, class_names: Sequence[str], template: str = "a photo of a {}", device: str | torch.device = "cpu"
) -> np.ndarray:
    """L2-normalised text embeddings (C, D) of the zero-shot prompt of each class."""
    tokens = clip.tokenizer([template.format(name) for name in class_names]).to(device)
    return F.normalize(clip.model.encode_text(tokens).float(), dim=-1).cpu().numpy()
