"""Rule plot_tsne: t-SNE of real-image, text and prototype embeddings of one dataset (paper fig. 6)."""

import argparse

from safetensors.numpy import load_file

from air_core.artifacts import column_matrix, read_table
from air_core.plots import embedding_points, plot_embedding, tsne
from air_core.runtime import run_script, set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--manifest", "--classes", "--features", "--text-features", "--out", "--title"):
        parser.add_argument(name, required=True)
    parser.add_argument("--prototypes", default="", help="prototypes table; empty when no method makes prototypes")
    parser.add_argument("--max-points", type=int, default=1000, help="real train-pool images at most (t-SNE is O(N^2))")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    manifest = read_table("manifest", args.manifest).to_pandas()
    features = read_table("features", args.features).to_pandas().merge(manifest, on="image_id", validate="one_to_one")
    pool = features[features["split"].isin(["train", "val"])]
    prototypes = read_table("prototypes", args.prototypes).to_pandas() if args.prototypes else None
    x, kinds, labels = embedding_points(
        column_matrix(pool, "feature"), pool["label"].to_numpy(), load_file(args.text_features)["text_features"],
        None if prototypes is None else column_matrix(prototypes, "feature"), args.max_points, args.seed)
    classes = read_table("classes", args.classes).to_pandas()
    plot_embedding(tsne(x, seed=args.seed), kinds, labels, classes["class_name"].tolist(), args.out, args.title)


if __name__ == "__main__":
    run_script(main)
