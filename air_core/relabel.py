"""One relabelling round: scores of the unlabeled images -> the images that train and their targets.

Hard-label strategies (FPL, GRIP) give one-hot targets; CPL gives weights over candidate sets.
Scores cover the classes the unlabeled images may take (all classes, or the unseen ones in
TRZSL); targets are mapped back to all C classes, over which the prompt is trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from air_core.config import Recipe
from air_core.cpl import cpl_round
from air_core.pseudo_labels import grip_k, pseudo_label


@dataclass
class RoundLabels:
    """The pseudo-labelled images of one round."""

    rows: np.ndarray  # (n,) rows of the scored images that train
    labels: np.ndarray  # (n,) class index: the hard pseudo-label, or CPL's pool class
    scores: np.ndarray  # (n,) score of that class
    targets: np.ndarray  # (n, C) loss weights over all classes: one-hot, or CPL's candidate weights
    k: int = 0  # the round's K per class (FPL's top_k, GRIP's and CPL's K_t)


def relabel(scores: np.ndarray, recipe: Recipe, iteration: int, classes: np.ndarray, n_classes: int) -> RoundLabels:
    """Pseudo-label with the recipe's strategy.

    Args:
        scores: (N, C_u) text or fused scores (eq. 7) over ``classes``.
        recipe: strategy, K, iterations, CPL's alpha and beta.
        iteration: 0-based round (GRIP's K_t; CPL's soft weights on round 0).
        classes: (C_u,) class index of each score column.
        n_classes: C, the number of classes the prompt is trained over.
    """
    n, c_u = scores.shape
    k = recipe.top_k if recipe.pseudo_labels == "fpl" else grip_k(iteration, n, c_u, recipe.iterations)
    if recipe.pseudo_labels == "cpl":  # GRIP's K schedule
        local, weights = cpl_round(scores, recipe.cpl_alpha, recipe.cpl_beta, k, soft=iteration == 0)
    else:
        local = pseudo_label(scores, recipe.pseudo_labels, iteration, recipe.top_k, recipe.iterations)
        weights = np.zeros((n, c_u))
        kept = np.flatnonzero(local >= 0)
        weights[kept, local[kept]] = 1.0
    rows = np.flatnonzero(local >= 0)
    targets = np.zeros((len(rows), n_classes), dtype=np.float32)
    targets[:, classes] = weights[rows]  # (n, C) from (n, C_u)
    return RoundLabels(rows=rows, labels=classes[local[rows]], scores=scores[rows, local[rows]], targets=targets, k=k)


def most_confident(scores: np.ndarray, classes: np.ndarray, per_class: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Per class, the ``per_class`` images predicted as it (argmax) with the highest score (fig. 4).

    Returns:
        rows of ``scores`` and their predicted class (index into all classes).
    """
    pred = scores.argmax(axis=1)
    top = scores[np.arange(len(scores)), pred]
    rows = []
    for c in range(scores.shape[1]):
        members = np.flatnonzero(pred == c)
        rows.append(members[np.argsort(-top[members], kind="stable")[:per_class]])
    rows_arr = np.concatenate(rows) if rows else np.zeros(0, int)
    return rows_arr, classes[pred[rows_arr]]
