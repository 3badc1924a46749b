"""Rule manifest: read a dataset's on-disk layout into the manifest, the class table and the skipped images."""

import argparse
import json
import logging

from air_core.artifacts import write_table
from air_core.data.imagefolder import class_table
from air_core.data.readers import drop_unreadable, read_dataset
from air_core.datasets_config import DataSource
from air_core.runtime import run_script

log = logging.getLogger("manifest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True, help="dataset settings as JSON")
    parser.add_argument("--source", default="", help="dataset root made by the workflow (layout shapes)")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--classes", required=True)
    parser.add_argument("--skipped", required=True, help="table of the images left out as unreadable")
    parser.add_argument("--threads", type=int, default=0, help="image-checking threads (0 = up to 8)")
    args = parser.parse_args()
    ds = DataSource.from_settings(json.loads(args.dataset))
    root = args.source if ds.layout == "shapes" else ds.root
    manifest, names = read_dataset(ds.layout, root, ds.class_names, test_fraction=ds.test_fraction,
                                   split_seed=ds.split_seed, allow_outside_root=ds.allow_outside_root,
                                   dataset=ds.name)
    manifest, skipped = drop_unreadable(manifest, names, ds.on_unreadable, ds.name, args.threads or None)
    write_table("classes", class_table(names), args.classes)
    write_table("manifest", {c: manifest[c].tolist() for c in manifest.columns}, args.manifest)
    write_table("skipped_images", {c: skipped[c].tolist() for c in skipped.columns}, args.skipped)
    log.info("%s: %d classes, %s images, %d skipped", ds.name, len(names), manifest["split"].value_counts().to_dict(),
             len(skipped))


if __name__ == "__main__":
    run_script(main)
