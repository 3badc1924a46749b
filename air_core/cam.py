"""Class activation maps of CLIP's image tower (paper fig. 5): where the image tower looks for a class.

Grad-CAM (Selvaraju et al., 2017) computed by pytorch-grad-cam's ``GradCAM`` (ReLU(sum_k w_k A_k) with w_k
the mean gradient of channel k, upsampled bilinearly to the image's size and scaled to [0, 1]) on the last
spatial activations the class score depends on:

- ViT (open_clip ``VisionTransformer``): the patch tokens entering the last transformer block (the class
  token is pooled after it, so the block's own output tokens do not reach the score), i.e. the output of
  the block before it (of ``ln_pre`` for a one-block tower), laid out as a (C, h, w) map by the
  ``reshape_transform`` pytorch-grad-cam asks for with ViTs;
- ModifiedResNet (the RN50 family, the toy CLIP): the output of the deepest residual stage whose map is at
  least 4x4 (``layer4``, 7x7, for RN50 at 224 px; ``layer2`` for the toy CLIP's 32 px images, whose
  ``layer4`` is 1x1), before the attention pool.

The class score is the dot product of the image's *unnormalised* feature with the class vector, as in
Zakka's CLIP Grad-CAM: CLIP's cosine ignores the feature's scale, so for a tower of ReLUs the
gradient-weighted maps of a cosine sum to about zero and ReLU leaves nothing. The class vector is the text
classifier's g_c for the text-only prediction, and g_c + lambda F(x*_c) (the fused classifier of fig. 6) for
the fused prediction, whose class is eq. 7's argmax. pytorch-grad-cam scores a model's output columns, so
``_ClassScore`` makes that dot product the one column of a (B, 1) output.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

MIN_SIDE = 4  # the coarsest CAM grid that still shows where in the image the class is
RESNET_STRIDES = (4, 8, 16, 32)  # ModifiedResNet's layer1..layer4 output strides (stem /4, then /2 per stage)


class _ClassScore(nn.Module):
    """The image tower's score for one class vector, as a (B, 1) output: <unnormalised feature, vector>."""

    def __init__(self, model: nn.Module, class_vector: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.class_vector = class_vector

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        feature = self.model.encode_image(image).float()  # (B, D), unnormalised
        return (feature @ self.class_vector.to(feature))[:, None]  # (B, 1)


def _vit_target(visual: nn.Module) -> tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """The module whose output is the last block's input tokens, and the tokens -> (B, C, h, w) transform."""
    blocks = visual.transformer.resblocks
    # Between the blocks the tokens are (N, B, D) when the transformer is not batch-first; ln_pre's are (B, N, D)
    if len(blocks) > 1:
        layer, seq_first = blocks[-2], not getattr(visual.transformer, "batch_first", True)
    else:
        layer, seq_first = visual.ln_pre, False
    h, w = visual.grid_size

    def to_map(tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.transpose(0, 1) if seq_first else tokens  # (B, N, D)
        patches = tokens[:, tokens.shape[1] - h * w :]  # the last h*w tokens are the patches (class token first)
        return patches.reshape(len(tokens), h, w, -1).permute(0, 3, 1, 2)  # (B, D, h, w)

    return layer, to_map


def _resnet_target(visual: nn.Module, side: int) -> nn.Module:
    """The deepest residual stage whose map of an image of ``side`` pixels is at least MIN_SIDE wide."""
    stages = [visual.layer1, visual.layer2, visual.layer3, visual.layer4]
    wide = [stage for stage, stride in zip(stages, RESNET_STRIDES, strict=True) if side // stride >= MIN_SIDE]
    return wide[-1] if wide else stages[0]


def grad_cam(model: nn.Module, image: torch.Tensor, class_vector: torch.Tensor) -> np.ndarray:
    """Grad-CAM of one preprocessed image (1, 3, H, W) for the class vector (D,); an (H, W) map in [0, 1].

    The model's parameters are left without gradients and its train/eval mode as it was.
    """
    from pytorch_grad_cam import GradCAM  # imported here: only the fig. 5 job pays for its imports (opencv, ...)
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    visual = model.visual
    if hasattr(visual, "transformer") and hasattr(visual, "grid_size"):
        layer, to_map = _vit_target(visual)
    elif hasattr(visual, "layer4"):
        layer, to_map = _resnet_target(visual, min(image.shape[-2:])), None
    else:
        raise ValueError(
            f"class activation maps need an open_clip ViT or ModifiedResNet image tower, not {type(visual).__name__}"
        )
    training = model.training  # GradCAM puts the model in eval mode
    try:
        with torch.enable_grad(), GradCAM(_ClassScore(model, class_vector), [layer], reshape_transform=to_map) as cam:
            # the frozen tower needs a graph to the activations: the image is the leaf that requires a gradient
            maps = cam(image.detach().requires_grad_(True), targets=[ClassifierOutputTarget(0)])  # (1, H, W)
    finally:
        model.train(training)
        model.zero_grad(set_to_none=True)  # GradCAM clears them before its backward, not after
    return maps[0]


def fused_vector(classifier: torch.Tensor, prototypes: torch.Tensor, fusion_lambda: float, label: int) -> torch.Tensor:
    """The fused classifier's vector of a class, g_c + lambda F(x*_c)."""
    return classifier[label] + fusion_lambda * prototypes[label]
