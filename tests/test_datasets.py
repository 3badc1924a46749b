"""The benchmark layouts, the manifest-file adapter and bad data, on miniature copies built in tmp_path."""

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from air_core.data.benchmarks import EUROSAT_FOLDERS
from air_core.data.readers import LAYOUTS, drop_unreadable, image_problem, read_dataset
from air_core.errors import DatasetError

NAMES_DIR = Path(__file__).resolve().parents[1] / "config" / "class_names"
COUNTS = {"train": 2, "val": 1, "test": 1}  # images per class and split in the miniatures


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png_bytes()


def _put(path: Path, data: bytes = PNG) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _names(layout: str) -> list[str]:
    return (NAMES_DIR / f"{layout}.txt").read_text(encoding="utf-8").splitlines()


def build_split_text(root: Path, layout: str, names: list[str], counts=COUNTS) -> Path:
    """Flowers102 (root/<split>/<img>) or DTD / FGVC (root/<split>/<class>/<img>) with ELEVATER lines."""
    for split, n in counts.items():
        lines = []
        for label, name in enumerate(names):
            for i in range(n):
                image = f"image_{label:03d}_{i}.png" if layout == "flowers102" else f"{name}/{split}_{i}.png"
                _put(root / split / image)
                lines.append(f"{layout}.zip@{image} {label}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def build_eurosat(root: Path, pool: int = 3, test: int = 1) -> Path:
    """Class folders that hold the pool and the test images; test.txt lists the test ones."""
    lines = []
    for label, folder in enumerate(EUROSAT_FOLDERS):
        for i in range(pool + test):
            _put(root / folder / f"{folder}_{i}.png")
            if i >= pool:
                lines.append(f"eurosat.zip@{folder}/{folder}_{i}.png {label}")
    (root / "test.txt").write_text("\n".join(lines) + "\n")
    return root


def build_resisc45(root: Path, names: list[str], counts=COUNTS) -> Path:
    folders = [n.replace(" ", "_") for n in names]
    categories = [{"id": i, "name": f} for i, f in enumerate(folders)]
    for split, n in counts.items():
        images = []
        for folder in folders:
            for i in range(n):
                _put(root / folder / f"{folder}_{split}_{i}.png")
                images.append({"id": len(images), "file_name": f"resisc45.zip@{folder}/{folder}_{split}_{i}.png"})
        (root / f"{split}.json").write_text(json.dumps({"images": images, "categories": categories}))
    return root


def build(tmp: Path, layout: str) -> Path:
    root = tmp / layout
    if layout == "eurosat":
        return build_eurosat(root)
    if layout == "resisc45":
        return build_resisc45(root, _names(layout))
    return build_split_text(root, layout, _names(layout))


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("benchmarks")
    return {layout: build(tmp, layout) for layout in ("flowers102", "dtd", "fgvc_aircraft", "eurosat", "resisc45")}


def _check_manifest(manifest: pd.DataFrame, names: list[str]) -> None:
    assert list(manifest.columns) == ["image_id", "path", "label", "class_name", "split"]
    assert manifest["image_id"].is_unique
    assert (manifest["class_name"] == [names[i] for i in manifest["label"]]).all()
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in manifest["path"])
    assert all(i.split("/", 1)[0] == s for i, s in zip(manifest["image_id"], manifest["split"], strict=True))


@pytest.mark.parametrize("layout, n_classes", [("flowers102", 102), ("dtd", 47), ("fgvc_aircraft", 100)])
def test_split_text_layouts(benchmarks, layout, n_classes):
    manifest, names = read_dataset(layout, benchmarks[layout], NAMES_DIR / f"{layout}.txt")
    assert names == _names(layout) and len(names) == n_classes
    _check_manifest(manifest, names)
    assert manifest.groupby(["split", "label"]).size().unstack(0).eq(pd.Series(COUNTS)).all().all()
    for row in manifest.itertuples():  # root/<split>/<image after '@'>, the class folder is the label's
        assert Path(row.path) == (benchmarks[layout] / row.image_id).resolve()
        if layout != "flowers102":
            assert row.image_id.split("/")[1] == names[row.label]  # e.g. 'Cessna 172': spaces survive


def test_eurosat_leaves_test_images_out_of_the_pool(benchmarks):
    manifest, names = read_dataset("eurosat", benchmarks["eurosat"], NAMES_DIR / "eurosat.txt")
    assert names[0] == "annual crop land" and names[-1] == "lake or sea" and len(names) == 10
    _check_manifest(manifest, names)
    assert manifest.groupby("split").size().to_dict() == {"test": 10, "train": 30}
    pool, test = manifest[manifest["split"] == "train"], manifest[manifest["split"] == "test"]
    assert not set(pool["path"]) & set(test["path"])  # every file once, the test ones only in test
    assert len(set(manifest["path"])) == 40 == len(list(benchmarks["eurosat"].rglob("*.png")))
    for row in manifest.itertuples():
        assert Path(row.path).parent.name == EUROSAT_FOLDERS[row.label]


def test_resisc45_classes_from_folders(benchmarks):
    manifest, names = read_dataset("resisc45", benchmarks["resisc45"], NAMES_DIR / "resisc45.txt")
    assert names == sorted(names) == _names("resisc45") and len(names) == 45
    _check_manifest(manifest, names)
    assert manifest.groupby("split").size().to_dict() == {s: 45 * n for s, n in COUNTS.items()}
    for row in manifest.itertuples():
        assert Path(row.path).parent.name.replace("_", " ") == row.class_name
    without_file, derived = read_dataset("resisc45", benchmarks["resisc45"])  # names from the categories
    assert derived == names and without_file.equals(manifest)


def test_every_layout_is_dispatched(tmp_path):
    assert set(LAYOUTS) == {
        "imagefolder",
        "shapes",
        "flowers102",
        "dtd",
        "fgvc_aircraft",
        "eurosat",
        "resisc45",
        "manifest_file",
    }
    _put(tmp_path / "ds" / "train" / "a" / "0.png")
    _put(tmp_path / "ds" / "test" / "a" / "0.png")
    (tmp_path / "ds" / "class_names.txt").write_text("alpha\n")
    assert read_dataset("shapes", tmp_path / "ds")[1] == ["alpha"]  # shapes: root/class_names.txt
    assert read_dataset("imagefolder", tmp_path / "ds")[1] == ["a"]
    with pytest.raises(DatasetError, match="unknown"):
        read_dataset("coco", tmp_path / "ds")


# ---------------------------------------------------------------- bad data: DatasetError naming the file


SMALL = ["rose", "tulip", "daisy"]


def _small(tmp_path: Path, layout: str) -> tuple[Path, Path]:
    names_file = tmp_path / "names.txt"
    names_file.write_text("\n".join(SMALL) + "\n")
    return build_split_text(tmp_path / layout, layout, SMALL), names_file


@pytest.mark.parametrize("layout", ["flowers102", "dtd", "fgvc_aircraft", "eurosat", "resisc45", "manifest_file"])
def test_missing_root(tmp_path, layout):
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "absent"))):
        read_dataset(layout, tmp_path / "absent", NAMES_DIR / "eurosat.txt")


@pytest.mark.parametrize("layout, missing", [("dtd", "val.txt"), ("eurosat", "test.txt"), ("resisc45", "test.json")])
def test_missing_split_file(tmp_path, layout, missing):
    names_file = NAMES_DIR / "eurosat.txt"
    if layout == "eurosat":
        root = build_eurosat(tmp_path / layout)
    elif layout == "resisc45":
        root, names_file = build_resisc45(tmp_path / layout, SMALL), None
    else:
        root, names_file = _small(tmp_path, layout)
    (root / missing).unlink()
    with pytest.raises(DatasetError, match=re.escape(str(root / missing)) + ".*does not exist"):
        read_dataset(layout, root, names_file)


@pytest.mark.parametrize("layout", ["flowers102", "eurosat"])
def test_missing_class_name_file(benchmarks, tmp_path, layout):
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "nope.txt"))):
        read_dataset(layout, benchmarks[layout], tmp_path / "nope.txt")
    with pytest.raises(DatasetError, match="class-name file"):
        read_dataset(layout, benchmarks[layout], None)


def test_label_out_of_range_names_file_and_line(tmp_path):
    root, names_file = _small(tmp_path, "flowers102")
    (root / "test.txt").write_text("x@a.png 0\nx@b.png 3\n")
    with pytest.raises(DatasetError, match=re.escape(f"{root / 'test.txt'} line 2: label 3 is out of range")):
        read_dataset("flowers102", root, names_file)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("x@a.png\n", "expected '<anything>@<image> <label>'"),
        ("x@a.png zero\n", "expected"),
        ("x@a.png 0\ny@a.png 1\n", "twice"),
    ],
)
def test_malformed_split_lines(tmp_path, text, problem):
    root, names_file = _small(tmp_path, "dtd")
    (root / "val.txt").write_text(text)
    with pytest.raises(DatasetError, match=re.escape(str(root / "val.txt")) + ".*" + re.escape(problem)):
        read_dataset("dtd", root, names_file)


def test_class_without_images(tmp_path):
    root, names_file = _small(tmp_path, "fgvc_aircraft")
    names_file.write_text("\n".join(SMALL + ["orchid"]) + "\n")  # a fourth class no split file lists
    with pytest.raises(DatasetError, match="3 'orchid'") as err:
        read_dataset("fgvc_aircraft", root, names_file)
    assert str(root / "train.txt") in str(err.value)


def test_eurosat_bad_layouts(tmp_path):
    root = build_eurosat(tmp_path / "eurosat")
    for image in (root / "Forest").iterdir():
        image.unlink()
    manifest, names = read_dataset("eurosat", root, NAMES_DIR / "eurosat.txt")  # test.txt still lists one
    with pytest.raises(DatasetError, match="forest"):
        drop_unreadable(manifest, names, "skip", "eurosat")
    test_txt = root / "test.txt"
    test_txt.write_text("".join(line + "\n" for line in test_txt.read_text().splitlines() if "Forest" not in line))
    with pytest.raises(DatasetError, match="1 'forest'"):
        read_dataset("eurosat", root, NAMES_DIR / "eurosat.txt")
    (root / "Forest").rmdir()
    with pytest.raises(DatasetError, match=re.escape(str(root / "Forest"))):
        read_dataset("eurosat", root, NAMES_DIR / "eurosat.txt")
    four = tmp_path / "four.txt"
    four.write_text("a\nb\nc\nd\n")
    with pytest.raises(DatasetError, match=re.escape(str(four)) + " has 4 names but the dataset has 10 classes"):
        read_dataset("eurosat", root, four)


def test_resisc45_bad_json(tmp_path):
    root = build_resisc45(tmp_path / "r", SMALL)
    names_file = tmp_path / "names.txt"
    names_file.write_text("daisy\nrose\ntulip\nlily\n")
    with pytest.raises(DatasetError, match="categories of .*train.json are not the classes"):
        read_dataset("resisc45", root, names_file)
    (root / "val.json").write_text(json.dumps({"images": [{"file_name": "x@loose.png"}]}))
    with pytest.raises(DatasetError, match=re.escape(str(root / "val.json")) + ".*loose.png"):
        read_dataset("resisc45", root)
    (root / "val.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        read_dataset("resisc45", root)


# ---------------------------------------------------------------- unreadable images


def test_unreadable_images_are_skipped_and_reported(tmp_path):
    root, names_file = _small(tmp_path, "flowers102")
    garbage, truncated, gone = (root / "train" / f"image_00{i}_0.png" for i in range(3))
    garbage.write_bytes(b"this is not an image")
    truncated.write_bytes(PNG[: len(PNG) // 2])
    gone.unlink()
    manifest, names = read_dataset("flowers102", root, names_file)
    assert image_problem(gone) == "file not found" and image_problem(root / "test" / "image_000_0.png") is None
    kept, skipped = drop_unreadable(manifest, names, "skip", "flowers")
    assert len(kept) == len(manifest) - 3 and not set(kept["path"]) & set(skipped["path"])
    assert list(skipped.columns) == ["path", "split", "reason"]
    reasons = dict(zip(skipped["path"], skipped["reason"], strict=True))
    assert reasons[str(gone.resolve())] == "file not found"
    assert reasons[str(garbage.resolve())].startswith("unreadable: ")
    assert reasons[str(truncated.resolve())].startswith("unreadable: ")
    assert set(skipped["split"]) == {"train"}
    with pytest.raises(DatasetError, match=re.escape(str(garbage.resolve())) + ".*on_unreadable: skip"):
        drop_unreadable(manifest, names, "error", "flowers")


def test_a_class_left_without_readable_images_is_an_error(tmp_path):
    root, names_file = _small(tmp_path, "dtd")
    for image in root.rglob("tulip/*.png"):
        image.write_bytes(b"garbage")
    manifest, names = read_dataset("dtd", root, names_file)
    with pytest.raises(DatasetError, match="tulip"):
        drop_unreadable(manifest, names, "skip", "dtd")
    for image in root.rglob("test/*/*.png"):
        image.unlink()
    with pytest.raises(DatasetError, match="every test image is missing or unreadable"):
        drop_unreadable(manifest, names, "skip", "dtd")
