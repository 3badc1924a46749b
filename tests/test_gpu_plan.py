"""The GPU plan costs each run from its own resolved recipe, text prompts by the tokens their text path runs."""

import json

import pytest

from air_core.recipes import resolve_recipe
from air_core.text_prompts import TextPromptLearner
from benchmarks.gpu_plan import (
    class_names,
    figure_tflop,
    grid_gpu_hours,
    main,
    measured_throughput,
    predicted_per_second,
    run_tflop,
    startup_hours,
    text_tokens,
    trained_images,
)


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


@pytest.mark.parametrize("dataset", ["flowers102", "fgvc_aircraft"])
def test_text_tokens_are_what_each_text_path_runs(tiny_clip, dataset):
    names = list(class_names(dataset))
    cut = TextPromptLearner(tiny_clip.model, tiny_clip.tokenizer, names, n_ctx=16, text_path="cut")
    length = cut.prefix.shape[1] + 16 + cut.suffix.shape[1]
    assert text_tokens(dataset, 16, "full") == len(names) * 77
    assert text_tokens(dataset, 16, "cut") == len(names) * length
    assert text_tokens(dataset, 16, "shared_prefix") == 1 + 16 + cut.token_rows.numel()  # prefix + packed suffixes
    assert text_tokens(dataset, 16, "shared_prefix") < text_tokens(dataset, 16, "cut") / 2.5


def test_the_grid_costs_text_prompts_by_path_and_counts_startup():
    hours = grid_gpu_hours()
    assert hours["text_shared_prefix_hours"] < hours["text_cut_hours"]
    assert hours["prompt_hours"] == pytest.approx(hours["text_shared_prefix_hours"] + hours["visual_hours"], abs=0.11)
    assert hours["prompt_hours_cut"] - hours["prompt_hours"] == pytest.approx(
        hours["text_cut_hours"] - hours["text_shared_prefix_hours"], abs=0.11
    )
    runs = hours["prompt_runs"]
    packed = startup_hours(runs, 10, per_submission_s=3.0, per_job_s=8.0)
    assert packed["packed"] < packed["one_job_per_submission"]
    assert packed["one_job_per_submission"] == pytest.approx(2 * runs * 11.0 / 3600, abs=0.01)
    same = startup_hours(runs, 10, per_submission_s=0.0, per_job_s=8.0)  # nothing to save without a start-up cost
    assert same["packed"] == same["one_job_per_submission"]


def _table(path, rates: dict[str, float | None]) -> str:
    """A gpu_check JSON with one row per plan kind at ``rates`` units/s (None: the row's measurement failed)."""
    work = figure_tflop()
    rows = [
        {"key": kind, "plan": kind, "tflop_per_unit": work[kind], "measured": rate, "error": None if rate else "x"}
        for kind, rate in rates.items()
    ]
    path.write_text(json.dumps({"meta": {}, "rows": rows}))
    return str(path)


def test_measured_rates_replace_the_assumed_utilisation(tmp_path):
    assumed = grid_gpu_hours()
    at_prediction = {kind: predicted_per_second(tflop) for kind, tflop in figure_tflop().items()}
    same = measured_throughput(_table(tmp_path / "same.json", at_prediction))
    assert set(same.tflops) == {"generate", "train_lora", "encode", "visual"}
    assert len(same.text_steps) == 2  # the cut path's and the shared prefix's step
    hours = grid_gpu_hours(measured=same)
    for key in ("diffusion_hours", "visual_hours", "text_cut_hours", "text_shared_prefix_hours"):  # as predicted
        assert hours[key] == pytest.approx(assumed[key], abs=0.11)
    # half the predicted rate: generation and visual prompts take twice as long; a failed row stays assumed
    slow = {**at_prediction, "generate": at_prediction["generate"] / 2, "visual": at_prediction["visual"] / 2}
    slow["text_cut"] = None
    rates = measured_throughput(_table(tmp_path / "slow.json", slow))
    assert len(rates.text_steps) == 1  # the shared prefix's step alone: text steps scale with their tokens
    halved = grid_gpu_hours(measured=rates)
    assert halved["visual_hours"] == pytest.approx(2 * assumed["visual_hours"], abs=0.11)
    assert halved["diffusion_hours"] > 1.8 * assumed["diffusion_hours"]  # generation is most of it
    assert halved["text_cut_hours"] == pytest.approx(assumed["text_cut_hours"], abs=0.11)
    # launch-bound: both text paths' steps take as long, whatever their tokens
    bound = {**at_prediction, "text_cut": at_prediction["text_shared_prefix"]}
    same_time = grid_gpu_hours(measured=measured_throughput(_table(tmp_path / "bound.json", bound)))
    assert same_time["text_cut_hours"] == same_time["text_shared_prefix_hours"] > assumed["text_shared_prefix_hours"]


def test_a_measured_table_that_is_not_one_says_what_to_give(tmp_path):
    with pytest.raises(ValueError, match="gpu_check"):
        measured_throughput(tmp_path / "missing.json")
    (tmp_path / "table.md").write_text("| figure |\n")
    with pytest.raises(SystemExit, match="benchmarks.gpu_check"):
        main(["--measured", str(tmp_path / "table.md")])
