"""Class activation maps of CLIP's image tower (paper fig. 5): where the image tower looks for a class.

Grad-CAM (Selvaraju et al., 2017) on the last spatial activations the class score depends on:

- ViT (open_clip ``VisionTransformer``): the patch tokens entering the last transformer block (the class
  token is pooled after it, so the block's own output tokens do not reach the score); the CAM is
  ReLU(sum_k w_k A_k) over the token grid with w_k the mean gradient of channel k, as pytorch-grad-cam does
  for ViTs (its ``reshape_transform``);
- ModifiedResNet (the RN50 family, the toy CLIP): the output of ``layer4``, before the attention pool.

The map is upsampled to the image's size and scaled to [0, 1]. The class score is a differentiable function
of the image's L2-normalised feature: the text classifier's logit (text-only prediction), or log p*_c of
the fused scores p + lambda * p_hat (eq. 7) for the fused prediction.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Score = Callable[[torch.Tensor], torch.Tensor]  # (1, D) normalised image feature -> scalar


def _target(visual: nn.Module) -> tuple[nn.Module, bool]:
    """The module whose activations the CAM weighs, and whether to take its input (ViT) or output (ResNet)."""
    if hasattr(visual, "transformer") and hasattr(visual, "grid_size"):
        return visual.transformer.resblocks[-1], True
    if hasattr(visual, "layer4"):
        return visual.layer4, False
    raise ValueError(f"class activation maps need an open_clip ViT or ModifiedResNet image tower, not "
                     f"{type(visual).__name__}")


def _spatial(visual: nn.Module, acts: torch.Tensor, grads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations and gradients as (C, h, w) maps."""
    if acts.dim() == 4:  # ResNet: (1, C, h, w)
        return acts[0], grads[0]
    h, w = visual.grid_size
    if not getattr(visual.transformer, "batch_first", True):
        acts, grads = acts.transpose(0, 1), grads.transpose(0, 1)  # (1, N, W)
    patches = slice(acts.shape[1] - h * w, None)  # the last h*w tokens are the patches (class token first)
    return (acts[0, patches].T.reshape(-1, h, w), grads[0, patches].T.reshape(-1, h, w))  # (W, h, w)


def grad_cam(model: nn.Module, image: torch.Tensor, score: Score) -> np.ndarray:
    """Grad-CAM of one preprocessed image (1, 3, H, W) for ``score``; an (H, W) map in [0, 1]."""
    visual = model.visual
    module, use_input = _target(visual)
    store: dict[str, torch.Tensor] = {}

    def keep(tensor: torch.Tensor) -> None:
        tensor.retain_grad()
        store["acts"] = tensor

    hook = (module.register_forward_pre_hook(lambda m, args: keep(args[0])) if use_input
            else module.register_forward_hook(lambda m, args, out: keep(out)))
    try:
        with torch.enable_grad():
            image = image.detach().requires_grad_(True)  # the frozen tower needs a graph to the activations
            feature = F.normalize(model.encode_image(image).float(), dim=-1)  # (1, D)
            value = score(feature)
            value.backward()
    finally:
        hook.remove()
    acts, grads = _spatial(visual, store["acts"].detach(), store["acts"].grad.detach())
    weights = grads.mean(dim=(1, 2))  # (C,) the channel's mean gradient
    cam = F.relu((weights[:, None, None] * acts).sum(0))  # (h, w)
    cam = F.interpolate(cam[None, None], size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    return (cam / cam.max() if cam.max() > 0 else cam).cpu().numpy()


def text_score(classifier: torch.Tensor, label: int, logit_scale: float) -> Score:
    """The text classifier's logit of ``label``: logit_scale * cos(f, g_label)."""
    return lambda feature: logit_scale * (feature @ classifier[label])[0]


def fused_score(classifier: torch.Tensor, prototypes: torch.Tensor, fusion_lambda: float, label: int,
                logit_scale: float) -> Score:
    """log p*_label of eq. 7, p* = softmax(text logits) + lambda * softmax(prototype logits)."""
    def score(feature: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logit_scale * feature @ classifier.T, dim=-1)
        p_hat = torch.softmax(logit_scale * feature @ prototypes.T, dim=-1)
        return torch.log(p + fusion_lambda * p_hat)[0, label]

    return score
