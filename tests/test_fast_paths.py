"""The fast paths change speed, not results: same loss and context gradient as the reference code bases' way."""

import copy

import open_clip
import pytest
import torch
import torch.nn.functional as F

from air_core.config import ClipSpec
from air_core.encode import encode_images
from air_core.fitting import make_learner
from air_core.models.clip import load_clip
from air_core.text_prompts import TextPromptLearner
from air_core.toy.clip_pretrain import ToyClipConfig, build_clip, write_model_config
from benchmarks.prompt_training import built_loss, reference_loss, write_images

# Suffixes of 2 to 10 tokens (name and end token), two of equal length: attention pads the shorter ones.
NAMES = ["red circle", "blue star", "a much longer class name than the others", "cat", "hard-leaved pocket orchid"]


def test_cached_features_and_cut_text_sequence_give_the_reference_loss(tiny_clip, tmp_path):
    names = ["red circle", "blue star", "a much longer class name than the others", "cat"]
    paths = write_images(tmp_path, 8, size=40)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    torch.manual_seed(0)
    full = TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, names, text_path="full")
    cut = TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, names, text_path="cut")
    cut.load_prompt_state(full.prompt_state())
    assert full.suffix.shape[1] > cut.suffix.shape[1]  # the built way really runs fewer positions
    cached = torch.from_numpy(encode_images(tiny_clip, paths, batch_size=3))
    ref = reference_loss(tiny_clip, full, paths, labels)
    built = built_loss(tiny_clip, cut, cached, labels)
    torch.testing.assert_close(built, ref, atol=1e-5, rtol=1e-5)
    ref.backward()
    built.backward()
    torch.testing.assert_close(cut.ctx.grad, full.ctx.grad, atol=1e-5, rtol=1e-4)


def loss_and_grad(model, tokenizer, names, text_path, n_ctx=16, seed=0):
    """Cross-entropy of random image features against the prompts' class features, and d loss / d ctx."""
    torch.manual_seed(seed)
    learner = TextPromptLearner(model, tokenizer, names, n_ctx=n_ctx, text_path=text_path)
    dim = learner().shape[1]
    gen = torch.Generator().manual_seed(seed + 1)
    features = F.normalize(torch.randn(12, dim, generator=gen), dim=-1)
    labels = torch.arange(12) % len(names)
    loss = F.cross_entropy(50.0 * features @ learner().T, labels)
    loss.backward()
    return learner, loss.detach(), learner.ctx.grad


def assert_same_as_cut(model, tokenizer, names=NAMES, n_ctx=16):
    shared, loss, grad = loss_and_grad(model, tokenizer, names, "shared_prefix", n_ctx)
    cut, ref_loss, ref_grad = loss_and_grad(model, tokenizer, names, "cut", n_ctx)
    lengths = torch.bincount(shared.token_rows)
    assert lengths.min() < lengths.max() and grad.abs().sum() > 0  # padding happens; the gradient is real
    torch.testing.assert_close(loss, ref_loss, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad, ref_grad, atol=1e-5 * float(ref_grad.abs().max()), rtol=1e-4)


@pytest.fixture(scope="module")
def vit_b32():
    return load_clip(ClipSpec(arch="ViT-B-32", pretrained=None))


def test_shared_prefix_equals_the_cut_sequence_on_a_vit_b32_text_tower(vit_b32):
    assert_same_as_cut(vit_b32.model, vit_b32.tokenizer)


def test_shared_prefix_equals_the_cut_sequence_on_the_tiny_clip(tiny_clip):
    assert_same_as_cut(tiny_clip.model, tiny_clip.tokenizer)
    assert_same_as_cut(tiny_clip.model, tiny_clip.tokenizer, names=["one", "one two"], n_ctx=1)


def test_shared_prefix_equals_the_cut_sequence_on_the_toy_clip(tmp_path):
    # The toy CLIP: 16-token context, so a short prompt (n_ctx 4, as config/demo.yaml's recipes).
    model, tokenizer = build_clip(write_model_config(ToyClipConfig(), 32, tmp_path / "air-toy-clip-test.json"))
    model.eval()
    assert_same_as_cut(model, tokenizer, names=["red circle", "blue star", "green square of the dusk"], n_ctx=4)


CUSTOM = {
    "block_type": "custom",
    "qk_norm": True,
    "scale_heads": True,
    "scale_attn_inner": True,
    "scale_attn": True,
    "scale_fc": True,
    "ls_init_value": 0.5,
}  # open_clip's own Attention with its options


# open_clip's Attention runs only through F.scaled_dot_product_attention in the text tower: its bmm
# fallbacks (use_fsdpa False, scaled cosine) fail on its own 4-D tensors, so they cannot be a reference.
@pytest.mark.parametrize("options", [{"batch_first": False}, CUSTOM], ids=["seq_first_mha", "custom_block"])
def test_shared_prefix_handles_both_attention_modules_and_layouts(tiny_clip, options):
    model = copy.deepcopy(tiny_clip.model)
    torch.manual_seed(0)
    model.transformer = open_clip.transformer.Transformer(64, 2, heads=2, **options).eval()
    assert_same_as_cut(model, tiny_clip.tokenizer)


def test_scaled_cosine_attention_is_refused_with_a_way_out(tiny_clip):
    model = copy.deepcopy(tiny_clip.model)
    model.transformer = open_clip.transformer.Transformer(64, 2, heads=2, block_type="custom", scaled_cosine_attn=True)
    learner = TextPromptLearner(model, tiny_clip.tokenizer, NAMES)
    with pytest.raises(ValueError, match="text_path='cut'"):
        learner()


def test_training_and_round_features_use_the_shared_prefix_path(tiny_clip):
    learner = make_learner("text", tiny_clip.model, tiny_clip.tokenizer, NAMES, None, 4, torch.device("cpu"))
    assert learner.text_path == "shared_prefix"
    with pytest.raises(ValueError, match="text_path 'fast' is not known"):
        TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, NAMES, text_path="fast")
    with pytest.raises(ValueError, match="lower the recipe's n_ctx"):
        TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, NAMES, n_ctx=75)
