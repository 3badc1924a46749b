"""Process set-up of a workflow job (a rule's script): logging, threads, device, seeds, user errors as one line.

torch is imported where it is used: the table and plot scripts run without it (seconds saved per job).
"""

from __future__ import annotations

import logging
import os
import random
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without a GPU is an error that says so."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"device '{device}' was asked for (config key 'device') but no CUDA GPU is visible; set device: auto or cpu"
        )
    return torch.device(device)


def set_threads(threads: int) -> None:
    """Fix torch's CPU thread count, so that a job's numbers do not depend on the host's cores; 0 leaves
    torch its default (inside a Snakemake job: the cores the job was given, which Snakemake exports as
    OMP_NUM_THREADS, at most the machine's cores)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    default = f"torch's default, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset (all cores)')}"
    logging.getLogger("air").info("torch threads: %s", threads if threads > 0 else default)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_script(main) -> None:
    """Run a workflow script's ``main``: log set-up, and a user's mistake as one clear line, no traceback."""
    from air_core.errors import USER_ERRORS

    setup_logging()
    if (started := process_seconds()) is not None:  # what a job pays before its work: interpreter and imports
        logging.getLogger("air").info("script started %.2f s after its process (interpreter start, imports)", started)
    try:
        main()
    except USER_ERRORS as err:
        logging.getLogger("air").error("%s", err)
        raise SystemExit(1) from None


def process_seconds() -> float | None:
    """Seconds since this process started (None where psutil, which Snakemake brings, is missing)."""
    try:
        import psutil
    except ImportError:
        return None
    return time.time() - psutil.Process().create_time()


def dtype_of(device: torch.device, name: str = "auto") -> torch.dtype:
    """Dtype of SD's frozen weights: 'auto' is fp16 on CUDA and fp32 on CPU (LoRA weights always train in fp32)."""
    import torch

    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if device.type == "cpu" and name != "fp32":
        logging.getLogger("air").warning("diffusion_precision %s on the CPU is slow; fp32 is the CPU default", name)
    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[name]
