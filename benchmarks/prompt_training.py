"""Text- and visual-prompt training: the built fast paths against the reference code bases' way.

Reference (CoOp/FPL/CPL code bases): every batch decodes its images, preprocesses them and
runs the frozen image tower, and the text tower runs over all 77 token positions.
Built: image features are cached once per dataset (text prompts) or preprocessed images once
per run (visual prompts), and the text sequence is cut after the longest prompt's end token.
Shared prefix: as built, and the start token and context run once for all classes
(``air_core.text_prompts``, text_path='shared_prefix', the default since it exists).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from air_core.encode import encode_images
from air_core.models.clip import ClipBundle
from air_core.text_prompts import TextPromptLearner


def write_images(folder: Path, n: int, size: int = 256, seed: int = 0) -> list[str]:
    """``n`` random RGB JPEGs, the size of a typical benchmark image."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def reference_loss(
    clip: ClipBundle, learner: TextPromptLearner, paths: list[str], labels: torch.Tensor
) -> torch.Tensor:
    """One batch the reference way: decode, preprocess and encode the images, then the 77-token text tower."""
    with torch.no_grad():
        images = torch.stack([clip.preprocess(Image.open(p).convert("RGB")) for p in paths])
        features = F.normalize(clip.model.encode_image(images).float(), dim=-1)
    return F.cross_entropy(clip.logit_scale * features @ learner().T, labels)


def built_loss(
    clip: ClipBundle, learner: TextPromptLearner, features: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """One batch the built way: cached features, the learner's text path (cut or shared prefix)."""
    return F.cross_entropy(clip.logit_scale * features @ learner().T, labels)


# The ways a text-prompt step can run: image side, and text path of air_core.text_prompts.TextPromptLearner.
TEXT_WAYS = {"reference": "full", "built": "cut", "shared_prefix": "shared_prefix"}


def time_text_steps(
    clip: ClipBundle,
    names: list[str],
    paths: list[str],
    ways: tuple[str, ...] = ("reference", "built"),
    batch_size: int = 32,
    steps: int = 5,
    repeats: int = 1,
) -> dict[str, list[float]]:
    """Seconds per training step of each way, one figure per repeat; same batches, same optimizer.

    reference: images decoded and encoded per batch, 77 text positions; built: cached image features,
    text cut after the longest prompt; shared_prefix: cached features, the context run once. The ways
    take turns within each repeat, so that a change of machine load touches all of them.
    """
    labels = torch.arange(len(paths)) % len(names)
    cached = torch.from_numpy(encode_images(clip, paths, 64))  # once per dataset, not counted per step
    result: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(repeats):
        for way in ways:
            result[way].append(_seconds_per_step(clip, names, way, paths, cached, labels, batch_size, steps))
    return result


def _seconds_per_step(
    clip: ClipBundle,
    names: list[str],
    way: str,
    paths: list[str],
    cached: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    steps: int,
) -> float:
    torch.manual_seed(0)
    learner = TextPromptLearner(clip.model, clip.tokenizer, names, text_path=TEXT_WAYS[way])
    optimizer = torch.optim.SGD([learner.ctx], lr=0.002, momentum=0.9)
    start = 0.0
    for step in range(steps + 1):  # step 0 warms up (allocator, kernels) and is not timed
        if step == 1:
            start = time.perf_counter()
        rows = slice(step * batch_size % len(paths), step * batch_size % len(paths) + batch_size)
        if way == "reference":
            loss = reference_loss(clip, learner, paths[rows], labels[rows])
        else:
            loss = built_loss(clip, learner, cached[rows], labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def time_visual_epochs(
    clip: ClipBundle, text_features: torch.Tensor, paths: list[str], batch_size: int = 32, epochs: int = 2
) -> dict[str, float]:
    """Seconds per visual-prompt epoch: images cached once per run vs decoded and preprocessed every epoch.

    The one-off caching time is reported apart ('cache'); an epoch of the paper's 150 pays it 1/150th.
    """
    from air_core.visual_prompts import VisualPromptLearner, cache_images

    labels = torch.arange(len(paths)) % len(text_features)
    start = time.perf_counter()
    cached = cache_images(paths, clip.preprocess, workers=1)
    result = {"cache": time.perf_counter() - start}
    for name in ("reference", "built"):
        torch.manual_seed(0)
        learner = VisualPromptLearner(clip.model, text_features, 16)
        optimizer = torch.optim.SGD([p for p in learner.parameters() if p.requires_grad], lr=0.002)
        start = time.perf_counter()
        for _ in range(epochs):
            for b in range(0, len(paths), batch_size):
                rows = torch.arange(b, min(b + batch_size, len(paths)))
                if name == "reference":
                    images = torch.stack([clip.preprocess(Image.open(paths[i]).convert("RGB")) for i in rows])
                else:
                    images = cached[rows]
                logits = clip.logit_scale * learner.image_features(images) @ learner.text_features().T
                loss = F.cross_entropy(logits, labels[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        result[name] = (time.perf_counter() - start) / epochs
    return result
