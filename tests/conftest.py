"""Tests run on the CPU, offline, with tiny models."""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_clip():
    from air_core.config import ClipSpec
    from air_core.models.clip import load_clip

    return load_clip(ClipSpec(arch="air-tiny-vit", pretrained=None))
