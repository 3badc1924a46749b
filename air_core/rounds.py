"""The round loop: relabel with p + lambda * p_hat (eq. 7), train on r * L_r + beta * L_s (eq. 10), repeat.

Round t relabels the unlabeled images with the classifier of round t-1 (zero-shot CLIP at
t = 0), fused with the prototype classifier when the recipe uses it (eq. 7), picks the images
that train with the recipe's strategy (FPL, GRIP, CPL), and trains a prompt, text or visual, on
them and on the labeled images of the paradigm: freshly initialised, or from the last round's text
prompt where the recipe warm-starts (``warm_starts``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from air_core.config import Recipe
from air_core.fitting import TrainSet, embed, make_learner, train_round
from air_core.pseudo_labels import class_probs, fuse
from air_core.real_set import build_real_set
from air_core.relabel import most_confident, relabel
from air_core.run_inputs import TrainingData, trains_anything

log = logging.getLogger(__name__)
CONFIDENT_PER_CLASS = 50  # fig. 4: pseudo-label accuracy of the 50 most confident images per class


@dataclass
class TrainingResult:
    classifier: np.ndarray  # (C, D) final class features
    prompt: dict[str, torch.Tensor] = field(default_factory=dict)
    pseudo_labels: list[dict] = field(default_factory=list)  # per iteration: positions, labels, scores
    confident: list[dict] = field(default_factory=list)  # per iteration and scores: positions, labels (fig. 4)
    history: list[dict] = field(default_factory=list)


def _round_scores(
    data: TrainingData,
    learner: nn.Module | None,
    recipe: Recipe,
    prompt: str,
    unlabeled: np.ndarray,
    classes: np.ndarray,
) -> dict[str, np.ndarray]:
    """p (eq. 1) and, with fusion, p + lambda * p_hat (eq. 7) of the unlabeled images over ``classes``."""
    if learner is None or prompt == "text":  # the image side is frozen: cached features
        feats, protos = data.real_features[unlabeled], data.prototypes
    else:
        feats = embed(learner, data.real_images, unlabeled)
        protos = embed(learner, data.prototype_images, np.arange(data.n_classes)) if recipe.fuses else None
    with torch.no_grad():
        text = data.round0_classifier() if learner is None else learner.text_features().float().cpu().numpy()
    scores = {"text": class_probs(feats, text[classes], data.logit_scale)}  # eq. 1
    if recipe.fuses:
        p_hat = class_probs(feats, protos[classes], data.logit_scale)  # eq. 7, auxiliary classifier
        scores[recipe.prototype_scores] = fuse(scores["text"], p_hat, recipe.fusion_lambda)
    return scores


def warm_starts(recipe: Recipe, prompt: str) -> bool:
    """Whether round t >= 1 starts from round t-1's trained prompt instead of the initial one.

    menghini-neurips23-code (2094fa5) draws the text context once (methods/*/training_strategies.py:147-149)
    and builds every round's model as ``nn.Parameter(self.initial_prefix)`` (:207-214, models/prompts_models.py:28),
    which shares the tensor's storage: SGD updates that tensor in place, so each round starts where the last
    one ended (with a new optimizer and schedule). Its visual prefix is a CPU tensor that ``.to("cuda")``
    copies, so visual prompts restart on a GPU; CPL (c711980) restarts both (``copy.deepcopy``,
    methods/unsupervised_learning_new/training_strategies.py:242,250).
    """
    return recipe.warm_start_text and prompt == "text"


def _inputs(data: TrainingData, recipe: Recipe, prompt: str, device: torch.device) -> tuple:
    """What the learner reads: features (text prompts) or cached images (visual), real and synthetic."""
    use_syn = recipe.synthetic_loss
    if prompt == "text":
        real = torch.from_numpy(data.real_features).to(device)
        syn = torch.from_numpy(data.synthetic_features).to(device) if use_syn else None
    elif (
        data.real_images is None
        or (use_syn and data.synthetic_images is None)
        or (recipe.fuses and data.prototype_images is None)
    ):
        raise ValueError("visual prompts need the run's images cached: call air_core.run_inputs.attach_images")
    else:
        real = data.real_images.to(device)
        syn = data.synthetic_images.to(device) if use_syn else None
    synthetic = (
        None
        if syn is None
        else TrainSet(
            inputs=syn,
            rows=torch.arange(len(data.synthetic_labels)),
            labels=torch.as_tensor(data.synthetic_labels, dtype=torch.long).to(device),
        )
    )
    return real, synthetic


def train_iterations(
    data: TrainingData,
    recipe: Recipe,
    model: nn.Module,
    tokenizer,
    class_names: Sequence[str],
    seed: int,
    prompt: str = "text",
    device: str | torch.device = "cpu",
) -> TrainingResult:
    """Run the recipe's relabel-and-train rounds (the paradigm decides which labels are given)."""
    device = torch.device(device)
    labeled, unlabeled = np.flatnonzero(data.given_labels >= 0), np.flatnonzero(data.given_labels < 0)
    classes = data.label_classes()
    relabels = recipe.relabels and len(unlabeled) > 0
    rounds = recipe.iterations if relabels else 1
    trains = trains_anything(recipe, data.given_labels)
    real_inputs, synthetic = _inputs(data, recipe, prompt, device) if trains else (None, None)
    result = TrainingResult(classifier=data.zero_shot_text)
    generator = torch.Generator().manual_seed(seed)
    learner = None
    round_labels = None
    for iteration in range(rounds + 1):
        scores = _round_scores(data, learner, recipe, prompt, unlabeled, classes) if len(unlabeled) else {}
        for kind, s in scores.items():
            rows, labels = most_confident(s, classes, CONFIDENT_PER_CLASS)
            result.confident.append(
                {"iteration": iteration, "scores": kind, "positions": unlabeled[rows], "labels": labels}
            )
        if iteration == rounds:
            break
        if not trains:
            log.info(
                "nothing to train (epochs %d, %d labelled images): the classifier stays the zero-shot one",
                recipe.epochs,
                len(labeled),
            )
            break
        previous, round_labels = round_labels, None  # CPL's capped pools read the previous round's sizes
        if relabels:
            fused = [kind for kind in scores if kind != "text"]  # eq. 7 when the recipe fuses
            round_labels = relabel(
                scores[fused[0] if fused else "text"], recipe, iteration, classes, data.n_classes, previous
            )
        real, held_out = build_real_set(
            real_inputs,
            data.given_labels,
            unlabeled,
            round_labels,
            recipe,
            data.paradigm,
            data.seen_mask(),
            device,
            labeled_order=data.labeled_order,
        )
        if round_labels is not None:
            result.pseudo_labels.append(
                {
                    "iteration": iteration,
                    "positions": unlabeled[round_labels.rows],
                    "labels": round_labels.labels,
                    "scores": round_labels.scores,
                    "held_out": held_out,
                }
            )
        if (real is None or not recipe.real_training) and synthetic is None:
            log.info("round %d: nothing to train on; the classifier stays the zero-shot one", iteration)
            break
        log.info(
            "round %d: training on %d labelled and %d pseudo-labelled images (%d held out), weights %.3g, %.3g",
            iteration,
            0 if real is None else real.n_labeled,
            0 if real is None else real.n_pseudo,
            int(held_out.sum()),
            0 if real is None else real.labeled_weight,
            0 if real is None else real.pseudo_weight,
        )
        last_learner = learner
        torch.manual_seed(seed)  # every round draws the same initial context: the reference's one draw
        learner = make_learner(prompt, model, tokenizer, class_names, data.zero_shot_text, recipe.n_ctx, device)
        if last_learner is not None and warm_starts(recipe, prompt):
            learner.load_prompt_state(last_learner.prompt_state())
        result.history += train_round(learner, real, synthetic, recipe, data.logit_scale, generator, iteration)
        with torch.no_grad():
            result.classifier = learner.text_features().float().cpu().numpy()
        result.prompt = learner.prompt_state()
    return result
