"""What three reference-code behaviours change on a random case (tiny random-weight CLIP; image
features = the zero-shot text feature of their class + noise).

- warm_start_text: GRIP text-prompt rounds starting from the last round's context vs from the initial one;
- round0_template: round 0's zero-shot labels with "a photo of a {}name" (concat) vs "a photo of a name";
- cuda_dtype: the towers in OpenAI's fp16 mixed precision (forced on the CPU here) vs float32.

Run: ``PYTHONPATH=$PWD python -m benchmarks.reference_numerics`` (CPU, about a minute).
"""

from __future__ import annotations

import numpy as np
import torch

import air_core.models.clip as clip_module
from air_core.config import ClipSpec
from air_core.encode import encode_class_prompts
from air_core.pseudo_labels import class_probs
from air_core.recipes import resolve_recipe
from air_core.rounds import train_iterations
from air_core.run_inputs import TrainingData

NAMES = ["pink primrose", "globe thistle", "moon orchid", "hard-leaved pocket orchid", "sweet pea", "english marigold"]


def problem(text: np.ndarray, per_class: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image features = the class's zero-shot text feature + noise of the same norm (L2-normalised)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(text)), per_class)
    noise = rng.normal(size=(len(labels), text.shape[1])) / np.sqrt(text.shape[1])
    feats = text[labels] + 1.2 * noise
    return (feats / np.linalg.norm(feats, axis=1, keepdims=True)).astype(np.float32), labels


def grip(clip, feats, labels, zs, **keys) -> dict:
    """A GRIP run; its last round's pseudo-labels, classifier and accuracy on the pool."""
    keys = {"base": "grip", "iterations": 4, "epochs": 5, "batch_size": 16, "n_ctx": 4, **keys}
    recipe = resolve_recipe("grip", keys)
    data = TrainingData(feats, np.full(len(labels), -1), zs, 20.0)
    result = train_iterations(data, recipe, clip.model, clip.tokenizer, NAMES, seed=1)
    last = result.pseudo_labels[-1]
    pred = (feats @ result.classifier.T).argmax(1)
    return {"labels": last, "classifier": result.classifier, "top1": 100 * float((pred == labels).mean())}


def main() -> None:
    spec = ClipSpec(arch="air-tiny-vit", pretrained=None)
    clip = clip_module.load_clip(spec)
    zs = encode_class_prompts(clip, NAMES)
    feats, labels = problem(zs)
    print(f"zero-shot pool top-1 {100 * np.mean((feats @ zs.T).argmax(1) == labels):.1f} %")

    warm = grip(clip, feats, labels, zs, warm_start_text=True)
    fresh = grip(clip, feats, labels, zs, warm_start_text=False)
    same = np.mean(warm["labels"]["labels"] == fresh["labels"]["labels"]) if len(warm["labels"]["labels"]) else 1.0
    print(
        f"warm_start_text: pool top-1 warm {warm['top1']:.1f} %, fresh {fresh['top1']:.1f} %; last round's "
        f"pseudo-labels equal {100 * same:.1f} %; classifier max |diff| "
        f"{np.abs(warm['classifier'] - fresh['classifier']).max():.3g}"
    )

    concat = encode_class_prompts(clip, NAMES, how="concat")
    cos = (concat * zs).sum(1)
    p_f, p_c = class_probs(feats, zs, clip.logit_scale), class_probs(feats, concat, clip.logit_scale)
    print(
        f"round0_template: cosine(concat, format) per class min {cos.min():.4f}, mean {cos.mean():.4f}; round-0 "
        f"argmax differs on {100 * np.mean(p_f.argmax(1) != p_c.argmax(1)):.1f} % of {len(feats)} images"
    )

    clip_module.tower_dtype = lambda s, d: torch.float16  # OpenAI's fp16 towers, as on CUDA
    half = clip_module.load_clip(spec)
    zs16 = encode_class_prompts(half, NAMES)
    fp16 = grip(half, feats, labels, zs16)
    fp32 = grip(clip, feats, labels, zs)
    agree = np.mean(fp16["labels"]["labels"] == fp32["labels"]["labels"])
    print(
        f"cuda_dtype float16 vs float32: zero-shot text max |diff| {np.abs(zs16 - zs).max():.3g}; GRIP pool top-1 "
        f"{fp16['top1']:.1f} % vs {fp32['top1']:.1f} %, last pseudo-labels equal {100 * agree:.1f} %, classifier "
        f"max |diff| {np.abs(fp16['classifier'] - fp32['classifier']).max():.3g}"
    )


if __name__ == "__main__":
    main()
