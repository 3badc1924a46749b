"""The VPT visual prompt learner (input layer only) and the per-run cache of preprocessed images.

VPT-shallow: P learned tokens of the vision width are inserted right after the class token,
after the positional embeddings were added (the prompt tokens get none), before ``ln_pre``.
The rest reproduces open_clip's ``VisionTransformer.forward``; with P = 0 it is
``encode_image`` exactly. The text side is frozen: the zero-shot text features classify.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from air_core.data.images import open_rgb

log = logging.getLogger(__name__)


def _check_vit(visual: nn.Module) -> None:
    pool = getattr(visual, "pool_type", None)
    if getattr(visual, "attn_pool", "missing") is not None or pool != "tok" or not hasattr(visual, "conv1"):
        raise ValueError(
            f"visual prompts need an open_clip ViT image tower with class-token pooling; "
            f"{type(visual).__name__} (pool_type={pool}) is not one. Use a ViT such as ViT-B-32, "
            "or text prompts for this model"
        )


def prompted_image_embedding(visual: nn.Module, images: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
    """open_clip's ViT forward with ``prompt`` (P, W) inserted after the class token; (B, D), not normalised."""
    x = visual.conv1(images)  # (B, W, g, g)
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # (B, g*g, W)
    cls = visual.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], -1, -1)  # (B, 1, W)
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)  # (B, 1 + g*g, W)
    tokens = prompt.to(x.dtype).expand(x.shape[0], -1, -1)  # (B, P, W), no positional embedding
    x = torch.cat([x[:, :1], tokens, x[:, 1:]], dim=1)  # (B, 1 + P + g*g, W)
    x = visual.patch_dropout(x)  # identity in eval mode
    x = visual.ln_pre(x)
    x = visual.transformer(x)  # (B, 1 + P + g*g, W)
    pooled = visual.ln_post(x[:, 0]) if visual.final_ln_after_pool else visual.ln_post(x)[:, 0]  # (B, W)
    return pooled @ visual.proj if visual.proj is not None else pooled  # (B, D)


class VisualPromptLearner(nn.Module):
    """Image features from CLIP's image tower with ``prompt`` tokens; the zero-shot text classifies.

    Only ``prompt`` is a parameter; the image tower is frozen and kept in eval mode.
    """

    def __init__(self, clip_model: nn.Module, text_features: torch.Tensor, n_prompt: int = 16):
        super().__init__()
        _check_vit(clip_model.visual)
        self.visual = clip_model.visual  # frozen; its weights are never saved with the prompt
        self.visual.requires_grad_(False)
        width = self.visual.class_embedding.shape[0]
        self.prompt = nn.Parameter(width**-0.5 * torch.randn(n_prompt, width))  # (P, W)
        self.register_buffer("class_features", F.normalize(text_features.float(), dim=-1), persistent=False)

    def train(self, mode: bool = True) -> VisualPromptLearner:
        super().train(mode)
        self.visual.eval()  # frozen encoder: no dropout, whatever the wrapper does
        return self

    def text_features(self) -> torch.Tensor:
        """The frozen zero-shot class features (C, D)."""
        return self.class_features

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised prompted image features (B, D) of preprocessed images (B, 3, H, W).

        Images and prompt enter the tower in its dtype, fp16 for a CLIP loaded in fp16 on CUDA, as menghini's
        CustomImageEncoder casts them (2094fa5 models/clip_encoders.py:204-207); the prompt stays a float32
        parameter and the features are normalised in float32.
        """
        x = prompted_image_embedding(self.visual, images.to(self.visual.conv1.weight.dtype), self.prompt)  # (B, D)
        return F.normalize(x.float(), dim=-1)

    def prompt_state(self) -> dict[str, torch.Tensor]:
        """What is saved of a trained prompt: the prompt tokens alone."""
        return {"prompt": self.prompt.detach().cpu().contiguous()}

    def load_prompt_state(self, state: dict[str, torch.Tensor]) -> None:
        if set(state) != {"prompt"} or state["prompt"].shape != self.prompt.shape:
            raise ValueError(
                f"prompt file holds { ({k: tuple(v.shape) for k, v in state.items()}) }, "
                f"expected prompt of shape {tuple(self.prompt.shape)}: was it trained with another "
                "CLIP, another n_ctx, or as a text prompt?"
            )
        with torch.no_grad():
            self.prompt.copy_(state["prompt"])


@dataclass
class ImageTensors:
    """Images decoded, resized and centre-cropped once (uint8); indexing gives normalised floats."""

    pixels: torch.Tensor  # (N, 3, H, W) uint8
    mean: torch.Tensor  # (3,) CLIP's normalisation
    std: torch.Tensor  # (3,)

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        """Normalised float images (B, 3, H, W), exactly what CLIP's preprocess gives."""
        x = self.pixels[idx].float().div(255)  # ToTensor
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)  # Normalize

    def subset(self, idx: np.ndarray | torch.Tensor) -> ImageTensors:
        return ImageTensors(self.pixels[torch.as_tensor(idx, dtype=torch.long)], self.mean, self.std)

    def to(self, device: str | torch.device) -> ImageTensors:
        return ImageTensors(self.pixels.to(device), self.mean.to(device), self.std.to(device))


def _split_preprocess(preprocess: Callable) -> tuple[Callable, torch.Tensor, torch.Tensor]:
    """CLIP's transform as (PIL steps before ToTensor, mean, std)."""
    from torchvision import transforms as T

    steps = list(getattr(preprocess, "transforms", []))
    if len(steps) < 2 or not isinstance(steps[-2], T.ToTensor) or not isinstance(steps[-1], T.Normalize):
        raise ValueError(
            f"cannot cache images for this CLIP transform ({[type(s).__name__ for s in steps]}); "
            "visual prompts expect open_clip's eval transform ending in ToTensor, Normalize"
        )
    norm = steps[-1]
    return (
        T.Compose(steps[:-2]),
        torch.tensor(norm.mean, dtype=torch.float32),
        torch.tensor(norm.std, dtype=torch.float32),
    )


def cache_images(
    paths: Sequence[str], preprocess: Callable, desc: str = "caching images", workers: int = 8
) -> ImageTensors:
    """Decode and preprocess every image once (never per epoch), kept as uint8 in memory."""
    head, mean, std = _split_preprocess(preprocess)

    def load(path: str) -> torch.Tensor:
        array = np.asarray(head(open_rgb(path)), dtype=np.uint8)  # (H, W, 3)
        return torch.from_numpy(array.copy()).permute(2, 0, 1)  # (3, H, W)

    start = time.perf_counter()
    pixels = None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, image in enumerate(tqdm(pool.map(load, paths), total=len(paths), desc=desc, mininterval=5)):
            if pixels is None:
                pixels = torch.empty((len(paths), *image.shape), dtype=torch.uint8)  # (N, 3, H, W)
            pixels[i] = image
    if pixels is None:
        raise ValueError(f"{desc}: no image paths given; the run has no images to train a visual prompt on")
    seconds = time.perf_counter() - start
    log.info(
        "%s: %d images in %.1f s (%.1f images/s), %.0f MB",
        desc,
        len(paths),
        seconds,
        len(paths) / max(seconds, 1e-9),
        pixels.numel() / 2**20,
    )
    return ImageTensors(pixels, mean, std)
