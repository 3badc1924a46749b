"""The five benchmark datasets in the on-disk layouts that FPL/GRIP and CPL read (ELEVATER splits).

Each reader returns what ``read_image_folder`` returns: the manifest (image_id, path, label,
class_name, split) and the class names in label order. The train pool is train + val.

- flowers102, dtd, fgvc_aircraft: ``train.txt``, ``val.txt``, ``test.txt`` with lines
  ``<anything>@<img> <label>``; images at ``root/<split>/<img>``.
- eurosat: ``test.txt`` (same lines); the train pool is every other image of the class folders;
  images at ``root/<Folder>/<img>``.
- resisc45: COCO-like ``train.json``, ``val.json``, ``test.json`` whose ``images[].file_name`` is
  ``<anything>@<class_folder>/<img>``; images at ``root/<class_folder>/<img>``.

Labels index the class-name file. A reader checks the layout, not the pixels: a listed image
that is missing or unreadable is found by ``air_core.data.readers.drop_unreadable``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path, PurePosixPath

import pandas as pd

from air_core.data.imagefolder import IMAGE_SUFFIXES, SPLITS
from air_core.data.names import check_distinct_names, read_class_names
from air_core.errors import DatasetError

log = logging.getLogger(__name__)

# EuroSAT's class folders, in the order of its 10 descriptive class names.
EUROSAT_FOLDERS = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)
COLUMNS = ["image_id", "path", "label", "class_name", "split"]

# One manifest row before the class name is known: (split, path below the split, file, label, source file).
Row = tuple[str, str, Path, int, Path]


def require_root(root: str | Path | None, what: str) -> Path:
    """The dataset root as a Path; DatasetError when it is unset or not a folder."""
    if not root:
        raise DatasetError(f"{what}: no dataset root is set; set 'root' (or 'data_root') in the dataset's config")
    path = Path(root)
    if not path.is_dir():
        raise DatasetError(
            f"{what}: dataset root {path} does not exist; download the dataset there "
            "(see docs/datasets.md) or fix the dataset's 'root' in the config"
        )
    return path


def require_names(class_names: str | Path | None, what: str, expected: int | None = None) -> list[str]:
    """The class names of a layout that needs a class-name file."""
    if not class_names:
        raise DatasetError(
            f"{what} needs a class-name file; set the dataset's 'class_names' (the presets in config/datasets/ set it)"
        )
    return read_class_names(class_names, expected)


def parse_split_file(path: Path, n_classes: int, class_file: str | Path) -> list[tuple[str, int]]:
    """The (image path after '@', label) pairs of a ``<anything>@<img> <label>`` split file."""
    if not path.is_file():
        raise DatasetError(
            f"split file {path} does not exist; the dataset root must hold the ELEVATER split "
            "files (see docs/datasets.md)"
        )
    pairs, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().rsplit(maxsplit=1)  # the image part may hold spaces (FGVC: 'Cessna 172/...')
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DatasetError(f"{path} line {number}: expected '<anything>@<image> <label>', got {line.strip()!r}")
        image, label = parts[0].rsplit("@", 1)[-1].strip(), int(parts[1])
        if not 0 <= label < n_classes:
            raise DatasetError(
                f"{path} line {number}: label {label} is out of range; {class_file} has {n_classes} "
                f"classes (0..{n_classes - 1}). Check that the split file and the class-name file "
                "belong to the same dataset"
            )
        if image in seen:
            raise DatasetError(f"{path} line {number}: image {image!r} is listed twice; remove the duplicate line")
        seen.add(image)
        pairs.append((image, label))
    return pairs


def to_manifest(rows: list[Row], names: list[str], class_file: str | Path | None) -> pd.DataFrame:
    """The manifest of ``rows``; DatasetError when a class has no image in any split file."""
    counts = pd.Series([r[3] for r in rows], dtype="int64").value_counts()
    empty = [i for i in range(len(names)) if i not in counts.index]
    if empty:
        sources = sorted({str(r[4]) for r in rows}) or ["(no split file)"]
        shown = ", ".join(f"{i} '{names[i]}'" for i in empty[:5]) + (" ..." if len(empty) > 5 else "")
        raise DatasetError(
            f"{len(empty)} classes of {class_file or 'the dataset'} have no images in "
            f"{', '.join(sources)}: {shown}. Check that the split files are complete and belong "
            "to the same dataset as the class-name file"
        )
    data = [(f"{s}/{rel}", str(p.resolve()), label, names[label], s) for s, rel, p, label, _ in rows]
    return pd.DataFrame(data, columns=COLUMNS)


def read_split_text(
    root: str | Path, class_names: str | Path | None, what: str = "split-text dataset"
) -> tuple[pd.DataFrame, list[str]]:
    """Flowers102, DTD or FGVCAircraft: ``root/{train,val,test}.txt``, images under ``root/<split>/``."""
    root = require_root(root, what)
    names = require_names(class_names, what)
    rows: list[Row] = []
    for split in SPLITS:
        source = root / f"{split}.txt"
        rows += [
            (split, image, root / split / image, label, source)
            for image, label in parse_split_file(source, len(names), class_names)
        ]
    return to_manifest(rows, names, class_names), names


def read_flowers102(root: str | Path, class_names: str | Path | None) -> tuple[pd.DataFrame, list[str]]:
    """Flowers102: ``<anything>@<img> <label>`` lines, images at ``root/<split>/<img>``; 102 classes."""
    return read_split_text(root, class_names, "Flowers102")


def read_dtd(root: str | Path, class_names: str | Path | None) -> tuple[pd.DataFrame, list[str]]:
    """DTD: ``<anything>@<class>/<img> <label>`` lines, images at ``root/<split>/<class>/<img>``; 47 classes."""
    return read_split_text(root, class_names, "DTD")


def read_fgvc_aircraft(root: str | Path, class_names: str | Path | None) -> tuple[pd.DataFrame, list[str]]:
    """FGVCAircraft: ``<anything>@<Class>/<img> <label>`` lines, images at ``root/<split>/<Class>/<img>``."""
    return read_split_text(root, class_names, "FGVCAircraft")


def _folder_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_eurosat(root: str | Path, class_names: str | Path | None) -> tuple[pd.DataFrame, list[str]]:
    """EuroSAT: test = ``test.txt``; train pool = every image of the class folders that is not a test image.

    The class folders may also hold the test images; they are left out of the pool (the protocol's caution).
    """
    root = require_root(root, "EuroSAT")
    names = require_names(class_names, "EuroSAT", len(EUROSAT_FOLDERS))
    source = root / "test.txt"
    rows: list[Row] = []
    for image, label in parse_split_file(source, len(names), class_names):
        folder, name = EUROSAT_FOLDERS[label], PurePosixPath(image).name
        rows.append(("test", f"{folder}/{name}", root / folder / name, label, source))
    test_keys = {r[1] for r in rows}
    excluded = 0
    for label, folder in enumerate(EUROSAT_FOLDERS):
        if not (root / folder).is_dir():
            raise DatasetError(
                f"EuroSAT class folder {root / folder} does not exist; expected root/<Folder>/<image> "
                f"with the folders {', '.join(EUROSAT_FOLDERS)}"
            )
        files = _folder_images(root / folder)
        pool = [p for p in files if f"{folder}/{p.name}" not in test_keys]
        excluded += len(files) - len(pool)
        rows += [("train", f"{folder}/{p.name}", p, label, root / folder) for p in pool]
    log.info("EuroSAT: %d test images found in the class folders were left out of the train pool", excluded)
    return to_manifest(rows, names, class_names), names


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(
            f"split file {path} does not exist; the RESISC45 root must hold train.json, val.json "
            "and test.json (see docs/datasets.md)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"split file {path} is not valid JSON ({err}); download it again") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"split file {path} has no 'images' list; expected the COCO-like ELEVATER format")
    return data


def _resisc_names(data: dict[str, dict], files: dict[str, Path], class_names: str | Path | None) -> list[str]:
    """The class-name file's names, or the categories ('_' read as ' ') sorted; the two must agree."""
    names = read_class_names(class_names) if class_names else []
    for split, content in data.items():
        raw = sorted((str(c["name"]).replace("_", " "), str(c["name"])) for c in content.get("categories", []))
        categories = [name for name, _ in raw]
        if not names:
            check_distinct_names(
                categories,
                [f"{files[split]} category {c!r}" for _, c in raw],
                "rename one of the two categories or set 'class_names'",
            )
            names = categories
        elif categories and sorted(names) != categories:
            raise DatasetError(
                f"the categories of {files[split]} are not the classes of {class_names}; "
                "use the class-name file of RESISC45 (config/class_names/resisc45.txt)"
            )
    if not names:
        raise DatasetError(
            f"RESISC45 has no class names: {files['train']} has no categories and no 'class_names' file is set"
        )
    return names


def read_resisc45(root: str | Path, class_names: str | Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    """RESISC45: COCO-like ``{train,val,test}.json``; the class is the image's folder with '_' read as ' '."""
    root = require_root(root, "RESISC45")
    files = {split: root / f"{split}.json" for split in SPLITS}
    data = {split: _load_json(path) for split, path in files.items()}
    names = _resisc_names(data, files, class_names)
    index = {n: i for i, n in enumerate(names)}
    rows: list[Row] = []
    for split, content in data.items():
        for entry in content["images"]:
            image = str(entry.get("file_name", "")).rsplit("@", 1)[-1]
            folder = PurePosixPath(image).parts[0] if "/" in image else ""
            if folder.replace("_", " ") not in index:
                raise DatasetError(
                    f"{files[split]}: image {image!r} is not in a class folder of "
                    f"{class_names or 'its categories'}; expected '<anything>@<class_folder>/<img>'"
                )
            rows.append((split, image, root / image, index[folder.replace("_", " ")], files[split]))
    keys = pd.Series([f"{r[0]}/{r[1]}" for r in rows])
    if keys.duplicated().any():
        raise DatasetError(
            f"RESISC45 lists {keys[keys.duplicated()].iloc[0]!r} twice in its split file; remove the duplicate entry"
        )
    return to_manifest(rows, names, class_names), names
