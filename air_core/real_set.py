"""One round's real training images, assembled as the reference code bases assemble them.

Which labelled and pseudo-labelled images train, which are held out for validation, and how the
two losses combine depend on the base method's code base and the paradigm. Files and lines are
those of BatsResearch/menghini-neurips23-code at 2094fa5 (FPL, GRIP, CoOp/VPT; "menghini") and
vanillaer/CPL-ICML2024 at 3fa3339 (CPL); docs/assumptions.md lists them with the choices left open.

| paradigm | FPL / GRIP (one shuffled loader, labelled and pseudo mixed) | CPL (labelled in a stream of their own) |
|---|---|---|
| UL | mean CE over the batch | mean CPL loss over the pseudo batch |
| SSL | w · CE_L + CE_P, w = P/L (FPL) or L/P (GRIP) | CE_L + LAMBDA · CPL_P |
| TRZSL | CE_L + (L/P) · CE_P | CE_L + LAMBDA · CPL_P |

Each term is the mean over its own rows of the batch (0 when the batch has none); L and P count the
labelled and pseudo-labelled images that train this round, after the validation hold-out. CoOp/VPT
(no pseudo-labels) in TRZSL train a softmax over the seen classes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from air_core.config import Recipe

if TYPE_CHECKING:
    from air_core.relabel import RoundLabels

VALIDATION_MIN_K = 10  # menghini holds out pseudo-labels only when K >= 10 (semi_supervised_learning/textual_fpl.py:88)
CPL_LABELED_BATCH = (8, 256)  # clamp of CPL's labelled batch size (semi_supervised_learning_new/textual_PL.py:131-135)


@dataclass
class RealSet:
    """The real images of one round: rows of ``inputs`` with their targets, and how the losses combine."""

    inputs: torch.Tensor | object  # cached features (N, D) or cached images (N, 3, H, W)
    labeled_rows: torch.Tensor  # (L,) rows of inputs with a given label
    labeled_labels: torch.Tensor  # (L,)
    pseudo_rows: torch.Tensor  # (P,) rows of inputs with a pseudo-label
    pseudo_labels: torch.Tensor  # (P,) hard pseudo-label (CPL: pool class), for CE and the training accuracy
    pseudo_targets: torch.Tensor | None  # (P, C) CPL's candidate weights; None = CE on pseudo_labels
    labeled_weight: float  # weight of the mean labelled loss
    pseudo_weight: float  # weight of the mean pseudo-labelled loss
    separate_streams: bool  # CPL: an epoch is one pass over the pseudo-labelled images, labelled batches cycle
    labeled_batch_size: int  # CPL's labelled batch size; unused when mixed
    class_mask: torch.Tensor | None = None  # (C,) bool, the classes the training softmax covers; None = all

    @property
    def n_labeled(self) -> int:
        return len(self.labeled_rows)

    @property
    def n_pseudo(self) -> int:
        return len(self.pseudo_rows)


def holdout_keep(n: int, fraction: float, seed: int) -> np.ndarray:
    """Positions of the ``n`` items that train when ``fraction`` of them is held out for validation.

    Mirrors menghini's ``np.random.seed(validation_seed); np.random.choice(range(n), size=int(n *
    ratio_train_val), replace=False)`` (semi_supervised_learning/textual_fpl.py:88-97, main_SSL.py:132-138),
    sorted; the legacy generator gives the same positions for the same list order.
    """
    if fraction <= 0 or n == 0:
        return np.arange(n)
    chosen = np.random.RandomState(seed).choice(range(n), size=int(n * (1.0 - fraction)), replace=False)
    return np.sort(chosen)


def loss_weights(recipe: Recipe, paradigm: str, n_labeled: int, n_pseudo: int) -> tuple[float, float]:
    """(labelled, pseudo-labelled) weights of the two mean losses, as the base's reference code sets them."""
    if n_labeled == 0 or n_pseudo == 0 or paradigm == "ul":
        return 1.0, 1.0
    if (
        recipe.pseudo_labels == "cpl"
    ):  # loss_seen + LAMBDA * loss_unseen (semi_supervised_learning_new/textual_PL.py:265)
        return 1.0, recipe.cpl_lambda
    if paradigm == "trzsl":  # loss_ce_seen + balance * loss_ce_unseen, balance = seen / unseen
        return 1.0, n_labeled / n_pseudo  # (transductive_zsl/textual_fpl.py:109,122; training_strategies.py:637)
    if recipe.ssl_labeled_weight == "pseudo_over_labeled":  # FPL: balance = unseen / seen (textual_fpl.py:115,128)
        return n_pseudo / n_labeled, 1.0
    return n_labeled / n_pseudo, 1.0  # GRIP's rounds: balance = seen / unseen (training_strategies.py:637)


def cpl_labeled_batch_size(batch_size: int, n_labeled: int, n_pseudo: int) -> int:
    """CPL's labelled batch: the pseudo batch scaled by L/P, clamped to [8, 256] (textual_PL.py:126-135).

    The reference multiplies a literal 64, its pseudo batch size; this takes the recipe's batch size.
    """
    if n_pseudo == 0:
        return min(batch_size, max(n_labeled, 1))
    low, high = CPL_LABELED_BATCH
    return int(min(max(batch_size * n_labeled / n_pseudo, low), high))


def order_pseudo(round_labels: RoundLabels, recipe: Recipe) -> np.ndarray:
    """Positions of a round's pseudo-labels in the order of the reference's concatenated leaderboards,
    which its validation draw indexes (textual_fpl.py:85-97, training_strategies.py:590-600).

    With menghini's leaderboards (``Recipe.no_break_leaderboard``) the entries already come in that order
    (board by board, each board in its list order, utils/clip_pseudolabels.py:103-107); otherwise by
    class, most confident first.
    """
    if recipe.no_break_leaderboard:
        return np.arange(len(round_labels.rows))
    return np.lexsort((round_labels.rows, -round_labels.scores, round_labels.labels))


def build_real_set(
    inputs,
    given_labels: np.ndarray,
    unlabeled: np.ndarray,
    round_labels,
    recipe: Recipe,
    paradigm: str,
    seen: np.ndarray,
    device: torch.device,
    labeled_order: np.ndarray | None = None,
) -> tuple[RealSet | None, np.ndarray]:
    """The real images one round trains on, and which of the round's pseudo-labels were held out.

    Args:
        inputs: cached features or images of the train pool.
        given_labels: (N,) true label of labelled images, -1 for unlabelled ones.
        unlabeled: (U,) rows of the unlabelled images, which ``round_labels.rows`` index.
        round_labels: this round's pseudo-labels (``air_core.relabel.RoundLabels``) or None.
        paradigm: ul, ssl or trzsl.
        seen: (C,) bool, the seen classes (all True outside TRZSL).
        labeled_order: (L,) rows of the labelled images in the order of the list the validation hold-out draws
            from (``TrainingData.labeled_order``, the recipe's labeled_order; air_core.paradigms); None = by
            class, then row.
    Returns:
        The set (None when nothing real trains) and a (n,) bool mask over ``round_labels.rows``: held out.
    """
    labeled = np.flatnonzero(given_labels >= 0)
    labeled = labeled[np.lexsort((labeled, given_labels[labeled]))] if labeled_order is None else labeled_order
    # the positions the reference draws index this list (menghini 2094fa5 methods/main_SSL.py:132-145,
    # main_TRZSL.py:102-115), so its order decides which images are held out
    labeled = labeled[holdout_keep(len(labeled), recipe.validation_holdout, recipe.validation_seed)]
    n_round = 0 if round_labels is None else len(round_labels.rows)
    held_out = np.zeros(n_round, dtype=bool)
    pseudo = np.zeros(0, dtype=int)
    if n_round:
        order = order_pseudo(round_labels, recipe)
        fraction = recipe.validation_holdout if round_labels.k >= VALIDATION_MIN_K else 0.0
        kept = order[holdout_keep(n_round, fraction, recipe.validation_seed)]
        held_out[:] = True
        held_out[kept] = False
        pseudo = np.sort(kept)
    if len(labeled) + len(pseudo) == 0:
        return None, held_out
    w_lab, w_pseudo = loss_weights(recipe, paradigm, len(labeled), len(pseudo))
    targets = None
    if recipe.pseudo_labels == "cpl" and len(pseudo):
        targets = torch.as_tensor(round_labels.targets[pseudo], dtype=torch.float32).to(device)
    mask = None
    if recipe.pseudo_labels == "none" and paradigm == "trzsl":  # CoOp/VPT: seen classes only (textual_prompt.py:118)
        mask = torch.as_tensor(seen, dtype=torch.bool).to(device)

    def long(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.long)

    real = RealSet(
        inputs=inputs,
        labeled_rows=long(labeled),
        labeled_labels=long(given_labels[labeled]).to(device),
        pseudo_rows=long(unlabeled[round_labels.rows[pseudo]] if len(pseudo) else pseudo),
        pseudo_labels=long(round_labels.labels[pseudo] if len(pseudo) else pseudo).to(device),
        pseudo_targets=targets,
        labeled_weight=w_lab,
        pseudo_weight=w_pseudo,
        separate_streams=recipe.pseudo_labels == "cpl",
        labeled_batch_size=cpl_labeled_batch_size(recipe.batch_size, len(labeled), len(pseudo)),
        class_mask=mask,
    )
    return real, held_out
