"""The dataset adapters: the image-folder layout, class-name slugs and the drawn shapes dataset."""

import dataclasses
import re
from pathlib import Path

import pytest
from PIL import Image

from air_core.artifacts import check_table, to_table
from air_core.config import ShapesConfig
from air_core.data.imagefolder import class_table, read_class_names, read_image_folder
from air_core.data.names import slugify
from air_core.data.shapes import COLOURS, SHAPES, class_names, write_shapes_dataset
from air_core.errors import DatasetError


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, value, value)).save(path)
    return path


def _flat(root: Path, counts: dict[str, int]) -> Path:
    """root/<class>/<i>.png with counts[class] images each."""
    for folder, n in counts.items():
        for i in range(n):
            _png(root / folder / f"{i:02d}.png", i)
    return root


def _split_layout(root: Path, counts: dict[str, dict[str, int]]) -> Path:
    """root/<split>/<class>/<i>.png with counts[split][class] images each."""
    for split, per_class in counts.items():
        for folder, n in per_class.items():
            for i in range(n):
                _png(root / split / folder / f"{i:02d}.png", i)
    return root


def _counts(manifest, split):
    return manifest[manifest["split"] == split].groupby("class_name").size().to_dict()


# ---------------------------------------------------------------- flat layout: root/<class>/<image>


def test_flat_layout_labels_names_and_seeded_split(tmp_path):
    # 3 -> round(0.9) = 1 test image, 5 -> round(1.5) = 2, 10 -> round(3.0) = 3
    root = _flat(tmp_path / "ds", {"b_class": 5, "a_class": 3, "c": 10})
    manifest, names = read_image_folder(root, test_fraction=0.3, split_seed=0)

    assert names == ["a class", "b class", "c"]  # sorted folder order, '_' read as a space
    assert list(manifest.columns) == ["image_id", "path", "label", "class_name", "split"]
    assert len(manifest) == 18
    assert _counts(manifest, "test") == {"a class": 1, "b class": 2, "c": 3}
    assert _counts(manifest, "train") == {"a class": 2, "b class": 3, "c": 7}
    folder_of = {0: "a_class", 1: "b_class", 2: "c"}
    for row in manifest.itertuples():
        assert row.class_name == names[row.label]
        assert row.image_id.startswith(f"{row.split}/{folder_of[row.label]}/")
        assert Path(row.path).is_absolute() and Path(row.path).is_file()
        assert Path(row.path).name == row.image_id.rsplit("/", 1)[1]
    assert manifest["image_id"].is_unique


def test_flat_split_is_deterministic_and_seeded(tmp_path):
    root = _flat(tmp_path / "ds", {"a": 10, "b": 10, "c": 10})
    first, _ = read_image_folder(root, test_fraction=0.3, split_seed=7)
    again, _ = read_image_folder(root, test_fraction=0.3, split_seed=7)
    assert first.equals(again)
    other, _ = read_image_folder(root, test_fraction=0.3, split_seed=8)
    assert _counts(other, "test") == _counts(first, "test") == {"a": 3, "b": 3, "c": 3}
    test_ids = lambda m: set(m.loc[m["split"] == "test", "image_id"])  # noqa: E731
    assert test_ids(other) != test_ids(first)


def test_flat_split_is_per_class(tmp_path):
    """A class's split depends only on its own images: another class growing changes nothing for it."""
    small = _flat(tmp_path / "small", {"a": 10, "b": 4})
    large = _flat(tmp_path / "large", {"a": 10, "b": 12})

    def test_files(root, cls):
        m, _ = read_image_folder(root, test_fraction=0.3, split_seed=3)
        return sorted(Path(p).name for p in m.loc[(m["split"] == "test") & (m["class_name"] == cls), "path"])

    assert test_files(small, "a") == test_files(large, "a")
    assert len(test_files(large, "b")) == 4 and len(test_files(small, "b")) == 1


@pytest.mark.parametrize("fraction, n_test", [(0.0, 0), (1.0, 6)])
def test_flat_split_extremes(tmp_path, fraction, n_test):
    root = _flat(tmp_path / "ds", {"a": 3, "b": 3})
    manifest, _ = read_image_folder(root, test_fraction=fraction)
    assert (manifest["split"] == "test").sum() == n_test
    assert (manifest["split"] == "train").sum() == 6 - n_test


def test_only_image_files_count_and_hidden_folders_are_skipped(tmp_path):
    root = _flat(tmp_path / "ds", {"a": 2, "b": 2})
    (root / "a" / "notes.txt").write_text("not an image")
    _png(root / "b" / "UPPER.PNG")
    _png(root / ".cache" / "x.png")  # hidden folder: not a class
    manifest, names = read_image_folder(root, test_fraction=0.0)
    assert names == ["a", "b"]
    assert manifest.groupby("label").size().to_dict() == {0: 2, 1: 3}
    assert not manifest["path"].str.endswith(".txt").any()


# ---------------------------------------------------------------- class-name file


def test_class_name_file_gives_names_in_sorted_folder_order(tmp_path):
    # Sorted folder order is ["Forest", "River", "sea_lake"] (upper case sorts first).
    root = _flat(tmp_path / "ds", {"sea_lake": 2, "Forest": 2, "River": 2})
    names_file = tmp_path / "names.txt"
    names_file.write_text("forest\n\n  river  \nsea or lake\n", encoding="utf-8")

    from_file, names = read_image_folder(root, names_file, test_fraction=0.0)
    assert names == ["forest", "river", "sea or lake"]
    assert from_file.loc[from_file["image_id"].str.startswith("train/Forest/"), "label"].unique().tolist() == [0]
    assert from_file.loc[from_file["image_id"].str.startswith("train/sea_lake/"), "class_name"].unique().tolist() == [
        "sea or lake"
    ]

    from_folders, folder_names = read_image_folder(root, None, test_fraction=0.0)
    assert folder_names == ["Forest", "River", "sea lake"]
    assert from_folders["label"].tolist() == from_file["label"].tolist()  # same labels, other names


def test_read_class_names(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("Île de Ré\ncolt's foot\n\n", encoding="utf-8")
    assert read_class_names(path) == ["Île de Ré", "colt's foot"]
    assert read_class_names(path, expected=2) == ["Île de Ré", "colt's foot"]
    with pytest.raises(DatasetError, match=re.escape(str(path))):
        read_class_names(path, expected=3)
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "missing.txt"))):
        read_class_names(tmp_path / "missing.txt")


def test_class_name_file_with_wrong_count_names_the_file(tmp_path):
    root = _flat(tmp_path / "ds", {"a": 2, "b": 2, "c": 2})
    names_file = tmp_path / "names.txt"
    names_file.write_text("alpha\nbeta\n")
    with pytest.raises(DatasetError) as err:
        read_image_folder(root, names_file)
    assert str(names_file) in str(err.value) and "2 names" in str(err.value) and "3 classes" in str(err.value)


# ---------------------------------------------------------------- split layout: root/<split>/<class>/<image>


def test_split_folders(tmp_path):
    root = _split_layout(
        tmp_path / "ds",
        {
            "train": {"cat": 3, "dog": 2},
            "val": {"cat": 1},
            "test": {"cat": 2, "dog": 1, "eel": 1},  # eel only in test: still a class
        },
    )
    manifest, names = read_image_folder(root, test_fraction=0.9)  # the fraction is unused here
    assert names == ["cat", "dog", "eel"]
    assert manifest.groupby(["split", "class_name"]).size().to_dict() == {
        ("test", "cat"): 2,
        ("test", "dog"): 1,
        ("test", "eel"): 1,
        ("train", "cat"): 3,
        ("train", "dog"): 2,
        ("val", "cat"): 1,
    }
    assert set(manifest["image_id"]) == {
        "train/cat/00.png",
        "train/cat/01.png",
        "train/cat/02.png",
        "train/dog/00.png",
        "train/dog/01.png",
        "val/cat/00.png",
        "test/cat/00.png",
        "test/cat/01.png",
        "test/dog/00.png",
        "test/eel/00.png",
    }
    for row in manifest.itertuples():
        assert row.image_id.split("/")[0] == row.split
        assert Path(row.path) == (root / row.image_id).resolve()
        assert row.label == names.index(row.class_name)


def test_split_folders_without_test_is_an_error(tmp_path):
    root = _split_layout(tmp_path / "ds", {"train": {"cat": 2}, "val": {"cat": 1}})
    with pytest.raises(DatasetError) as err:
        read_image_folder(root)
    assert str(root) in str(err.value) and "'test'" in str(err.value)


# ---------------------------------------------------------------- errors


def test_missing_root_is_an_error(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match=re.escape(str(root))):
        read_image_folder(root)


def test_root_without_class_folders_is_an_error(tmp_path):
    root = tmp_path / "ds"
    _png(root / "loose.png")
    with pytest.raises(DatasetError, match=re.escape(str(root))):
        read_image_folder(root)


def test_class_folder_without_images_is_an_error(tmp_path):
    root = _flat(tmp_path / "ds", {"a": 2, "b": 2})
    (root / "empty_class").mkdir()
    (root / "empty_class" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError) as err:
        read_image_folder(root)
    assert "empty_class" in str(err.value) and str(root) in str(err.value)


def test_split_class_folder_without_images_is_an_error(tmp_path):
    root = _split_layout(tmp_path / "ds", {"train": {"a": 2}, "test": {"a": 1}})
    (root / "test" / "b").mkdir()
    with pytest.raises(DatasetError) as err:
        read_image_folder(root)
    assert "b" in str(err.value) and str(root) in str(err.value)


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


# ---------------------------------------------------------------- class table and slugs


def test_class_table_matches_the_documented_schema():
    names = ["colt's foot", "rose", "Île de Ré"]
    columns = class_table(names)
    assert columns == {"label": [0, 1, 2], "class_name": names, "slug": [slugify(n) for n in names]}
    check_table("classes", to_table("classes", columns))


def test_manifest_matches_the_documented_schema(tmp_path):
    manifest, _ = read_image_folder(_flat(tmp_path / "ds", {"a": 2, "b": 3}))
    check_table("manifest", to_table("manifest", {c: manifest[c].tolist() for c in manifest.columns}))


SAFE = re.compile(r"[A-Za-z0-9_-]+")
TRICKY = [
    "colt's foot",
    "colt s foot",
    "colt_s_foot",
    "707-320",
    "707 320",
    "707/320",
    "Île de Ré",
    "Ile de Re",
    "Ile_de_Re",
    "a/b",
    "a_b",
    "a b",
    "a-b",
    "a\\b",
    "..",
    ".",
    "",
    "class",
    "_a",
    "a_",
    "日本",
    "Zoë",
    "Zoe",
]


@pytest.mark.parametrize("name", TRICKY)
def test_slug_is_path_safe(name):
    slug = slugify(name)
    assert SAFE.fullmatch(slug), slug
    assert slug not in (".", "..") and slug == slugify(name)


def test_slugs_of_distinct_names_are_distinct():
    slugs = [slugify(n) for n in TRICKY]
    assert len(set(slugs)) == len(TRICKY), dict(zip(TRICKY, slugs, strict=True))


@pytest.mark.parametrize("name", ["rose", "707-320", "Ile_de_Re", "A-b_9", "class"])
def test_plain_names_stay_unchanged(name):
    assert slugify(name) == name


def test_slug_keeps_a_readable_part():
    assert slugify("colt's foot").startswith("colt_s_foot-")
    assert slugify("Île de Ré").startswith("Ile_de_Re-")
    assert slugify("a/b").startswith("a_b-")


# ---------------------------------------------------------------- the shapes dataset


def test_shape_class_names():
    names = class_names(8)
    assert len(names) == len(set(names)) == 8
    for name in names:
        colour, shape = name.split(" ")
        assert colour in COLOURS and shape in SHAPES
    assert class_names(3) == names[:3]
    for bad in (1, len(COLOURS) * len(SHAPES) + 1):
        with pytest.raises(ValueError):
            class_names(bad)


SMALL = ShapesConfig(classes=3, train_per_class=2, test_per_class=1, size=16, seed=0)


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return root, write_shapes_dataset(root, SMALL)


def test_shapes_layout(shapes_root):
    root, names = shapes_root
    assert sorted(names) == sorted(class_names(3))
    assert names == sorted(names, key=lambda n: n.replace(" ", "_"))
    for name in names:
        folder = name.replace(" ", "_")
        assert len(list((root / "train" / folder).glob("*.png"))) == SMALL.train_per_class
        assert len(list((root / "test" / folder).glob("*.png"))) == SMALL.test_per_class
    assert len(list(root.rglob("*.png"))) == 3 * (SMALL.train_per_class + SMALL.test_per_class)
    assert (root / "class_names.txt").read_text().splitlines() == names
    with Image.open(next(root.rglob("*.png"))) as image:
        assert image.size == (SMALL.size, SMALL.size) and image.mode == "RGB"


def test_shapes_round_trip_through_the_image_folder_reader(shapes_root):
    root, names = shapes_root
    manifest, read_names = read_image_folder(root, root / "class_names.txt")
    assert read_names == names
    assert manifest.groupby(["split", "class_name"]).size().to_dict() == {
        **{("train", n): SMALL.train_per_class for n in names},
        **{("test", n): SMALL.test_per_class for n in names},
    }
    for row in manifest.itertuples():  # the folder of every image is its class
        assert row.image_id.split("/")[1] == names[row.label].replace(" ", "_")
    _, folder_names = read_image_folder(root)  # without the file: '_' -> ' ' gives the same names
    assert folder_names == names


def test_shapes_are_reproducible(shapes_root, tmp_path):
    root, _ = shapes_root
    again = tmp_path / "again"
    write_shapes_dataset(again, SMALL)
    files = sorted(p.relative_to(root) for p in root.rglob("*.png"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.png"))
    assert all((root / f).read_bytes() == (again / f).read_bytes() for f in files)

    other = tmp_path / "other"
    write_shapes_dataset(other, dataclasses.replace(SMALL, seed=1))
    assert any((root / f).read_bytes() != (other / f).read_bytes() for f in files)
