"""Tiny SD: LoRA round trip in diffusers' format, and deterministic generation."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from air_core.config import DiffusionSpec, GenerateConfig, LoraTrainConfig
from air_core.generate import classes_of_shard, generate_images, image_seed
from air_core.lora import LORA_WEIGHTS, save_lora, train_lora
from air_core.models.diffusion import load_pipeline, resolution

TINY = DiffusionSpec(id="air-tiny-sd")


def _sample(pipe, seed=0, **kwargs):
    out = pipe(
        ["Shapes: red circle"],
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
        **kwargs,
    )
    return out.images[0]


@pytest.fixture(scope="module")
def training_images(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora_images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        path = root / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_tiny_pipeline_has_sd_layout():
    pipe = load_pipeline(TINY)
    assert pipe.vae_scale_factor == 8  # SD's latent downscale
    assert resolution(pipe) == 64
    assert pipe.safety_checker is None
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipe.tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert pipe.tokenizer.pad_token_id == 49407


def test_lora_round_trip(training_images, tmp_path):
    pipe = load_pipeline(TINY)
    base = _sample(pipe)
    cfg = LoraTrainConfig(steps=6, lr=5e-2, batch_size=2, resolution=64, rank=4, alpha=4)
    history = train_lora(pipe, training_images, ["Shapes: red circle"] * 4, cfg)
    assert len(history) == 6 and all(np.isfinite(h["loss"]) for h in history)
    seconds = [h["seconds"] for h in history]  # each step's end, which benchmarks/gpu_check.py times steps by
    assert 0 < seconds[0] and np.all(np.diff(seconds) > 0)
    tuned = _sample(pipe)
    assert np.abs(tuned - base).max() > 1e-3, "a trained LoRA must change the output"
    np.testing.assert_allclose(_sample(pipe, cross_attention_kwargs={"scale": 0.0}), base, atol=1e-5)

    weights = save_lora(pipe, tmp_path / LORA_WEIGHTS)
    assert weights.is_file() and not list(tmp_path.glob(".lora.*"))
    with safe_open(str(weights), "pt") as saved:  # set order varies between processes: stored sorted
        targets = json.loads(saved.metadata()["lora_adapter_metadata"])["unet.target_modules"]
    assert targets == sorted(targets) and len(targets) == 4
    fresh = load_pipeline(TINY)
    fresh.load_lora_weights(str(tmp_path))  # plain diffusers loading, by folder
    np.testing.assert_allclose(_sample(fresh), tuned, atol=1e-5)
    fresh.fuse_lora()  # fused for generation: same images
    np.testing.assert_allclose(_sample(fresh), tuned, atol=1e-4)


def test_lora_refuses_an_empty_training_set():
    with pytest.raises(ValueError, match="LoRA training set is empty"):
        train_lora(load_pipeline(TINY), [], [], LoraTrainConfig(steps=1, resolution=64))


def _generate(tmp_path, name, batch_size=4, **overrides):
    cfg = dataclasses.replace(GenerateConfig(images_per_class=2, steps=3, resolution=64), **overrides)
    rows = generate_images(
        load_pipeline(TINY),
        [0, 1],
        ["red circle", "blue star"],
        ["red_circle", "blue_star"],
        "Shapes:",
        cfg,
        tmp_path / name,
        batch_size=batch_size,
    )
    return rows, [np.asarray(Image.open(p)) for p in rows["path"]]


def test_same_seed_same_images_other_seed_other_images(tmp_path):
    rows_a, images_a = _generate(tmp_path, "a")
    rows_b, images_b = _generate(tmp_path, "b")
    rows_c, images_c = _generate(tmp_path, "c", seed=1)
    assert rows_a["seed"] == rows_b["seed"] and rows_a["seed"] != rows_c["seed"]
    assert rows_a["prompt"][0] == "Shapes: red circle" and rows_a["image_id"][0] == "red_circle/0000"
    for a, b, c in zip(images_a, images_b, images_c, strict=True):
        np.testing.assert_array_equal(a, b)
        assert np.abs(a.astype(int) - c.astype(int)).max() > 0
    # an image's seed depends on (seed, class, index) only: the batching does not change it
    _, images_d = _generate(tmp_path, "d", batch_size=1)
    for a, d in zip(images_a, images_d, strict=True):
        assert np.abs(a.astype(int) - d.astype(int)).max() <= 2


def test_seeds_and_shards():
    assert image_seed(0, 3, 7) == image_seed(0, 3, 7)
    assert len({image_seed(0, c, i) for c in range(10) for i in range(10)}) == 100
    shards = [classes_of_shard(10, s, 3) for s in range(3)]
    assert sorted(sum(shards, [])) == list(range(10)) and shards[0] == [0, 3, 6, 9]
