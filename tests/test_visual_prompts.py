"""VPT: open_clip's ViT forward reproduced with the prompt inserted; the image cache equals CLIP's preprocess."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from air_core.visual_prompts import VisualPromptLearner, cache_images, prompted_image_embedding


def _images(visual, n=2, seed=0):
    return torch.randn(n, 3, *visual.image_size, generator=torch.Generator().manual_seed(seed))


def test_zero_prompt_tokens_equal_encode_image_exactly(tiny_clip):
    visual = tiny_clip.model.visual
    x = _images(visual)
    with torch.no_grad():
        got = prompted_image_embedding(visual, x, torch.zeros(0, visual.class_embedding.shape[0]))
        assert torch.equal(got, tiny_clip.model.encode_image(x))


def test_zero_prompt_tokens_equal_encode_image_on_vit_b_32():
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None).eval()  # the paper's architecture, random weights
    visual = model.visual
    x = _images(visual, n=1)
    with torch.no_grad():
        assert torch.equal(prompted_image_embedding(visual, x, torch.zeros(0, 768)), model.encode_image(x))
        learner = VisualPromptLearner(model, torch.randn(3, 512), n_prompt=16)
        assert learner.prompt.shape == (16, 768)
        assert learner.image_features(x).shape == (1, 512)


def test_prompt_sits_after_the_class_token_without_positional_embedding(tiny_clip):
    visual = tiny_clip.model.visual
    x = _images(visual)
    prompt = torch.randn(3, visual.class_embedding.shape[0])
    seen = {}
    handle = visual.ln_pre.register_forward_hook(lambda m, args, out: seen.setdefault("tokens", args[0]))
    try:
        with torch.no_grad():
            prompted_image_embedding(visual, x, prompt)
    finally:
        handle.remove()
    tokens = seen["tokens"]  # (B, 1 + P + g*g, W), the input of ln_pre
    grid = visual.grid_size[0] * visual.grid_size[1]
    assert tokens.shape == (2, 1 + 3 + grid, visual.class_embedding.shape[0])
    torch.testing.assert_close(tokens[:, 0], (visual.class_embedding + visual.positional_embedding[0]).expand(2, -1))
    assert torch.equal(tokens[:, 1:4], prompt.expand(2, -1, -1))  # no positional embedding added
    with torch.no_grad():
        patches = visual.conv1(x).reshape(2, tokens.shape[-1], -1).permute(0, 2, 1) + visual.positional_embedding[1:]
    torch.testing.assert_close(tokens[:, 4:], patches)


def test_visual_learner_trains_only_the_prompt_and_loads_strictly(tiny_clip):
    torch.manual_seed(0)
    learner = VisualPromptLearner(tiny_clip.model, torch.randn(3, 32), n_prompt=16)
    learner.train()
    assert [n for n, p in learner.named_parameters() if p.requires_grad] == ["prompt"]
    assert not tiny_clip.model.visual.training
    assert learner.prompt.std().item() == pytest.approx(64**-0.5, rel=0.15)  # width ** -0.5 * randn
    torch.testing.assert_close(learner.text_features().norm(dim=-1), torch.ones(3))
    state = learner.prompt_state()
    assert set(state) == {"prompt"} and state["prompt"].shape == (16, 64)
    other = VisualPromptLearner(tiny_clip.model, torch.randn(3, 32), n_prompt=16)
    other.load_prompt_state(state)
    x = _images(tiny_clip.model.visual)
    torch.testing.assert_close(other.image_features(x), learner.image_features(x))
    with pytest.raises(ValueError, match="expected prompt of shape"):
        VisualPromptLearner(tiny_clip.model, torch.randn(3, 32), n_prompt=4).load_prompt_state(state)
    with pytest.raises(ValueError, match="expected prompt of shape"):
        other.load_prompt_state({"ctx": torch.zeros(16, 64)})  # a text prompt


def test_visual_prompts_refuse_a_tower_without_a_class_token():
    tower = SimpleNamespace(pool_type="avg", attn_pool=None, conv1=None)
    with pytest.raises(ValueError, match="class-token pooling"):
        VisualPromptLearner(SimpleNamespace(visual=tower), torch.zeros(2, 4))


def test_image_cache_equals_clip_preprocess(tiny_clip, tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, size in enumerate([(40, 50), (32, 32), (70, 45)]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(paths[-1])
    cache = cache_images(paths, tiny_clip.preprocess)
    assert cache.pixels.dtype == torch.uint8 and cache.pixels.shape == (3, 3, 32, 32)
    expected = torch.stack([tiny_clip.preprocess(Image.open(p).convert("RGB")) for p in paths])
    assert torch.equal(cache[torch.arange(3)], expected)
    assert torch.equal(cache.subset([2])[torch.tensor([0])], expected[2:])
    with pytest.raises(ValueError, match="ToTensor, Normalize"):
        cache_images(paths, lambda image: image)
