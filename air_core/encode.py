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
    """L2-normalised image embeddings (N, D) as float32, streaming the images in batches.

    The images enter the tower in its dtype (``clip.dtype``: fp16 on CUDA by default), as OpenAI's
    ``encode_image`` casts them (``image.type(self.dtype)``); the features are normalised in float32.
    """
    out = []
    start = time.perf_counter()
    for i in tqdm(range(0, len(paths), batch_size), desc=desc, mininterval=5):
        batch = torch.stack([clip.preprocess(open_rgb(p)) for p in paths[i : i + batch_size]])
        out.append(F.normalize(clip.model.encode_image(batch.to(device, clip.dtype)).float(), dim=-1).cpu().numpy())
    seconds = time.perf_counter() - start
    log.info("encoded %d images in %.1f s (%.1f images/s)", len(paths), seconds, len(paths) / max(seconds, 1e-9))
    width = clip.model.text_projection.shape[-1] if clip.model.text_projection is not None else 0
    return np.concatenate(out) if out else np.zeros((0, width), np.float32)


ROUND0_TEMPLATES = ("format", "concat")


def class_prompts(template: str, class_names: Sequence[str], how: str = "format") -> list[str]:
    """The zero-shot prompt of each class: ``template.format(name)``, or ``f"{template}{name}"`` (concat).

    concat is the string menghini-neurips23-code (2094fa5) labels round 0 with, utils/clip_pseudolabels.py:24
    ``f"{template}{' '.join(i.split('_'))}"``: the template keeps its "{}", "a photo of a {}pink primrose".
    """
    if how not in ROUND0_TEMPLATES:
        raise ValueError(f"prompt string '{how}' is not known; use one of {ROUND0_TEMPLATES}")
    return [template.format(name) if how == "format" else f"{template}{name}" for name in class_names]


@torch.no_grad()
def encode_class_prompts(
    clip: ClipBundle,
    class_names: Sequence[str],
    template: str = "a photo of a {}",
    device: str | torch.device = "cpu",
    how: str = "format",
) -> np.ndarray:
    """L2-normalised text embeddings (C, D) of the zero-shot prompt of each class (``class_prompts``)."""
    tokens = clip.tokenizer(class_prompts(template, class_names, how)).to(device)
    return F.normalize(clip.model.encode_text(tokens).float(), dim=-1).cpu().numpy()
