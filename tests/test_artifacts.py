"""Artifact I/O: documented Parquet schemas, embedding columns and atomic writes."""

import os
import stat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from air_core.artifacts import (
    EMBEDDING,
    PROBS,
    SCHEMAS,
    atomic_dir,
    atomic_path,
    check_table,
    column_matrix,
    embedding_array,
    publish,
    read_table,
    save_image,
    to_table,
    write_table,
    write_text,
)
from air_core.checksums import MARKER
from air_core.results_dir import claim_results_dir

ARROW = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
}


def _dummy(kind: str, n: int = 2):
    """Valid values of a documented column kind."""
    if kind in (EMBEDDING, PROBS):
        return np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    return {
        "string": [f"s{i}" for i in range(n)],
        "int32": np.arange(n),
        "int64": np.arange(n) + 2**40,
        "float32": np.linspace(0, 1, n),
        "float64": np.linspace(0, 1, n),
        "bool": np.arange(n) % 2 == 0,
    }[kind]


def test_every_schema_uses_known_kinds_and_builds():
    for name, spec in SCHEMAS.items():
        assert spec, name
        for col, (kind, meaning) in spec.items():
            assert kind in ARROW or kind in (EMBEDDING, PROBS), (name, col, kind)
            assert meaning.strip(), (name, col)
        table = to_table(name, {col: _dummy(kind) for col, (kind, _) in spec.items()})
        check_table(name, table)
        assert table.num_rows == 2


def test_round_trip_with_an_embedding_column(tmp_path):
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((5, 7))
    path = tmp_path / "sub" / "features.parquet"  # the parent is created
    written = write_table("features", {"image_id": [f"train/a/{i}.png" for i in range(5)], "feature": matrix}, path)
    table = read_table("features", path)

    assert table.equals(written)
    assert table.column_names == ["image_id", "feature"]
    feature_type = table.schema.field("feature").type
    assert pa.types.is_fixed_size_list(feature_type)
    assert feature_type.list_size == 7 and feature_type.value_type == pa.float32()
    assert table.column("image_id").to_pylist() == [f"train/a/{i}.png" for i in range(5)]
    expected = matrix.astype(np.float32)
    np.testing.assert_array_equal(column_matrix(table, "feature"), expected)
    np.testing.assert_array_equal(column_matrix(table.to_pandas(), "feature"), expected)
    assert column_matrix(table, "feature").dtype == np.float32
    assert sorted(p.name for p in path.parent.iterdir()) == ["features.parquet"]  # no temp file left


def test_round_trip_with_probs_and_scalars(tmp_path):
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    columns = {
        "probs": probs,
        "image_id": ["a", "b"],
        "split": ["train", "test"],  # any order in, documented out
        "pred": probs.argmax(1),
        "confidence": probs.max(1),
    }
    write_table("zero_shot", columns, tmp_path / "probs.parquet")
    table = read_table("zero_shot", tmp_path / "probs.parquet")
    assert table.column_names == list(SCHEMAS["zero_shot"])
    assert table.schema.field("pred").type == pa.int32()
    assert table.schema.field("confidence").type == pa.float32()
    assert table.column("pred").to_pylist() == [0, 2]
    np.testing.assert_allclose(table.column("confidence").to_numpy(), [0.7, 0.8], rtol=1e-6)
    np.testing.assert_allclose(column_matrix(table, "probs"), probs, rtol=1e-6)


def test_embedding_array_and_column_matrix():
    matrix = np.arange(12, dtype=np.float64).reshape(4, 3)
    array = embedding_array(matrix)
    assert len(array) == 4 and array.type.list_size == 3 and array.type.value_type == pa.float32()
    assert array[1].as_py() == [3.0, 4.0, 5.0]
    # several chunks and a sliced table still give the right rows
    table = to_table("features", {"image_id": list("abcd"), "feature": matrix})
    chunked = pa.concat_tables([table.slice(0, 1), table.slice(1, 3)])
    assert chunked.column("feature").num_chunks == 2
    np.testing.assert_array_equal(column_matrix(chunked, "feature"), matrix)
    np.testing.assert_array_equal(column_matrix(table.slice(2), "feature"), matrix[2:])


def test_empty_embedding_column_keeps_its_width(tmp_path):
    write_table("features", {"image_id": [], "feature": np.zeros((0, 5))}, tmp_path / "empty.parquet")
    table = read_table("features", tmp_path / "empty.parquet")
    assert table.num_rows == 0
    assert column_matrix(table, "feature").shape == (0, 5)


def test_to_table_rejects_missing_columns():
    with pytest.raises(ValueError, match=r"missing columns \['slug'\]"):
        to_table("classes", {"label": [0], "class_name": ["a"]})


def test_to_table_rejects_undocumented_columns():
    with pytest.raises(ValueError, match=r"undocumented \['extra'\]"):
        to_table("classes", {"label": [0], "class_name": ["a"], "slug": ["a"], "extra": [1]})


def test_to_table_rejects_unknown_table():
    with pytest.raises(KeyError):
        to_table("no_such_table", {})


def test_to_table_refuses_lossy_values():
    with pytest.raises(pa.ArrowInvalid):
        to_table("lora_loss", {"step": np.array([1.5]), "timestep_mean": [1.0], "loss": [1.0]})


def test_check_table_rejects_a_wrong_type():
    table = pa.table({"label": pa.array([0, 1], pa.int64()), "class_name": ["a", "b"], "slug": ["a", "b"]})
    with pytest.raises(ValueError, match="column 'label' is int64, documented int32"):
        check_table("classes", table)


def test_check_table_rejects_a_float64_embedding():
    values = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(6)), 3)  # float64 items
    table = pa.table({"image_id": ["a", "b"], "feature": values})
    with pytest.raises(ValueError, match="column 'feature'"):
        check_table("features", table)


def test_check_table_rejects_a_variable_length_list():
    table = pa.table({"image_id": ["a"], "feature": pa.array([[1.0, 2.0]], pa.list_(pa.float32()))})
    with pytest.raises(ValueError, match="column 'feature'"):
        check_table("features", table)


def test_check_table_rejects_wrong_column_order_or_set():
    good = to_table("classes", {"label": [0], "class_name": ["a"], "slug": ["a"]})
    with pytest.raises(ValueError, match="has columns"):
        check_table("classes", good.select(["class_name", "label", "slug"]))
    with pytest.raises(ValueError, match="has columns"):
        check_table("classes", good.drop_columns(["slug"]))


def test_read_table_checks_the_schema(tmp_path):
    path = tmp_path / "classes.parquet"
    pq.write_table(pa.table({"label": pa.array([0], pa.int64()), "class_name": ["a"], "slug": ["a"]}), path)
    with pytest.raises(ValueError, match="documented int32"):
        read_table("classes", path)
    with pytest.raises(ValueError, match="has columns"):
        read_table("manifest", path)


def test_atomic_path_leaves_nothing_when_the_body_raises(tmp_path):
    target = tmp_path / "out" / "table.parquet"
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(target) as tmp:
            assert tmp.parent == target.parent and tmp != target
            tmp.write_bytes(b"half written")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_path_keeps_the_old_target_when_the_body_raises(tmp_path):
    target = tmp_path / "table.parquet"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new but broken")
            raise RuntimeError
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_path_replaces_the_target_on_success(tmp_path):
    target = tmp_path / "settings.json"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.exists() and tmp.name.startswith(".settings.json.") and tmp.suffix == ".json"
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing visible before the body ends
    assert target.read_text() == "new"
    assert list(tmp_path.iterdir()) == [target]


def test_write_table_failure_leaves_no_file(tmp_path):
    target = tmp_path / "classes.parquet"
    with pytest.raises(ValueError):
        write_table("classes", {"label": [0]}, target)
    assert list(tmp_path.iterdir()) == []


def test_save_image_writes_a_png_atomically(tmp_path):
    from PIL import Image

    path = tmp_path / "grid" / "x.png"
    save_image(Image.new("RGB", (4, 4), (1, 2, 3)), path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.getpixel((0, 0)) == (1, 2, 3)
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]


def test_pandas_round_trip_keeps_dtypes(tmp_path):
    frame = pd.DataFrame(
        {
            "iteration": [0, 0, 1],
            "image_id": ["a", "b", "a"],
            "pseudo_label": [1, 0, 1],
            "score": [0.5, 0.25, 0.75],
            "correct": [True, False, True],
            "held_out": [False, False, True],
        }
    )
    write_table("pseudo_labels", {c: frame[c].to_numpy() for c in frame.columns}, tmp_path / "p.parquet")
    back = read_table("pseudo_labels", tmp_path / "p.parquet").to_pandas()
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["pseudo_label"].dtype == np.int32 and back["correct"].dtype == bool


@pytest.fixture(params=[0o022, 0o077, 0o002], ids=["umask022", "umask077", "umask002"])
def umask(request):
    """The process umask set for one test and restored after it."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_artifacts_honour_the_umask(tmp_path, umask):
    """Files 0o666 less the umask, folders 0o777 less it, as open() and mkdir() give: with umask 022 a shared
    project's group can read every artifact, with 077 nobody else can."""
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    results = claim_results_dir(tmp_path / "results")  # the marker and the checksum files as well
    files = [
        results / "d" / "data" / "classes.parquet",
        results / "d" / "grid.png",
        results / "tables" / "r.md",
        results / "d" / "run" / "settings.json",
        results / "d" / "lora" / "w.safetensors",
    ]
    write_table("classes", {"label": [0], "class_name": ["a"], "slug": ["a"]}, files[0])
    save_image(Image.new("RGB", (2, 2)), files[1])
    write_text("| a |\n", files[2])
    with atomic_path(files[3]) as tmp:
        tmp.write_text("{}")
    loose = tmp_path / "lora" / "weights.safetensors"
    loose.parent.mkdir()
    save_file({"w": torch.zeros(2)}, str(loose))  # safetensors makes its own file (0600 in 0.8), then moved in
    publish(loose, files[4])
    with atomic_path(results / "d" / "text_features.safetensors") as tmp:
        save_file({"w": torch.zeros(2)}, str(tmp))
    with atomic_dir(results / "toy" / "sd") as tmp:  # save_pretrained's folders and files
        (tmp / "unet").mkdir()
        save_file({"w": torch.zeros(2)}, str(tmp / "unet" / "model.safetensors"))
        (tmp / "model_index.json").write_text("{}")
    files += [
        results / "d" / "text_features.safetensors",
        results / "toy" / "sd" / "unet" / "model.safetensors",
        results / "toy" / "sd" / "model_index.json",
        results / MARKER,
    ]
    files += sorted((results / ".air").rglob("*.sha256"))
    assert len(files) == 9 + 8
    folders = {p for f in files for p in f.parents if results in p.parents or p == results}
    assert {f: oct(_mode(f)) for f in files} == {f: oct(0o666 & ~umask) for f in files}
    assert {d: oct(_mode(d)) for d in folders} == {d: oct(0o777 & ~umask) for d in folders}
