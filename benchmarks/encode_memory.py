"""Peak memory of encoding N images with a ViT-B/32-size CLIP: the encoder streams batches.

Run as its own process (``python -m benchmarks.encode_memory --n 10000``) so that its peak RSS
is its own; prints one JSON line.
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
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        features = encode_images(clip, paths, args.batch_size)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    all_decoded_mb = args.n * 3 * 224 * 224 * 4 / 2**20  # what holding every preprocessed image would take
    print(json.dumps({"n": args.n, "features": list(features.shape), "seconds": round(seconds, 1),
                      "peak_rss_mb": round(peak), "rss_before_encoding_mb": round(rss_before),
                      "all_images_preprocessed_mb": round(all_decoded_mb), "jpeg_mb": round(image_bytes / 2**20)}))


if __name__ == "__main__":
    main()
