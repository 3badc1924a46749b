"""The paper's models by name, offline: found in the local caches, or a clear error before any job."""

import os
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants

from air_core.config import ClipSpec, DiffusionSpec
from air_core.errors import ModelNotFoundError
from air_core.experiment import load_experiment
from air_core.models.availability import clip_problem, diffusion_problem
from air_core.models.clip import load_clip
from air_core.models.diffusion import load_pipeline
from air_core.preflight import missing_models
from tests.fake_hub import SD_ID, add_clip_vit_b_32, add_stable_diffusion
from tests.helpers import tiny_config

CLIP = ClipSpec(arch="ViT-B-32", pretrained="openai")
SD = DiffusionSpec(id=SD_ID)


@pytest.fixture(scope="module")
def hub_cache():
    cache = Path(constants.HF_HUB_CACHE)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and "air-test-hf-cache" in str(cache)
    return cache


def test_missing_models_name_the_model_the_place_and_the_command(tmp_path):
    other = DiffusionSpec(id="someone/not-here")
    assert "someone/not-here" in diffusion_problem(other) and "snakemake fetch_models" in diffusion_problem(other)
    with pytest.raises(ModelNotFoundError, match="fetch_models"):
        load_pipeline(other)
    empty = tmp_path / "sd"
    empty.mkdir()
    assert "model_index.json" in diffusion_problem(DiffusionSpec(id=str(empty)))
    with pytest.raises(ModelNotFoundError, match="known tags"):
        load_clip(ClipSpec(arch="ViT-B-32", pretrained="no-such-tag"))
    with pytest.raises(ModelNotFoundError, match="unknown CLIP architecture"):
        load_clip(ClipSpec(arch="ViT-B-99", pretrained=None))
    config = tiny_config(tmp_path / "results")
    config["models"] = {"clip": {"arch": "ViT-B-32", "pretrained": "laion400m_e31"}, "diffusion": {"id": "x/y"}}
    exp = load_experiment(config)
    assert len(missing_models(exp, {"encode_real", "generate"})) == 2
    assert missing_models(exp, {"aggregate"}) == []  # rules that load no model need none


def test_clip_vit_b_32_openai_loads_by_name_from_the_hub_cache(hub_cache):
    state = add_clip_vit_b_32(hub_cache)
    assert clip_problem(CLIP) is None
    clip = load_clip(CLIP)
    assert clip.model.visual.conv1.weight.shape == (768, 3, 32, 32)  # ViT-B/32 patch embedding
    torch.testing.assert_close(clip.model.visual.conv1.weight, state["visual.conv1.weight"])
    assert clip.tokenizer(["a photo of a cat"])[0, :7].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_openai_clip_is_built_with_quick_gelu_as_open_clips_quickgelu_twin(hub_cache):
    """OpenAI's weights need QuickGELU: the project's ViT-B-32/openai equals open_clip's ViT-B-32-quickgelu
    on the same file (and differs from the GELU build, so the comparison can fail)."""
    import warnings

    import open_clip
    from huggingface_hub import try_to_load_from_cache

    from tests.fake_hub import CLIP_HUB_ID

    add_clip_vit_b_32(hub_cache)
    weights = try_to_load_from_cache(CLIP_HUB_ID, "open_clip_model.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # open_clip's "QuickGELU mismatch" warning fails the test
        ours = load_clip(CLIP).model
    twin = open_clip.create_model("ViT-B-32-quickgelu", pretrained=weights).eval()
    gelu = open_clip.create_model("ViT-B-32", pretrained=weights).eval()
    torch.manual_seed(0)
    images = torch.randn(2, 3, 224, 224)
    tokens = open_clip.get_tokenizer("ViT-B-32")(["a photo of a rose", "a photo of a highway"])
    with torch.no_grad():
        for encode in ("encode_image", "encode_text"):
            x = tokens if encode == "encode_text" else images
            expected = getattr(twin, encode)(x)
            torch.testing.assert_close(getattr(ours, encode)(x), expected)
            assert (getattr(gelu, encode)(x) - expected).abs().max() > 1e-4  # the activation matters
    forced = load_clip(ClipSpec(arch="ViT-B-32", pretrained="openai", quick_gelu=False)).model  # the key wins
    assert type(forced.visual.transformer.resblocks[0].mlp.gelu).__name__ == "GELU"


def test_stable_diffusion_v1_4_loads_by_id_from_the_hub_cache(hub_cache):
    add_stable_diffusion(hub_cache)
    assert diffusion_problem(SD) is None
    pipe = load_pipeline(SD)
    assert pipe.safety_checker is None and type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert [type(b).__name__ for b in pipe.unet.down_blocks] == ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
    assert pipe.vae_scale_factor == 8 and pipe.unet.config.layers_per_block == 2
    assert pipe.text_encoder.config.num_hidden_layers == 12
    image = pipe(
        "Flowers: rose",
        num_inference_steps=2,
        height=64,
        width=64,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    ).images[0]
    assert image.shape == (64, 64, 3)


@pytest.mark.workflow
def test_workflow_runs_on_the_paper_architectures_and_its_lora_loads_in_plain_diffusers(hub_cache, tmp_path):
    import numpy as np
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline
    from PIL import Image

    from air_core.artifacts import read_table
    from air_core.generate import image_seed
    from tests.helpers import snakemake, tiny_config

    add_clip_vit_b_32(hub_cache)
    add_stable_diffusion(hub_cache)
    config = tiny_config(tmp_path / "results")
    config["models"] = {"clip": {"arch": "ViT-B-32", "pretrained": "openai"}, "diffusion": {"id": SD_ID}}
    config["methods"] = {"air_grip": config["methods"]["air_grip"]}
    config["generate"].update(shards=1, images_per_class=1)
    proc = snakemake(tmp_path, config, "--show-failed-logs")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = tmp_path / "results" / "shapes"
    logs = list((tmp_path / "results" / "logs").rglob("*.log"))
    assert logs and not [p for p in logs if "QuickGELU mismatch" in p.read_text()]  # open_clip's warning
    assert any("QuickGELU" in p.read_text() for p in logs if p.parent.name == "encode_real")  # built with it
    assert read_table("metrics", next(data.rglob("metrics.parquet"))).num_rows == 1

    # The workflow's LoRA file in a plain diffusers pipeline gives the workflow's own image.
    pipe = StableDiffusionPipeline.from_pretrained(SD_ID, safety_checker=None, local_files_only=True)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.load_lora_weights(str(data / "lora" / "lora"))  # the folder of the SD variant 'lora'
    shard = read_table("synthetic_shard", data / "synthetic" / "lora" / "shard0.parquet").to_pandas()
    row = shard.iloc[0]
    gen = config["generate"]
    assert row["seed"] == image_seed(gen.get("seed", 0), int(row["label"]), int(row["index"]))
    image = pipe(
        row["prompt"],
        num_inference_steps=gen["steps"],
        guidance_scale=7.5,
        height=gen["resolution"],
        width=gen["resolution"],
        generator=torch.Generator().manual_seed(int(row["seed"])),
        output_type="np",
    ).images[0]
    ours = np.asarray(Image.open(row["path"])).astype(int)
    assert np.abs((image * 255).round().astype(int) - ours).max() <= 2
