"""Eq. 6 and eq. 10 on hand-made tensors; the prompt learner; training on an easy feature problem."""

import math

import numpy as np
import pytest
import torch

from air_core.fitting import air_loss, lr_at
from air_core.prototypes import own_class_probs, select_prototypes
from air_core.recipes import resolve_recipe
from air_core.rounds import train_iterations
from air_core.run_inputs import TrainingData
from air_core.text_prompts import TextPromptLearner
from tests.helpers import easy_problem


def test_select_prototypes_takes_highest_own_class_probability():
    # eq. 6: six synthetic images, two classes
    probs = np.array([[0.6, 0.4], [0.9, 0.1], [0.7, 0.3], [0.5, 0.5], [0.2, 0.8], [0.45, 0.55]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    p_own = own_class_probs(probs, labels)
    np.testing.assert_allclose(p_own, [0.6, 0.9, 0.7, 0.5, 0.8, 0.55])
    np.testing.assert_array_equal(select_prototypes(p_own, labels, 2), [1, 4])
    usable = np.array([True, False, True, True, True, True])  # image 1 was all black
    np.testing.assert_array_equal(select_prototypes(p_own, labels, 2, usable), [2, 4])


def test_select_prototypes_names_an_empty_class():
    with pytest.raises(ValueError, match="class 1 has no usable synthetic image"):
        select_prototypes(np.array([0.5]), np.array([0]), 2)


def test_air_loss_is_real_plus_beta_synthetic():
    # eq. 10 with uniform synthetic logits: L_s is log C
    l_r = torch.tensor(math.log(3))
    loss, l_s = air_loss(l_r, torch.zeros(2, 3), torch.tensor([1, 2]), beta=0.5)
    assert l_s.item() == pytest.approx(math.log(3))
    assert loss.item() == pytest.approx(1.5 * math.log(3))
    # confident and right on the synthetic images: L_s -> 0
    loss, l_s = air_loss(l_r, torch.tensor([[0.0, 50.0, 0.0]]), torch.tensor([1]), beta=2.0)
    assert l_s.item() == pytest.approx(0.0, abs=1e-6)
    assert loss.item() == pytest.approx(math.log(3), abs=1e-5)
    loss, l_s = air_loss(l_r, None, None, beta=1.0, real_weight=0.5)
    assert l_s.item() == 0 and loss.item() == pytest.approx(0.5 * math.log(3))


def test_lr_schedule_warms_up_then_decays_to_zero():
    recipe = resolve_recipe("x", {"epochs": 10, "warmup_epochs": 2, "lr": 0.1, "warmup_lr": 1e-4, "warmup": "constant"})
    assert lr_at(0, recipe) == lr_at(1, recipe) == 1e-4
    assert lr_at(2, recipe) == pytest.approx(0.1)
    assert lr_at(10, recipe) == pytest.approx(0.0, abs=1e-12)
    linear = resolve_recipe("x", {"epochs": 10, "warmup_epochs": 2, "lr": 0.1})
    assert [lr_at(e, linear) for e in range(3)] == pytest.approx([0.0, 0.05, 0.1])


def test_prompt_learner_equals_clip_text_encoder_for_the_placeholder_prompt(tiny_clip):
    # Cutting the sequence after the longest prompt's end token is exact under the causal mask.
    names = ["red circle", "blue star of the night sky", "cat"]
    learner = TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, names, n_ctx=4)
    tokens = tiny_clip.tokenizer(["X X X X " + n for n in names])
    with torch.no_grad():
        learner.ctx.copy_(tiny_clip.model.token_embedding(tokens[0, 1:5]))
        expected = torch.nn.functional.normalize(tiny_clip.model.encode_text(tokens), dim=-1)
        got = learner()
    assert learner.prefix.shape[1] + 4 + learner.suffix.shape[1] < tokens.shape[1]  # really truncated
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_prompt_learner_trains_only_ctx_and_keeps_clip_in_eval(tiny_clip):
    learner = TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, ["a", "b"], n_ctx=3)
    learner.train()
    assert [n for n, p in learner.named_parameters() if p.requires_grad] == ["ctx"]
    assert not tiny_clip.model.training
    state = learner.prompt_state()
    assert set(state) == {"ctx"} and state["ctx"].shape == (3, 64)
    other = TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, ["a", "b"], n_ctx=3)
    other.load_prompt_state(state)
    torch.testing.assert_close(other(), learner())
    with pytest.raises(ValueError, match="expected ctx of shape"):
        TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, ["a"], n_ctx=5).load_prompt_state(state)


def test_training_on_real_and_synthetic_features_lowers_loss_and_beats_chance(tiny_clip):
    feats, labels, zs, centres = easy_problem(tiny_clip)
    protos = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(np.float32)
    data = TrainingData(
        real_features=feats,
        given_labels=np.full(len(labels), -1),
        zero_shot_text=zs,
        logit_scale=20.0,
        synthetic_features=protos,
        synthetic_labels=np.arange(3),
        prototypes=protos,
    )
    recipe = resolve_recipe(
        "air",
        dict(
            pseudo_labels="grip",
            iterations=2,
            epochs=15,
            batch_size=16,
            lr=0.5,
            warmup_epochs=0,
            n_ctx=4,
            fusion_lambda=1.0,
            synthetic_beta=1.0,
        ),
    )
    result = train_iterations(data, recipe, tiny_clip.model, tiny_clip.tokenizer, ["a", "b", "c"], seed=0)
    last = [h for h in result.history if h["iteration"] == 1]
    assert last[-1]["loss"] < last[0]["loss"]
    # the fused pseudo-labels follow the prototypes, so they are right far above chance (1/3)
    final = result.pseudo_labels[-1]
    assert np.mean(final["labels"] == labels[final["positions"]]) > 0.9
    assert result.classifier.shape == zs.shape and set(result.prompt) == {"ctx"}


@pytest.mark.parametrize("paradigm", ["ul", "ssl"])
def test_zero_shot_base_trains_nothing_even_with_labelled_images(tiny_clip, paradigm):
    """Table 1's CLIP row is zero-shot in every paradigm; CoOp/VPT (base none) trains on SSL's labels."""
    feats, labels, zs, _ = easy_problem(tiny_clip)
    given = np.where(np.arange(len(labels)) % 4 == 0, labels, -1) if paradigm == "ssl" else np.full(len(labels), -1)
    data = TrainingData(real_features=feats, given_labels=given, zero_shot_text=zs, logit_scale=20.0)
    names = ["a", "b", "c"]
    zero_shot = resolve_recipe("zero_shot", {"base": "zero_shot", "batch_size": 8, "n_ctx": 4})
    result = train_iterations(data, zero_shot, tiny_clip.model, tiny_clip.tokenizer, names, seed=0)
    assert result.history == [] and result.prompt == {}
    np.testing.assert_array_equal(result.classifier, zs)
    coop = resolve_recipe("coop", {"base": "none", "epochs": 2, "batch_size": 8, "n_ctx": 4})
    trained = train_iterations(data, coop, tiny_clip.model, tiny_clip.tokenizer, names, seed=0)
    assert (len(trained.history) > 0) == (paradigm == "ssl")


def test_zero_shot_recipe_trains_nothing(tiny_clip):
    feats, labels, zs, _ = easy_problem(tiny_clip)
    data = TrainingData(real_features=feats, given_labels=np.full(len(labels), -1), zero_shot_text=zs, logit_scale=20.0)
    result = train_iterations(
        data,
        resolve_recipe("zs", {"pseudo_labels": "none"}),
        tiny_clip.model,
        tiny_clip.tokenizer,
        ["a", "b", "c"],
        seed=0,
    )
    assert result.history == [] and result.prompt == {}
    np.testing.assert_array_equal(result.classifier, zs)
