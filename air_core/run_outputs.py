"""What a run's training writes (docs/artifacts.md): its tables, prompt, classifier and settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from air_core import artifacts
from air_core.rounds import TrainingResult


def pseudo_label_columns(result: TrainingResult, image_ids: np.ndarray, truth: np.ndarray) -> dict[str, list]:
    """Columns of the 'pseudo_labels' table: every round's pseudo-labelled images."""
    cols: dict[str, list] = {k: [] for k in ("iteration", "image_id", "pseudo_label", "score", "correct", "held_out")}
    for rnd in result.pseudo_labels:
        pos = rnd["positions"]
        cols["iteration"] += [rnd["iteration"]] * len(pos)
        cols["image_id"] += image_ids[pos].tolist()
        cols["pseudo_label"] += rnd["labels"].tolist()
        cols["score"] += rnd["scores"].astype(np.float32).tolist()
        cols["correct"] += (rnd["labels"] == truth[pos]).tolist()
        cols["held_out"] += rnd.get("held_out", np.zeros(len(pos), bool)).tolist()
    return cols


def confident_accuracy_columns(result: TrainingResult, truth: np.ndarray) -> dict[str, list]:
    """Columns of the 'confident_accuracy' table (fig. 4): accuracy of the most confident images per class."""
    cols: dict[str, list] = {k: [] for k in ("iteration", "scores", "n", "accuracy")}
    for entry in result.confident:
        correct = entry["labels"] == truth[entry["positions"]]
        cols["iteration"].append(entry["iteration"])
        cols["scores"].append(entry["scores"])
        cols["n"].append(len(correct))
        cols["accuracy"].append(float(100 * correct.mean()) if len(correct) else float("nan"))
    return cols


def write_run(
    out_dir: str | Path,
    result: TrainingResult,
    split: pd.DataFrame,
    image_ids: np.ndarray,
    truth: np.ndarray,
    settings: dict,
) -> None:
    """Every file a run's training writes (docs/artifacts.md): tables, prompt, classifier, settings.

    Args:
        image_ids, truth: (N,) image_id and held-back true label of each train-pool row.
    """
    out = Path(out_dir)
    artifacts.write_frame("split", split, out / "split.parquet")
    artifacts.write_table(
        "pseudo_labels", pseudo_label_columns(result, image_ids, truth), out / "pseudo_labels.parquet"
    )
    artifacts.write_table(
        "confident_accuracy", confident_accuracy_columns(result, truth), out / "confident_accuracy.parquet"
    )
    history = {
        k: [h[k] for h in result.history]
        for k in ("iteration", "epoch", "lr", "loss_real", "loss_synthetic", "loss", "train_acc")
    }
    artifacts.write_table("history", history, out / "history.parquet")
    artifacts.save_arrays({k: v.numpy() for k, v in result.prompt.items()}, out / "prompt.safetensors")
    artifacts.save_arrays({"classifier": np.ascontiguousarray(result.classifier)}, out / "classifier.safetensors")
    artifacts.write_json(settings, out / "settings.json")
