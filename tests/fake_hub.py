"""Random-weight models with the paper's architectures, saved where the real ones would be.

SD v1-4's classes and block layout (widths divided, see air-core's sd-v1-4-narrow.json) in a
Hugging Face cache tree under the real id, and open_clip's ViT-B-32 as the checkpoint file
that the 'openai' tag resolves to. Loaders then find them by name, offline.
"""

from __future__ import annotations

from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file

from air_core.models.diffusion import build_tiny_pipeline

SD_ID = "CompVis/stable-diffusion-v1-4"
CLIP_HUB_ID = "timm/vit_base_patch32_clip_224.openai"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _snapshot(cache: Path, repo_id: str) -> Path:
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def add_stable_diffusion(cache: Path) -> Path:
    """SD v1-4's layout with random weights, as `from_pretrained(SD_ID)` expects it in the cache."""
    snapshot = _snapshot(cache, SD_ID)
    if not (snapshot / "model_index.json").is_file():
        build_tiny_pipeline("sd-v1-4-narrow", seed=0).save_pretrained(snapshot)
    return snapshot


def add_clip_vit_b_32(cache: Path) -> dict[str, torch.Tensor]:
    """open_clip's ViT-B-32 with random weights, as the 'openai' tag's hub file."""
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in open_clip.create_model("ViT-B-32").state_dict().items()}
    path = _snapshot(cache, CLIP_HUB_ID) / "open_clip_model.safetensors"
    if not path.is_file():
        save_file(state, str(path))
    return state
