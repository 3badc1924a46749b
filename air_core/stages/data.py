"""The data stages: the drawn dataset, the manifest, frozen image features, zero-shot probabilities."""

from __future__ import annotations

import logging

import numpy as np

from air_core import artifacts
from air_core.config import ClipSpec, ShapesConfig
from air_core.datasets_config import DataSource

log = logging.getLogger(__name__)


def draw_shapes(shapes: ShapesConfig, out_dir: str) -> None:
    """Rule draw_shapes: the procedural shapes dataset in the image-folder layout."""
    from air_core.data.shapes import write_shapes_dataset

    write_shapes_dataset(out_dir, shapes)


def manifest(
    source: DataSource, drawn: str, workers: int, manifest_path: str, classes_path: str, skipped_path: str
) -> None:
    """Rule manifest: the dataset's layout as the manifest and class tables; unreadable images left out."""
    from air_core.data.imagefolder import class_table
    from air_core.data.readers import drop_unreadable, read_dataset, warn_duplicates

    root = drawn if source.layout == "shapes" else source.root
    table, names = read_dataset(
        source.layout,
        root,
        source.class_names,
        test_fraction=source.test_fraction,
        split_seed=source.split_seed,
        allow_outside_root=source.allow_outside_root,
        dataset=source.name,
    )
    table, skipped = drop_unreadable(table, names, source.on_unreadable, source.name, workers or None)
    warn_duplicates(table, source.name, workers or None)
    artifacts.write_table("classes", class_table(names), classes_path)
    artifacts.write_frame("manifest", table, manifest_path)
    artifacts.write_frame("skipped_images", skipped, skipped_path)
    log.info(
        "%s: %d classes, %s images, %d skipped",
        source.name,
        len(names),
        table["split"].value_counts().to_dict(),
        len(skipped),
    )


def encode_real(clip_spec: ClipSpec, manifest_path: str, out_path: str, device: str, batch_size: int) -> None:
    """Rule encode_real: frozen CLIP features of every real image, once per dataset."""
    from air_core.encode import encode_images
    from air_core.jobs import resolve_device
    from air_core.models.clip import load_clip

    clip = load_clip(clip_spec, resolve_device(device))
    table = artifacts.read_frame("manifest", manifest_path)
    features = encode_images(clip, table["path"].tolist(), batch_size, clip.device)
    artifacts.write_table("features", {"image_id": table["image_id"].tolist(), "feature": features}, out_path)


def zero_shot(
    clip_spec: ClipSpec,
    template: str,
    manifest_path: str,
    classes_path: str,
    features_path: str,
    probs_path: str,
    text_features_path: str,
    concat_text_features_path: str,
) -> None:
    """Rule zero_shot: the text classifier of "a photo of a {class}" and p_c of every image (eq. 1).

    Also the text features of f"{template}{name}" ("a photo of a {}pink primrose"), the string menghini's
    code labels round 0 with (air_core.encode.class_prompts), for runs whose ``round0_template`` is concat.
    """
    from air_core.encode import encode_class_prompts
    from air_core.evaluate import top1
    from air_core.models.clip import load_clip
    from air_core.pseudo_labels import class_probs

    clip = load_clip(clip_spec)
    table = artifacts.read_frame("manifest", manifest_path)
    names = artifacts.read_frame("classes", classes_path)["class_name"].tolist()
    features = artifacts.column_matrix(artifacts.read_table("features", features_path), "feature")
    _refuse_overlong_prompts(names, classes_path, template, getattr(clip.tokenizer, "context_length", None))
    text = encode_class_prompts(clip, names, template)
    probs = class_probs(features, text, clip.logit_scale)  # eq. 1
    artifacts.save_arrays({"text_features": text}, text_features_path)
    concat = encode_class_prompts(clip, names, template, how="concat")
    artifacts.save_arrays({"text_features": concat}, concat_text_features_path)
    artifacts.write_table(
        "zero_shot",
        {
            "image_id": table["image_id"].tolist(),
            "split": table["split"].tolist(),
            "pred": probs.argmax(1),
            "confidence": probs.max(1).astype(np.float32),
            "probs": probs,
        },
        probs_path,
    )
    test = table["split"].eq("test").to_numpy()
    log.info("zero-shot test top-1 %.1f%%", top1(probs[test].argmax(1), table["label"].to_numpy()[test]))


def _refuse_overlong_prompts(names: list[str], classes_path: str, template: str, context: int | None) -> None:
    """DatasetError when CLIP would cut a class's prompt: the config check knows a class-name file's names
    beforehand; a manifest file's ``class_name`` column is read by rule manifest only."""
    from air_core.data.names import overlong_prompt
    from air_core.errors import DatasetError

    if context:
        problem = overlong_prompt(names, [f"{classes_path} row {i + 1}" for i in range(len(names))], template, context)
        if problem:
            raise DatasetError(problem)
