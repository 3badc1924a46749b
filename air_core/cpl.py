"""CPL, candidate pseudo-label learning (Zhang et al., ICML 2024), on a probability matrix.

Each unlabeled image gets a candidate label set instead of one hard label: the labels that
pass both an intra-instance test (its own probabilities) and an inter-instance test (the
class's column). Class pools of capacity K then choose which images train, and the loss
rewards probability mass anywhere in the candidate set. All arrays are (N, C): N images,
C classes (the classes the unlabeled images may take).

AiR on CPL: the fused scores p* = p + lambda * p_hat (eq. 7) sum to 1 + lambda per image, so
``cpl_round`` renormalises every row to sum to 1 before any quantile. The ranking of an
image's classes is unchanged; the thresholds keep their meaning as probabilities.
"""

from __future__ import annotations

import numpy as np
import torch

from air_core.pseudo_labels import top_k_per_class


def parse_beta(beta: float | str, n_classes: int) -> float:
    """CPL's inter-instance quantile: a number in [0, 1], or 'auto*g' meaning 1 - g / C."""
    if isinstance(beta, str):
        if not beta.startswith("auto*"):
            raise ValueError(f"beta '{beta}' is neither a number nor 'auto*<g>' (e.g. auto*2 = 1 - 2/C)")
        try:
            gamma = float(beta[len("auto*") :])
        except ValueError:
            raise ValueError(f"beta '{beta}': the part after 'auto*' must be a number, e.g. auto*1.5") from None
        return float(np.clip(1.0 - gamma / n_classes, 0.0, 1.0))
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta {beta} is not a quantile in [0, 1]; write e.g. 0.95 or auto*2")
    return float(beta)


def intra_instance(probs: np.ndarray, alpha: float) -> np.ndarray:
    """Each image's labels in descending probability while the cumulative sum stays <= threshold,
    plus the first label that passes it; threshold = the alpha-% quantile of the per-image max.

    Returns:
        (N, C) bool, at least one True per row.
    """
    threshold = np.quantile(probs.max(axis=1), alpha / 100.0)
    order = np.argsort(-probs, axis=1, kind="stable")  # (N, C) classes, best first
    ranked = np.take_along_axis(probs, order, axis=1)
    before = np.cumsum(ranked, axis=1)  # (N, C) cumulative probability, best first
    before = np.concatenate([np.zeros((len(probs), 1)), before[:, :-1]], axis=1)  # (N, C) mass ranked above
    keep_ranked = before <= threshold  # cumsum so far <= threshold, or the first to pass it
    keep = np.zeros_like(keep_ranked)
    np.put_along_axis(keep, order, keep_ranked, axis=1)
    return keep


def inter_instance(probs: np.ndarray, beta: float | str) -> np.ndarray:
    """For class c, the images whose p_c is at or above the beta-quantile of column c.

    Returns:
        (N, C) bool.
    """
    q = parse_beta(beta, probs.shape[1])
    threshold = np.quantile(probs, q, axis=0)  # (C,) linear interpolation
    return probs >= threshold[None, :]


def candidate_sets(probs: np.ndarray, alpha: float, beta: float | str) -> np.ndarray:
    """Candidates = intra-instance AND inter-instance labels; a row may end up empty (dropped)."""
    return intra_instance(probs, alpha) & inter_instance(probs, beta)


def fill_pools(probs: np.ndarray, candidates: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """Class pools of capacity k filled by confidence; an evicted image moves to its next candidate.

    CPL-ICML2024 c711980 utils/clip_pseudolabels.py:403-483 (``_fill_pools``) and utils/utils.py:530-570
    (``ClassPool.update``) fill the pools in synchronous passes; the pools they end with are the ones this
    sequential fill ends with (images propose, pools keep their most confident: the outcome does not
    depend on the order of proposals) unless two candidates tie in 1 - p.

    Args:
        k: capacity of every pool, or (C,) one per pool (``pool_caps``).
    Returns:
        (N,) pool class of each image, -1 for images that no pool kept (or without candidates).
    """
    return top_k_per_class(probs, k, allowed=candidates)


def pool_caps(previous_sizes: np.ndarray | None, k: int, n_classes: int) -> np.ndarray:
    """CPL's pool capacities for a round with K_t = ``k``: min(n_c + K_t - max_c n_c, K_t) per class.

    CPL-ICML2024 c711980 utils/clip_pseudolabels.py:389-400: ``past_caps = self.Pools.get_pool_caps()``
    are the numbers of images each pool held at the end of the previous round's fill (utils/utils.py:548-553
    returns ``pool_capacity``, the count that ``ClassPool.update`` increments, :511,538), before any other
    filtering; the selector lives across rounds, so on its first round every count is 0 and every pool
    gets K_t.

    Args:
        previous_sizes: (C,) images in each pool after the previous round's fill; None = first round.
        k: K_t (GRIP's schedule never shrinks, so K_t >= max_c n_c, which the reference asserts).
        n_classes: C.
    Returns:
        (C,) capacity per pool.
    """
    if previous_sizes is None:
        return np.full(n_classes, k, dtype=int)
    increment = k - int(previous_sizes.max(initial=0))
    return np.clip(previous_sizes + increment, 0, k).astype(int)


def candidate_weights(probs: np.ndarray, candidates: np.ndarray, soft: bool) -> np.ndarray:
    """Loss weights w over each image's candidate set: p_j / sum_{k in S} p_k (soft) or 1 (hard).

    Returns:
        (N, C) float, 0 outside the candidate set.
    """
    if not soft:
        return candidates.astype(np.float64)
    masked = np.where(candidates, probs, 0.0)
    total = masked.sum(axis=1, keepdims=True)
    return np.divide(masked, total, out=np.zeros_like(masked), where=total > 0)


def cpl_round(
    scores: np.ndarray, alpha: float, beta: float | str, k: int | np.ndarray, soft: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One CPL relabelling from (fused) scores.

    Args:
        scores: (N, C) non-negative scores, p or p + lambda * p_hat; rows are renormalised to 1.
        alpha, beta: the intra- and inter-instance quantiles.
        k: pool capacity (GRIP's K_t), or (C,) one per pool (``pool_caps``).
        soft: soft weights (the first iteration) or 0/1 weights (later ones).
    Returns:
        pool class per image (N,), -1 = not trained on; loss weights (N, C).
    """
    probs = scores / scores.sum(axis=1, keepdims=True)
    candidates = candidate_sets(probs, alpha, beta)
    pools = fill_pools(probs, candidates, k)
    weights = candidate_weights(probs, candidates, soft)
    weights[pools < 0] = 0.0
    return pools, weights


def candidate_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log sum_{j in S} w_j p_j per image, p = softmax(logits); equals CE for one-hot targets.

    Args:
        logits: (B, C).
        targets: (B, C) weights w, 0 outside the candidate set S.
    Returns:
        (B,) losses.
    """
    log_p = torch.log_softmax(logits, dim=1)
    return -torch.logsumexp(log_p + torch.log(targets), dim=1)  # log 0 = -inf drops non-candidates
