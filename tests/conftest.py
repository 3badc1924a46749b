"""Tests run on the CPU, offline, with tiny models."""

import os
import tempfile

os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# A private, empty Hugging Face cache: tests see only the models they put there themselves.
os.environ["HF_HUB_CACHE"] = tempfile.mkdtemp(prefix="air-test-hf-cache-")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_clip():
    from air_core.config import ClipSpec
    from air_core.models.clip import load_clip

    return load_clip(ClipSpec(arch="air-tiny-vit", pretrained=None))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny config run once end to end, shared by every test that reads a finished run: from a checkout
    under a folder with a space, into a results folder named to break an unquoted shell (tests.helpers)."""
    from tests.helpers import HOSTILE_NAME, snakemake, tiny_config

    workdir = tmp_path_factory.mktemp("tiny run")
    config = tiny_config(workdir / HOSTILE_NAME)  # results_dir: read it from the config, never as 'results'
    proc = snakemake(workdir, config, "--show-failed-logs")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return workdir, config
