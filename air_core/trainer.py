"""One round of prompt training: L = r * L_r + beta * L_s (eq. 10), for a text or a visual prompt.

A learner offers ``text_features()`` (C, D) and ``image_features(x)`` (B, D). The text learner
runs the text tower once per step over the C class prompts and passes cached image features
through; the visual learner runs the image tower per batch over cached, preprocessed images
and classifies with the frozen zero-shot text features. Only the prompt is optimized.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from air_core.config import Recipe
from air_core.cpl import candidate_loss
from air_core.prompts import TextPromptLearner
from air_core.visual_prompts import ImageTensors, VisualPromptLearner

Inputs = torch.Tensor | ImageTensors  # cached features (N, D), or cached images (N, 3, H, W)


@dataclass
class TrainSet:
    """The images a round trains on: rows of ``inputs`` with their targets."""

    inputs: Inputs
    rows: torch.Tensor  # (n,) rows of inputs
    labels: torch.Tensor  # (n,) hard label (CPL: pool class), for CE and the training accuracy
    targets: torch.Tensor | None = None  # (n, C) loss weights over classes; None = CE on labels
    weights: torch.Tensor | None = None  # (n,) per-image loss weight (SSL's labeled weight); None = 1


def lr_at(epoch: int, recipe: Recipe) -> float:
    """Constant warm-up lr for the first epochs, then cosine decay from lr (CoOp's schedule)."""
    if epoch < recipe.warmup_epochs:
        return recipe.warmup_lr
    span = max(recipe.epochs - recipe.warmup_epochs, 1)
    return 0.5 * recipe.lr * (1 + math.cos(math.pi * (epoch - recipe.warmup_epochs) / span))


def air_loss(logits_real: torch.Tensor | None, y_real: torch.Tensor | None, logits_syn: torch.Tensor | None,
             y_syn: torch.Tensor | None, beta: float, real_weight: float = 1.0,
             sample_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L = r * L_r + beta * L_s (eq. 10): loss on pseudo-labelled real images (eq. 8), CE on synthetic ones (eq. 9).

    Args:
        y_real: (B,) labels (CE) or (B, C) candidate weights (CPL's -log sum_j w_j p_j).
        real_weight: r, 0 turns L_r off (table 2's L_s-only row).
        sample_weight: (B,) per-image weights of L_r, e.g. SSL's |pseudo| / |labeled| on labeled images.
    Returns:
        L, L_r, L_s (a term is 0 when its logits are None).
    """
    ref = logits_real if logits_real is not None else logits_syn
    loss_real = loss_syn = ref.new_zeros(())
    if logits_real is not None:
        per_image = (candidate_loss(logits_real, y_real) if y_real.dim() == 2
                     else F.cross_entropy(logits_real, y_real, reduction="none"))
        loss_real = (per_image * sample_weight).mean() if sample_weight is not None else per_image.mean()
    if logits_syn is not None:
        loss_syn = F.cross_entropy(logits_syn, y_syn)
    return real_weight * loss_real + beta * loss_syn, loss_real, loss_syn


def make_learner(prompt: str, clip_model: nn.Module, tokenizer, class_names: Sequence[str],
                 zero_shot_text: np.ndarray, n_ctx: int, device: torch.device) -> nn.Module:
    """A freshly initialised text (CoOp) or visual (VPT) prompt learner."""
    if prompt == "text":
        return TextPromptLearner(clip_model, tokenizer, class_names, n_ctx).to(device)
    if prompt == "visual":
        return VisualPromptLearner(clip_model, torch.from_numpy(zero_shot_text), n_ctx).to(device)
    raise ValueError(f"prompt type '{prompt}' is not known; use text or visual")


@torch.no_grad()
def embed(learner: nn.Module, inputs: Inputs, rows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Image features (n, D) of ``inputs[rows]`` as the learner sees them (cached ones for text prompts)."""
    learner.eval()
    index = torch.as_tensor(rows, dtype=torch.long)
    out = [learner.image_features(inputs[index[i:i + batch_size]]).float().cpu()
           for i in range(0, len(index), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, learner.text_features().shape[1]), np.float32)


def _batch_loss(learner: nn.Module, real: TrainSet | None, real_idx: torch.Tensor | None, synthetic: TrainSet | None,
                syn_idx: torch.Tensor | None, recipe: Recipe, logit_scale: float):
    text = learner.text_features()  # (C, D): one text-tower pass per step (a buffer for visual prompts)
    logits_real = y_real = weight = logits_syn = y_syn = None
    if real_idx is not None:
        logits_real = logit_scale * learner.image_features(real.inputs[real.rows[real_idx]]) @ text.T  # (B, C)
        y_real = real.targets[real_idx] if real.targets is not None else real.labels[real_idx]
        weight = real.weights[real_idx] if real.weights is not None else None
    if syn_idx is not None:
        logits_syn = logit_scale * learner.image_features(synthetic.inputs[synthetic.rows[syn_idx]]) @ text.T
        y_syn = synthetic.labels[syn_idx]
    losses = air_loss(logits_real, y_real, logits_syn, y_syn, recipe.synthetic_beta, recipe.real_loss, weight)
    lead, lead_y = (logits_real, real.labels[real_idx]) if real_idx is not None else (logits_syn, y_syn)
    return losses, (lead.argmax(1) == lead_y).sum().item()


def train_round(learner: nn.Module, real: TrainSet | None, synthetic: TrainSet | None, recipe: Recipe,
                logit_scale: float, generator: torch.Generator, iteration: int) -> list[dict]:
    """Train the learner's prompt for ``recipe.epochs`` epochs; one history row per epoch.

    An epoch is one pass over the real training images (over the synthetic ones when L_r is
    off); synthetic batches of the same size cycle alongside.
    """
    params = [p for p in learner.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    real = real if recipe.real_loss > 0 else None
    synthetic = synthetic if recipe.synthetic_beta > 0 else None
    lead = real if real is not None else synthetic
    bsz, history = recipe.batch_size, []
    learner.train()
    for epoch in tqdm(range(recipe.epochs), desc=f"round {iteration}", mininterval=5):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(epoch, recipe)
        order = torch.randperm(len(lead.rows), generator=generator)
        syn_order = torch.randperm(len(synthetic.rows), generator=generator) if synthetic is not None else None
        sums = np.zeros(4)
        for step, start in enumerate(range(0, len(order), bsz)):
            idx = order[start:start + bsz]
            syn_idx = None if synthetic is None else (
                idx if lead is synthetic else syn_order[(step * bsz + torch.arange(bsz)) % len(syn_order)])
            (loss, loss_real, loss_syn), correct = _batch_loss(
                learner, real, idx if real is not None else None, synthetic, syn_idx, recipe, logit_scale)
            optimizer.zero_grad()
            loss.backward()
            if recipe.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
            optimizer.step()
            sums += [len(idx) * loss_real.item(), len(idx) * loss_syn.item(), len(idx) * loss.item(), correct]
        mean = sums / len(order)
        history.append({"iteration": iteration, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"],
                        "loss_real": mean[0], "loss_synthetic": mean[1], "loss": mean[2], "train_acc": mean[3]})
    return history
