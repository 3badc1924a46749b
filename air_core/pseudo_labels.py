"""Class probabilities (eq. 1), AiR's fused scores (eq. 7) and pseudo-label selection.

All functions take and return numpy arrays: (N, C) scores for N images and C classes.
"""

from __future__ import annotations

import heapq

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def class_probs(image_features: np.ndarray, class_features: np.ndarray, logit_scale: float) -> np.ndarray:
    """p_c = softmax_c(cos(f, g_c) / tau) (eq. 1); also p_hat of eq. 7 with prototypes as g.

    Args:
        image_features: (N, D), L2-normalised.
        class_features: (C, D), L2-normalised (text features, or prototype image features).
        logit_scale: 1 / tau.
    """
    return softmax(logit_scale * image_features @ class_features.T)


def fuse(p_text: np.ndarray, p_proto: np.ndarray | None, fusion_lambda: float) -> np.ndarray:
    """p*_c = p_c + lambda * p_hat_c (eq. 7); the text probabilities alone when lambda is 0."""
    if p_proto is None or fusion_lambda == 0:
        return p_text
    return p_text + fusion_lambda * p_proto


def top_k_per_class(scores: np.ndarray, k: int | np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Give each class at most ``k`` images, the ones it scores highest, each image at most once.

    Every class keeps a leaderboard of its ``k`` best images. An image goes to its most
    probable class first; if it does not make that board (or is pushed off it later), it is
    offered to its next most probable class, and so on (FPL's fall-through).

    Args:
        scores: (N, C).
        k: board size per class, one for all or (C,) one per class (CPL's capped pools).
        allowed: (N, C) bool, the classes an image may be offered to (CPL's candidate sets);
            None = every class.
    Returns:
        (N,) int array: the assigned class, or -1 for images no board kept.
    """
    n, c = scores.shape
    caps = np.broadcast_to(np.asarray(k, dtype=int), (c,))
    allowed = np.ones((n, c), bool) if allowed is None else allowed
    key = np.where(allowed, -scores, np.inf)  # disallowed classes sort last
    preference = np.argsort(key, axis=1, kind="stable")  # (N, C) classes, best first
    n_allowed = allowed.sum(axis=1)
    next_choice = np.zeros(n, dtype=int)
    boards: list[list[tuple[float, int]]] = [[] for _ in range(c)]  # min-heaps of (score, -image)
    free = list(range(n - 1, -1, -1))
    while free:
        i = free.pop()
        if next_choice[i] >= n_allowed[i]:
            continue
        cls = preference[i, next_choice[i]]
        next_choice[i] += 1
        entry = (float(scores[i, cls]), -i)  # ties keep the lower image index
        board = boards[cls]
        if len(board) < caps[cls]:
            heapq.heappush(board, entry)
        elif board and entry > board[0]:
            _, evicted = heapq.heapreplace(board, entry)
            free.append(-evicted)
        else:
            free.append(i)
    labels = np.full(n, -1, dtype=int)
    for cls, board in enumerate(boards):
        for _, neg_i in board:
            labels[-neg_i] = cls
    return labels


def leaderboard_no_break(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """menghini's leaderboards as its loop computes them: (image, class) pairs, an image possibly several times.

    menghini-neurips23-code 2094fa5 utils/clip_pseudolabels.py:48-109 (round 0) and
    methods/*/textual_fpl.py:184-239 (GRIP's later rounds), on a score matrix instead of images:
    each image in turn goes to its argmax class's board if the board has room or the image beats the
    board's last entry; otherwise it joins *every* other board (no ``break``) that has room or whose last
    entry it beats. The last entry is the last one appended until the board is first sorted (when an
    entry beats it on a full board); evicted images are not offered again. Boards are listed in column
    order, each in its own list order: the order of the reference's concatenated ``new_imgs``. Ties in
    score are broken by the larger row, standing in for the reference's larger file path.

    Args:
        scores: (N, C).
        k: board size per class (FPL's top_k, GRIP's K_t); 0 gives no pairs (the reference would fail).
    Returns:
        rows (P,) and classes (P,) of the listed pairs.
    """
    n, c = scores.shape
    boards: list[list[tuple[float, int]]] = [[] for _ in range(c)]
    if k <= 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    last = np.full(c, np.inf)  # score of each board's last entry (inf: the board still has room)

    def offer(cls: int, i: int) -> bool:
        score = float(scores[i, cls])
        if len(boards[cls]) < k:
            boards[cls].append((score, i))
        elif last[cls] < score:  # "qualifies": sorted descending, truncated to k
            boards[cls] = sorted(boards[cls] + [(score, i)], reverse=True)[:k]
        else:
            return False
        last[cls] = boards[cls][-1][0] if len(boards[cls]) == k else np.inf
        return True

    for i in range(n):
        pred = int(np.argmax(scores[i]))
        if offer(pred, i):
            continue
        # each board changes only through its own offer, so the reference's walk over the other classes
        # in descending score reduces to offering the image to every board it qualifies for
        for cls in np.flatnonzero((last < scores[i]) | np.isinf(last)):
            if cls != pred:
                offer(int(cls), i)
    rows = [i for board in boards for _, i in board]
    classes = [cls for cls, board in enumerate(boards) for _ in board]
    return np.asarray(rows, dtype=int), np.asarray(classes, dtype=int)


def grip_k(iteration: int, n_unlabeled: int, n_classes: int, n_iterations: int = 10) -> int:
    """GRIP's growing K: K_t = int((t+1) * int(|U|/10) / C), capped at floor(|U|/C); t is 0-based.

    As menghini-neurips23-code semi_supervised_learning/training_strategies.py:473-484 and :553-560 compute
    it: ``num_samples = int(len(unlabeled) / num_iter)`` first, then ``int((niter + 1) * num_samples / C)``.
    """
    k = int((iteration + 1) * int(n_unlabeled / n_iterations) / n_classes)
    return min(k, n_unlabeled // n_classes)


def pseudo_label(scores: np.ndarray, strategy: str, iteration: int, top_k: int, n_iterations: int) -> np.ndarray:
    """Pseudo-labels (N,) from fused scores with the recipe's strategy (-1 = not selected)."""
    n, c = scores.shape
    if strategy == "fpl":
        return top_k_per_class(scores, top_k)
    if strategy == "grip":
        return top_k_per_class(scores, grip_k(iteration, n, c, n_iterations))
    if strategy == "none":
        return np.full(n, -1, dtype=int)
    raise ValueError(
        f"unknown pseudo-labelling strategy '{strategy}' for hard labels; use none, fpl or grip "
        "(cpl gives candidate sets: air_core.relabel.relabel)"
    )


def ranked_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The top-K per class set with ranks: the set LoRA trains on (eq. 2-3).

    Returns:
        positions (rows of ``scores`` kept), their labels, their scores, and their rank within
        their class (0 = most confident).
    """
    chosen = top_k_per_class(scores, k)
    positions = np.flatnonzero(chosen >= 0)
    labels = chosen[positions]
    kept = scores[positions, labels]
    rank = np.zeros(len(positions), dtype=int)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank[members[np.argsort(-kept[members], kind="stable")]] = np.arange(len(members))
    return positions, labels, kept, rank
