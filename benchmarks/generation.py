"""Generation throughput: batched pipeline calls against one image per call (tiny SD, CPU)."""

from __future__ import annotations

import time
from pathlib import Path

from air_core.config import DiffusionSpec, GenerateConfig
from air_core.generate import generate_images
from air_core.models.diffusion import load_pipeline


def images_per_second(out_dir: Path, n_classes: int = 4, per_class: int = 8, steps: int = 10) -> dict[str, float]:
    """Images/s of the workflow's generator at batch size 1 and at batch size ``n_classes * per_class``."""
    pipe = load_pipeline(DiffusionSpec(id="air-tiny-sd"))
    names = [f"class {c}" for c in range(n_classes)]
    slugs = [f"class_{c}" for c in range(n_classes)]
    cfg = GenerateConfig(images_per_class=per_class, steps=steps, resolution=64)
    result = {}
    for name, batch in (("one_per_call", 1), ("batched", n_classes * per_class)):
        start = time.perf_counter()
        generate_images(pipe, list(range(n_classes)), names, slugs, "Bench:", cfg, out_dir / name, batch_size=batch)
        result[name] = n_classes * per_class / (time.perf_counter() - start)
    return result
