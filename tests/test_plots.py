"""The report's figures on tiny hand-made inputs: known counts and accuracies, a PNG file for every plot."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from air_core import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert Image.open(path).size[0] > 0
    assert not list(path.parent.glob(f".{path.name}.*")), "a temporary file was left beside the plot"


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 2, 2, 1, 0, 2])
    matrix = plots.confusion_matrix(labels, preds, 3)
    assert matrix.tolist() == [[1, 0, 2], [1, 1, 0], [0, 0, 1]]
    assert matrix.sum() == len(labels) and np.trace(matrix) == 3


@pytest.mark.parametrize("n_classes", [3, 25])  # cells annotated / too many classes for text
def test_plot_confusion_writes_a_png(tmp_path, n_classes):
    rng = np.random.default_rng(0)
    matrix = plots.confusion_matrix(rng.integers(0, n_classes, 200), rng.integers(0, n_classes, 200), n_classes)
    out = tmp_path / "sub" / "confusion.png"
    plots.plot_confusion(matrix, [f"class {c}" for c in range(n_classes)], out, "zero-shot")
    assert_png(out)


def test_synthetic_grid_shows_the_first_usable_images_of_every_class(tmp_path, monkeypatch):
    rows = []
    for label in range(2):
        for index in range(4):
            path = tmp_path / f"{label}_{index}.png"
            Image.new("RGB", (8, 8), (60 * index, 100 * label, 0)).save(path)
            rows.append(
                {"path": str(path), "label": label, "class_name": f"c{label}", "index": index, "black": index == 0}
            )
    shown = {}
    monkeypatch.setattr(
        plots, "image_grid", lambda paths, titles, out, columns, suptitle: shown.update(paths=paths, columns=columns)
    )
    plots.synthetic_grid(pd.DataFrame(rows), 2, tmp_path / "grid.png")
    assert [p.split("/")[-1] for p in shown["paths"]] == ["0_1.png", "0_2.png", "1_1.png", "1_2.png"]
    assert shown["columns"] == 2
    monkeypatch.undo()
    plots.synthetic_grid(pd.DataFrame(rows), 2, tmp_path / "grid.png", "synthetic")
    assert_png(tmp_path / "grid.png")


def test_plot_loss_curve_writes_a_png(tmp_path):
    steps = np.arange(30)
    plots.plot_loss_curve(steps, np.exp(-steps / 10) + 0.1, tmp_path / "loss.png", "LoRA")
    plots.plot_loss_curve(steps[:1], np.ones(1), tmp_path / "one.png")  # a single step: no running mean
    assert_png(tmp_path / "loss.png")
    assert_png(tmp_path / "one.png")


def _history(seed, iterations=2, epochs=3):
    n = iterations * epochs
    return pd.DataFrame(
        {
            "iteration": np.repeat(np.arange(iterations), epochs),
            "epoch": np.tile(np.arange(epochs), iterations),
            "lr": 0.1,
            "loss_real": np.linspace(2, 1, n),
            "loss_synthetic": np.linspace(1, 0.5, n),
            "loss": np.linspace(3, 1.5, n),
            "train_acc": np.linspace(0.2, 0.8, n),
            "seed": seed,
        }
    )


def test_plot_training_writes_a_png_with_and_without_rounds(tmp_path):
    plots.plot_training(pd.concat([_history(1), _history(2)], ignore_index=True), tmp_path / "t.png", "air_grip")
    plots.plot_training(_history(1).iloc[0:0], tmp_path / "empty.png", "zero_shot")
    assert_png(tmp_path / "t.png")
    assert_png(tmp_path / "empty.png")


def test_plot_pseudo_label_accuracy_writes_a_png(tmp_path):
    table = pd.DataFrame(
        {
            "method": ["grip"] * 4 + ["air"] * 4,
            "scores": ["text"] * 4 + ["fused"] * 4,
            "seed": [1, 1, 2, 2] * 2,
            "iteration": [0, 1] * 4,
            "accuracy": [50, 60, 52, 61, 55, 70, 57, np.nan],
        }
    )  # NaN: no image scored
    plots.plot_pseudo_label_accuracy(table, tmp_path / "fig4.png", "fig. 4")
    plots.plot_pseudo_label_accuracy(table.iloc[0:0], tmp_path / "none.png")
    assert_png(tmp_path / "fig4.png")
    assert_png(tmp_path / "none.png")


def _clusters(n_per=15, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(6.0 * c, 1.0, (n_per, dim)) for c in range(3)])
    return x.astype(np.float32), np.repeat(np.arange(3), n_per)


def test_tsne_has_the_shape_is_deterministic_and_keeps_clusters_apart():
    x, labels = _clusters()
    y = plots.tsne(x, perplexity=10, max_iter=250, seed=3)
    assert y.shape == (len(x), 2) and y.dtype == np.float32 and np.isfinite(y).all()
    assert np.array_equal(y, plots.tsne(x, perplexity=10, max_iter=250, seed=3))
    centres = np.stack([y[labels == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(y[labels == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 2 * spread


def test_tsne_of_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 4 points"):
        plots.tsne(np.zeros((3, 8)))


def test_embedding_points_take_an_equal_share_per_class_then_text_and_prototypes():
    real, labels = _clusters(n_per=10)
    text, prototypes = np.ones((3, 8)), np.zeros((3, 8))
    x, kinds, point_labels = plots.embedding_points(real, labels, text, prototypes, max_real=12, seed=0)
    assert x.shape == (12 + 3 + 3, 8)
    assert (kinds == "real").sum() == 12 and np.bincount(point_labels[kinds == "real"]).tolist() == [4, 4, 4]
    assert point_labels[kinds == "text"].tolist() == [0, 1, 2] and (kinds == "prototype").sum() == 3
    x, kinds, _ = plots.embedding_points(real, labels, text, None, max_real=100, seed=0)
    assert len(x) == 30 + 3 and "prototype" not in kinds


def test_plot_embedding_writes_a_png(tmp_path):
    real, labels = _clusters(n_per=6)
    x, kinds, point_labels = plots.embedding_points(real, labels, real[::6][:3], real[1::6][:3], 100)
    plots.plot_embedding(plots.tsne(x, max_iter=250), kinds, point_labels, ["a", "b", "c"], tmp_path / "tsne.png")
    assert_png(tmp_path / "tsne.png")
