"""The studies' figures: sweeps and SD variants from the results table (no torch), and CAMs (fig. 5)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from air_core.artifacts import write_frame
from air_core.cam import fused_vector, grad_cam
from air_core.study_plots import sweep_panels, variant_points
from tests.helpers import ROOT

METHODS = {
    "cpl": {
        "base": "cpl",
        "sweep_of": None,
        "sweep": {},
        "prototypes": "synthetic",
        "fuses": False,
        "synthetic_loss": False,
        "synthetic": "lora",
        "lora": True,
    },
    **{
        f"lam-{v}": {
            "base": "cpl",
            "sweep_of": "lam",
            "sweep": {"fusion_lambda": v},
            "prototypes": "synthetic",
            "fuses": v > 0,
            "synthetic_loss": True,
            "synthetic": "lora",
            "lora": True,
        }
        for v in (1, 0, 0.3)
    },
    "air": {
        "base": "cpl",
        "sweep_of": None,
        "sweep": {},
        "prototypes": "synthetic",
        "fuses": True,
        "synthetic_loss": True,
        "synthetic": "lora",
        "lora": True,
    },
    "plain": {
        "base": "cpl",
        "sweep_of": None,
        "sweep": {},
        "prototypes": "synthetic",
        "fuses": True,
        "synthetic_loss": True,
        "synthetic": "base",
        "lora": False,
    },
}


def _results() -> pd.DataFrame:
    rows = [("d", "ul", "text", m, float(10 + i), 1.0, 3, np.nan) for i, m in enumerate(METHODS)]
    rows.append(("d", "ssl", "text", "lam-0", 99.0, 0.0, 3, np.nan))  # another paradigm: not in the figure
    return pd.DataFrame(
        rows, columns=["dataset", "paradigm", "prompt", "method", "top1_mean", "top1_std", "n_seeds", "paper_top1"]
    )


def test_sweep_panels_order_the_values_and_take_the_ul_text_runs():
    (panel,) = sweep_panels(_results(), METHODS, "d")
    assert panel["key"] == "fusion_lambda" and [p[0] for p in panel["points"]] == [0, 0.3, 1]
    assert [p[1] for p in panel["points"]] == [12.0, 13.0, 11.0]  # lam-0, lam-0.3, lam-1 by their rows
    variants = variant_points(_results(), METHODS, "d")
    assert [(v[0], v[1], v[4]) for v in variants] == [("lora", True, "air"), ("base", False, "plain")]


def test_the_studies_figure_is_drawn_from_the_runs_metrics_without_torch(tmp_path):
    paths = []
    for i, method in enumerate(METHODS):  # two seeds of every method on UL/text, as rule plot_studies reads them
        for seed in (1, 2):
            metrics = pd.DataFrame(
                [
                    {
                        "dataset": "d",
                        "paradigm": "ul",
                        "prompt": "text",
                        "method": method,
                        "seed": seed,
                        "top1": 10.0 + i + seed,
                        "top1_seen": 10.0 + i + seed,
                        "top1_unseen": np.nan,
                        "pseudo_label_acc": np.nan,
                        "n_test": 30,
                    }
                ]
            )
            paths.append(str(tmp_path / f"{method}_{seed}.parquet"))
            write_frame("metrics", metrics, paths[-1])
    out = tmp_path / "studies.png"
    code = (
        "import sys, json; from air_core.stages.report import plot_studies; "
        f"plot_studies({paths!r}, json.loads({json.dumps(json.dumps(METHODS))}), "
        f"{str(ROOT / 'config/paper/paper_table1.csv')!r}, {str(ROOT / 'config/paper/paper_ablations.txt')!r}, "
        f"'d', {str(out)!r}); print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("False") and out.stat().st_size > 1000


def _resnet_clip(folder):
    """The toy CLIP's architecture (a ModifiedResNet image tower), random weights."""
    from air_core.toy.clip_pretrain import ToyClipConfig, build_clip, write_model_config

    return build_clip(write_model_config(ToyClipConfig(), 32, folder / "cam-toy-clip.json"))[0].eval()


@pytest.mark.parametrize("tower", ["vit", "resnet"])
def test_a_class_activation_map_has_the_images_shape_and_is_not_constant(tiny_clip, tmp_path, tower):
    model = tiny_clip.model if tower == "vit" else _resnet_clip(tmp_path)
    size = model.visual.image_size
    size = size[0] if isinstance(size, tuple) else size
    torch.manual_seed(0)
    image = torch.rand(1, 3, size, size)
    model.requires_grad_(False)
    classifier = torch.nn.functional.normalize(torch.randn(3, model.text_projection.shape[1]), dim=-1)
    maps = [grad_cam(model, image, classifier[c]) for c in range(3)]
    maps.append(grad_cam(model, image, fused_vector(classifier, classifier.flip(0), 1.0, 2)))
    for cam in maps:
        assert cam.shape == (size, size) and cam.min() >= 0 and cam.max() <= 1
    if tower == "vit":  # the tiny model: every class's map is a map, not a constant
        assert all(cam.std() > 1e-3 for cam in maps)
    else:  # random ResNet weights can leave a class no positive evidence (ReLU gives 0); its opposite has some
        assert max(grad_cam(model, image, sign * classifier[0]).std() for sign in (1, -1)) > 1e-3
    assert not any(p.grad is not None for p in model.parameters())  # the frozen tower stays untouched


class _Tower(torch.nn.Module):
    """A bare open_clip ViT image tower with CLIP's ``visual``/``encode_image`` interface."""

    def __init__(self, visual: torch.nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


@pytest.mark.parametrize("layers", [1, 3])
def test_a_vit_map_does_not_depend_on_the_token_layout(layers):
    """The same weights run batch-first (B, N, D) or sequence-first (N, B, D) give the same map; one block too."""
    from open_clip.transformer import Transformer, VisionTransformer

    torch.manual_seed(0)
    batch_first = _Tower(VisionTransformer(32, 8, 32, layers, 2, 2.0, output_dim=8)).eval().requires_grad_(False)
    seq_first = _Tower(VisionTransformer(32, 8, 32, layers, 2, 2.0, output_dim=8)).eval().requires_grad_(False)
    seq_first.visual.transformer = Transformer(32, layers, 2, 2.0, batch_first=False)
    seq_first.load_state_dict(batch_first.state_dict())
    image, vector = torch.rand(1, 3, 32, 32), torch.randn(8)
    cam = grad_cam(batch_first, image, vector)
    assert cam.shape == (32, 32) and cam.max() == pytest.approx(1.0) and cam.std() > 1e-3
    np.testing.assert_allclose(grad_cam(seq_first, image, vector), cam, atol=1e-5)


def test_a_class_activation_map_leaves_the_models_mode_and_gradients_as_they_were():
    from open_clip.transformer import VisionTransformer

    model = _Tower(VisionTransformer(32, 8, 32, 2, 2, 2.0, output_dim=8)).train()
    grad_cam(model, torch.rand(1, 3, 32, 32), torch.randn(8))
    assert model.training and all(p.grad is None for p in model.parameters())
