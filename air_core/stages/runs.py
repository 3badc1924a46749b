"""The run stages: one run's relabel-and-train rounds, and its evaluation on the test split."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from air_core import artifacts
from air_core.config import ClipSpec, Recipe

log = logging.getLogger(__name__)


def train_prompts(
    clip_spec: ClipSpec,
    recipe: Recipe,
    dataset: str,
    paradigm: str,
    prompt: str,
    seed: int,
    manifest_path: str,
    features_path: str,
    text_features_path: str,
    synthetic_path: str,
    shard_paths: list[str],
    out_dir: str,
    device: str,
    concat_text_features_path: str = "",
) -> None:
    """Rule train_prompts: the paradigm's split, then the recipe's rounds; every round's tables, the prompt.

    ``concat_text_features_path``: the zero_shot rule's text features of f"{template}{name}", which label
    round 0 where the recipe's ``round0_template`` is concat (menghini's string); every other use of the
    zero-shot classifier (the visual prompt's classifier, the classifier of a run that trains nothing, the
    real-prototype control) keeps the formatted template, as the reference's evaluation and visual code do.
    """
    from air_core.jobs import resolve_device, seed_everything
    from air_core.models.clip import load_clip
    from air_core.paradigms import make_split, run_split_seed
    from air_core.rounds import train_iterations
    from air_core.run_inputs import attach_images, image_paths, training_data
    from air_core.run_outputs import write_run

    seed_everything(seed)
    torch_device = resolve_device(device)
    clip = load_clip(clip_spec, torch_device)
    manifest = artifacts.read_frame("manifest", manifest_path)
    # TRZSL's seen classes follow the recipe's trzsl_split_seed, else the run seed; SSL's labeled images the
    # recipe's validation seed (the reference's)
    split_seed = run_split_seed(seed, recipe.trzsl_split_seed)
    split = make_split(
        manifest,
        paradigm,
        split_seed=split_seed,
        labeled_seed=recipe.validation_seed,
        labeled_order=recipe.labeled_order,
    )
    synthetic = artifacts.read_frame("synthetic_features", synthetic_path) if synthetic_path else None
    data, pool = training_data(
        manifest,
        split,
        artifacts.read_frame("features", features_path),
        artifacts.load_arrays(text_features_path)["text_features"],
        clip.logit_scale,
        synthetic,
        recipe.n_synthetic,
        recipe.prototypes,
    )
    if recipe.round0_template == "concat":
        if not concat_text_features_path:
            raise ValueError("round0_template concat needs the zero_shot rule's text_features_concat file")
        data.round0_text = artifacts.load_arrays(concat_text_features_path)["text_features"]
    image_ids = manifest["image_id"].to_numpy()[pool]
    if prompt == "visual":
        shards = [artifacts.read_frame("synthetic_shard", s) for s in shard_paths]
        attach_images(data, image_ids, image_paths(manifest, shards), clip.preprocess, recipe)
    names = manifest.drop_duplicates("label").sort_values("label")["class_name"].tolist()
    result = train_iterations(data, recipe, clip.model, clip.tokenizer, names, seed, prompt, torch_device)
    settings = run_settings(clip_spec, recipe, dataset, paradigm, prompt, seed, split_seed)
    write_run(out_dir, result, split, image_ids, manifest["label"].to_numpy()[pool], settings)


def run_settings(
    clip_spec: ClipSpec, recipe: Recipe, dataset: str, paradigm: str, prompt: str, seed: int, split_seed: int
) -> dict:
    """A run's settings.json: what tells the run apart, the split seed TRZSL used (None in UL and SSL, which
    have no class split), the resolved recipe and the CLIP spec."""
    run = {"dataset": dataset, "paradigm": paradigm, "prompt": prompt, "method": recipe.name, "seed": seed}
    run["split_seed"] = split_seed if paradigm == "trzsl" else None
    return {"run": run, "recipe": dataclasses.asdict(recipe), "clip": dataclasses.asdict(clip_spec)}


def evaluate(
    clip_spec: ClipSpec,
    manifest_path: str,
    features_path: str,
    classifier_path: str,
    prompt_path: str,
    settings_path: str,
    split_path: str,
    pseudo_labels_path: str,
    predictions_path: str,
    metrics_path: str,
    device: str,
    threads: int = 0,
) -> None:
    """Rule evaluate: test predictions over all classes, the paradigm's metric, the pseudo-label accuracy.

    Text prompts classify the cached features (no torch); visual prompts run the prompted image tower."""
    from air_core.evaluate import paradigm_metrics, visual_test_features

    settings = artifacts.read_json(settings_path)
    run = settings["run"]
    manifest = artifacts.read_frame("manifest", manifest_path)
    split = artifacts.read_frame("split", split_path)
    is_test = split["role"].eq("test").to_numpy()
    test = manifest[is_test]
    classifier = artifacts.load_arrays(classifier_path)["classifier"]
    prompt_state = artifacts.load_arrays(prompt_path)
    if run["prompt"] == "visual" and prompt_state:  # the image side was trained: encode with the prompt
        from air_core.jobs import resolve_device, set_threads
        from air_core.models.clip import load_clip

        set_threads(threads)
        clip = load_clip(clip_spec, resolve_device(device))
        features = visual_test_features(
            clip, prompt_state, settings["recipe"]["n_ctx"], classifier, test["path"].tolist(), clip.device
        )
    else:
        cached = artifacts.read_frame("features", features_path).set_index("image_id")
        features = artifacts.column_matrix(cached.loc[test["image_id"]], "feature")
    pred, label = (features @ classifier.T).argmax(1), test["label"].to_numpy()  # over all classes
    artifacts.write_table(
        "predictions",
        {"image_id": test["image_id"].tolist(), "label": label, "pred": pred, "correct": pred == label},
        predictions_path,
    )
    metrics = paradigm_metrics(pred, label, split["seen"].to_numpy()[is_test], run["paradigm"])
    pseudo = artifacts.read_frame("pseudo_labels", pseudo_labels_path)
    last = pseudo[pseudo["iteration"] == pseudo["iteration"].max()] if len(pseudo) else pseudo
    pl_acc = 100 * last["correct"].mean() if len(last) else np.nan
    artifacts.write_table(
        "metrics",
        {
            **{k: [run[k]] for k in ("dataset", "paradigm", "prompt", "method", "seed")},
            **{k: [v] for k, v in metrics.items()},
            "pseudo_label_acc": [pl_acc],
            "n_test": [len(test)],
        },
        metrics_path,
    )
    log.info("%s: %s, pseudo-label accuracy %.2f%%", Path(metrics_path).parent, metrics, pl_acc)
