"""The image-folder layout: ``root/<class>/<image>`` or ``root/<split>/<class>/<image>``.

Labels follow the sorted class-folder order. An optional class-name file gives one name a
line in that order (``Forest`` -> ``forest``); without it a folder's name is its class name
with '_' read as a space. Without split folders, a seeded per-class fraction becomes test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from air_core.data.names import check_distinct_names, read_class_names, slugify
from air_core.errors import DatasetError

__all__ = ["IMAGE_SUFFIXES", "SPLITS", "class_table", "read_class_names", "read_image_folder"]

# GIF is read like the others: a still one is an image; an animated one is listed in skipped_images with its
# frame count (air_core.data.readers.image_problem), not ignored without a word as it used to be.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
SPLITS = ("train", "val", "test")


def folder_name(class_name: str) -> str:
    """The class folder this layout expects for ``class_name``: spaces as underscores, the inverse of how
    ``read_image_folder`` names a class from its folder when there is no class-name file."""
    return class_name.replace(" ", "_")


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def image_folder_classes(
    root: str | Path, class_names: str | Path | None = None
) -> tuple[list[str], list[str], list[str]]:
    """The split folders, class folders and class names (label order) of an image-folder dataset, without
    listing its images: what the manifest rule and the planning-time checks both read."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist; fix the dataset's 'root' in the config")
    split_dirs = [s for s in SPLITS if (root / s).is_dir()]
    if split_dirs and "test" not in split_dirs:
        raise DatasetError(f"{root} has split folders {split_dirs} but no 'test' folder; add root/test/<class>/...")
    if split_dirs:
        folders = sorted({p.name for s in split_dirs for p in _class_folders(root / s)})
    else:
        folders = [p.name for p in _class_folders(root)]
    if not folders:
        raise DatasetError(
            f"no class folders under {root}; expected root/<class>/<image> or root/<split>/<class>/<image>"
        )
    if class_names:
        names = read_class_names(class_names, len(folders))
    else:
        names = [f.replace("_", " ") for f in folders]  # folder_name's inverse
        check_distinct_names(
            names,
            [f"folder {f!r} of {root}" for f in folders],
            "rename one of the two folders, or set 'class_names' (a file of one name a line)",
        )
    return split_dirs, folders, names


def read_image_folder(
    root: str | Path, class_names: str | Path | None = None, test_fraction: float = 0.3, split_seed: int = 0
) -> tuple[pd.DataFrame, list[str]]:
    """Read an image-folder dataset.

    Returns:
        The manifest (image_id, path, label, class_name, split) and the class names in label order.
    """
    root = Path(root)
    split_dirs, folders, names = image_folder_classes(root, class_names)
    rows = []
    for label, folder in enumerate(folders):
        if split_dirs:
            found = [(s, p) for s in split_dirs for p in _images(root / s / folder) if (root / s / folder).is_dir()]
        else:
            paths = _images(root / folder)
            rng = np.random.default_rng([split_seed, label])
            is_test = np.zeros(len(paths), bool)
            is_test[rng.permutation(len(paths))[: int(round(test_fraction * len(paths)))]] = True
            found = [("test" if t else "train", p) for t, p in zip(is_test, paths, strict=True)]
        if not found:
            raise DatasetError(f"class '{names[label]}' (folder {folder}) has no images under {root}")
        rows += [
            (
                f"{s}/{p.relative_to(root / s if split_dirs else root).as_posix()}",
                str(p.resolve()),
                label,
                names[label],
                s,
            )
            for s, p in found
        ]
    manifest = pd.DataFrame(rows, columns=["image_id", "path", "label", "class_name", "split"])
    return manifest, names


def class_table(names: list[str]) -> dict[str, list]:
    """Columns of the documented 'classes' table."""
    return {"label": list(range(len(names))), "class_name": list(names), "slug": [slugify(n) for n in names]}
