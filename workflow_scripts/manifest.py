"""Rule manifest: read a dataset's on-disk layout into the manifest and the class table."""

import argparse
import json
import logging

from air_core.artifacts import write_table
from air_core.config import DatasetConfig, from_dict
from air_core.data.imagefolder import class_table, read_image_folder
from air_core.runtime import run_script

log = logging.getLogger("manifest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True, help="dataset settings as JSON")
    parser.add_argument("--source", default="", help="dataset root made by the workflow (layout shapes)")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--classes", required=True)
    args = parser.parse_args()
    ds = from_dict(DatasetConfig, json.loads(args.dataset))
    root = args.source if ds.layout == "shapes" else ds.root
    class_names = f"{root}/class_names.txt" if ds.layout == "shapes" else ds.class_names
    manifest, names = read_image_folder(root, class_names, ds.test_fraction, ds.split_seed)
    write_table("classes", class_table(names), args.classes)
    write_table("manifest", {c: manifest[c].tolist() for c in manifest.columns}, args.manifest)
    log.info("%s: %d classes, %s images", ds.name, len(names), manifest["split"].value_counts().to_dict())


if __name__ == "__main__":
    run_script(main)
