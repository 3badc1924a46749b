"""Known answers: SSL's and TRZSL's labelled lists, their validation hold-out, and TRZSL's split seed.

The reference functions below are BatsResearch/menghini-neurips23-code at 2094fa5 ("menghini"), copied
verbatim apart from what each comment says was adapted. On random datasets whose split files list images in
no particular order, the project in ``labeled_order: draw`` holds out exactly the reference's images; in
``sorted`` it keeps the order it had before the switch existed, which holds out other images.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from air_core import artifacts
from air_core.paradigms import PROTOCOL_SPLIT_SEEDS, make_split, run_split_seed
from air_core.real_set import build_real_set
from air_core.recipes import resolve_recipe
from air_core.run_inputs import labeled_list, training_data

SPLITS = ("train", "val", "test")


def reference_ssl(classes, labeled_data, validation_seed, N_LABEL, ratio_train_val):
    """menghini 2094fa5 methods/main_SSL.py:96-145, the labelled list and its hold-out.

    Adapted: ``obj_conf.validation_seed``, ``obj_conf.N_LABEL`` and ``obj_conf.ratio_train_val`` are arguments,
    the logging lines and the test list are left out; returns the labelled list, train and validation files."""
    labeled_files, labeles = zip(*labeled_data)  # noqa: B905 (verbatim)
    few_shots_files = []
    few_shots_labs = []

    labeled_files = np.array(labeled_files)
    labeles = np.array(labeles)
    for c in classes:
        np.random.seed(validation_seed)
        indices = np.random.choice(
            np.where(labeles == c)[0],
            size=N_LABEL,
            replace=False,
        )
        few_shots_files += list(labeled_files[indices])
        few_shots_labs += list(labeles[indices])

    labeled_files = few_shots_files
    labeles = few_shots_labs

    np.random.seed(validation_seed)
    train_indices = np.random.choice(
        range(len(labeled_files)),
        size=int(len(labeled_files) * ratio_train_val),
        replace=False,
    )
    val_indices = list(set(range(len(labeled_files))).difference(set(train_indices)))

    train_labeled_files = np.array(labeled_files)[train_indices]
    val_labeled_files = np.array(labeled_files)[val_indices]
    return list(few_shots_files), list(train_labeled_files), list(val_labeled_files)


def reference_trzsl(classes, split_lines, seed, validation_seed, ratio_train_val):
    """menghini 2094fa5: utils/prepare_data.py:170-185 (Flowers102's seen classes), :502-525 (its labelled list:
    train.txt then val.txt, seen-class lines in file order), methods/main_TRZSL.py:96-115 (the hold-out).

    Adapted: the split files are ``split_lines[split]``, lists of ``(img, label)``, instead of files read line
    by line; ``obj_conf.validation_seed`` and ``obj_conf.ratio_train_val`` are arguments."""
    np.random.seed(seed)
    seen_indices = np.random.choice(range(len(classes)), size=int(len(classes) * 0.62), replace=False)
    seen_classes = list(np.array(classes)[seen_indices])

    labeled_files = []
    labels_files = []
    for split in ["train", "val"]:
        for img, label in split_lines[split]:
            cl = classes[int(label)]
            if cl in seen_classes:
                labeled_files.append(f"{split}/{img}")
                labels_files.append(cl)
    labeled_data = list(zip(labeled_files, labels_files))  # noqa: B905 (verbatim)

    labeled_files, labeles = zip(*labeled_data)  # noqa: B905 (verbatim)
    np.random.seed(validation_seed)
    train_indices = np.random.choice(
        range(len(labeled_files)),
        size=int(len(labeled_files) * ratio_train_val),
        replace=False,
    )
    val_indices = list(set(range(len(labeled_files))).difference(set(train_indices)))

    train_labeled_files = np.array(labeled_files)[train_indices]
    val_labeled_files = np.array(labeled_files)[val_indices]
    return list(labeled_files), list(train_labeled_files), list(val_labeled_files)


def random_dataset(seed: int, n_classes: int = 9):
    """Split files listing images in no order (``(img, label)`` per split) and the manifest the project reads
    from them (rows in file order, as air_core.data.benchmarks.read_split_text writes them)."""
    rng = np.random.default_rng(seed)
    lines = {}
    for split in SPLITS:
        labels = np.repeat(np.arange(n_classes), rng.integers(2, 9, size=n_classes))
        names = [f"image_{i:05d}.jpg" for i in rng.choice(10**5, size=len(labels), replace=False)]
        lines[split] = list(zip(names, rng.permutation(labels).tolist(), strict=True))
    rows = [(f"{s}/{img}", label, s) for s in SPLITS for img, label in lines[s]]
    manifest = pd.DataFrame(rows, columns=["image_id", "label", "split"])
    return lines, manifest.assign(path="/x/" + manifest["image_id"], class_name="c" + manifest["label"].astype(str))


def project_holdout(manifest, paradigm, recipe, split_seed=500):
    """The project's labelled list and its held-out image ids: make_split -> training_data -> build_real_set."""
    split = make_split(
        manifest,
        paradigm,
        split_seed=split_seed,
        labeled_seed=recipe.validation_seed,
        labeled_order=recipe.labeled_order,
    )
    features = pd.DataFrame({"image_id": manifest["image_id"], "feature": list(np.zeros((len(manifest), 2)))})
    n_classes = int(manifest["label"].max()) + 1
    data, pool = training_data(manifest, split, features, np.eye(n_classes, 2, dtype=np.float32), 10.0)
    real, _ = build_real_set(
        torch.zeros(len(pool), 2),
        data.given_labels,
        np.flatnonzero(data.given_labels < 0),
        None,
        recipe,
        paradigm,
        data.seen_mask(),
        torch.device("cpu"),
        labeled_order=data.labeled_order,
    )
    ids = manifest["image_id"].to_numpy()[pool]
    listed = ids[data.labeled_order]
    return list(listed), sorted(set(listed) - set(ids[real.labeled_rows.numpy()]))


def _recipe(order: str, validation_seed: int):
    return resolve_recipe("fpl", {"base": "fpl", "labeled_order": order, "validation_seed": validation_seed})


@pytest.mark.parametrize("validation_seed", [0, 3])
def test_ssl_draw_holds_out_the_reference_images(validation_seed):
    """menghini methods/main_SSL.py:105-113 draws among each class's positions in the train list (train.txt then
    val.txt), then :132-145 draws the positions to keep from the list of draws, in draw order."""
    recipe = _recipe("draw", validation_seed)
    sorted_differs = 0
    for case in range(12):
        lines, manifest = random_dataset(case)
        classes = [f"c{i}" for i in range(9)]
        train_list = [(f"{s}/{img}", classes[label]) for s in ("train", "val") for img, label in lines[s]]
        ref_list, _, ref_val = reference_ssl(classes, train_list, validation_seed, 2, 0.8)
        listed, held_out = project_holdout(manifest, "ssl", recipe)
        assert listed == ref_list
        assert held_out == sorted(ref_val) and len(held_out) == len(ref_list) - int(len(ref_list) * 0.8)
        sorted_differs += project_holdout(manifest, "ssl", _recipe("sorted", validation_seed))[1] != held_out
    assert sorted_differs > 0  # the random cases tell the two orders apart (a sort in draw mode fails above)


@pytest.mark.parametrize("split_seed", PROTOCOL_SPLIT_SEEDS)
def test_trzsl_draw_holds_out_the_reference_images(split_seed):
    """menghini methods/main_TRZSL.py:102-115: the hold-out indexes the loader's list, the seen-class images in
    train.txt-then-val.txt order (utils/prepare_data.py:502-525)."""
    recipe = _recipe("draw", 0)
    sorted_differs = 0
    for case in range(8):
        lines, manifest = random_dataset(100 + case)
        classes = [f"c{i}" for i in range(9)]
        ref_list, _, ref_val = reference_trzsl(classes, lines, split_seed, 0, 0.8)
        listed, held_out = project_holdout(manifest, "trzsl", recipe, split_seed)
        assert listed == ref_list and held_out == sorted(ref_val)
        sorted_differs += project_holdout(manifest, "trzsl", _recipe("sorted", 0), split_seed)[1] != held_out
    assert sorted_differs > 0


@pytest.mark.parametrize("paradigm", ["ssl", "trzsl"])
def test_sorted_keeps_the_order_from_before_the_switch(paradigm):
    """sorted: SSL draws among a class's images in image-id order; the list is by class, then row, which is what
    build_real_set sorts when it is given no order."""
    _, manifest = random_dataset(7)
    split = make_split(manifest, paradigm, split_seed=0, labeled_order="sorted")
    shuffled = manifest.sample(frac=1.0, random_state=1).reset_index(drop=True)
    labeled = lambda s, m: set(m["image_id"][s["role"].eq("labeled")])  # noqa: E731
    assert labeled(split, manifest) == labeled(make_split(shuffled, paradigm, split_seed=0), shuffled)
    pool = np.flatnonzero(split["role"].ne("test").to_numpy())
    given = np.where(split["role"].eq("labeled"), manifest["label"], -1)[pool]
    recipe = _recipe("sorted", 0)
    args = (torch.zeros(len(pool), 2), given, np.flatnonzero(given < 0), None, recipe, paradigm, np.ones(9, bool))
    ordered, _ = build_real_set(*args, torch.device("cpu"), labeled_order=labeled_list(split, pool))
    before, _ = build_real_set(*args, torch.device("cpu"))
    assert torch.equal(ordered.labeled_rows, before.labeled_rows)


def test_split_table_records_the_labelled_list():
    _, manifest = random_dataset(3)
    for paradigm, order in (("ul", "draw"), ("ssl", "draw"), ("trzsl", "sorted")):
        split = make_split(manifest, paradigm, split_seed=200, labeled_order=order)
        artifacts.check_table("split", artifacts.to_table("split", {c: split[c].tolist() for c in split.columns}))
        rank = split["labeled_rank"].to_numpy()
        assert ((rank >= 0) == split["role"].eq("labeled")).all()
        assert sorted(rank[rank >= 0]) == list(range((rank >= 0).sum()))
    with pytest.raises(ValueError, match="labeled_order"):
        make_split(manifest, "ssl", labeled_order="shuffled")


def test_an_int_trzsl_split_seed_is_the_split_of_every_run_seed():
    """CPL c711980 scripts/run-textPT_ALL.sh:39,42: split_seeds=(500), optim_seeds=(1 2 3); None keeps the
    mapping of run seeds 1, 2, 3 to the protocol's split seeds 500, 0, 200."""
    assert [run_split_seed(s, 500) for s in (1, 2, 3)] == [500, 500, 500]
    assert [run_split_seed(s, None) for s in (1, 2, 3)] == list(PROTOCOL_SPLIT_SEEDS)
    assert resolve_recipe("cpl", {"base": "cpl"}, paradigm="trzsl").trzsl_split_seed == 500
    assert resolve_recipe("grip", {"base": "grip"}, paradigm="trzsl").trzsl_split_seed is None
    _, manifest = random_dataset(5)
    seen = {s: make_split(manifest, "trzsl", s, run_split_seed(s, 500))["seen"] for s in (1, 2, 3)}
    assert seen[1].equals(seen[2]) and seen[1].equals(seen[3])
    assert not make_split(manifest, "trzsl", 2, run_split_seed(2, None))["seen"].equals(seen[2])


@pytest.mark.parametrize(("base", "seeds"), [("cpl", [500, 500]), ("grip", [500, 0])])
def test_a_trzsl_run_records_its_split_seed_and_trains_on_the_drawn_list(tiny_clip, tmp_path, monkeypatch, base, seeds):
    """The rule's stage end to end on the tiny CLIP: settings.json names the split seed, split.parquet the
    labelled list, and every round's hold-out draws from that list."""
    import air_core.rounds
    from air_core.config import ClipSpec
    from air_core.stages.runs import train_prompts

    _, manifest = random_dataset(11)
    manifest_path, features_path, text_path = tmp_path / "m.parquet", tmp_path / "f.parquet", tmp_path / "t.st"
    artifacts.write_frame("manifest", manifest, manifest_path)
    dim = tiny_clip.model.text_projection.shape[1]
    feats = np.random.default_rng(0).normal(size=(len(manifest), dim)).astype(np.float32)
    artifacts.write_table("features", {"image_id": manifest["image_id"].tolist(), "feature": feats}, features_path)
    artifacts.save_arrays({"text_features": feats[:9]}, text_path)
    recipe = resolve_recipe(base, {"base": base, "iterations": 1, "epochs": 1, "n_ctx": 2}, paradigm="trzsl")
    seen_orders = []
    real_build = air_core.rounds.build_real_set

    def spy(*args, labeled_order=None, **kwargs):
        seen_orders.append(labeled_order)
        return real_build(*args, labeled_order=labeled_order, **kwargs)

    monkeypatch.setattr(air_core.rounds, "build_real_set", spy)
    for seed, expected in zip((1, 2), seeds, strict=True):
        out = tmp_path / f"seed{seed}"
        out.mkdir()
        spec = ClipSpec(arch="air-tiny-vit", pretrained=None)
        train_prompts(
            spec,
            recipe,
            "d",
            "trzsl",
            "text",
            seed,
            manifest_path,
            features_path,
            text_path,
            "",
            [],
            out,
            "cpu",
            concat_text_features_path=text_path,  # grip's round 0 reads menghini's concat string's features
        )
        assert json.loads((out / "settings.json").read_text())["run"]["split_seed"] == expected
        split = artifacts.read_frame("split", out / "split.parquet")
        assert split["seen"].equals(make_split(manifest, "trzsl", split_seed=expected)["seen"])
        pool = np.flatnonzero(split["role"].ne("test").to_numpy())
        np.testing.assert_array_equal(seen_orders[-1], labeled_list(split, pool))
