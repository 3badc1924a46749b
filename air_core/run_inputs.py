"""What one run trains on: cached features, given labels, synthetic images, prototypes, and
(for visual prompts) the images themselves, decoded and preprocessed once per run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from air_core.artifacts import column_matrix
from air_core.config import Recipe
from air_core.prototypes import select_prototypes
from air_core.pseudo_labels import class_probs
from air_core.visual_prompts import ImageTensors, cache_images

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
    prototypes: np.ndarray | None = None  # (C, D), x^*_c of eq. 6 (or the real control's images)
    pseudo_classes: np.ndarray | None = None  # (C_u,) classes unlabeled images may take; None = all
    synthetic_ids: np.ndarray | None = None  # (S,) image_id of each synthetic row
    prototype_ids: np.ndarray | None = None  # (C,) image_id of each prototype
    real_images: ImageTensors | None = None  # (N, 3, H, W), visual prompts only
    synthetic_images: ImageTensors | None = None  # (S, 3, H, W), visual prompts with a synthetic loss
    prototype_images: ImageTensors | None = None  # (C, 3, H, W), visual prompts with fusion
    labeled_order: np.ndarray | None = None  # (L,) rows of the labelled images, the list the hold-out draws from
    round0_text: np.ndarray | None = None  # (C, D) round 0's relabelling classifier where not zero_shot_text

    def round0_classifier(self) -> np.ndarray:
        """(C, D) the class features that relabel round 0 (its fig. 4 sets too): ``round0_text`` where the
        recipe's ``round0_template`` asked for another string (stages.runs), else the zero-shot classifier."""
        return self.zero_shot_text if self.round0_text is None else self.round0_text

    @property
    def n_classes(self) -> int:
        return len(self.zero_shot_text)

    @property
    def paradigm(self) -> str:
        """trzsl when unlabeled images take the unseen classes only, ssl when some images are labelled, else ul."""
        if self.pseudo_classes is not None:
            return "trzsl"
        return "ssl" if bool((self.given_labels >= 0).any()) else "ul"

    def seen_mask(self) -> np.ndarray:
        """(C,) bool: the seen classes (every class outside TRZSL)."""
        return (
            ~np.isin(np.arange(self.n_classes), self.label_classes())
            if self.pseudo_classes is not None
            else np.ones(self.n_classes, dtype=bool)
        )

    def label_classes(self) -> np.ndarray:
        """The classes an unlabeled image may be pseudo-labelled with (the unseen ones in TRZSL)."""
        return np.arange(self.n_classes) if self.pseudo_classes is None else self.pseudo_classes


def real_prototype_rows(
    features: np.ndarray, unlabeled: np.ndarray, text: np.ndarray, logit_scale: float
) -> np.ndarray:
    """The control's prototypes: per class c, the unlabeled image with the highest zero-shot p_c (eq. 1).

    Returns:
        (C,) rows of ``features``.
    """
    if len(unlabeled) == 0:
        raise ValueError(
            "prototypes: real needs unlabeled images to choose from, and this paradigm has none; "
            "use prototypes: synthetic"
        )
    probs = class_probs(features[unlabeled], text, logit_scale)  # (U, C)
    return unlabeled[probs.argmax(axis=0)]


def labeled_list(split: pd.DataFrame, pool: np.ndarray) -> np.ndarray | None:
    """(L,) rows of ``pool`` that are labelled, in the split's ``labeled_rank`` order (None without the column)."""
    if "labeled_rank" not in split:
        return None
    rank = split["labeled_rank"].to_numpy()[pool]
    labeled = np.flatnonzero(rank >= 0)
    return labeled[np.argsort(rank[labeled], kind="stable")]


def training_data(
    manifest: pd.DataFrame,
    split: pd.DataFrame,
    features: pd.DataFrame,
    zero_shot_text: np.ndarray,
    logit_scale: float,
    synthetic: pd.DataFrame | None = None,
    n_synthetic: int | None = None,
    prototypes: str = "synthetic",
) -> tuple[TrainingData, np.ndarray]:
    """Assemble a run's cached features; returns the data and the manifest rows of the train pool.

    Synthetic images are the first ``n_synthetic`` per class (M of fig. 3), and the prototypes
    are re-selected among them (eq. 6), so that an M sweep reuses one generation. With
    ``prototypes='real'`` the prototypes are real unlabeled images instead (the control).
    """
    order = features.set_index("image_id").loc[manifest["image_id"]]
    pool = np.flatnonzero(split["role"].ne("test").to_numpy())
    given = np.where(split["role"].eq("labeled").to_numpy(), manifest["label"].to_numpy(), -1)[pool]
    unseen = np.unique(manifest["label"].to_numpy()[pool][~split["seen"].to_numpy()[pool]])
    data = TrainingData(
        real_features=column_matrix(order, "feature")[pool],
        given_labels=given,
        zero_shot_text=zero_shot_text,
        logit_scale=logit_scale,
        pseudo_classes=unseen if len(unseen) else None,
        labeled_order=labeled_list(split, pool),
    )
    if synthetic is not None:
        if n_synthetic is not None:
            synthetic = synthetic[synthetic["index"] < n_synthetic]
        labels = synthetic["label"].to_numpy()
        feats = column_matrix(synthetic, "feature")
        data.synthetic_features, data.synthetic_labels = feats, labels
        data.synthetic_ids = synthetic["image_id"].to_numpy()
        if prototypes == "synthetic":
            chosen = select_prototypes(synthetic["p_own"].to_numpy(), labels, len(zero_shot_text))  # eq. 6
            data.prototypes, data.prototype_ids = feats[chosen], data.synthetic_ids[chosen]
    if prototypes == "real":
        rows = real_prototype_rows(data.real_features, np.flatnonzero(given < 0), zero_shot_text, logit_scale)
        data.prototypes, data.prototype_ids = data.real_features[rows], manifest["image_id"].to_numpy()[pool][rows]
    return data, pool


def trains_anything(recipe: Recipe, given_labels: np.ndarray) -> bool:
    """Whether a run trains a prompt at all: some epochs, and pseudo-labels, given labels or synthetic images."""
    relabels = recipe.relabels and bool((given_labels < 0).any())
    return recipe.epochs > 0 and (relabels or bool((given_labels >= 0).any()) or recipe.synthetic_loss)


def attach_images(
    data: TrainingData, pool_ids: np.ndarray, paths: Mapping[str, str], preprocess: Callable, recipe: Recipe
) -> None:
    """Cache the images a visual-prompt run passes through the image tower, once per run.

    Args:
        pool_ids: (N,) image_id of each train-pool row.
        paths: image_id -> file, for real (manifest) and synthetic (shard tables) images.
    """

    def lookup(ids: np.ndarray) -> list[str]:
        missing = [i for i in ids if i not in paths]
        if missing:
            raise ValueError(
                f"no image file known for {len(missing)} images (e.g. {missing[0]}); visual prompts "
                "need the manifest and, for synthetic images, the synthetic shard tables"
            )
        return [paths[i] for i in ids]

    if not trains_anything(recipe, data.given_labels):
        return  # nothing trains (zero-shot): no image passes the tower
    data.real_images = cache_images(lookup(pool_ids), preprocess, "caching train-pool images")
    if recipe.synthetic_loss and data.synthetic_ids is not None:
        data.synthetic_images = cache_images(lookup(data.synthetic_ids), preprocess, "caching synthetic images")
    if recipe.fuses and data.prototype_ids is not None:
        data.prototype_images = cache_images(lookup(data.prototype_ids), preprocess, "caching prototype images")


def image_paths(manifest: pd.DataFrame, shards: list[pd.DataFrame]) -> dict[str, str]:
    """image_id -> file of every real (manifest) and synthetic (shard tables) image."""
    tables = [manifest, *shards]
    return {i: p for t in tables for i, p in zip(t["image_id"], t["path"], strict=True)}
