"""Learning paradigms: which train-pool images the learner sees labelled, and which classes are seen.

- UL: every train-pool image (train + val) is unlabeled; all classes are seen.
- SSL: ``n_labeled`` (2) images per class are labeled, drawn as both reference code bases draw them
  (menghini 2094fa5 ``methods/main_SSL.py:105-113``, CPL c711980 ``methods/main_SSL.py:71-79``: per
  class ``numpy.random.seed(validation_seed)`` then ``numpy.random.choice`` among the class's positions
  in the train list), so every run seed has the same labeled set; the rest of the pool is unlabeled.
- TRZSL: ``int(0.62 * C)`` classes are seen, drawn exactly as the protocol draws them
  (``numpy.random.seed(split_seed)``, ``numpy.random.choice(range(C), ...)``, in class-file order).
  Seen-class pool images are labeled, unseen-class pool images unlabeled; every test image is
  tested, flagged seen or unseen by its class.

The labelled list (the split's ``labeled_rank``) is the list the validation hold-out draws from
(``air_core.real_set.build_real_set``). ``labeled_order`` (the recipe key) says its order:

- ``draw``, the reference's: the train list is the manifest's row order, which for the split-file
  layouts (Flowers102, DTD, FGVCAircraft, RESISC45) is the reference's ``train`` then ``val`` file order
  (menghini ``utils/prepare_data.py:328-544``). SSL: class by class, each class's images in the order
  ``numpy.random.choice`` drew them (``main_SSL.py:105-113``); TRZSL: the seen-class images in train-list
  order (``get_labeled_and_unlabeled_data``'s list, ``main_TRZSL.py:91-110``). EuroSAT's reference list
  is ``os.listdir`` order (``prepare_data.py:286-326``), which no other machine reproduces.
- ``sorted``: SSL draws among each class's images in image-id order (independent of the manifest's row
  order); the list is by class, then manifest row.

A run's TRZSL split seed is the recipe's ``trzsl_split_seed`` when it sets one, else a function of the
run seed (``protocol_split_seed``): run seeds 1, 2 and 3 use the protocol's split seeds 500, 0 and 200;
any other run seed is its own split seed (``run_split_seed``).
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
LABELED_ORDERS = ("draw", "sorted")  # the recipe's labeled_order


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


def run_split_seed(seed: int, trzsl_split_seed: int | None) -> int:
    """The TRZSL split seed of run seed ``seed``: the recipe's ``trzsl_split_seed`` for every run seed when it
    sets one (CPL c711980 scripts/run-textPT_ALL.sh:39,42: split 500, optimisation seeds 1, 2, 3), else
    ``protocol_split_seed(seed)``."""
    return protocol_split_seed(seed) if trzsl_split_seed is None else int(trzsl_split_seed)


def _ssl_labeled(
    manifest: pd.DataFrame, in_pool: np.ndarray, labeled_seed: int, n_labeled: int, draw: bool
) -> np.ndarray:
    """Row positions of SSL's labeled images, class by class, each class's in the order the generator drew them.

    ``n_labeled`` per class, the legacy generator reseeded with ``labeled_seed`` for every class (the reference's
    ``np.random.seed(validation_seed)`` in its class loop, menghini 2094fa5 methods/main_SSL.py:105-113). The draw
    indexes the class's images in manifest row order (``draw``: the reference's train-list order) or in image-id
    order.
    """
    labels = manifest["label"].to_numpy()
    image_ids = manifest["image_id"].to_numpy()
    chosen = []
    for label in np.unique(labels[in_pool]):
        rows = np.flatnonzero(in_pool & (labels == label))
        if not draw:
            rows = rows[np.argsort(image_ids[rows], kind="stable")]  # independent of the manifest's row order
        if len(rows) < n_labeled:
            log.warning(
                "SSL: class %d has %d train-pool images, fewer than %d; all are labeled", label, len(rows), n_labeled
            )
        rng = np.random.RandomState(labeled_seed)  # what numpy.random.seed seeds
        chosen.append(rng.choice(rows, size=min(n_labeled, len(rows)), replace=False))
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def _labeled_rank(n_rows: int, listed: np.ndarray, labels: np.ndarray, draw: bool) -> np.ndarray:
    """(n_rows,) position of each labeled row in the labelled list, -1 for other rows.

    ``listed`` holds the labeled rows in the reference's list order; ``draw`` keeps it, else the list is by
    class, then row (the order before ``labeled_order`` existed)."""
    order = listed if draw else listed[np.lexsort((listed, labels[listed]))]
    rank = np.full(n_rows, -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def make_split(
    manifest: pd.DataFrame,
    paradigm: str,
    seed: int = 0,
    split_seed: int | None = None,
    *,
    labeled_seed: int = 0,
    n_classes: int | None = None,
    n_labeled: int = SSL_LABELED_PER_CLASS,
    labeled_order: str = "sorted",
) -> pd.DataFrame:
    """The documented 'split' table of a paradigm: image_id, role (labeled/unlabeled/test), seen, labeled_rank.

    Args:
        manifest: the dataset's manifest (image_id, label, split, ...).
        paradigm: ul, ssl or trzsl.
        seed: the run seed; gives the split seed when ``split_seed`` is None.
        split_seed: seed of TRZSL's seen classes (the recipe's ``trzsl_split_seed``), None = by the run seed.
        labeled_seed: seed of SSL's labeled images (the recipe's ``validation_seed``, as in the reference).
        n_classes: number of classes C (default: the largest label + 1).
        n_labeled: SSL's labeled images per class.
        labeled_order: draw or sorted, the order of the labelled list (``labeled_rank``; the module's docstring).
    """
    if paradigm not in PARADIGMS:
        raise ValueError(f"paradigm '{paradigm}' is not implemented; use one of {PARADIGMS}")
    if labeled_order not in LABELED_ORDERS:
        raise ValueError(f"labeled_order '{labeled_order}' is not known; use one of {LABELED_ORDERS}")
    draw = labeled_order == "draw"  # the one place the recipe's labeled_order is read
    split_seed = run_split_seed(seed, split_seed)
    labels = manifest["label"].to_numpy()
    in_pool = manifest["split"].ne("test").to_numpy()
    role = np.where(in_pool, "unlabeled", "test").astype(object)
    seen = np.ones(len(manifest), dtype=bool)
    listed = np.zeros(0, dtype=np.int64)
    if paradigm == "ssl":
        listed = _ssl_labeled(manifest, in_pool, labeled_seed, n_labeled, draw)
    elif paradigm == "trzsl":
        n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
        seen = np.isin(labels, seen_classes(n_classes, split_seed))
        listed = np.flatnonzero(in_pool & seen)  # the reference's train list, seen classes only
    role[listed] = "labeled"
    log.info("%s split (split seed %d): %s", paradigm, split_seed, pd.Series(role).value_counts().to_dict())
    return pd.DataFrame(
        {
            "image_id": manifest["image_id"].to_numpy(),
            "role": role.astype(str),
            "seen": seen,
            "labeled_rank": _labeled_rank(len(manifest), listed, labels, draw),
        }
    )
