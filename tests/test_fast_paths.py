"""The fast paths change speed, not results: same loss as the reference code bases' way."""

import torch

from air_core.encode import encode_images
from air_core.prompts import TextPromptLearner
from benchmarks.prompt_training import built_loss, reference_loss, write_images


def test_cached_features_and_cut_text_sequence_give_the_reference_loss(tiny_clip, tmp_path):
    names = ["red circle", "blue star", "a much longer class name than the others", "cat"]
    paths = write_images(tmp_path, 8, size=40)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    torch.manual_seed(0)
    full = TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, names, truncate=False)
    cut = TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, names, truncate=True)
    cut.load_prompt_state(full.prompt_state())
    assert full.suffix.shape[1] > cut.suffix.shape[1]  # the built way really runs fewer positions
    cached = torch.from_numpy(encode_images(tiny_clip, paths, batch_size=3))
    ref = reference_loss(tiny_clip, full, paths, labels)
    built = built_loss(tiny_clip, cut, cached, labels)
    torch.testing.assert_close(built, ref, atol=1e-5, rtol=1e-5)
    ref.backward()
    built.backward()
    torch.testing.assert_close(cut.ctx.grad, full.ctx.grad, atol=1e-5, rtol=1e-4)
