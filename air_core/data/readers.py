"""One entry point for every dataset layout, and the check that every listed image can be read.

``read_dataset`` dispatches on the config's ``layout``; ``drop_unreadable`` opens every image with
PIL and either drops the ones it cannot read (reporting them in the ``skipped_images`` table) or
stops with a DatasetError, as ``datasets.<d>.on_unreadable`` says.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from air_core.data import benchmarks
from air_core.data.imagefolder import image_folder_classes, read_image_folder
from air_core.data.images import decode
from air_core.data.manifest_file import read_manifest_file
from air_core.data.names import read_class_names
from air_core.errors import DatasetError

log = logging.getLogger(__name__)

BENCHMARK_READERS: dict[str, Callable[..., tuple[pd.DataFrame, list[str]]]] = {
    "flowers102": benchmarks.read_flowers102,
    "dtd": benchmarks.read_dtd,
    "fgvc_aircraft": benchmarks.read_fgvc_aircraft,
    "eurosat": benchmarks.read_eurosat,
    "resisc45": benchmarks.read_resisc45,
}
LAYOUTS = ("imagefolder", "shapes", *BENCHMARK_READERS, "manifest_file")
ON_UNREADABLE = ("skip", "error")
SHOWN_DUPLICATES = 20  # groups listed one a line in the log; the count says how many more
SKIPPED_COLUMNS = ["path", "split", "reason"]


def read_dataset(
    layout: str,
    root: str | Path,
    class_names: str | Path | None = None,
    *,
    test_fraction: float = 0.3,
    split_seed: int = 0,
    allow_outside_root: bool = False,
    dataset: str = "<name>",
) -> tuple[pd.DataFrame, list[str]]:
    """Read a dataset in any supported layout.

    Args:
        layout: one of ``LAYOUTS``; ``shapes`` is the image-folder layout drawn by the workflow, whose
            class-name file is ``root/class_names.txt``.
        root: the dataset folder (the manifest file for ``manifest_file``).
        class_names: one class name a line, in label order.
        test_fraction, split_seed: the seeded per-class test split of layouts without split information.
        allow_outside_root: accept images that resolve outside the dataset folder (the manifest file's
            folder for ``manifest_file``) through '..', an absolute path or a symlink.
        dataset: the dataset's name in the config, for the messages.

    Returns:
        The manifest (image_id, path, label, class_name, split) and the class names in label order.
    """
    if layout in ("imagefolder", "shapes"):
        if layout == "shapes":
            class_names = Path(root) / "class_names.txt"
        manifest, names = read_image_folder(root, class_names, test_fraction, split_seed)
    elif layout in BENCHMARK_READERS:
        manifest, names = BENCHMARK_READERS[layout](root, class_names)
    elif layout == "manifest_file":
        manifest, names = read_manifest_file(root, class_names, test_fraction, split_seed)
    else:
        raise DatasetError(f"dataset layout '{layout}' is unknown; use one of {list(LAYOUTS)}")
    if not allow_outside_root:
        refuse_outside_root(manifest, Path(root), layout, dataset)
    return manifest, names


def dataset_class_names(layout: str, root: str | Path, class_names: str | Path | None = None) -> list[str]:
    """The class names (label order) that the manifest rule will find, read without listing or opening images:
    the class-name file, else the class folders (imagefolder), the manifest's class_name column
    (manifest_file) or the split files' categories (resisc45). The planning-time checks read them for every
    layout, so what a dataset's classes allow is checked before any job whatever its layout.

    Raises:
        DatasetError: the names cannot be read (the manifest rule would stop with the same message).
    """
    if layout in ("imagefolder", "shapes"):
        if layout == "shapes":
            class_names = Path(root) / "class_names.txt"
        return image_folder_classes(root, class_names)[2]
    if class_names:
        return read_class_names(class_names)
    if layout == "manifest_file":
        return read_manifest_file(root)[1]
    if layout == "resisc45":
        return benchmarks.read_resisc45(root)[1]
    return benchmarks.require_names(class_names, layout)


def refuse_outside_root(manifest: pd.DataFrame, root: Path, layout: str, dataset: str) -> None:
    """DatasetError when an image's resolved path leaves the dataset folder (the manifest file's folder).

    A listed '../../etc/passwd' or a symlink to another tree would otherwise be read without notice.
    The manifest's paths are resolved already (symlinks followed), so a string prefix test suffices.
    """
    is_file = layout == "manifest_file"
    base = str((root.parent if is_file else root).resolve())
    inside = manifest["path"].map(lambda p: p == base or p.startswith(base.rstrip(os.sep) + os.sep))
    outside = np.flatnonzero(~inside.to_numpy(dtype=bool))
    if not len(outside):
        return
    i = int(outside[0])
    where, folder = (f"{root} row {i + 1}", "the manifest file's folder") if is_file else ("image", "the dataset root")
    raise DatasetError(
        f"{dataset}: {len(outside)} of {len(manifest)} images lie outside {base} ({folder}), e.g. {where} "
        f"{manifest['image_id'].iloc[i]!r} -> {manifest['path'].iloc[i]} (through '..', an absolute path or a "
        f"symlink). Move the images under {base}, or set datasets.{dataset}.allow_outside_root: true if they "
        "belong to the dataset"
    )


def image_problem(path: str | Path) -> str | None:
    """Why the image at ``path`` cannot be used (missing, not an image, truncated), or None if it can."""
    if not os.path.isfile(path):
        return "file not found"
    try:
        with Image.open(path) as image:
            image.verify()  # structure and checksums, without decoding
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            if frames > 1:  # PIL would give the first frame without a word: which one is the image is unknown
                return (
                    f"{frames} frames (animated or multi-page): the workflow reads still images; save the "
                    "frame that shows the class as a PNG"
                )
            image.draft("RGB", (64, 64))  # JPEG decodes at reduced scale: cheap, but finds truncated data
            decode(image)  # the workflow's own decoding (EXIF orientation, bit depth) must work too
    except Exception as err:  # noqa: BLE001 - PIL raises many exception types for broken files
        return f"unreadable: {type(err).__name__}: {err}".strip()
    return None


def find_unreadable(manifest: pd.DataFrame, workers: int | None = None) -> pd.DataFrame:
    """The images of ``manifest`` that cannot be read: columns path, split, reason (the 'skipped_images' table)."""
    workers = workers or min(8, os.cpu_count() or 1)
    paths = manifest["path"].tolist()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL decodes without the GIL
        problems = list(
            tqdm(
                pool.map(image_problem, paths, chunksize=64),
                total=len(paths),
                desc="checking images",
                mininterval=5,
                disable=len(paths) < 1000,
            )
        )
    seconds = time.perf_counter() - start
    log.info(
        "checked %d images in %.1f s (%.0f images/s, %d threads)",
        len(paths),
        seconds,
        len(paths) / max(seconds, 1e-9),
        workers,
    )
    bad = [i for i, p in enumerate(problems) if p is not None]
    return pd.DataFrame(
        {
            "path": [paths[i] for i in bad],
            "split": manifest["split"].iloc[bad].tolist(),
            "reason": [problems[i] for i in bad],
        },
        columns=SKIPPED_COLUMNS,
    )


def drop_unreadable(
    manifest: pd.DataFrame,
    names: list[str],
    on_unreadable: str = "skip",
    dataset: str = "the dataset",
    workers: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check that every image opens; drop the ones that do not (``skip``) or raise DatasetError (``error``).

    Returns:
        The manifest without unreadable images, and the 'skipped_images' table of what was left out.
    """
    if on_unreadable not in ON_UNREADABLE:
        raise DatasetError(f"on_unreadable = '{on_unreadable}' is not one of {list(ON_UNREADABLE)}")
    skipped = find_unreadable(manifest, workers)
    if skipped.empty:
        log.info("%s: all %d images are readable", dataset, len(manifest))
        return manifest.reset_index(drop=True), skipped
    examples = "; ".join(f"{r.path} ({r.reason})" for r in skipped.head(3).itertuples())
    if on_unreadable == "error":
        raise DatasetError(
            f"{dataset}: {len(skipped)} of {len(manifest)} images cannot be read, e.g. {examples}. "
            f"Replace or delete them, or set datasets.{dataset}.on_unreadable: skip to leave them out"
        )
    kept = manifest[~manifest["path"].isin(set(skipped["path"]))].reset_index(drop=True)
    log.warning(
        "%s: skipped %d unreadable images of %d (%s), e.g. %s",
        dataset,
        len(skipped),
        len(manifest),
        skipped["split"].value_counts().to_dict(),
        examples,
    )
    gone = sorted(set(manifest["split"]) - set(kept["split"]))
    if gone:
        raise DatasetError(
            f"{dataset}: every {'/'.join(gone)} image is missing or unreadable, e.g. {examples}; "
            "the files are not where the layout says (docs/datasets.md)"
        )
    lost = sorted(set(range(len(names))) - set(kept["label"].tolist()))
    if lost:
        raise DatasetError(
            f"{dataset}: every image of the classes {[names[i] for i in lost[:5]]} is unreadable; "
            f"replace the files, e.g. {examples}"
        )
    return kept, skipped


def _digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def find_duplicates(manifest: pd.DataFrame, workers: int | None = None) -> pd.DataFrame:
    """Images whose files are byte for byte the same (or one file listed twice) with two roles: in the train
    pool and in test, or in two classes. Columns: group (the files' SHA-256), path, split, class_name."""
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # hashlib releases the GIL on large reads
        digests = list(pool.map(_digest, manifest["path"].tolist(), chunksize=64))
    table = manifest.assign(group=digests, pool=manifest["split"].where(manifest["split"].eq("test"), "train"))
    grouped = table.groupby("group")
    roles = (grouped["pool"].nunique() > 1) | (grouped["label"].nunique() > 1)
    found = table[table["group"].isin(roles[roles].index)].sort_values(["group", "split", "path"], kind="stable")
    return found[["group", "path", "split", "class_name"]].reset_index(drop=True)


def warn_duplicates(manifest: pd.DataFrame, dataset: str, workers: int | None = None) -> pd.DataFrame:
    """Log a warning naming every image that is in the dataset twice with two roles (``find_duplicates``).

    A warning, not an error: the paper's benchmark datasets are used as published, duplicates included.
    """
    start = time.perf_counter()
    found = find_duplicates(manifest, workers)
    log.info("hashed %d images in %.1f s to find duplicates", len(manifest), time.perf_counter() - start)
    if found.empty:
        return found
    groups = list(found.groupby("group", sort=False))
    log.warning(
        "%s: %d %s of identical images %s two roles (the same bytes, or one file listed twice): a test image "
        "also in the train pool is evaluated on after training on it, an image in two classes has two true "
        "labels. Remove the copies, or keep each image in one class and one split:",
        dataset,
        len(groups),
        "set" if len(groups) == 1 else "sets",
        "has" if len(groups) == 1 else "have",
    )
    for digest, rows in groups[:SHOWN_DUPLICATES]:
        where = "; ".join(f"{r.path} ({r.split}, class {r.class_name!r})" for r in rows.itertuples())
        log.warning("  sha256 %s: %s", digest[:12], where)
    if len(groups) > SHOWN_DUPLICATES:
        log.warning("  ... and %d more", len(groups) - SHOWN_DUPLICATES)
    return found
