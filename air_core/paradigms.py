"""Learning paradigms: which train-pool images the learner sees labelled, and which classes are seen.

- UL: every train-pool image (train + val) is unlabeled; all classes are seen.
- SSL: ``n_labeled`` (2) images per class are labeled, drawn as both reference code bases draw them
  (menghini ``methods/main_SSL.py:105-113``: per class ``numpy.random.seed(validation_seed)`` then
  ``numpy.random.choice`` of the class's images), so every run seed has the same labeled set; the rest
  of the pool is unlabeled. The images are in image-id order (the reference's file-list order is not
  reproducible here), so the draw follows the reference's rule, not its exact images.
- TRZSL: ``int(0.62 * C)`` classes are seen, drawn exactly as the protocol draws them
  (``numpy.random.seed(split_seed)``, ``numpy.random.choice(range(C), ...)``, in class-file order).
  Seen-class pool images are labeled, unseen-class pool images unlabeled; every test image is
  tested, flagged seen or unseen by its class.

The split seed of a run is a pure function of its run seed (``protocol_split_seed``): run seeds
1, 2 and 3 use the protocol's split seeds 500, 0 and 200; any other run seed is its own split seed.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

PARADIGMS = ("ul", "ssl", "trzsl")
PROTOCOL_SPLIT_SEEDS = (500, 0, 200)  # the split seeds of FPL/GRIP and CPL, for run seeds 1, 2, 3
SEEN_FRACTION = 0.62
SSL_LABELED_PER_CLASS = 2


def protocol_split_seed(seed: int) -> int:
    """The split seed of run seed ``seed``: 1, 2, 3 -> 500, 0, 200; any other seed is its own split seed."""
    return PROTOCOL_SPLIT_SEEDS[seed - 1] if 1 <= seed <= len(PROTOCOL_SPLIT_SEEDS) else seed


def seen_classes(n_classes: int, split_seed: int) -> np.ndarray:
    """TRZSL's seen class indices, in the order the protocol draws them.

    The same numbers as ``numpy.random.seed(split_seed); numpy.random.choice(range(C), size=int(0.62 * C),
    replace=False)``, without touching numpy's global generator.
    """
    if n_classes < 2:
        raise ValueError(f"TRZSL needs at least 2 classes to split into seen and unseen, got {n_classes}")
    rng = np.random.RandomState(split_seed)  # the legacy generator that numpy.random.seed seeds
    return rng.choice(range(n_classes), size=int(n_classes * SEEN_FRACTION), replace=False)


def _ssl_labeled(manifest: pd.DataFrame, in_pool: np.ndarray, labeled_seed: int, n_labeled: int) -> np.ndarray:
    """Row positions of SSL's labeled images: ``n_labeled`` per class, the legacy generator reseeded with
    ``labeled_seed`` for every class (the reference's ``np.random.seed(validation_seed)`` in its class loop)."""
    labels = manifest["label"].to_numpy()
    image_ids = manifest["image_id"].to_numpy()
    chosen = []
    for label in np.unique(labels[in_pool]):
        rows = np.flatnonzero(in_pool & (labels == label))
        rows = rows[np.argsort(image_ids[rows], kind="stable")]  # independent of the manifest's row order
        if len(rows) < n_labeled:
            log.warning(
                "SSL: class %d has %d train-pool images, fewer than %d; all are labeled", label, len(rows), n_labeled
            )
        rng = np.random.RandomState(labeled_seed)  # what numpy.random.seed seeds
        chosen.append(rng.choice(rows, size=min(n_labeled, len(rows)), replace=False))
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def make_split(
    manifest: pd.DataFrame,
    paradigm: str,
    seed: int = 0,
    split_seed: int | None = None,
    *,
    labeled_seed: int = 0,
    n_classes: int | None = None,
    n_labeled: int = SSL_LABELED_PER_CLASS,
) -> pd.DataFrame:
    """The documented 'split' table of a paradigm: image_id, role (labeled/unlabeled/test), seen.

    Args:
        manifest: the dataset's manifest (image_id, label, split, ...).
        paradigm: ul, ssl or trzsl.
        seed: the run seed; gives the split seed when ``split_seed`` is None.
        split_seed: seed of TRZSL's seen classes.
        labeled_seed: seed of SSL's labeled images (the recipe's ``validation_seed``, as in the reference).
        n_classes: number of classes C (default: the largest label + 1).
        n_labeled: SSL's labeled images per class.
    """
    if paradigm not in PARADIGMS:
        raise ValueError(f"paradigm '{paradigm}' is not implemented; use one of {PARADIGMS}")
    split_seed = protocol_split_seed(seed) if split_seed is None else split_seed
    in_pool = manifest["split"].ne("test").to_numpy()
    role = np.where(in_pool, "unlabeled", "test").astype(object)
    seen = np.ones(len(manifest), dtype=bool)
    if paradigm == "ssl":
        role[_ssl_labeled(manifest, in_pool, labeled_seed, n_labeled)] = "labeled"
    elif paradigm == "trzsl":
        n_classes = int(manifest["label"].max()) + 1 if n_classes is None else n_classes
        seen = np.isin(manifest["label"].to_numpy(), seen_classes(n_classes, split_seed))
        role[in_pool & seen] = "labeled"
    log.info("%s split (split seed %d): %s", paradigm, split_seed, pd.Series(role).value_counts().to_dict())
    return pd.DataFrame({"image_id": manifest["image_id"].to_numpy(), "role": role.astype(str), "seen": seen})
