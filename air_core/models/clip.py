"""Load any CLIP the workflow uses: an open_clip name + weights, a local checkpoint, or a tiny one.

A spec is data (``ClipSpec``): ``arch`` is an open_clip model name, a name from
``air_core/model_configs`` or a path to a model-config JSON; ``pretrained`` is an open_clip
tag (read from the local cache only), a checkpoint path, or None for seeded random weights.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

from air_core.config import ClipSpec
from air_core.errors import ModelNotFoundError
from air_core.models.availability import clip_problem

log = logging.getLogger(__name__)
MODEL_CONFIGS = Path(__file__).resolve().parent.parent / "model_configs"
open_clip.add_model_config(MODEL_CONFIGS)


@dataclass
class ClipBundle:
    model: open_clip.CLIP
    preprocess: Callable
    tokenizer: Callable[[list[str]], torch.Tensor]
    dtype: torch.dtype = torch.float32  # the towers' weights (``tower_dtype``); images go in as this dtype

    @property
    def logit_scale(self) -> float:
        """1/tau of eq. 1."""
        return float(self.model.logit_scale.exp())

    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device


def hub_offline() -> bool:
    """True when downloads are off (always inside workflow jobs)."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _arch_name(arch: str) -> str:
    if arch.endswith(".json"):
        path = Path(arch)
        if not path.is_file():
            raise ModelNotFoundError(f"CLIP model config {path} does not exist; fix models.clip.arch in the config")
        open_clip.add_model_config(path)
        return path.stem
    if arch not in open_clip.list_models():
        raise ModelNotFoundError(
            f"unknown CLIP architecture '{arch}' (models.clip.arch); use an open_clip name such as ViT-B-32, "
            f"one of {sorted(p.stem for p in MODEL_CONFIGS.glob('*-vit*.json'))}, or a model-config JSON path"
        )
    return arch


def uses_quick_gelu(spec: ClipSpec, name: str) -> bool:
    """Whether the model is built with QuickGELU: ``spec.quick_gelu``, else what the weights were trained with.

    OpenAI's CLIP weights were trained with QuickGELU (x * sigmoid(1.702 x)); open_clip's ``ViT-B-32`` config
    uses GELU and only its ``-quickgelu`` twins or ``force_quick_gelu`` build the activation the 'openai'
    weights need. open_clip's pretrained config of each tag records it (``quick_gelu: True`` for 'openai'), so
    a tag gets its own activation; a checkpoint path or random weights get the architecture's.
    """
    if spec.quick_gelu is not None:
        return spec.quick_gelu
    if spec.pretrained is None or Path(spec.pretrained).is_file():
        return False
    return bool(open_clip.get_pretrained_cfg(name, spec.pretrained).get("quick_gelu", False))


def tower_dtype(spec: ClipSpec, device: str | torch.device) -> torch.dtype:
    """The towers' dtype: ``spec.cuda_dtype`` on a CUDA device, float32 on any other (the CPU).

    Both reference code bases call ``clip.load(name, device="cuda")``, which keeps OpenAI's fp16 weights on
    a GPU and casts the model to float32 only on the CPU (menghini-neurips23-code 2094fa5
    methods/*/training_strategies.py:66-68; CPL-ICML2024 c711980 methods/*_new/training_strategies.py:76).
    """
    return torch.float16 if torch.device(device).type == "cuda" and spec.cuda_dtype == "float16" else torch.float32


def load_clip(spec: ClipSpec, device: str | torch.device = "cpu") -> ClipBundle:
    """Build the CLIP of ``spec`` in eval mode, with its eval transform and tokenizer.

    In float16 (``tower_dtype``) the model is open_clip's ``precision="fp16"``, OpenAI's own mixed precision:
    the weights of linear, convolution and attention layers and the two projections in fp16; layer norms
    (fp32 weights, computed in fp32), token, class and positional embeddings and logit_scale in fp32, cast to
    fp16 where they enter the towers. It is what OpenAI's ``clip.load`` gives on CUDA (``convert_weights``).
    """
    name = _arch_name(spec.arch)
    dtype = tower_dtype(spec, device)
    if spec.pretrained is None:
        torch.manual_seed(spec.seed)  # random weights, the same ones in every job
    elif not Path(spec.pretrained).is_file() and not open_clip.get_pretrained_cfg(name, spec.pretrained):
        raise ModelNotFoundError(
            f"CLIP weights '{spec.pretrained}' (models.clip.pretrained) are neither a file nor an open_clip tag of "
            f"{name}; known tags: {open_clip.list_pretrained_tags_by_model(name)}"
        )
    elif hub_offline() and (problem := clip_problem(spec)):
        raise ModelNotFoundError(problem)
    quick_gelu = uses_quick_gelu(spec, name)
    model, _, preprocess = open_clip.create_model_and_transforms(
        name,
        pretrained=spec.pretrained,
        device=device,
        force_quick_gelu=quick_gelu,
        precision="fp16" if dtype == torch.float16 else "fp32",
    )
    model.eval().requires_grad_(False)
    log.info(
        "CLIP %s (%s%s): %.1fM parameters on %s, %s",
        name,
        spec.pretrained or "random init",
        ", QuickGELU" if quick_gelu else "",
        sum(p.numel() for p in model.parameters()) / 1e6,
        device,
        str(dtype).removeprefix("torch."),
    )
    return ClipBundle(model=model, preprocess=preprocess, tokenizer=open_clip.get_tokenizer(name), dtype=dtype)
