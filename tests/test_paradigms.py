"""The learning paradigms: UL, SSL and TRZSL roles, seeds, and the protocol's seen/unseen class split."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from air_core.artifacts import check_table, to_table
from air_core.paradigms import PARADIGMS, PROTOCOL_SPLIT_SEEDS, make_split, protocol_split_seed, seen_classes

NAMES_DIR = Path(__file__).resolve().parents[1] / "config" / "class_names"
N_CLASSES, TRAIN, VAL, TEST = 10, 4, 2, 3  # images per class and split


def toy_manifest(n_classes: int = N_CLASSES, train: int = TRAIN) -> pd.DataFrame:
    rows = [
        (f"{split}/c{label}/{i}.png", label, split)
        for label in range(n_classes)
        for split, n in (("train", train), ("val", VAL), ("test", TEST))
        for i in range(n)
    ]
    frame = pd.DataFrame(rows, columns=["image_id", "label", "split"])
    return frame.assign(path="/x/" + frame["image_id"], class_name="c" + frame["label"].astype(str))


def _roles(split: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    return split.assign(label=manifest["label"].to_numpy(), pool=manifest["split"].ne("test").to_numpy())


def test_split_table_matches_the_documented_schema():
    manifest = toy_manifest()
    for paradigm in PARADIGMS:
        split = make_split(manifest, paradigm, seed=1)
        check_table("split", to_table("split", {c: split[c].tolist() for c in split.columns}))
        assert split["image_id"].tolist() == manifest["image_id"].tolist()
        assert (split["role"] == "test").tolist() == manifest["split"].eq("test").tolist()


def test_ul_every_pool_image_is_unlabeled():
    manifest = toy_manifest()
    split = make_split(manifest, "ul")  # the original two-argument call still works
    assert split["role"].value_counts().to_dict() == {"unlabeled": N_CLASSES * (TRAIN + VAL), "test": N_CLASSES * TEST}
    assert split["seen"].all()


def test_ssl_two_labeled_per_class():
    manifest = toy_manifest()
    split = _roles(make_split(manifest, "ssl", seed=1), manifest)
    labeled = split[split["role"] == "labeled"]
    assert labeled.groupby("label").size().tolist() == [2] * N_CLASSES
    assert labeled["pool"].all() and split["seen"].all()
    assert (split["role"] == "unlabeled").sum() == N_CLASSES * (TRAIN + VAL - 2)


def test_ssl_is_deterministic_seeded_and_per_class():
    manifest = toy_manifest()
    labeled = lambda s: set(s.loc[s["role"] == "labeled", "image_id"])  # noqa: E731
    first = labeled(make_split(manifest, "ssl", labeled_seed=7))
    assert first == labeled(make_split(manifest, "ssl", labeled_seed=7))
    assert first != labeled(make_split(manifest, "ssl", labeled_seed=8))
    assert first == labeled(make_split(manifest.sample(frac=1.0, random_state=0), "ssl", labeled_seed=7))  # row order
    # A class's labeled images depend only on its own images: another class growing changes nothing for it.
    extra = manifest.query("label == 3 and split == 'train'").assign(
        image_id=lambda f: f["image_id"].str.replace(".png", "_extra.png")
    )
    grown = labeled(make_split(pd.concat([manifest, extra], ignore_index=True), "ssl", labeled_seed=7))
    others = lambda ids: {i for i in ids if "/c3/" not in i}  # noqa: E731
    assert others(grown) == others(first) and len(others(first)) == 2 * (N_CLASSES - 1)


def test_ssl_draws_as_the_reference_the_same_labeled_set_for_every_run_seed():
    """menghini methods/main_SSL.py:105-113: per class, np.random.seed(validation_seed) and np.random.choice of
    the class's image indices; the run seed (OPTIM_SEED, SPLIT_SEED) plays no part."""
    manifest = toy_manifest()
    labeled = lambda s: sorted(s.loc[s["role"] == "labeled", "image_id"])  # noqa: E731
    runs = [labeled(make_split(manifest, "ssl", seed=s, labeled_seed=0)) for s in (1, 2, 3)]
    assert runs[0] == runs[1] == runs[2]
    expected = []
    for label in range(N_CLASSES):
        ids = np.sort(manifest.loc[(manifest["label"] == label) & (manifest["split"] != "test"), "image_id"].to_numpy())
        np.random.seed(0)  # the reference's call, verbatim
        expected += list(ids[np.random.choice(np.arange(len(ids)), size=2, replace=False)])
    assert runs[0] == sorted(expected)


def test_ssl_small_class_labels_what_it_has():
    manifest = toy_manifest(2, train=0)
    manifest = manifest[~((manifest["label"] == 1) & (manifest["image_id"].str.startswith("val/c1/1")))]
    split = _roles(make_split(manifest.reset_index(drop=True), "ssl", n_labeled=2), manifest)
    assert split[split["role"] == "labeled"].groupby("label").size().to_dict() == {0: 2, 1: 1}


@pytest.mark.parametrize("split_seed", PROTOCOL_SPLIT_SEEDS)
def test_trzsl_roles(split_seed):
    manifest = toy_manifest()
    split = _roles(make_split(manifest, "trzsl", split_seed=split_seed), manifest)
    seen = set(seen_classes(N_CLASSES, split_seed).tolist())
    assert len(seen) == int(0.62 * N_CLASSES) == 6
    assert (split["seen"] == split["label"].isin(seen)).all()
    pool, test = split[split["pool"]], split[~split["pool"]]
    assert (pool["role"] == np.where(pool["seen"], "labeled", "unlabeled")).all()
    assert (test["role"] == "test").all() and test["seen"].sum() == 6 * TEST and (~test["seen"]).sum() == 4 * TEST


def _protocol_seen(n_classes: int, split_seed: int) -> np.ndarray:
    """The protocol's own two lines, on numpy's global generator."""
    np.random.seed(split_seed)
    return np.random.choice(range(n_classes), size=int(0.62 * n_classes), replace=False)


@pytest.mark.parametrize("dataset", ["flowers102", "dtd", "fgvc_aircraft", "eurosat", "resisc45"])
@pytest.mark.parametrize("split_seed", PROTOCOL_SPLIT_SEEDS)
def test_seen_classes_of_each_dataset_follow_the_protocol(dataset, split_seed):
    names = (NAMES_DIR / f"{dataset}.txt").read_text(encoding="utf-8").splitlines()
    expected = _protocol_seen(len(names), split_seed)
    state = np.random.get_state()
    got = seen_classes(len(names), split_seed)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # the global generator is left alone
    np.testing.assert_array_equal(got, expected)
    assert len(got) == len(set(got.tolist())) == int(0.62 * len(names))
    manifest = toy_manifest(len(names), train=1)  # make_split uses exactly these classes as seen
    split = make_split(manifest, "trzsl", split_seed=split_seed, n_classes=len(names))
    assert set(manifest.loc[split["seen"].to_numpy(), "label"]) == set(expected.tolist())


def test_seen_classes_known_values():
    """EuroSAT's seen classes under the three protocol split seeds (numpy's legacy generator is frozen)."""
    assert seen_classes(10, 500).tolist() == [4, 2, 9, 3, 0, 5]
    assert seen_classes(10, 0).tolist() == [2, 8, 4, 9, 1, 6]
    assert seen_classes(10, 200).tolist() == [8, 3, 5, 6, 1, 7]


def test_run_seeds_map_to_the_protocol_split_seeds():
    assert [protocol_split_seed(s) for s in (1, 2, 3)] == [500, 0, 200]
    assert [protocol_split_seed(s) for s in (0, 4, 42)] == [0, 4, 42]
    manifest = toy_manifest()
    for seed, split_seed in zip((1, 2, 3), PROTOCOL_SPLIT_SEEDS, strict=True):
        for paradigm in ("ssl", "trzsl"):
            assert make_split(manifest, paradigm, seed=seed).equals(
                make_split(manifest, paradigm, seed=99, split_seed=split_seed)
            )


def test_unknown_paradigm_and_too_few_classes():
    with pytest.raises(ValueError, match="use one of"):
        make_split(toy_manifest(), "fewshot")
    with pytest.raises(ValueError, match="at least 2 classes"):
        seen_classes(1, 0)
