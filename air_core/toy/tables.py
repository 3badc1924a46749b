"""The toy world's Parquet tables: documented schemas (docs/toy_world.md) and atomic writes."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from air_core.artifacts import atomic_path

# name -> {column: (Arrow type, meaning)}; docs/toy_world.md documents the same columns.
TOY_SCHEMAS: dict[str, dict[str, tuple[pa.DataType, str]]] = {
    "toy_clip_history": {
        "step": (pa.int32(), "optimizer step"),
        "lr": (pa.float32(), "learning rate of the step"),
        "loss": (pa.float32(), "CLIP loss of the batch, same-class pairs counted as positives"),
        "logit_scale": (pa.float32(), "1/tau after the step"),
    },
    "toy_sd_history": {
        "stage": (pa.string(), "vae or unet"),
        "step": (pa.int32(), "optimizer step within the stage"),
        "loss": (pa.float32(), "VAE: MSE + KL term; UNet: min-SNR weighted epsilon MSE"),
        "mse": (pa.float32(), "VAE reconstruction MSE on [-1, 1] pixels; NaN for the UNet"),
    },
    "toy_world": {
        "group": (pa.string(), "zero_shot, class_agreement, pseudo_labels or final"),
        "name": (pa.string(), "what is measured (see docs/toy_world.md)"),
        "value": (pa.float64(), "accuracy or agreement in %; the mean over seeds for final accuracies"),
        "std": (pa.float64(), "standard deviation over seeds (final accuracies); NaN otherwise"),
        "n": (pa.int32(), "images measured, or seeds for final accuracies"),
    },
}


def write_toy_table(name: str, columns: dict[str, list], path: str | os.PathLike) -> pa.Table:
    """Write ``columns`` with the documented schema ``name``, atomically."""
    spec = TOY_SCHEMAS[name]
    if set(columns) != set(spec):
        raise ValueError(f"table '{name}' needs columns {list(spec)}, got {sorted(columns)}")
    table = pa.table({col: pa.array(columns[col], type=kind) for col, (kind, _) in spec.items()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return table


def read_toy_table(name: str, path: str | os.PathLike) -> pa.Table:
    """Read a toy table and check its columns and types against the documented schema."""
    table = pq.read_table(path)
    expected = pa.schema([(col, kind) for col, (kind, _) in TOY_SCHEMAS[name].items()])
    if not table.schema.equals(expected):
        raise ValueError(f"{path} does not have the documented '{name}' schema: {table.schema}")
    return table
