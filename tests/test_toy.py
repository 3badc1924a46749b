"""The toy world: deterministic drawing, the text-encoder conversion, and toy pretraining that saves and
reloads through the workflow's own loaders (tiny step counts)."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from air_core.config import ClipSpec, DiffusionSpec, LoraTrainConfig
from air_core.lora import LORA_WEIGHTS, save_lora, train_lora
from air_core.models.clip import load_clip
from air_core.models.diffusion import load_pipeline
from air_core.models.tokenizer import build_clip_tokenizer
from air_core.toy.clip_pretrain import ToyClipConfig, build_clip, pretrain_clip, save_clip, write_model_config
from air_core.toy.report import (
    agreement,
    comparison_pairs,
    comparison_rows,
    lambda_rows,
    pseudo_label_rows,
    to_markdown,
)
from air_core.toy.sd_pretrain import ToySdConfig, pretrain_sd, pretrain_vae, save_folder
from air_core.toy.settings import from_settings
from air_core.toy.text_encoder import open_clip_hidden_states, to_clip_text_model
from air_core.toy.world import WorldConfig, load_image_folder, write_source, write_target
from tests.helpers import snakemake_argv

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("red circle", "blue cross", "yellow star")
WORLD = WorldConfig(
    shapes=("circle", "cross", "star"),
    colours=("red", "blue", "yellow"),
    source_per_class=3,
    source_test_per_class=1,
    target_classes=CLASSES,
    target_train_per_class=4,
    target_test_per_class=2,
)
TINY_CLIP = ToyClipConfig(
    steps=2, batch_size=8, warmup_steps=1, embed_dim=16, image_width=8, text_width=16, text_heads=2, text_layers=1
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    write_source(root / "source", WORLD)
    write_target(root / "target", WORLD, workers=2)
    return root


@pytest.fixture(scope="module")
def toy_clip(world):
    images, labels, names = load_image_folder(world / "source")
    write_model_config(TINY_CLIP, 32, world / "toy-clip.json")
    model, tokenizer = build_clip(world / "toy-clip.json")
    history = pretrain_clip(model, tokenizer, images, labels, names, TINY_CLIP)
    save_clip(model, world / "toy-clip.safetensors")
    return model, history


def test_world_has_the_requested_classes_in_the_image_folder_layout(world):
    assert (world / "target" / "class_names.txt").read_text().split("\n")[:-1] == sorted(CLASSES)
    for split, n in (("train", 4), ("test", 2)):
        for name in CLASSES:
            assert len(list((world / "target" / split / name.replace(" ", "_")).glob("*.png"))) == n
    source = (world / "source" / "class_names.txt").read_text().split()
    assert len(source) == 2 * 9  # every colour x shape, two words each
    from air_core.data.imagefolder import read_image_folder

    manifest, names = read_image_folder(world / "target", world / "target" / "class_names.txt")
    assert names == sorted(CLASSES) and set(manifest["split"]) == {"train", "test"} and len(manifest) == 18


def test_drawing_is_deterministic_and_independent_of_workers(world, tmp_path):
    write_target(tmp_path / "again", WORLD, workers=1)
    for path in sorted((world / "target").rglob("*.png")):
        assert path.read_bytes() == (tmp_path / "again" / path.relative_to(world / "target")).read_bytes()


def test_target_is_shifted_towards_warm_dark_images(tmp_path):
    write_target(tmp_path / "none", dataclasses.replace(WORLD, shift=0.0))
    write_target(tmp_path / "full", dataclasses.replace(WORLD, shift=1.0))
    none, _, _ = load_image_folder(tmp_path / "none")
    full, _, _ = load_image_folder(tmp_path / "full")
    red_over_blue = [x[..., 0].mean() / x[..., 2].mean() for x in (none, full)]
    assert full.mean() < none.mean() - 20  # darker
    assert red_over_blue[1] > red_over_blue[0] + 0.15  # warm light (over blue-green backgrounds)


def test_text_encoder_conversion_gives_open_clips_hidden_states(tmp_path):
    write_model_config(TINY_CLIP, 32, tmp_path / "toy-clip.json")
    model, open_clip_tokenizer = build_clip(tmp_path / "toy-clip.json", seed=3)
    encoder = to_clip_text_model(model)
    assert encoder.config.hidden_act == "gelu" and encoder.config.max_position_embeddings == 16
    captions = ["Shapes: red circle", "a photo of a yellow star", ""]
    sd_tokens = build_clip_tokenizer(16)(
        captions, padding="max_length", max_length=16, truncation=True, return_tensors="pt"
    ).input_ids
    oc_tokens = open_clip_tokenizer(captions)
    assert torch.equal(sd_tokens[oc_tokens > 0], oc_tokens[oc_tokens > 0])  # same ids, only the padding differs
    with torch.no_grad():
        for tokens in (sd_tokens, oc_tokens):
            torch.testing.assert_close(
                encoder(tokens).last_hidden_state, open_clip_hidden_states(model, tokens), rtol=1e-5, atol=1e-5
            )


def test_toy_clip_pretrains_saves_and_reloads_through_load_clip(world, toy_clip):
    model, history = toy_clip
    assert [h["step"] for h in history] == [0, 1] and all(np.isfinite(h["loss"]) for h in history)
    clip = load_clip(ClipSpec(arch=str(world / "toy-clip.json"), pretrained=str(world / "toy-clip.safetensors")))
    for name, tensor in model.state_dict().items():
        assert torch.equal(clip.model.state_dict()[name], tensor), name
    assert clip.tokenizer(["red circle"]).shape == (1, 16)


@pytest.fixture(scope="module")
def toy_sd(world, toy_clip):
    """A tiny toy SD pretrained for 2 + 2 steps and saved: (pipeline in memory, its folder, VAE and UNet losses)."""
    model, _ = toy_clip
    images, labels, names = load_image_folder(world / "source")
    cfg = ToySdConfig(
        vae_steps=2,
        vae_batch_size=4,
        unet_steps=2,
        unet_batch_size=4,
        vae_channels=(8, 8, 8),
        unet_channels=(16, 16),
        unet_images_per_class=2,
    )
    vae, mean, std, latent_labels, vae_history = pretrain_vae(images, labels, cfg)
    assert mean.shape == std.shape == (2 * 9, 8, 8, 8) and sorted(latent_labels) == sorted(list(range(9)) * 2)
    pipe, history = pretrain_sd(
        vae, mean, std, latent_labels, names, to_clip_text_model(model), build_clip_tokenizer(16), cfg
    )
    save_folder(pipe, world / "sd")
    return pipe, world / "sd", vae_history + history


def _toy_sample(pipe) -> np.ndarray:
    return pipe(
        "Shapes: red circle",
        num_inference_steps=2,
        height=32,
        width=32,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    ).images[0]


def test_toy_histories_are_documented_tables_where_the_rules_write_them(toy_clip, toy_sd, tmp_path):
    from air_core.artifacts import read_table, schema_for_path, write_table

    for name, history, where in (
        ("toy_clip_history", toy_clip[1], "toy/clip/history.parquet"),
        ("toy_sd_history", toy_sd[2], "toy/sd_history.parquet"),
    ):
        path = tmp_path / where
        write_table(name, {c: [h[c] for h in history] for c in history[0]}, path)
        assert schema_for_path(path) == name and read_table(name, path).num_rows == len(history)


def test_toy_sd_pretrains_saves_and_reloads_through_load_pipeline(toy_sd):
    pipe, folder, history = toy_sd
    assert [(h["stage"], h["step"]) for h in history] == [("vae", 0), ("vae", 1), ("unet", 0), ("unet", 1)]
    loaded = load_pipeline(DiffusionSpec(id=str(folder)))
    assert loaded.tokenizer.model_max_length == 16 and loaded.vae_scale_factor == 4
    assert loaded.vae.config.scaling_factor == pytest.approx(pipe.vae.config.scaling_factor)
    # The pooled caption conditions the UNet through diffusers' own config key, and the head count is saved.
    assert loaded.unet.config.addition_embed_type == "text" and loaded.unet.config.attention_head_dim == 1
    for name, tensor in pipe.unet.state_dict().items():
        assert torch.equal(loaded.unet.state_dict()[name], tensor), name
    image = _toy_sample(loaded)
    assert image.shape == (32, 32, 3) and np.isfinite(image).all()


def test_lora_trains_saves_and_fuses_on_the_toy_sd(world, toy_sd, tmp_path):
    """LoRA (air_core.lora, diffusers + peft) works on the toy UNet with its pooled-text conditioning."""
    _, folder, _ = toy_sd
    pipe = load_pipeline(DiffusionSpec(id=str(folder)))
    base = _toy_sample(pipe)
    pooled = {k: v.clone() for k, v in pipe.unet.add_embedding.state_dict().items()}
    paths = sorted(str(p) for p in (world / "target" / "train").rglob("*.png"))[:4]
    history = train_lora(
        pipe, paths, ["Shapes: red circle"] * 4, LoraTrainConfig(steps=3, lr=5e-2, batch_size=2, resolution=32)
    )
    assert len(history) == 3 and all(np.isfinite(h["loss"]) for h in history)
    tuned = _toy_sample(pipe)
    assert np.abs(tuned - base).max() > 1e-3, "a trained LoRA must change the toy SD's output"
    save_lora(pipe, tmp_path / LORA_WEIGHTS)
    fresh = load_pipeline(DiffusionSpec(id=str(folder)))
    fresh.load_lora_weights(str(tmp_path))
    fresh.fuse_lora()  # as rule generate does
    np.testing.assert_allclose(_toy_sample(fresh), tuned, atol=1e-4)
    for name, tensor in fresh.unet.add_embedding.state_dict().items():  # LoRA adapts attention, not the pooling
        assert torch.equal(tensor, pooled[name]), name


def test_report_measures_agreement_and_fusion():
    text = np.eye(3, dtype=np.float32)
    assert agreement(np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], np.array([0, 1, 2, 1]), text) == 75.0
    pool = np.eye(3, dtype=np.float32)[[0, 1, 2, 2]]
    rows = pseudo_label_rows(pool, np.array([0, 1, 2, 2]), text, 100.0, {"good": text}, 1.0)
    assert [r["value"] for r in rows] == [100.0] * 4 and rows[2]["name"].startswith("fused, good")


def test_lambda_sweep_rows_follow_the_fusion():
    text = np.array([[1, 0], [0, 1]], dtype=np.float32)
    # the text classifier gets image 1 wrong; prototypes that see it right win from lambda 1 on
    pool, truth = np.array([[1, 0], [0.6, 0.4], [0, 1]], dtype=np.float32), np.array([0, 1, 1])
    prototypes = np.array([[1, 0], [0.5, 0.5]], dtype=np.float32)
    rows = lambda_rows(pool, truth, text, 1.0, prototypes, [0, 3])
    all_images = [r for r in rows if "all 3" in r["name"]]
    assert [r["name"].split(":")[0] for r in all_images] == ["lambda = 0", "lambda = 3"]
    assert all_images[0]["value"] == pytest.approx(200 / 3)  # lambda 0: the text classifier alone


METHODS = {  # method_info's switches, as rule toy_report passes them
    "zero_shot": {"base": "zero_shot", "fuses": False, "synthetic_loss": False, "prototypes": "synthetic"},
    "grip": {"base": "grip", "fuses": False, "synthetic_loss": False, "prototypes": "synthetic"},
    "air_grip": {"base": "grip", "fuses": True, "synthetic_loss": True, "prototypes": "synthetic"},
    "real_proto_control": {"base": "grip", "fuses": True, "synthetic_loss": True, "prototypes": "real"},
}


def test_the_demo_draws_its_comparisons_from_the_recipes_switches():
    assert comparison_pairs(METHODS) == [
        ("air_grip", "grip", "top1"),
        ("real_proto_control", "grip", "top1"),
        ("grip", "zero_shot", "top1"),
        ("air_grip", "grip", "pseudo_label_acc"),
    ]


def test_comparison_rows_pair_by_seed_and_print_the_verdict():
    import pandas as pd

    top1 = {
        "zero_shot": [50, 50, 50],
        "grip": [60, 62, 61],
        "air_grip": [70, 71, 73],
        "real_proto_control": [61, 60, 63],
    }
    metrics = pd.DataFrame(
        [
            {"method": m, "seed": s, "top1": v, "pseudo_label_acc": v - 1.0}
            for m, values in top1.items()
            for s, v in zip((3, 1, 2), values, strict=True)
        ]
    )
    rows = comparison_rows(metrics, comparison_pairs(METHODS))
    first = rows[0]  # air_grip - grip, paired by seed: d = (10, 9, 12)
    assert first["name"] == "air_grip \u2212 grip" and first["value"] == pytest.approx(31 / 3)
    assert first["n"] == 3 and first["std"] == pytest.approx(np.std([10, 9, 12], ddof=1))
    assert first["low"] > 0  # t(0.975, 2) * 1.53 / sqrt(3) = 3.8 < 10.3
    assert rows[3]["name"] == "air_grip \u2212 grip (last-round pseudo-label accuracy)"
    assert rows[-1]["group"] == "replicates" and rows[-1]["value"] >= 2
    markdown = to_markdown(rows, "t")
    assert "air_grip \u2212 grip: +10.3 [" in markdown and "] better" in markdown
    assert "real_proto_control \u2212 grip: +0.3 [" in markdown and "] not distinguishable" in markdown


def test_schema_defaults_are_the_dataclass_defaults():
    props = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())["properties"]["toy_world"]["properties"]
    for key, cls in (("world", WorldConfig), ("clip", ToyClipConfig), ("sd", ToySdConfig)):
        defaults = {k: v["default"] for k, v in props[key]["properties"].items()}
        assert from_settings(cls, defaults) == cls(), key


def test_demo_dag_pretrains_the_toy_models_before_any_stage_loads_them(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        snakemake_argv(
            tmp_path, "--configfile", str(ROOT / "config" / "demo.yaml"), "-n", "--cores", "2", "--forceall", "--dag"
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    edges = {tuple(line) for line in _dag_edges(proc.stdout)}
    for user in ("encode_real", "zero_shot", "select", "train_prompts"):
        assert ("toy_clip", user) in edges, user
    for user in ("train_lora", "generate"):
        assert ("toy_sd", user) in edges, user
    assert ("toy_world", "manifest") in edges and ("aggregate", "toy_report") not in edges
    assert any(user == "toy_report" for _, user in edges)


def _dag_edges(dot: str) -> list[tuple[str, str]]:
    """(producer rule, consumer rule) pairs of ``snakemake --dag`` output."""
    import re

    names = dict(re.findall(r'^\s*(\d+)\[label = "([a-z_]+)', dot, flags=re.M))
    return [(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M)]
