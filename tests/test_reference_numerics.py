"""Known answers for three reference-code behaviours: the text prompt's warm start between rounds, the round-0
prompt string, and the towers' dtype on CUDA.

Files and lines are those of BatsResearch/menghini-neurips23-code at 2094fa5 ("menghini", /work/ref/menghini)
and vanillaer/CPL-ICML2024 at c711980 ("CPL"). Each reference excerpt is copied verbatim into a function here,
with what was adapted to run it without the reference's classes said in a comment.
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import air_core.models.clip as clip_module
import air_core.rounds as rounds
from air_core.config import ClipSpec
from air_core.encode import class_prompts, encode_class_prompts, encode_images
from air_core.recipes import resolve_recipe
from air_core.rounds import train_iterations, warm_starts
from air_core.run_inputs import TrainingData
from air_core.text_prompts import TextPromptLearner
from air_core.visual_prompts import VisualPromptLearner
from tests.helpers import easy_problem

# ---------------------------------------------------------------------------------------------------------------
# warm_start_text


class TextPrefixModel(nn.Module):
    """menghini 2094fa5 models/prompts_models.py:10-36, verbatim but for the docstring and a commented-out line
    (dropped)."""

    def __init__(self, initial_prefix, text_encoder, classes, temperature=0.07, device="cpu"):
        super(TextPrefixModel, self).__init__()  # noqa: UP008 (verbatim)
        self.device = device
        self.initialized_prefix = initial_prefix
        self.classes = classes

        self.prefix = nn.Parameter(initial_prefix)
        self.text_encoder = text_encoder

    def forward(self, classes):
        out = self.text_encoder(self.prefix, classes)
        norm_out = out / out.norm(dim=-1, keepdim=True)  # noqa: F841 (unused in the reference too)

        return out


class ImagePrefixModel(nn.Module):
    """menghini 2094fa5 models/prompts_models.py:39-61, verbatim."""

    def __init__(self, initial_prefix, image_encoder, temperature=0.07, device="cpu"):
        super(ImagePrefixModel, self).__init__()  # noqa: UP008 (verbatim)
        self.device = device
        self.initialized_prefix = initial_prefix

        # Initialize the model's parametwets
        self.prefix = nn.Parameter(initial_prefix)
        self.image_encoder = image_encoder

    def forward(self, x):
        # Combine prefix and class embeddings to get the entire prompt representation for the
        # two augmented images
        out = self.image_encoder(x, self.prefix)
        norm_out = out / out.norm(dim=-1, keepdim=True)  # noqa: F841 (unused in the reference too)

        return out


def _sum_encoder(prefix, classes):
    """A stand-in for CustomTextEncoder: class features that depend on the prefix."""
    return prefix.sum(dim=1).expand(len(classes), -1)


def _reference_round_starts(rounds_: int, device: str = "cpu", deepcopy: bool = False) -> list[torch.Tensor]:
    """Where each round's text prefix starts in menghini's grip_train: the prefix is drawn once
    (training_strategies.py:142-149, ``self.config.MEAN_INIT``/``VAR_INIT``/``PREFIX_SIZE`` as 0, 0.02, 4 and a
    width of 8), every round builds its model (:207-214) and a new SGD (:235-241) and trains in place (one step
    here). ``deepcopy``: CPL's define_model (c711980 methods/unsupervised_learning_new/training_strategies.py:250).
    """
    torch.manual_seed(0)
    prefix_dim = (1, 4, 8)
    initial_prefix = torch.normal(0.0, 0.02, size=prefix_dim).to(device)
    starts = []
    for _ in range(rounds_):
        model = TextPrefixModel(
            copy.deepcopy(initial_prefix) if deepcopy else initial_prefix,
            _sum_encoder,
            ["a", "b"],
            device=device,
        ).to(device)
        starts.append(model.prefix.detach().clone())
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=5e-4, momentum=0.9)
        model(model.classes).pow(2).sum().backward()
        optimizer.step()
    return starts


def test_reference_text_prefix_shares_storage_so_rounds_warm_start():
    starts = _reference_round_starts(3)
    assert not torch.equal(starts[1], starts[0]) and not torch.equal(starts[2], starts[1])  # each round moves on
    fresh = _reference_round_starts(3, deepcopy=True)  # CPL's copy.deepcopy
    assert all(torch.equal(s, fresh[0]) for s in fresh) and torch.equal(fresh[0], starts[0])


def test_reference_visual_prefix_moved_to_another_device_is_copied():
    """menghini's visual prefix is drawn on the CPU (training_strategies.py:131) and the model moved with
    ``.to(self.device)`` (:201-205): on a GPU the parameter is a copy, so rounds restart; "meta" stands for
    the GPU here (any other device copies the same way)."""
    prefix = 768**-0.5 * torch.randn(4, 8)
    on_cpu = ImagePrefixModel(prefix, None).to("cpu")
    assert on_cpu.prefix.data_ptr() == prefix.data_ptr()  # on the CPU it would warm-start like the text prefix
    moved = ImagePrefixModel(prefix, None).to("meta")
    assert moved.prefix.device.type == "meta" and prefix.device.type == "cpu"  # the drawn tensor stays as it was


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_reference_visual_prefix_restarts_on_cuda():
    prefix = torch.randn(4, 8)
    model = ImagePrefixModel(prefix, None).to("cuda")
    with torch.no_grad():
        model.prefix.add_(1.0)
    assert not torch.equal(model.prefix.cpu(), prefix)


def _problem(clip):
    return easy_problem(clip, per_class=12)[:3]  # (features, labels, zero-shot text)


def _run_grip(clip, monkeypatch, warm: bool, prompt: str = "text"):
    """Three GRIP rounds on a small feature problem; the context each round starts and ends with."""
    feats, labels, zs = _problem(clip)
    data = TrainingData(real_features=feats, given_labels=np.full(len(labels), -1), zero_shot_text=zs, logit_scale=20.0)
    recipe = resolve_recipe(
        "grip",
        {"base": "grip", "iterations": 3, "epochs": 2, "batch_size": 8, "n_ctx": 4, "warm_start_text": warm},
    )
    starts, ends = [], []
    real_train_round = rounds.train_round

    def recording(learner, *args, **kwargs):
        starts.append(learner.prompt_state()["ctx"].clone())
        out = real_train_round(learner, *args, **kwargs)
        ends.append(learner.prompt_state()["ctx"].clone())
        return out

    monkeypatch.setattr(rounds, "train_round", recording)
    result = train_iterations(data, recipe, clip.model, clip.tokenizer, ["a", "b", "c"], seed=0, prompt=prompt)
    return starts, ends, result


def test_warm_start_continues_from_the_last_round_like_the_reference(tiny_clip, monkeypatch):
    starts, ends, warm = _run_grip(tiny_clip, monkeypatch, warm=True)
    assert len(starts) == 3
    for t in (1, 2):  # round t starts where round t-1 ended, as the shared storage gives
        assert torch.equal(starts[t], ends[t - 1])
        assert not torch.equal(starts[t], starts[0])
    fresh_starts, _, fresh = _run_grip(tiny_clip, monkeypatch, warm=False)
    assert all(torch.equal(s, fresh_starts[0]) for s in fresh_starts)  # CPL's (and clean) fresh start
    assert torch.equal(fresh_starts[0], starts[0])  # the same initial draw
    # nothing else moves: round 0 trains alike and its pseudo-labels (round 1's set) are the same
    assert [h for h in warm.history if h["iteration"] == 0] == [h for h in fresh.history if h["iteration"] == 0]
    for a, b in zip(warm.pseudo_labels[:2], fresh.pseudo_labels[:2], strict=True):
        np.testing.assert_array_equal(a["positions"], b["positions"])
        np.testing.assert_array_equal(a["labels"], b["labels"])
    assert [h["loss"] for h in warm.history if h["iteration"] == 2] != [
        h["loss"] for h in fresh.history if h["iteration"] == 2
    ]


def test_only_text_prompts_warm_start():
    grip, cpl = resolve_recipe("g", {"base": "grip"}), resolve_recipe("c", {"base": "cpl"})
    assert warm_starts(grip, "text") and not warm_starts(grip, "visual")  # menghini's GPU copies the visual prefix
    assert not warm_starts(cpl, "text") and not warm_starts(cpl, "visual")
    assert not warm_starts(resolve_recipe("g", {"base": "grip", "mode": "clean"}), "text")


# ---------------------------------------------------------------------------------------------------------------
# round0_template


def reference_round0_prompts(template, classnames):
    """menghini 2094fa5 utils/clip_pseudolabels.py:24 (compute_pseudo_labels), verbatim."""
    prompts = [f"{template}{' '.join(i.split('_'))}" for i in classnames]
    return prompts


def reference_zero_shot_prompts(template, classes):
    """menghini 2094fa5 methods/clip_baseline.py:57-59 (the zero-shot row's classifier), verbatim; ``self.``
    dropped."""
    prompts = [template.format(" ".join(i.split("_"))) for i in classes]
    return prompts


def reference_cpl_round0_prompts(PROMPT_TEMPLATE, target_class):
    """CPL c711980 methods/unsupervised_learning_new/prompt.py:202 (clip_zsl_forward), verbatim; ``self.config.``
    dropped."""
    prompts = [PROMPT_TEMPLATE.format(c.replace("_", " ")) for c in target_class]
    return prompts


def test_round0_strings_equal_the_references():
    template = "a photo of a {}"  # menghini data/dataset_prompts.py: every dataset's PROMPT_TEMPLATE
    folders = ["pink_primrose", "globe_thistle", "moon orchid"]
    names = [f.replace("_", " ") for f in folders]  # the project's class names have spaces
    assert class_prompts(template, names, "concat") == reference_round0_prompts(template, folders)
    assert class_prompts(template, names, "concat")[0] == "a photo of a {}pink primrose"
    assert class_prompts(template, names, "format") == reference_zero_shot_prompts(template, folders)
    assert class_prompts(template, names, "format") == reference_cpl_round0_prompts(template, folders)
    with pytest.raises(ValueError, match="not known"):
        class_prompts(template, names, "join")


def test_concat_text_features_encode_the_concat_strings(tiny_clip):
    names = ["red circle", "blue star"]
    got = encode_class_prompts(tiny_clip, names, how="concat")
    with torch.no_grad():
        tokens = tiny_clip.tokenizer(["a photo of a {}red circle", "a photo of a {}blue star"])
        want = torch.nn.functional.normalize(tiny_clip.model.encode_text(tokens), dim=-1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not np.allclose(got, encode_class_prompts(tiny_clip, names))


def test_round0_classifier_labels_round_0_only(tiny_clip):
    """round0_text relabels round 0 (and gives its fig. 4 sets); the run's classifier stays the zero-shot one."""
    feats, labels, zs = _problem(tiny_clip)
    names = ["a", "b", "c"]
    recipe = resolve_recipe("fpl", {"base": "fpl", "epochs": 1, "batch_size": 8, "n_ctx": 4, "top_k": 4})
    other = zs[[1, 2, 0]]  # another classifier: round 0's labels follow it

    def run(zero_shot, round0=None, r=recipe):
        data = TrainingData(feats, np.full(len(labels), -1), zero_shot, 20.0, round0_text=round0)
        return train_iterations(data, r, tiny_clip.model, tiny_clip.tokenizer, names, seed=0)

    def pairs(result):  # (image, label) pairs: under no_break the labels alone are in board order
        first = result.pseudo_labels[0]
        return sorted(zip(first["positions"].tolist(), first["labels"].tolist(), strict=True))

    with_round0, plain_other, plain = run(zs, other), run(other), run(zs)
    assert pairs(with_round0) == pairs(plain_other)
    np.testing.assert_array_equal(with_round0.confident[0]["labels"], plain_other.confident[0]["labels"])
    assert pairs(with_round0) != pairs(plain)
    zero = resolve_recipe("zs", {"base": "zero_shot"})
    np.testing.assert_array_equal(run(zs, other, zero).classifier, zs)  # the zero-shot row: the formatted one


def test_round0_template_defaults_follow_each_reference():
    assert resolve_recipe("g", {"base": "grip"}).round0_template == "concat"
    assert resolve_recipe("f", {"base": "fpl"}).round0_template == "concat"
    assert resolve_recipe("c", {"base": "cpl"}).round0_template == "format"
    assert resolve_recipe("z", {"base": "zero_shot"}).round0_template == "format"
    assert resolve_recipe("g", {"base": "grip", "mode": "clean"}).round0_template == "format"


# ---------------------------------------------------------------------------------------------------------------
# models.clip.cuda_dtype


def test_tower_dtype_is_fp16_on_cuda_only_when_configured():
    half, full = ClipSpec(arch="x", cuda_dtype="float16"), ClipSpec(arch="x", cuda_dtype="float32")
    assert clip_module.tower_dtype(half, "cuda") == torch.float16
    assert clip_module.tower_dtype(half, torch.device("cuda", 0)) == torch.float16
    assert clip_module.tower_dtype(full, "cuda") == torch.float32
    assert clip_module.tower_dtype(half, "cpu") == torch.float32 == clip_module.tower_dtype(full, "cpu")
    assert ClipSpec(arch="x").cuda_dtype == "float16"  # the default: both references' fp16


def test_cpu_towers_stay_float32(tiny_clip):
    assert tiny_clip.dtype == torch.float32
    assert {p.dtype for p in tiny_clip.model.parameters()} == {torch.float32}


@pytest.fixture(scope="module")
def half_clip():
    """The tiny CLIP as load_clip builds it for float16 on CUDA, on the CPU (tower_dtype forced)."""
    original = clip_module.tower_dtype
    clip_module.tower_dtype = lambda spec, device: torch.float16
    try:
        return clip_module.load_clip(ClipSpec(arch="air-tiny-vit", pretrained=None))
    finally:
        clip_module.tower_dtype = original


def test_fp16_towers_are_openais_mixed_precision(half_clip):
    """OpenAI's clip.load on CUDA (convert_weights): linear, convolution and attention weights and the two
    projections in fp16; layer norms, embeddings and logit_scale in fp32 (layer norms compute in fp32)."""
    model = half_clip.model
    assert half_clip.dtype == torch.float16
    halves = {n for n, p in model.named_parameters() if p.dtype == torch.float16}
    fulls = {n for n, p in model.named_parameters() if p.dtype == torch.float32}
    assert {"text_projection", "visual.proj", "visual.conv1.weight"} <= halves
    assert any(n.endswith("attn.in_proj_weight") for n in halves) and any(n.endswith("c_fc.weight") for n in halves)
    assert {"token_embedding.weight", "positional_embedding", "logit_scale", "visual.class_embedding"} <= fulls
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert norms and all(m.weight.dtype == torch.float32 for m in norms)
    x = torch.randn(2, norms[0].weight.shape[0], dtype=torch.float16)
    assert norms[0](x).dtype == torch.float16  # computed in fp32, returned in the input's dtype
    assert not any(n.endswith("attn.in_proj_weight") for n in fulls)


def test_fp16_towers_run_every_path_close_to_fp32(tiny_clip, half_clip, tmp_path):
    names = ["red circle", "blue star of the night", "cat"]
    zs32, zs16 = encode_class_prompts(tiny_clip, names), encode_class_prompts(half_clip, names)
    assert np.abs(zs32 - zs16).max() < 5e-3 and zs16.dtype == np.float32
    for path in ("shared_prefix", "cut"):
        torch.manual_seed(0)
        full = TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, names, 4, text_path=path)
        torch.manual_seed(0)
        half = TextPromptLearner(half_clip.model, half_clip.tokenizer, names, 4, text_path=path)
        out = half()
        assert half.ctx.dtype == torch.float32 and out.dtype == torch.float32  # fp32 context, fp32 head
        assert (out - full()).abs().max() < 5e-3
        out.sum().backward()
        assert half.ctx.grad is not None and half.ctx.grad.dtype == torch.float32
    images = torch.randn(2, 3, *half_clip.model.visual.image_size, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    visual32 = VisualPromptLearner(tiny_clip.model, torch.from_numpy(zs32), 4)
    torch.manual_seed(0)
    visual16 = VisualPromptLearner(half_clip.model, torch.from_numpy(zs32), 4)
    got = visual16.image_features(images)
    assert got.dtype == torch.float32 and (got - visual32.image_features(images)).abs().max() < 5e-3
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
    a, b = encode_images(tiny_clip, [str(path)]), encode_images(half_clip, [str(path)])
    assert b.dtype == np.float32 and np.abs(a - b).max() < 5e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_loads_fp16_by_default():
    clip = clip_module.load_clip(ClipSpec(arch="air-tiny-vit", pretrained=None), "cuda")
    assert clip.dtype == torch.float16 and clip.model.visual.conv1.weight.dtype == torch.float16
    full = clip_module.load_clip(ClipSpec(arch="air-tiny-vit", pretrained=None, cuda_dtype="float32"), "cuda")
    assert full.dtype == torch.float32
