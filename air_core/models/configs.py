"""The built-in architectures (``air_core/model_configs/*.json``), listed without importing a framework."""

from __future__ import annotations

import json
from pathlib import Path

MODEL_CONFIGS = Path(__file__).resolve().parent.parent / "model_configs"


def tiny_sd_names() -> list[str]:
    """Architectures built offline with random weights from SD's classes: air-tiny-sd and sd-v1-4-narrow (shrunk),
    sd-v1-4-random (full size, for timing)."""
    return sorted(p.stem for p in MODEL_CONFIGS.glob("*.json") if "unet" in json.loads(p.read_text()))
