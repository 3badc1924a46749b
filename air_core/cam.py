"""Class activation maps of CLIP's image tower (paper fig. 5): where the image tower looks for a class.

Grad-CAM (Selvaraju et al., 2017) on the last spatial activations the class score depends on:

- ViT (open_clip ``VisionTransformer``): the patch tokens entering the last transformer block (the class
  token is pooled after it, so the block's own output tokens do not reach the score); the CAM is
  ReLU(sum_k w_k A_k) over the token grid with w_k the mean gradient of channel k, as pytorch-grad-cam does
  for ViTs (its ``reshape_transform``);
- ModifiedResNet (the RN50 family, the toy CLIP): the output of the deepest residual stage whose map is at
  least 4x4 (``layer4``, 7x7, for RN50 at 224 px; ``layer2`` for the toy CLIP's 32 px images, whose
  ``layer4`` is 1x1), before the attention pool.

The map is upsampled to the image's size and scaled to [0, 1]. The class score is the dot product of the
image's *unnormalised* feature with the class vector, as in Zakka's CLIP Grad-CAM: CLIP's cosine ignores the
feature's scale, so for a tower of ReLUs the gradient-weighted maps of a cosine sum to about zero and ReLU
leaves nothing. The class vector is the text classifier's g_c for the text-only prediction, and
g_c + lambda F(x*_c) (the fused classifier of fig. 6) for the fused prediction, whose class is eq. 7's argmax.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MIN_SIDE = 4  # the coarsest CAM grid that still shows where in the image the class is


def _targets(visual: nn.Module) -> tuple[list[nn.Module], bool]:
    """The modules whose activations may be weighed, and whether to take their input (ViT) or output (ResNet)."""
    if hasattr(visual, "transformer") and hasattr(visual, "grid_size"):
        return [visual.transformer.resblocks[-1]], True
    if hasattr(visual, "layer4"):
        return [visual.layer1, visual.layer2, visual.layer3, visual.layer4], False
    raise ValueError(
        f"class activation maps need an open_clip ViT or ModifiedResNet image tower, not {type(visual).__name__}"
    )


def _spatial(visual: nn.Module, acts: torch.Tensor, grads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations and gradients as (C, h, w) maps."""
    if acts.dim() == 4:  # ResNet: (1, C, h, w)
        return acts[0], grads[0]
    h, w = visual.grid_size
    if not getattr(visual.transformer, "batch_first", True):
        acts, grads = acts.transpose(0, 1), grads.transpose(0, 1)  # (1, N, W)
    patches = slice(acts.shape[1] - h * w, None)  # the last h*w tokens are the patches (class token first)
    return (acts[0, patches].T.reshape(-1, h, w), grads[0, patches].T.reshape(-1, h, w))  # (W, h, w)


def grad_cam(model: nn.Module, image: torch.Tensor, class_vector: torch.Tensor) -> np.ndarray:
    """Grad-CAM of one preprocessed image (1, 3, H, W) for the class vector (D,); an (H, W) map in [0, 1]."""
    visual = model.visual
    modules, use_input = _targets(visual)
    kept: list[torch.Tensor] = []

    def keep(tensor: torch.Tensor) -> None:
        tensor.retain_grad()
        kept.append(tensor)

    hooks = [
        m.register_forward_pre_hook(lambda m, args: keep(args[0]))
        if use_input
        else m.register_forward_hook(lambda m, args, out: keep(out))
        for m in modules
    ]
    try:
        with torch.enable_grad():
            image = image.detach().requires_grad_(True)  # the frozen tower needs a graph to the activations
            feature = model.encode_image(image).float()  # (1, D), unnormalised
            (feature[0] @ class_vector.to(feature)).backward()
    finally:
        for hook in hooks:
            hook.remove()
    wide = [t for t in kept if t.dim() != 4 or min(t.shape[-2:]) >= MIN_SIDE] or kept[:1]
    acts, grads = _spatial(visual, wide[-1].detach(), wide[-1].grad.detach())
    weights = grads.mean(dim=(1, 2))  # (C,) the channel's mean gradient
    cam = F.relu((weights[:, None, None] * acts).sum(0))  # (h, w)
    cam = F.interpolate(cam[None, None], size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    return (cam / cam.max() if cam.max() > 0 else cam).cpu().numpy()


def fused_vector(classifier: torch.Tensor, prototypes: torch.Tensor, fusion_lambda: float, label: int) -> torch.Tensor:
    """The fused classifier's vector of a class, g_c + lambda F(x*_c)."""
    return classifier[label] + fusion_lambda * prototypes[label]
