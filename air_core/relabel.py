"""One relabelling round: scores of the unlabeled images -> the images that train and their targets.

Hard-label strategies (FPL, GRIP) give one-hot targets; CPL gives weights over candidate sets.
Scores cover the classes the unlabeled images may take (all classes, or the unseen ones in
TRZSL); targets are mapped back to all C classes, over which the prompt is trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from air_core.config import Recipe
from air_core.cpl import cpl_round, pool_caps
from air_core.pseudo_labels import grip_k, leaderboard_no_break, pseudo_label


@dataclass
class RoundLabels:
    """The pseudo-labelled images of one round: one entry per (image, label) pair.

    With menghini's leaderboards (``Recipe.no_break_leaderboard``) an image may appear in several
    entries with different labels, and the entries are in the reference's list order (board by board);
    otherwise each image appears at most once, rows ascending.
    """

    rows: np.ndarray  # (n,) rows of the scored images that train (may repeat: no_break)
    labels: np.ndarray  # (n,) class index: the hard pseudo-label, or CPL's pool class
    scores: np.ndarray  # (n,) score of that class
    targets: np.ndarray  # (n, C) loss weights over all classes: one-hot, or CPL's candidate weights
    k: int = 0  # the round's K per class (FPL's top_k, GRIP's and CPL's K_t)


def relabel(
    scores: np.ndarray,
    recipe: Recipe,
    iteration: int,
    classes: np.ndarray,
    n_classes: int,
    previous: RoundLabels | None = None,
) -> RoundLabels:
    """Pseudo-label with the recipe's strategy.

    Args:
        scores: (N, C_u) text or fused scores (eq. 7) over ``classes``.
        recipe: strategy, K, iterations, CPL's alpha and beta, the reference switches.
        iteration: 0-based round (GRIP's K_t; CPL's soft weights on round 0).
        classes: (C_u,) class index of each score column.
        n_classes: C, the number of classes the prompt is trained over.
        previous: the previous round's labels (CPL's capped pools read their sizes); None on round 0.
    """
    n, c_u = scores.shape
    k = recipe.top_k if recipe.pseudo_labels == "fpl" else grip_k(iteration, n, c_u, recipe.iterations)
    if recipe.pseudo_labels == "cpl":  # GRIP's K schedule
        caps = _cpl_caps(recipe, k, classes, previous)
        local, weights = cpl_round(scores, recipe.cpl_alpha, recipe.cpl_beta, caps, soft=iteration == 0)
        rows = np.flatnonzero(local >= 0)
        cols, local_targets = local[rows], weights[rows]
    else:
        if recipe.no_break_leaderboard:
            rows, cols = leaderboard_no_break(scores, k)
        else:
            local = pseudo_label(scores, recipe.pseudo_labels, iteration, recipe.top_k, recipe.iterations)
            rows = np.flatnonzero(local >= 0)
            cols = local[rows]
        local_targets = np.eye(c_u)[cols]  # (n, C_u) one-hot
    targets = np.zeros((len(rows), n_classes), dtype=np.float32)
    targets[:, classes] = local_targets  # (n, C) from (n, C_u)
    return RoundLabels(rows=rows, labels=classes[cols], scores=scores[rows, cols], targets=targets, k=k)


def _cpl_caps(recipe: Recipe, k: int, classes: np.ndarray, previous: RoundLabels | None) -> int | np.ndarray:
    """The round's pool capacities: K_t, or CPL's caps from the previous round's pool sizes."""
    if not recipe.caps_cpl_pools:
        return k
    sizes = None if previous is None else np.array([(previous.labels == c).sum() for c in classes])
    return pool_caps(sizes, k, len(classes))


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
