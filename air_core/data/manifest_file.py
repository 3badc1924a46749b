"""A user's own manifest: a CSV or Parquet file with one row per image.

Columns: ``path`` and ``label`` (class index) are required; ``split`` (train, val or test) and
``class_name`` are optional. Relative paths are relative to the manifest file's folder. Class
names come from the class-name file when one is set, else from the ``class_name`` column.
Without a ``split`` column, a seeded per-class fraction of each class becomes test, as in the
image-folder layout.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from air_core.data.imagefolder import SPLITS
from air_core.data.names import check_distinct_names, read_class_names
from air_core.errors import DatasetError

COLUMNS = ["image_id", "path", "label", "class_name", "split"]


def _load(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"manifest file {path} does not exist; fix the dataset's 'root' (layout manifest_file)")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv"):
        return pd.read_csv(
            path,
            sep="\t" if suffix == ".tsv" else ",",
            dtype={"path": str, "split": str},
            keep_default_na=False,
            na_values=[""],
        )
    raise DatasetError(f"manifest file {path} is neither CSV (.csv, .tsv) nor Parquet (.parquet); convert it")


def _labels(table: pd.DataFrame, path: Path) -> np.ndarray:
    label = pd.to_numeric(table["label"], errors="coerce")
    bad = label.isna() | (label != label.round())
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DatasetError(
            f"{path} row {row + 1}: label {table['label'].iloc[row]!r} is not a class index; "
            "labels are integers 0..C-1 in the order of the class names"
        )
    return label.astype("int64").to_numpy()


def _names(table: pd.DataFrame, labels: np.ndarray, path: Path, class_names: str | Path | None) -> list[str]:
    """Class names from the class-name file, else from the class_name column (one name per label)."""
    if class_names:
        return read_class_names(class_names)
    if "class_name" not in table.columns:
        raise DatasetError(f"{path} has no 'class_name' column and no 'class_names' file is set; add one of them")
    pairs = pd.DataFrame({"label": labels, "name": table["class_name"].astype(str)}).drop_duplicates()
    clash = pairs[pairs["label"].duplicated(keep=False)]  # one name for two labels: check_distinct_names below
    if len(clash):
        raise DatasetError(
            f"{path}: labels and class names do not match one to one, e.g. rows "
            f"{[i + 1 for i in clash.index[:2]]}: {clash.head(2).to_dict('records')}; "
            "fix the 'label' or 'class_name' column"
        )
    if len(labels) and labels.min() >= 0 and len(pairs) != labels.max() + 1:
        missing = sorted(set(range(labels.max() + 1)) - set(pairs["label"]))
        raise DatasetError(
            f"{path}: labels {missing[:5]} have no images, so they have no class name; "
            "set a 'class_names' file or make the labels 0..C-1 without gaps"
        )
    pairs = pairs.sort_values("label")
    check_distinct_names(
        pairs["name"].tolist(),
        [f"{path} row {i + 1}" for i in pairs.index],
        f"fix the 'class_name' column of {path} or set a 'class_names' file",
    )
    return pairs["name"].tolist()


def _splits(
    table: pd.DataFrame, labels: np.ndarray, paths: list[str], path: Path, test_fraction: float, split_seed: int
) -> np.ndarray:
    """The split column, or a seeded per-class test fraction when there is none."""
    given = table["split"] if "split" in table.columns else pd.Series([None] * len(table))
    if given.notna().any():
        if given.isna().any():
            raise DatasetError(
                f"{path}: {int(given.isna().sum())} rows have no split; fill every row's split or "
                "drop the column (a seeded per-class test fraction is used then)"
            )
        bad = sorted(set(given.astype(str)) - set(SPLITS))
        if bad:
            raise DatasetError(f"{path}: split values {bad} are not one of {list(SPLITS)}")
        return given.astype(str).to_numpy()
    split = np.full(len(table), "train", dtype=object)
    for label in np.unique(labels):  # the same rule as the image-folder layout: one generator per class
        rows = np.flatnonzero(labels == label)
        rows = rows[np.argsort([paths[i] for i in rows], kind="stable")]
        rng = np.random.default_rng([split_seed, int(label)])
        split[rows[rng.permutation(len(rows))[: int(round(test_fraction * len(rows)))]]] = "test"
    return split


def _image_id(split: str, raw: str, base: Path) -> str:
    p = PurePosixPath(raw.replace("\\", "/"))
    if p.is_absolute():
        try:
            p = PurePosixPath(Path(raw).relative_to(base).as_posix())
        except ValueError:
            p = PurePosixPath(*p.parts[1:])
    return f"{split}/{p.as_posix()}"


def read_manifest_file(
    path: str | Path, class_names: str | Path | None = None, test_fraction: float = 0.3, split_seed: int = 0
) -> tuple[pd.DataFrame, list[str]]:
    """Read a user's CSV or Parquet manifest.

    Returns:
        The manifest (image_id, path, label, class_name, split) and the class names in label order.
    """
    path = Path(path)
    table = _load(path)
    missing = [c for c in ("path", "label") if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{path} has no column(s) {missing}; a manifest file needs 'path' and 'label' "
            "(optional: 'split', 'class_name')"
        )
    if table.empty:
        raise DatasetError(f"{path} has no rows; list one image a row")
    labels = _labels(table, path)
    names = _names(table, labels, path, class_names)
    out_of_range = (labels < 0) | (labels >= len(names))
    if out_of_range.any():
        row = int(np.flatnonzero(out_of_range)[0])
        raise DatasetError(
            f"{path} row {row + 1}: label {labels[row]} is out of range; there are {len(names)} "
            f"classes (0..{len(names) - 1}) in {class_names or 'the class_name column'}"
        )
    empty = sorted(set(range(len(names))) - set(labels.tolist()))
    if empty:
        raise DatasetError(
            f"{path}: classes {[names[i] for i in empty[:5]]} have no images; "
            "add their images or remove them from the class-name file"
        )
    raw = table["path"].astype(str).tolist()
    split = _splits(table, labels, raw, path, test_fraction, split_seed)
    base = path.parent.resolve()
    files = [str((base / p).resolve()) if not Path(p).is_absolute() else str(Path(p).resolve()) for p in raw]
    manifest = pd.DataFrame(
        {
            "image_id": [_image_id(s, r, base) for s, r in zip(split, raw, strict=True)],
            "path": files,
            "label": labels,
            "class_name": [names[i] for i in labels],
            "split": split,
        }
    )
    _refuse_repeated_images(manifest, raw, path)
    return manifest[COLUMNS], names


def _refuse_repeated_images(manifest: pd.DataFrame, raw: list[str], path: Path) -> None:
    """DatasetError when one image file (after resolving '..' and symlinks) or one image id has two rows:
    an image in train and test would be evaluated on after training on it."""
    for column in ("path", "image_id"):
        repeated = np.flatnonzero(manifest[column].duplicated().to_numpy())
        if len(repeated):
            j = int(repeated[0])
            i = int(np.flatnonzero((manifest[column] == manifest[column].iloc[j]).to_numpy())[0])
            splits = manifest["split"].iloc[[i, j]].tolist()
            what = "twice in the same split" if splits[0] == splits[1] else "in two splits"
            raise DatasetError(
                f"{path}: image {manifest['path'].iloc[j]} is listed twice, {what}: row {i + 1} "
                f"({raw[i]!r}, {splits[0]}) and row {j + 1} ({raw[j]!r}, {splits[1]}); an image "
                "belongs to one split only (a test image seen in training inflates accuracy), "
                "so remove one of the rows"
            )
