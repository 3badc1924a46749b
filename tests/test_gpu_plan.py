"""The GPU plan costs each run from its own resolved recipe."""

import pytest

from air_core.recipes import resolve_recipe
from benchmarks.gpu_plan import run_tflop, trained_images


@pytest.mark.parametrize("paradigm", ["ul", "ssl", "trzsl"])
def test_zero_shot_runs_cost_nothing(paradigm):
    recipe = resolve_recipe("zero_shot", {"base": "zero_shot"}, "text", paradigm)
    assert run_tflop(recipe, "text", paradigm, 10, 1000) == run_tflop(recipe, "visual", paradigm, 10, 1000) == 0


def test_images_per_round_follow_each_base():
    grip = resolve_recipe("grip", {"base": "grip"})
    assert trained_images(grip, "ul", 10, 1000) == [100 * (t + 1) for t in range(10)]  # K_t grows to the pool
    fpl = resolve_recipe("fpl", {"base": "fpl"})
    assert trained_images(fpl, "ul", 10, 1000) == [160]  # one round of top-16 per class
    coop = resolve_recipe("coop", {"base": "none"})
    assert trained_images(coop, "ul", 10, 1000) == [0] and trained_images(coop, "ssl", 10, 1000) == [20]
    cpl = resolve_recipe("cpl", {"base": "cpl"})
    text_cost = {name: run_tflop(r, "text", "ul", 10, 1000) for name, r in (("grip", grip), ("cpl", cpl))}
    assert 0 < text_cost["cpl"] < text_cost["grip"]  # 50 epochs at batch 64 against 150 at batch 16
