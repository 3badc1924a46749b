"""Iterative prompt training: relabel with p + lambda * p_hat, train on L_r + beta * L_s, repeat.

Image features are cached, so a training step costs one pass of the text tower over the
C class prompts; no image is decoded or encoded here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from air_core.artifacts import column_matrix
from air_core.config import Recipe
from air_core.prompts import TextPromptLearner
from air_core.pseudo_labels import class_probs, fuse, pseudo_label
from air_core.select import select_prototypes

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Cached features of one run. Labels are -1 where a label is not given to the learner."""

    real_features: np.ndarray  # (N, D) unlabeled + labeled train-pool images
    given_labels: np.ndarray  # (N,) true label for labeled images, -1 for unlabeled
    zero_shot_text: np.ndarray  # (C, D) text features of "a photo of a {class}"
    logit_scale: float
    synthetic_features: np.ndarray | None = None  # (S, D)
    synthetic_labels: np.ndarray | None = None  # (S,)
    prototypes: np.ndarray | None = None  # (C, D), x^*_c of eq. 6


@dataclass
class TrainingResult:
    classifier: np.ndarray  # (C, D) final class features
    prompt: dict[str, torch.Tensor] = field(default_factory=dict)
    pseudo_labels: list[dict] = field(default_factory=list)  # per iteration: labels, scores
    history: list[dict] = field(default_factory=list)


def lr_at(epoch: int, recipe: Recipe) -> float:
    """Constant warm-up lr for the first epochs, then cosine decay from lr (CoOp's schedule)."""
    if epoch < recipe.warmup_epochs:
        return recipe.warmup_lr
    span = max(recipe.epochs - recipe.warmup_epochs, 1)
    return 0.5 * recipe.lr * (1 + math.cos(math.pi * (epoch - recipe.warmup_epochs) / span))


def air_loss(logits_real: torch.Tensor, y_real: torch.Tensor, logits_syn: torch.Tensor | None,
             y_syn: torch.Tensor | None, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L = L_r + beta * L_s (eq. 10): CE on pseudo-labelled real images (eq. 8) and on synthetic ones (eq. 9).

    Returns:
        L, L_r, L_s (L_s is 0 without synthetic logits).
    """
    loss_real = F.cross_entropy(logits_real, y_real)
    loss_syn = F.cross_entropy(logits_syn, y_syn) if logits_syn is not None else logits_real.new_zeros(())
    return loss_real + beta * loss_syn, loss_real, loss_syn


def _train_prompt(learner: TextPromptLearner, x: torch.Tensor, y: torch.Tensor, x_syn: torch.Tensor | None,
                  y_syn: torch.Tensor | None, recipe: Recipe, logit_scale: float, generator: torch.Generator,
                  iteration: int) -> list[dict]:
    optimizer = torch.optim.SGD([learner.ctx], lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    learner.train()
    history = []
    bar = tqdm(range(recipe.epochs), desc=f"round {iteration}", mininterval=5)
    for epoch in bar:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(epoch, recipe)
        order = torch.randperm(len(x), generator=generator)
        syn_order = torch.randperm(len(x_syn), generator=generator) if x_syn is not None else None
        sums = np.zeros(4)
        for step, start in enumerate(range(0, len(x), recipe.batch_size)):
            idx = order[start:start + recipe.batch_size]
            text = learner()  # (C, D): one text-tower pass per step
            logits = logit_scale * x[idx] @ text.T  # (B, C)
            logits_syn = y_batch_syn = None
            if x_syn is not None and recipe.synthetic_beta > 0:
                sidx = syn_order[(step * recipe.batch_size + torch.arange(recipe.batch_size)) % len(syn_order)]
                logits_syn, y_batch_syn = logit_scale * x_syn[sidx] @ text.T, y_syn[sidx]
            loss, loss_real, loss_syn = air_loss(logits, y[idx], logits_syn, y_batch_syn, recipe.synthetic_beta)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sums += [len(idx) * loss_real.item(), len(idx) * loss_syn.item(), len(idx) * loss.item(),
                     (logits.argmax(1) == y[idx]).sum().item()]
        mean = sums / len(x)
        history.append({"iteration": iteration, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"],
                        "loss_real": mean[0], "loss_synthetic": mean[1], "loss": mean[2], "train_acc": mean[3]})
        bar.set_postfix(loss=f"{mean[2]:.3f}", refresh=False)
    return history


def train_iterations(data: TrainingData, recipe: Recipe, model: torch.nn.Module, tokenizer, class_names: list[str],
                     seed: int) -> TrainingResult:
    """Run the recipe's relabel-and-train rounds (the paradigm decides which labels are given)."""
    labeled = data.given_labels >= 0
    unlabeled = ~labeled
    classifier = data.zero_shot_text
    result = TrainingResult(classifier=classifier)
    x_all = torch.from_numpy(data.real_features)
    x_syn = y_syn = None
    if recipe.synthetic_beta > 0:
        x_syn, y_syn = torch.from_numpy(data.synthetic_features), torch.from_numpy(data.synthetic_labels).long()
    p_proto = None
    if recipe.fusion_lambda > 0:
        p_proto = class_probs(data.real_features[unlabeled], data.prototypes, data.logit_scale)  # p_hat, eq. 7
    rounds = recipe.iterations if (unlabeled.any() and recipe.pseudo_labels != "none") else 1
    generator = torch.Generator().manual_seed(seed)
    for iteration in range(rounds):
        labels = data.given_labels.copy()
        if recipe.pseudo_labels != "none":
            p_text = class_probs(data.real_features[unlabeled], classifier, data.logit_scale)  # eq. 1
            scores = fuse(p_text, p_proto, recipe.fusion_lambda)  # eq. 7
            chosen = pseudo_label(scores, recipe.pseudo_labels, iteration, recipe.top_k, recipe.iterations)
            labels[unlabeled] = chosen
            kept = chosen >= 0
            result.pseudo_labels.append({"iteration": iteration, "positions": np.flatnonzero(unlabeled)[kept],
                                         "labels": chosen[kept], "scores": scores[kept, chosen[kept]]})
        train = labels >= 0
        if not train.any():
            log.info("round %d: nothing to train on; the classifier stays the zero-shot one", iteration)
            break
        log.info("round %d: training on %d images (%d pseudo-labelled)", iteration, train.sum(),
                 (train & unlabeled).sum())
        torch.manual_seed(seed + iteration)  # a fresh prompt every round (GRIP)
        learner = TextPromptLearner(model, tokenizer, class_names, recipe.n_ctx)
        result.history += _train_prompt(learner, x_all[train], torch.from_numpy(labels[train]).long(), x_syn, y_syn,
                                         recipe, data.logit_scale, generator, iteration)
        learner.eval()
        with torch.no_grad():
            classifier = learner().numpy()
        result.classifier, result.prompt = classifier, learner.prompt_state()
    return result


def training_data(manifest: pd.DataFrame, split: pd.DataFrame, features: pd.DataFrame, zero_shot_text: np.ndarray,
                  logit_scale: float, synthetic: pd.DataFrame | None = None,
                  n_synthetic: int | None = None) -> tuple[TrainingData, np.ndarray]:
    """Assemble a run's cached features; returns the data and the manifest rows of the train pool.

    Synthetic images are the first ``n_synthetic`` per class (M of fig. 3), and the prototypes
    are re-selected among them (eq. 6), so that an M sweep reuses one generation.
    """
    order = features.set_index("image_id").loc[manifest["image_id"]]
    pool = np.flatnonzero(split["role"].ne("test").to_numpy())
    given = np.where(split["role"].eq("labeled").to_numpy(), manifest["label"].to_numpy(), -1)[pool]
    data = TrainingData(real_features=column_matrix(order, "feature")[pool], given_labels=given,
                        zero_shot_text=zero_shot_text, logit_scale=logit_scale)
    if synthetic is not None:
        if n_synthetic is not None:
            synthetic = synthetic[synthetic["index"] < n_synthetic]
        labels = synthetic["label"].to_numpy()
        feats = column_matrix(synthetic, "feature")
        chosen = select_prototypes(synthetic["p_own"].to_numpy(), labels, len(zero_shot_text))  # eq. 6
        data.synthetic_features, data.synthetic_labels, data.prototypes = feats, labels, feats[chosen]
    return data, pool


def pseudo_label_columns(result: TrainingResult, image_ids: np.ndarray, truth: np.ndarray) -> dict[str, list]:
    """Columns of the 'pseudo_labels' table: every round's pseudo-labelled images."""
    cols: dict[str, list] = {k: [] for k in ("iteration", "image_id", "pseudo_label", "score", "correct")}
    for rnd in result.pseudo_labels:
        pos = rnd["positions"]
        cols["iteration"] += [rnd["iteration"]] * len(pos)
        cols["image_id"] += image_ids[pos].tolist()
        cols["pseudo_label"] += rnd["labels"].tolist()
        cols["score"] += rnd["scores"].astype(np.float32).tolist()
        cols["correct"] += (rnd["labels"] == truth[pos]).tolist()
    return cols
