"""Peak memory of encoding N images with a ViT-B/32-size CLIP: the encoder streams batches.

Run as its own process (``python -m benchmarks.encode_memory --n 10000``) so that its memory
is its own; prints one JSON line. On Linux the peak-RSS mark is reset once the model is built
(``/proc/self/clear_refs``), so ``peak_rss_encoding_mb`` is the peak while encoding alone; if
encoding held every image it would grow by ``all_images_preprocessed_mb``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch

from air_core.config import ClipSpec
from air_core.encode import encode_images
from air_core.models.clip import load_clip
from benchmarks.prompt_training import write_images


def _status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_images(Path(tmp), args.n, size=256)
        image_bytes = sum(Path(p).stat().st_size for p in paths)
        clip = load_clip(ClipSpec(arch="ViT-B-32", pretrained=None))
        rss_model = _status_mb("VmRSS")
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        reset = _reset_peak()
        start = time.perf_counter()
        features = encode_images(clip, paths, args.batch_size)
        seconds = time.perf_counter() - start
        peak_encoding = _status_mb("VmHWM") if reset else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    all_decoded_mb = args.n * 3 * 224 * 224 * 4 / 2**20  # what holding every preprocessed image would take
    print(
        json.dumps(
            {
                "n": args.n,
                "features": list(features.shape),
                "seconds": round(seconds, 1),
                "rss_model_built_mb": None if rss_model is None else round(rss_model),
                "peak_rss_encoding_mb": None if peak_encoding is None else round(peak_encoding),
                "peak_rss_before_encoding_mb": round(peak_before),
                "peak_rss_mb": round(peak),
                "all_images_preprocessed_mb": round(all_decoded_mb),
                "jpeg_mb": round(image_bytes / 2**20),
            }
        )
    )


if __name__ == "__main__":
    main()
