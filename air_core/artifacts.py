"""Artifact I/O: documented Parquet schemas and atomic writes.

Every Parquet file the workflow writes is named in ``SCHEMAS`` with its columns, their
Arrow types and their meaning; ``docs/artifacts.md`` is checked against this table by the
tests. Every writer goes through a temporary file and a rename, so a killed job never
leaves a half-written artifact that looks complete; files are created with the modes ``open``
and ``mkdir`` give (the umask decides who may read them). Inside a claimed results folder
(``air_core.results_dir``) every finished file gets a checksum (``air_core.checksums``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from air_core import checksums
from air_core.atomic import set_modes, temp_dir_beside, temp_file_beside

EMBEDDING = "embedding"  # fixed_size_list<float32>[D], D = the model's embedding width
PROBS = "probs"  # fixed_size_list<float32>[C], C = number of classes

_TYPES = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
}

# name -> {column: (type, meaning)}
SCHEMAS: dict[str, dict[str, tuple[str, str]]] = {
    "classes": {
        "label": ("int32", "class index, the order of the class-name file"),
        "class_name": ("string", "class name as written in prompts"),
        "slug": ("string", "file-system-safe form of the class name, used in paths"),
    },
    "manifest": {
        "image_id": ("string", "stable id of the image: '<split>/<path relative to the dataset root>'"),
        "path": ("string", "absolute path of the image file"),
        "label": ("int32", "true class index (held back from every unsupervised stage)"),
        "class_name": ("string", "true class name"),
        "split": ("string", "train, val or test; the train pool is train + val"),
    },
    "skipped_images": {
        "path": ("string", "absolute path of an image the dataset lists but that could not be read"),
        "split": ("string", "train, val or test: the split it was listed in"),
        "reason": ("string", "why it was left out: 'file not found' or 'unreadable: <PIL error>'"),
    },
    "features": {
        "image_id": ("string", "id of the image (manifest image_id or synthetic image_id)"),
        "feature": (EMBEDDING, "L2-normalised frozen CLIP image embedding"),
    },
    "zero_shot": {
        "image_id": ("string", "manifest image_id"),
        "split": ("string", "train, val or test"),
        "pred": ("int32", "argmax of p_c (eq. 1)"),
        "confidence": ("float32", "max_c p_c"),
        "probs": (PROBS, "p_c for every class (eq. 1), prompt 'a photo of a {class}'"),
    },
    "lora_set": {
        "image_id": ("string", "manifest image_id of a train-pool image"),
        "path": ("string", "absolute path of the image"),
        "pseudo_label": ("int32", "zero-shot pseudo-label (eq. 2-3)"),
        "class_name": ("string", "name of the pseudo-label class"),
        "confidence": ("float32", "p of the pseudo-label class"),
        "rank": ("int32", "rank of the image within its class, 0 = most confident"),
        "caption": ("string", "SD training caption '{t_data} {class}'"),
    },
    "lora_loss": {
        "step": ("int32", "optimizer step"),
        "timestep_mean": ("float32", "mean diffusion timestep of the batch"),
        "loss": ("float32", "epsilon-prediction MSE of the batch (eq. 4)"),
    },
    "synthetic_shard": {
        "image_id": ("string", "'<variant>/<class slug>/<index>', unique per synthetic image"),
        "path": ("string", "absolute path of the PNG"),
        "label": ("int32", "class the image was generated for"),
        "class_name": ("string", "class name"),
        "index": ("int32", "image index within its class, 0..M-1"),
        "seed": ("int64", "torch generator seed of this image"),
        "prompt": ("string", "SD prompt '{t_data} {class}'"),
        "shard": ("int32", "generation shard that made the image"),
        "black": ("bool", "image was all black (dropped from selection and training)"),
    },
    "synthetic_features": {
        "image_id": ("string", "synthetic image_id"),
        "label": ("int32", "generating class"),
        "index": ("int32", "image index within its class"),
        "feature": (EMBEDDING, "L2-normalised CLIP image embedding"),
        "p_own": ("float32", "zero-shot p of its own class, the score of eq. 6"),
    },
    "prototypes": {
        "label": ("int32", "class index"),
        "class_name": ("string", "class name"),
        "image_id": ("string", "synthetic image chosen for the class, x^*_c (eq. 6)"),
        "path": ("string", "path of the chosen PNG"),
        "p_own": ("float32", "its zero-shot p of its own class"),
        "feature": (EMBEDDING, "F(x^*_c), the prototype of eq. 7"),
    },
    "split": {
        "image_id": ("string", "manifest image_id"),
        "role": ("string", "labeled, unlabeled or test"),
        "seen": ("bool", "class is seen (always true outside TRZSL)"),
        "labeled_rank": (
            "int32",
            "position in the labelled list that the validation hold-out draws from (recipe key labeled_order); "
            "-1 when not labeled",
        ),
    },
    "pseudo_labels": {
        "iteration": ("int32", "relabelling round, 0 = zero-shot text classifier"),
        "image_id": ("string", "unlabeled image given a pseudo-label (no_break: may repeat in a round)"),
        "pseudo_label": ("int32", "its pseudo-label (CPL: its pool's class), from the scores p or p + lambda * p_hat"),
        "score": ("float32", "fused score of the pseudo-label class"),
        "correct": ("bool", "pseudo-label equals the held-back true label"),
        "held_out": ("bool", "held out of training as the validation split (recipe key validation_holdout)"),
    },
    "history": {
        "iteration": ("int32", "relabelling round"),
        "epoch": ("int32", "epoch within the round"),
        "lr": ("float32", "learning rate of the epoch"),
        "loss_real": ("float32", "L_r on the real images (eq. 8): CE, or CPL's -log sum_j w_j p_j; 0 when off"),
        "loss_synthetic": ("float32", "L_s, CE on synthetic images (eq. 9); 0 when off"),
        "loss": ("float32", "L = r * L_r + beta * L_s (eq. 10; r = the recipe's real_loss)"),
        "train_acc": ("float32", "accuracy on the training labels (pseudo-labels; synthetic labels when L_r is off)"),
    },
    "confident_accuracy": {
        "iteration": (
            "int32",
            "relabelling round whose classifier scored the images (0 = zero-shot CLIP); "
            "the last is the final classifier",
        ),
        "scores": (
            "string",
            "text (p, eq. 1), fused (p + lambda * p_hat, synthetic prototypes, eq. 7) "
            "or real_proto (the same with real-image prototypes)",
        ),
        "n": ("int32", "images scored: up to 50 per class, the most confident ones predicted as it"),
        "accuracy": ("float64", "% of them whose argmax equals the held-back true label; NaN when n is 0"),
    },
    "predictions": {
        "image_id": ("string", "test image"),
        "label": ("int32", "true class"),
        "pred": ("int32", "predicted class"),
        "correct": ("bool", "pred == label"),
    },
    # The toy world (docs/toy_world.md): the toy models' pretraining histories and the demo's table.
    "toy_clip_history": {
        "step": ("int32", "optimizer step"),
        "lr": ("float32", "learning rate of the step"),
        "loss": ("float32", "CLIP loss of the batch, same-class pairs counted as positives"),
        "logit_scale": ("float32", "1/tau after the step"),
    },
    "toy_sd_history": {
        "stage": ("string", "vae or unet"),
        "step": ("int32", "optimizer step within the stage"),
        "loss": ("float32", "VAE: MSE + KL term; UNet: min-SNR weighted epsilon MSE"),
        "mse": ("float32", "VAE reconstruction MSE on [-1, 1] pixels; NaN for the UNet"),
    },
    "toy_world": {
        "group": (
            "string",
            "zero_shot, class_agreement, pseudo_labels, lambda_sweep, final, comparisons or replicates",
        ),
        "name": ("string", "what is measured (see docs/toy_world.md)"),
        "value": (
            "float64",
            "accuracy or agreement in %; the mean over seeds (final); the mean paired difference in "
            "points (comparisons); a replicate count (replicates)",
        ),
        "std": (
            "float64",
            "standard deviation over seeds, ddof 0 (final); sd of the paired differences, ddof 1 "
            "(comparisons, replicates); NaN otherwise",
        ),
        "n": ("int32", "images measured, or seeds (final, comparisons, replicates)"),
        "low": ("float64", "lower bound of the 95 % t interval of the difference (comparisons); NaN otherwise"),
        "high": ("float64", "upper bound of the 95 % t interval of the difference (comparisons); NaN otherwise"),
    },
    "metrics": {
        "dataset": ("string", "dataset name"),
        "paradigm": ("string", "ul, ssl or trzsl"),
        "prompt": ("string", "text or visual"),
        "method": ("string", "method recipe name"),
        "seed": ("int32", "run seed"),
        "top1": (
            "float64",
            "the paradigm's metric in %: top-1 test accuracy (ul, ssl), harmonic mean of "
            "top1_seen and top1_unseen (trzsl)",
        ),
        "top1_seen": ("float64", "top-1 (%) on test images of seen classes (all classes outside TRZSL)"),
        "top1_unseen": ("float64", "top-1 (%) on test images of unseen classes; NaN outside TRZSL"),
        "pseudo_label_acc": ("float64", "accuracy (%) of the last round's (image, pseudo-label) pairs; NaN if none"),
        "n_test": ("int32", "number of test images"),
    },
    "results": {
        "dataset": ("string", "dataset name"),
        "paradigm": ("string", "ul, ssl or trzsl"),
        "prompt": ("string", "text or visual"),
        "method": ("string", "method recipe name"),
        "top1_mean": ("float64", "mean top-1 (%) over seeds"),
        "top1_std": ("float64", "standard deviation over seeds (0 for one seed)"),
        "n_seeds": ("int32", "number of seeds"),
        "paper_top1": ("float64", "the paper's number for this cell, NaN when it has none"),
    },
}


def embedding_array(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """An (N, D) float matrix as an Arrow fixed-size-list column."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])


def column_matrix(table: pa.Table | pd.DataFrame, column: str) -> np.ndarray:
    """A fixed-size-list column back as an (N, D) float32 matrix."""
    if isinstance(table, pd.DataFrame):
        return np.stack(table[column].to_numpy()).astype(np.float32)
    col = table.column(column).combine_chunks()
    return col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), col.type.list_size).astype(np.float32)


def to_table(name: str, columns: dict[str, object]) -> pa.Table:
    """Build a table with the documented schema ``name``, columns in documented order."""
    spec = SCHEMAS[name]
    missing, extra = set(spec) - set(columns), set(columns) - set(spec)
    if missing or extra:
        raise ValueError(f"table '{name}': missing columns {sorted(missing)}, undocumented {sorted(extra)}")
    arrays = []
    for col, (kind, _) in spec.items():
        value = columns[col]
        if kind in (EMBEDDING, PROBS):
            arrays.append(value if isinstance(value, pa.Array) else embedding_array(np.asarray(value)))
        else:
            arrays.append(pa.array(np.asarray(value) if not isinstance(value, list) else value, type=_TYPES[kind]))
    return pa.table(arrays, names=list(spec))


def check_table(name: str, table: pa.Table) -> None:
    """Raise if ``table`` does not have the documented schema ``name``."""
    spec = SCHEMAS[name]
    if table.column_names != list(spec):
        raise ValueError(f"table '{name}' has columns {table.column_names}, documented {list(spec)}")
    for col, (kind, _) in spec.items():
        actual = table.schema.field(col).type
        if kind in (EMBEDDING, PROBS):
            ok = pa.types.is_fixed_size_list(actual) and actual.value_type == pa.float32()
        else:
            ok = actual == _TYPES[kind]
        if not ok:
            raise ValueError(f"table '{name}' column '{col}' is {actual}, documented {kind}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only on success (``publish``).

    The temporary file has the mode a plain ``open`` gives (0o666 less the umask), so a shared
    project's group can read the artifact when the umask lets it.
    """
    path = Path(path)
    tmp = temp_file_beside(path)
    mode = stat.S_IMODE(os.stat(tmp).st_mode)  # the mode the kernel gave a new file here
    try:
        yield tmp
        publish(tmp, path, mode)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def publish(tmp: str | os.PathLike, path: str | os.PathLike, mode: int | None = None) -> Path:
    """Rename the finished file ``tmp`` to ``path`` and, in a claimed results folder, record its checksum.

    ``mode`` (default: what the umask gives a new file) is set first: the writer may have made a file
    of its own (safetensors 0.8 writes 0600 files).
    """
    if mode is None:
        set_modes(tmp)
    elif stat.S_IMODE(os.stat(tmp).st_mode) != mode:
        os.chmod(tmp, mode)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    root = checksums.claimed_root(os.path.dirname(os.path.abspath(path)))
    if root is not None:
        checksums.forget(root, path)
    os.replace(tmp, path)
    if root is not None:
        checksums.record(root, path)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` whole and every file in it
    gets its checksum (in a claimed results folder). Files and folders get the modes the umask gives."""
    path = Path(path)
    tmp = temp_dir_beside(path)
    try:
        yield tmp
        set_modes(tmp)
        root = checksums.claimed_root(path.parent)
        if root is not None:
            checksums.forget_tree(root, path)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if root is not None else []
        for file in files:
            checksums.record(root, file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_table(name: str, columns: dict[str, object], path: str | os.PathLike) -> pa.Table:
    """Write a documented table atomically and return it."""
    table = to_table(name, columns)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return table


def read_table(name: str, path: str | os.PathLike) -> pa.Table:
    """Read a Parquet artifact and check it against its documented schema."""
    table = pq.read_table(path)
    check_table(name, table)
    return table


def save_image(image, path: str | os.PathLike) -> None:
    """Save a PIL image as PNG atomically."""
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def write_frame(name: str, frame: pd.DataFrame, path: str | os.PathLike) -> pa.Table:
    """Write a DataFrame as the documented table ``name`` (its columns, in the documented order)."""
    return write_table(name, {c: frame[c].tolist() for c in SCHEMAS[name]}, path)


def read_frame(name: str, path: str | os.PathLike) -> pd.DataFrame:
    """A documented table as a DataFrame, checked against its schema."""
    return read_table(name, path).to_pandas()


def save_arrays(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write named arrays as a safetensors file atomically (prompts, classifiers, text features)."""
    from safetensors.numpy import save_file

    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The named arrays of a safetensors file, as numpy (no torch import)."""
    from safetensors.numpy import load_file

    return load_file(str(path))


def write_json(data: object, path: str | os.PathLike) -> None:
    """Write a JSON artifact (a run's settings, a summary) atomically, keys sorted."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike) -> object:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table (every table the workflow writes as Markdown goes through here)."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(v) for v in row) + " |" for row in rows
    ]


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write a text artifact (JSON, Markdown, a name list) atomically, UTF-8."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# Where each documented table lies in the results tree (file name, or parent/file name).
_FILE_SCHEMAS = {
    "data/manifest.parquet": "manifest",
    "data/classes.parquet": "classes",
    "features/real.parquet": "features",
    "data/skipped_images.parquet": "skipped_images",
    "zero_shot/probs.parquet": "zero_shot",
    "lora_set.parquet": "lora_set",
    "loss.parquet": "lora_loss",
    "features.parquet": "synthetic_features",
    "prototypes.parquet": "prototypes",
    "split.parquet": "split",
    "pseudo_labels.parquet": "pseudo_labels",
    "history.parquet": "history",
    "confident_accuracy.parquet": "confident_accuracy",
    "predictions.parquet": "predictions",
    "metrics.parquet": "metrics",
    "tables/results.parquet": "results",
    # The paper tables' long form (air_core.tables, rule aggregate): the results schema, paper_top1 = that table's.
    "tables/table1_text.parquet": "results",
    "tables/table1_visual.parquet": "results",
    "tables/table2.parquet": "results",
    "tables/table3.parquet": "results",
    # The toy world's (rules/toy.smk); tables/toy_world_<dataset>.parquet is the demo's table.
    "clip/history.parquet": "toy_clip_history",
    "vae_history.parquet": "toy_sd_history",
    "sd_history.parquet": "toy_sd_history",
}


def schema_for_path(path: str | os.PathLike) -> str:
    """The documented schema name of a Parquet file of the results tree."""
    path = Path(path)
    if path.parent.parent.name == "synthetic" and path.name.startswith("shard"):
        return "synthetic_shard"
    if path.parent.name == "tables" and path.name.startswith("toy_world_"):
        return "toy_world"
    for key in (f"{path.parent.name}/{path.name}", path.name):
        if key in _FILE_SCHEMAS:
            return _FILE_SCHEMAS[key]
    raise KeyError(f"{path} is not a documented artifact; see docs/artifacts.md")
