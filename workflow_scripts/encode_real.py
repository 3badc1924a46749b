"""Rule encode_real: frozen CLIP image features of every image in the manifest."""

import argparse
import json

from air_core.artifacts import read_table, write_table
from air_core.config import ClipSpec, from_dict
from air_core.encode import encode_images
from air_core.models.clip import load_clip
from air_core.runtime import resolve_device, run_script, set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clip", required=True, help="CLIP spec as JSON")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    set_threads(args.threads)
    device = resolve_device(args.device)
    clip = load_clip(from_dict(ClipSpec, json.loads(args.clip)), device)
    manifest = read_table("manifest", args.manifest).to_pandas()
    features = encode_images(clip, manifest["path"].tolist(), args.batch_size, device)
    write_table("features", {"image_id": manifest["image_id"].tolist(), "feature": features}, args.out)


if __name__ == "__main__":
    run_script(main)
