"""One round of prompt training: L = r * L_r + beta * L_s (eq. 10), for a text or a visual prompt.

A learner offers ``text_features()`` (C, D) and ``image_features(x)`` (B, D). The text learner
runs the text tower once per step over the C class prompts and passes cached image features
through; the visual learner runs the image tower per batch over cached, preprocessed images
and classifies with the frozen zero-shot text features. Only the prompt is optimized.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from air_core.config import Recipe
from air_core.cpl import candidate_loss
from air_core.real_set import RealSet
from air_core.text_prompts import TextPromptLearner
from air_core.visual_prompts import ImageTensors, VisualPromptLearner

Inputs = torch.Tensor | ImageTensors  # cached features (N, D), or cached images (N, 3, H, W)


@dataclass
class TrainSet:
    """Synthetic images of a round: rows of ``inputs`` with their generating class."""

    inputs: Inputs
    rows: torch.Tensor  # (n,) rows of inputs
    labels: torch.Tensor  # (n,)


def lr_at(epoch: int, recipe: Recipe) -> float:
    """The lr of an epoch: warm-up, then cosine decay from ``lr`` to 0, stepped once per epoch.

    linear warm-up: ``lr * epoch / warmup_epochs`` (epoch 0 runs at 0), the reference code's
    WarmupCosineSchedule stepped per epoch (menghini-neurips23-code utils/schedulers.py:55-64,
    training_strategies.py:589-591); constant: ``warmup_lr``, as the AiR paper's text says.
    """
    if epoch < recipe.warmup_epochs:
        if recipe.warmup == "constant":
            return recipe.warmup_lr
        return recipe.lr * epoch / recipe.warmup_epochs
    span = max(recipe.epochs - recipe.warmup_epochs, 1)
    return 0.5 * recipe.lr * (1 + math.cos(math.pi * (epoch - recipe.warmup_epochs) / span))


def air_loss(
    loss_real: torch.Tensor,
    logits_syn: torch.Tensor | None,
    y_syn: torch.Tensor | None,
    beta: float,
    real_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L = r * L_r + beta * L_s (eq. 10): L_s is the CE on synthetic images with their generating class (eq. 9).

    Args:
        loss_real: L_r of the batch (``real_loss``), 0 when the batch has no real image.
        real_weight: r, 0 turns L_r off (table 2's L_s-only row).
    Returns:
        L and L_s (0 when ``logits_syn`` is None).
    """
    loss_syn = F.cross_entropy(logits_syn, y_syn) if logits_syn is not None else loss_real.new_zeros(())
    return real_weight * loss_real + beta * loss_syn, loss_syn


def real_loss(logits: torch.Tensor, real: RealSet, lab_idx: torch.Tensor, pseudo_idx: torch.Tensor) -> torch.Tensor:
    """L_r of one batch: w_L * mean labelled CE + w_P * mean pseudo-labelled loss (real_set.py's table).

    Args:
        logits: (B, C) of the batch's labelled rows followed by its pseudo-labelled rows.
        lab_idx, pseudo_idx: indexes into ``real.labeled_*`` and ``real.pseudo_*`` of the batch's rows.
    """
    if real.class_mask is not None:  # CoOp/VPT in TRZSL: a softmax over the seen classes only
        logits = logits.masked_fill(~real.class_mask, float("-inf"))
    n_lab = len(lab_idx)
    loss = logits.new_zeros(())
    if n_lab:  # each term is the mean over its own rows (menghini textual_fpl.py:143-163)
        loss = loss + real.labeled_weight * F.cross_entropy(logits[:n_lab], real.labeled_labels[lab_idx])
    if len(pseudo_idx):
        if real.pseudo_targets is not None:  # CPL: -log sum_j w_j p_j (CPL-ICML2024 utils/loss.py:96-99)
            pseudo = candidate_loss(logits[n_lab:], real.pseudo_targets[pseudo_idx]).mean()
        else:
            pseudo = F.cross_entropy(logits[n_lab:], real.pseudo_labels[pseudo_idx])
        loss = loss + real.pseudo_weight * pseudo
    return loss


def make_learner(
    prompt: str,
    clip_model: nn.Module,
    tokenizer,
    class_names: Sequence[str],
    zero_shot_text: np.ndarray,
    n_ctx: int,
    device: torch.device,
) -> nn.Module:
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
    out = [
        learner.image_features(inputs[index[i : i + batch_size]]).float().cpu()
        for i in range(0, len(index), batch_size)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, learner.text_features().shape[1]), np.float32)


def _batch_loss(
    learner: nn.Module,
    real: RealSet | None,
    batch: tuple[torch.Tensor, torch.Tensor] | None,
    synthetic: TrainSet | None,
    syn_idx: torch.Tensor | None,
    recipe: Recipe,
    logit_scale: float,
):
    """(L, L_r, L_s) of one step, and the number right among the rows that lead the epoch."""
    text = learner.text_features()  # (C, D): one text-tower pass per step (a buffer for visual prompts)
    loss_r = text.new_zeros(())
    correct = 0
    if batch is not None:
        lab_idx, pseudo_idx = batch
        rows = torch.cat([real.labeled_rows[lab_idx], real.pseudo_rows[pseudo_idx]])  # (B,) labelled first
        logits = logit_scale * learner.image_features(real.inputs[rows]) @ text.T  # (B, C)
        loss_r = real_loss(logits, real, lab_idx, pseudo_idx)
        truth = torch.cat([real.labeled_labels[lab_idx], real.pseudo_labels[pseudo_idx]])
        correct = (logits.argmax(1) == truth).sum().item()
    logits_syn = y_syn = None
    if syn_idx is not None:
        logits_syn = logit_scale * learner.image_features(synthetic.inputs[synthetic.rows[syn_idx]]) @ text.T
        y_syn = synthetic.labels[syn_idx]
        if batch is None:
            correct = (logits_syn.argmax(1) == y_syn).sum().item()
    loss, loss_s = air_loss(loss_r, logits_syn, y_syn, recipe.synthetic_beta, recipe.real_loss)
    return (loss, loss_r, loss_s), correct


def real_batches(real: RealSet, batch_size: int, generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch's batches of real images: (labelled, pseudo-labelled) indexes per step.

    Mixed (FPL/GRIP/CoOp): one shuffled pass over labelled and pseudo-labelled images together, the last
    batch kept (menghini training_strategies.py:297-303). Separate streams (CPL): one pass over the
    pseudo-labelled images in full batches (drop_last, CPL-ICML2024 training_strategies.py:312-324; one
    short batch when there are fewer than ``batch_size``), each with a labelled batch from a sampler that
    reshuffles when it runs out (utils/utils.py:285-297).
    """
    empty = torch.zeros(0, dtype=torch.long)
    n_lab, n_pseudo = real.n_labeled, real.n_pseudo
    if not real.separate_streams or n_pseudo == 0:
        order = torch.randperm(n_lab + n_pseudo, generator=generator)
        chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        return [(c[c < n_lab], c[c >= n_lab] - n_lab) for c in chunks]
    order = torch.randperm(n_pseudo, generator=generator)
    steps = max(n_pseudo // batch_size, 1)
    batches, lab_order, cursor = [], torch.randperm(n_lab, generator=generator) if n_lab else empty, 0
    for step in range(steps):
        lab = empty
        if n_lab:
            if cursor >= n_lab:  # the labelled sampler starts a new shuffled pass
                lab_order, cursor = torch.randperm(n_lab, generator=generator), 0
            lab, cursor = lab_order[cursor : cursor + real.labeled_batch_size], cursor + real.labeled_batch_size
        batches.append((lab, order[step * batch_size : (step + 1) * batch_size]))
    return batches


def train_round(
    learner: nn.Module,
    real: RealSet | None,
    synthetic: TrainSet | None,
    recipe: Recipe,
    logit_scale: float,
    generator: torch.Generator,
    iteration: int,
) -> list[dict]:
    """Train the learner's prompt for ``recipe.epochs`` epochs; one history row per epoch.

    An epoch is one pass over the real training images as ``real_batches`` orders them (over the
    synthetic ones when L_r is off); synthetic batches of the same size cycle alongside.
    """
    params = [p for p in learner.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    real = real if recipe.real_training and real is not None and real.n_labeled + real.n_pseudo else None
    synthetic = synthetic if recipe.synthetic_loss else None
    bsz, history = recipe.batch_size, []
    learner.train()
    for epoch in tqdm(range(recipe.epochs), desc=f"round {iteration}", mininterval=5):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(epoch, recipe)
        if real is not None:
            batches: list = real_batches(real, bsz, generator)
            sizes = [len(a) + len(b) for a, b in batches]
        else:
            order = torch.randperm(len(synthetic.rows), generator=generator)
            batches = [None] * math.ceil(len(order) / bsz)
            sizes = [len(order[i : i + bsz]) for i in range(0, len(order), bsz)]
        syn_order = torch.randperm(len(synthetic.rows), generator=generator) if synthetic is not None else None
        sums = np.zeros(4)
        for step, batch in enumerate(batches):
            syn_idx = None
            if synthetic is not None:
                syn_idx = (
                    order[step * bsz : (step + 1) * bsz]
                    if real is None
                    else syn_order[(step * bsz + torch.arange(bsz)) % len(syn_order)]
                )
            (loss, loss_r, loss_s), correct = _batch_loss(learner, real, batch, synthetic, syn_idx, recipe, logit_scale)
            optimizer.zero_grad()
            loss.backward()
            if recipe.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
            optimizer.step()
            sums += [sizes[step] * loss_r.item(), sizes[step] * loss_s.item(), sizes[step] * loss.item(), correct]
        mean = sums / max(sum(sizes), 1)
        history.append(
            {
                "iteration": iteration,
                "epoch": epoch,
                "lr": optimizer.param_groups[0]["lr"],
                "loss_real": mean[0],
                "loss_synthetic": mean[1],
                "loss": mean[2],
                "train_acc": mean[3],
            }
        )
    return history
