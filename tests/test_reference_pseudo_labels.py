"""Known answers: the pseudo-labels of FPL/GRIP (menghini's leaderboards) and CPL (capped class pools).

Each reference function below is the reference's code copied verbatim (docstrings, comments and logging
dropped; every other adaptation is named in its comment) and run on random scores; the project's function
in reference mode must give the same answer, in clean mode the clean one. Files and lines are those of
BatsResearch/menghini-neurips23-code at 2094fa5 ("menghini") and vanillaer/CPL-ICML2024 at c711980 (CPL).
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from air_core.cpl import candidate_sets, pool_caps
from air_core.pseudo_labels import grip_k, leaderboard_no_break, pseudo_label
from air_core.real_set import build_real_set
from air_core.recipes import resolve_recipe
from air_core.relabel import relabel
from air_core.rounds import TrainingResult
from air_core.run_inputs import TrainingData
from air_core.run_outputs import pseudo_label_columns

SEEDS = (0, 1, 2, 3)


def _probs(seed: int, n: int, c: int, spread: float = 2.0) -> np.ndarray:
    """(n, c) softmax probabilities of random logits, some classes far more likely than others."""
    rng = np.random.default_rng(seed)
    logits = spread * rng.normal(size=(n, c)) + rng.normal(size=c)  # a per-class bias: boards fill unevenly
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# ---- FPL / GRIP: menghini's leaderboards -------------------------------------------------------------


def menghini_compute_pseudo_labels(probs_all, k, classnames, label_to_idx, filepaths):
    """menghini 2094fa5 utils/clip_pseudolabels.py:48-109 (round 0 of FPL and GRIP; GRIP's later rounds run
    the same loop in methods/unsupervised_learning/textual_fpl.py:184-239). Adapted: the image loop reads
    row i of ``probs_all`` as the (1, C) ``probs`` instead of running CLIP on the file; returns the lists."""
    top_k_leaderboard = {label_to_idx[classnames[i]]: [] for i in range(len(classnames))}
    for i, image_path in enumerate(filepaths):
        with torch.no_grad():
            probs = torch.from_numpy(probs_all[i : i + 1])
            idx_preds = torch.argmax(probs, dim=1)
            pred_id = idx_preds.item()
            pred = label_to_idx[classnames[idx_preds.item()]]
        prob_score = probs[0][pred_id]
        if len(top_k_leaderboard[pred]) < k:
            top_k_leaderboard[pred].append((prob_score, image_path))
        elif top_k_leaderboard[pred][-1][0] < prob_score:
            top_k_leaderboard[pred] = sorted(
                top_k_leaderboard[pred] + [(probs[0][pred_id], image_path)],
                reverse=True,
            )[:k]
        else:
            order_of_classes = sorted(
                [(probs[0][j], j) for j in range(len(classnames)) if j != pred_id],
                reverse=True,
            )
            for score, index in order_of_classes:  # noqa: B007 (the reference's loop variables)
                index_dict = label_to_idx[classnames[index]]
                if len(top_k_leaderboard[index_dict]) < k:
                    top_k_leaderboard[index_dict].append((probs[0][index], image_path))
                elif top_k_leaderboard[index_dict][-1][0] < probs[0][index]:
                    top_k_leaderboard[index_dict] = sorted(
                        top_k_leaderboard[index_dict] + [((probs[0][index], image_path))],
                        reverse=True,
                    )[:k]
    new_imgs = []
    new_labels = []
    for index, leaderboard in top_k_leaderboard.items():
        new_imgs += [tup[1] for tup in leaderboard]
        new_labels += [index for _ in leaderboard]
    return new_imgs, new_labels


def _reference_pairs(probs, k, classes):
    """The reference's (image row, class) lists; file paths sort as the rows do (ties: larger path first)."""
    names = [f"class_{c}" for c in classes]
    paths = [f"img_{i:06d}.jpg" for i in range(len(probs))]
    imgs, labels = menghini_compute_pseudo_labels(probs, k, names, dict(zip(names, classes, strict=True)), paths)
    return np.array([paths.index(p) for p in imgs], dtype=int), np.array(labels, dtype=int)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n, c, k", [(150, 12, 8), (60, 5, 16), (300, 12, 30)])
def test_no_break_leaderboard_is_menghinis_loop(seed, n, c, k):
    probs = _probs(seed, n, c)
    rows, cols = leaderboard_no_break(probs, k)
    ref_rows, ref_cols = _reference_pairs(probs, k, np.arange(c))
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(cols, ref_cols)


def test_no_break_gives_images_several_labels_where_fall_through_gives_one():
    """The quirk triggers on these inputs: some images sit on several boards; the clean top-K differs."""
    probs = _probs(0, 150, 12)
    rows, cols = leaderboard_no_break(probs, 8)
    assert len(np.unique(rows)) < len(rows)  # an image with several pseudo-labels
    clean = pseudo_label(probs, "fpl", 0, 8, 10)
    assert set(zip(rows.tolist(), cols.tolist(), strict=True)) != {(i, c) for i, c in enumerate(clean) if c >= 0}
    assert np.bincount(clean[clean >= 0], minlength=12).max() <= 8


def test_no_break_board_minimum_is_the_last_appended_until_sorted():
    """Hand-made, k = 2: board 0 fills with 0.5 then 0.9; image 2 (0.7) beats the board's minimum but not
    its last appended entry (0.9), so it goes to class 1; image 3 (0.95) qualifies, the board is sorted and
    image 0 evicted for good; image 4 (0.92) then beats the sorted board's last entry (0.9)."""
    probs = np.array([[0.5, 0.5 - 1e-9], [0.9, 0.1], [0.7, 0.3], [0.95, 0.05], [0.92, 0.08]])
    rows, cols = leaderboard_no_break(probs, 2)
    ref_rows, ref_cols = _reference_pairs(probs, 2, np.arange(2))
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(cols, ref_cols)
    assert rows.tolist() == [3, 4, 2] and cols.tolist() == [0, 0, 1]


@pytest.mark.parametrize("base", ["fpl", "grip"])
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_relabel_lists_the_reference_pairs_in_reference_mode(base, seed):
    """TRZSL-like: 12 unseen classes of 20, scores over them; GRIP's K_t at round 7 (16 per class)."""
    n, classes = 240, np.array([0, 2, 3, 5, 7, 8, 11, 12, 14, 16, 17, 19])
    probs = _probs(seed, n, len(classes))
    recipe = resolve_recipe(base, {"base": base, "top_k": 16})
    assert recipe.no_break_leaderboard
    out = relabel(probs, recipe, 7, classes, 20)
    k = 16 if base == "fpl" else grip_k(7, n, len(classes), recipe.iterations)
    ref_rows, ref_labels = _reference_pairs(probs, k, classes)
    np.testing.assert_array_equal(out.rows, ref_rows)
    np.testing.assert_array_equal(out.labels, ref_labels)
    np.testing.assert_array_equal(out.scores, probs[ref_rows, np.searchsorted(classes, ref_labels)])
    np.testing.assert_array_equal(out.targets.argmax(1), ref_labels)  # one-hot per pair
    assert len(np.unique(out.rows)) < len(out.rows)
    clean = relabel(probs, resolve_recipe(base, {"base": base, "top_k": 16, "mode": "clean"}), 7, classes, 20)
    assert len(np.unique(clean.rows)) == len(clean.rows)
    local = pseudo_label(probs, base, 7, 16, recipe.iterations)
    np.testing.assert_array_equal(clean.rows, np.flatnonzero(local >= 0))
    np.testing.assert_array_equal(clean.labels, classes[local[local >= 0]])


def menghini_validation_draw(unseen_imgs, unseen_labs, validation_seed, ratio_train_val):
    """menghini 2094fa5 methods/unsupervised_learning/textual_fpl.py:85-100 (and training_strategies.py:
    590-611, GRIP's rounds). Adapted: ``self.config`` values are arguments; returns train and validation."""
    np.random.seed(validation_seed)
    train_indices = np.random.choice(
        range(len(unseen_imgs)),
        size=int(len(unseen_imgs) * ratio_train_val),
        replace=False,
    )
    val_indices = list(set(range(len(unseen_imgs))).difference(set(train_indices)))
    val_unseen_files = np.array(unseen_imgs)[val_indices]
    val_unseen_labs = np.array(unseen_labs)[val_indices]
    unseen_imgs = list(np.array(unseen_imgs)[train_indices])
    unseen_labs = list(np.array(unseen_labs)[train_indices])
    return (unseen_imgs, unseen_labs), (val_unseen_files, val_unseen_labs)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_validation_hold_out_draws_from_the_concatenated_boards(seed):
    """K = 12 >= 10: 20 % of the listed pairs are held out, by position in the reference's list."""
    n, c = 200, 12
    probs = _probs(seed, n, c)
    recipe = resolve_recipe("fpl", {"base": "fpl", "top_k": 12})
    labels = relabel(probs, recipe, 0, np.arange(c), c)
    unlabeled = np.arange(n) + 7  # rows of the train pool, after 7 labelled ones
    given = np.r_[np.arange(7) % c, np.full(n, -1)]
    real, held_out = build_real_set(
        torch.zeros(n + 7, 2), given, unlabeled, labels, recipe, "ul", np.ones(c, bool), torch.device("cpu")
    )
    ref_rows, ref_labels = _reference_pairs(probs, 12, np.arange(c))
    (train_rows, train_labs), (val_rows, val_labs) = menghini_validation_draw(
        list(ref_rows), list(ref_labels), recipe.validation_seed, 1 - recipe.validation_holdout
    )
    ours_val = sorted(zip(labels.rows[held_out].tolist(), labels.labels[held_out].tolist(), strict=True))
    assert ours_val == sorted(zip(np.asarray(val_rows).tolist(), np.asarray(val_labs).tolist(), strict=True))
    ours_train = sorted(zip((real.pseudo_rows.numpy() - 7).tolist(), real.pseudo_labels.tolist(), strict=True))
    assert ours_train == sorted(zip(np.asarray(train_rows).tolist(), np.asarray(train_labs).tolist(), strict=True))


def test_the_pseudo_labels_table_has_a_row_per_pair():
    """A repeated position is a new row of pseudo_labels.parquet, with its own label and correctness."""
    result = TrainingResult(classifier=np.zeros((2, 2)))
    result.pseudo_labels.append(
        {"iteration": 0, "positions": np.array([3, 3, 1]), "labels": np.array([0, 1, 1]), "scores": np.ones(3)}
    )
    cols = pseudo_label_columns(result, np.array([f"im{i}" for i in range(4)]), np.array([0, 1, 0, 1]))
    assert cols["image_id"] == ["im3", "im3", "im1"]
    assert cols["correct"] == [False, True, True]


# ---- CPL: class pools ---------------------------------------------------------------------------------


def find_elem_idx_BinA(A, B):  # noqa: N802, N803 (the reference's names)
    """CPL c711980 utils/utils.py:346-363, verbatim."""
    a_dict = {item.item(): i for i, item in enumerate(A)}
    indices = torch.tensor([a_dict[item.item()] for item in B], dtype=torch.long)
    return indices


class PoolsAggregation:
    """CPL c711980 utils/utils.py:367-453 (printing and accuracy methods dropped). Adapted: device cpu."""

    def __init__(self, class_ids, K, max_capacity_per_class=None):  # noqa: N803
        self.min_cap = K
        self.device = "cpu"
        self.cls_pools_dict = {}
        if max_capacity_per_class is None:
            max_capacity_per_class = {cls: K for cls in class_ids}
        max_capacity_per_class = [max_capacity_per_class[cls] for cls in class_ids]
        for i, cls in enumerate(class_ids):
            self.cls_pools_dict[cls] = ClassPool(max_capacity=max_capacity_per_class[i], cls_id=cls)

    def __len__(self):
        return len(self.cls_pools_dict)

    def scale_all_pools(self, scale_nums):
        for cls_idx, pool in self.cls_pools_dict.items():
            next_capacity = scale_nums[cls_idx]
            next_capacity = next_capacity
            pool.scale_pool(next_capacity=next_capacity)

    def reset_all(self):
        for pool in self.cls_pools_dict.values():
            pool.reset()

    def batch_fill_assigned_pool(self, feat_idxs: torch.LongTensor, feat_uncs: torch.Tensor, pool_ids):
        for pool_id in pool_ids.unique():
            mask = pool_ids == pool_id
            cur_pool = self.cls_pools_dict[pool_id.item()]
            cur_pool.batch_update(feat_idxs[mask], feat_uncs[mask])

    def get_all_feat_idxs(self):
        feat_idxs = torch.LongTensor([])
        for pool in self.cls_pools_dict.values():
            feat_idxs = torch.cat((feat_idxs, pool.pool_idx), dim=0)
        return feat_idxs

    def cal_pool_sum_num(self):
        sum_num = 0
        for _i, pool in enumerate(self.cls_pools_dict.values()):
            sum_num += pool.pool_capacity
        return sum_num

    def get_pool_caps(self):
        cap_list = []
        for _i, pool in enumerate(self.cls_pools_dict.values()):
            cap_list.append(pool.pool_capacity)
        return cap_list


class ClassPool:
    """CPL c711980 utils/utils.py:472-583 (``__str__`` dropped). Adapted: device cpu (the reference: cuda)."""

    def __init__(self, max_capacity: int, cls_id):
        self.pool_max_capacity = max_capacity
        self.is_freeze = False
        self.cls_id = cls_id
        self.device = "cpu"
        self.unc_dtype = torch.float32
        self.baseline_capacity = max_capacity
        self.reset()

    def _update_pool_attr(self):
        self.unc_max, self.unc_max_idx = torch.max(self.pool_unc, dim=0)
        assert self.pool_unc.shape == self.pool_unc.shape
        assert self.pool_unc.shape[0] <= self.pool_max_capacity

    def reset(self):
        self.pool_idx = torch.LongTensor([])
        self.pool_unc = torch.Tensor([]).type(self.unc_dtype).to(self.device)
        self.popped_idx = torch.LongTensor([])
        self.popped_unc = torch.Tensor([]).type(self.unc_dtype).to(self.device)
        self.pool_capacity = 0
        self.unc_max = 1e-10
        assert self.is_freeze is False
        self.pool_unc_past = None
        self.pool_idx_past = None
        self.replace_num = 0
        self.not_in_num = 0

    def scale_pool(self, next_capacity: int):
        self.pool_max_capacity = next_capacity
        return

    def batch_update(self, feat_idxs: torch.LongTensor, feat_uncs: torch.Tensor, record_popped=False):
        in_pool = torch.zeros_like(feat_idxs, dtype=torch.bool)
        for i, (feat_idx, feat_unc) in enumerate(zip(feat_idxs, feat_uncs, strict=True)):
            in_pool[i] = self.update(feat_idx, feat_unc, record_popped)
        return in_pool

    def update(self, feat_idx: torch.LongTensor, feat_unc: torch.Tensor, record_popped=False):
        if self.pool_capacity < self.pool_max_capacity:
            if feat_unc < 1e4:
                self.pool_idx = torch.cat((self.pool_idx, feat_idx.unsqueeze(0)))
                self.pool_unc = torch.cat((self.pool_unc, feat_unc.unsqueeze(0)))
                self.pool_capacity += 1
                in_pool = True
            else:
                in_pool = False
        else:
            assert self.pool_max_capacity >= self.pool_capacity, (
                f"pool_max_capacity: {self.pool_max_capacity}, pool_capacity: {self.pool_capacity}"
            )
            if self.unc_max <= feat_unc:
                if record_popped:
                    self.popped_idx = torch.cat((self.popped_idx, feat_idx.unsqueeze(0)))
                    self.popped_unc = torch.cat((self.popped_unc, feat_unc.unsqueeze(0)))
                in_pool = False
            else:
                if record_popped:
                    self.popped_idx = torch.cat((self.popped_idx, self.pool_idx[self.unc_max_idx].unsqueeze(0)))
                    self.popped_unc = torch.cat((self.popped_unc, self.pool_unc[self.unc_max_idx].unsqueeze(0)))
                self.pool_idx[self.unc_max_idx] = feat_idx
                self.pool_unc[self.unc_max_idx] = feat_unc
                in_pool = True
        if in_pool:
            self._update_pool_attr()
        return in_pool


class InstanceSelector:
    """CPL c711980 utils/clip_pseudolabels.py:279-483. Adapted: no true labels (the top-1 accuracy and the
    pools' accuracy it logs are dropped from ``select_topk_for_eachcls``), ``cfg`` a namespace."""

    def __init__(self, label_to_idx=None, eps=1e-7, cfg=None):
        self.cfg = cfg
        self.label_to_idx = label_to_idx
        self.eps = eps
        self.device = torch.device("cpu")
        class_ids = list(range(0, len(label_to_idx)))
        self.Pools = PoolsAggregation(class_ids=class_ids, K=self.cfg.N_PSEUDOSHOTS)

    def cal_pred_conf_uncs(self, logits, PL_labels, method):  # noqa: N803
        conf = torch.nn.functional.softmax(logits, dim=1)
        uncs = 1 - conf
        conf = conf * PL_labels
        uncs = uncs * PL_labels
        return conf, uncs

    def _prepare_items_attrs(self, PL_labels, outputs, method, max_num="all"):  # noqa: N803
        conf_all, uncs_all = self.cal_pred_conf_uncs(outputs, PL_labels, method=method)
        if max_num == "all":
            max_num = (PL_labels > self.eps).sum(dim=1).max().item()
        labels_ = []
        uncs_ = []
        for _i in range(max_num):
            max_val, max_idx = torch.max(conf_all, dim=1)
            mask = max_val < self.eps
            uncs = uncs_all[torch.arange(0, uncs_all.shape[0]), max_idx]
            uncs[mask] = torch.inf
            conf_all[torch.arange(0, conf_all.shape[0]), max_idx] = -torch.inf
            labels_.append(max_idx.unsqueeze(1))
            uncs_.append(uncs.unsqueeze(1))
        labels_ = torch.cat(labels_, dim=1)
        uncs_ = torch.cat(uncs_, dim=1)
        return labels_, uncs_

    def select_topk_for_eachcls(
        self,
        PL_labels,  # noqa: N803
        indexs_all,
        output_all,
        K_max,  # noqa: N803
        candidate_method,
        N_iter=1,  # noqa: N803
        increase_percentage=0,
    ):
        labels, uncs = self._prepare_items_attrs(PL_labels, output_all, candidate_method)
        max_iters = PL_labels.sum(dim=1).long().cpu()
        if increase_percentage == 0:
            past_caps = self.Pools.get_pool_caps()
            increment_nums = K_max - max(past_caps)
            assert increment_nums >= 0
            pool_caps = [min(past_caps[i] + increment_nums, K_max) for i in range(len(self.Pools))]
        else:
            raise ValueError("increase_percentage should be == 0")
        self.Pools.reset_all()
        self.Pools.scale_all_pools(scale_nums=pool_caps)
        not_inpool_feat_idxs, notinpool_uncs = self._fill_pools(
            labels,
            uncs,
            indexs_all,
            max_iter_num=max_iters,
            record_popped=True,
        )
        selected_idxs = self.Pools.get_all_feat_idxs()
        return selected_idxs, {}

    def _fill_pools(self, labels, uncs, feat_idxs, max_iter_num, record_popped=True, pool_idxs=None):
        if pool_idxs is None:
            pool_idxs = torch.arange(0, len(self.label_to_idx)).to(self.device)
        if labels.shape[1] == 0:
            return
        assert max_iter_num.all() >= 1
        not_in_pool_init = torch.ones(labels.shape[0], dtype=torch.bool)
        del_elems_init = torch.zeros(labels.shape[0], dtype=torch.bool)
        all_idxs = torch.arange(0, labels.shape[0])
        quary_num = torch.zeros(labels.shape[0], dtype=torch.long)

        def recursion(top_uncs, top_labels, not_in_pool, del_elems):
            in_itering = not_in_pool & ~del_elems
            if (in_itering).sum() == 0 or (not_in_pool == False).all():  # noqa: E712
                return
            else:
                this_loop_idxs = all_idxs[in_itering]
                this_loop_uncs = top_uncs[this_loop_idxs, quary_num[this_loop_idxs]]
                this_loop_labels = top_labels[this_loop_idxs, quary_num[this_loop_idxs]]
                not_in_pool[:] = True
                quary_num[this_loop_idxs] += 1
                assert labels.shape[0] == (this_loop_idxs.shape[0] + self.Pools.cal_pool_sum_num() + del_elems.sum()), (
                    "All_samples = not_in + in_pool + not_in_but_enough_iter"
                )
                self.Pools.batch_fill_assigned_pool(feat_idxs[this_loop_idxs], this_loop_uncs, this_loop_labels)
                inpool_idxs = self.Pools.get_all_feat_idxs()
                elem_idxs = find_elem_idx_BinA(A=feat_idxs, B=inpool_idxs)
                not_in_pool[elem_idxs] = False
                del_elems = (quary_num[:] == max_iter_num[:]) & (not_in_pool)
                recursion(top_uncs, top_labels, not_in_pool, del_elems)

        recursion(uncs, labels, not_in_pool_init, del_elems_init)
        return feat_idxs[not_in_pool_init], uncs[not_in_pool_init, 0]


def _cpl_rounds(seed: int, n: int, c: int, rounds: int, alpha: float, beta: float):
    """Random logits for each round; the reference's pools (a selector that lives across rounds, as
    CPL's TextualPL.Selector does, textual_PL.py:58,126-133) and the project's relabel, round by round."""
    rng = np.random.default_rng(seed)
    recipe = resolve_recipe("cpl", {"base": "cpl", "iterations": 3, "cpl_alpha": alpha, "cpl_beta": beta})
    clean = resolve_recipe(
        "cpl", {"base": "cpl", "iterations": 3, "cpl_alpha": alpha, "cpl_beta": beta, "mode": "clean"}
    )
    selector = InstanceSelector(label_to_idx={i: i for i in range(c)}, cfg=SimpleNamespace(N_PSEUDOSHOTS=0))
    previous = None
    for t in range(rounds):
        # a per-round class bias: a class rarely a candidate one round (a short pool) may be common the next;
        # float64 logits: no ties in 1 - p
        logits = torch.from_numpy(2.0 * rng.normal(size=(n, c)) + 2.0 * rng.normal(size=c))
        probs = torch.softmax(logits, dim=1).numpy()
        k = grip_k(t, n, c, recipe.iterations)
        cand = torch.from_numpy(candidate_sets(probs / probs.sum(axis=1, keepdims=True), alpha, beta))
        mask = cand.sum(1) > 0  # gererate_partialY's ~zero_row_mask (clip_pseudolabels.py:228-242)
        selector.select_topk_for_eachcls(
            PL_labels=cand.float()[mask],
            indexs_all=torch.arange(n)[mask],
            output_all=logits[mask],
            K_max=k,
            candidate_method="CPL",
            N_iter=t + 1,
        )
        reference = {cls: sorted(pool.pool_idx.tolist()) for cls, pool in selector.Pools.cls_pools_dict.items()}
        ours = relabel(probs, recipe, t, np.arange(c), c, previous)
        uncapped = relabel(probs, clean, t, np.arange(c), c, previous)
        yield t, k, reference, ours, uncapped
        previous = ours


def _pools(labels, c):
    return {cls: sorted(labels.rows[labels.labels == cls].tolist()) for cls in range(c)}


@pytest.mark.parametrize("seed", SEEDS)
def test_cpl_pools_equal_the_references_round_by_round(seed):
    """12 classes, 240 images, K_t = 6, 13, 20: from round 2 on the short pools of round t-1 cap round t's."""
    differs = 0
    for t, _, reference, ours, uncapped in _cpl_rounds(seed, n=240, c=12, rounds=3, alpha=60.0, beta=0.8):
        assert _pools(ours, 12) == reference, f"round {t}"
        differs += _pools(uncapped, 12) != reference
        if t == 0:
            assert _pools(uncapped, 12) == reference  # the first round: every pool holds K_0
    assert differs > 0  # the cap changes the pools on these inputs


def test_pool_caps_formula():
    np.testing.assert_array_equal(pool_caps(None, 6, 3), [6, 6, 6])
    np.testing.assert_array_equal(pool_caps(np.array([6, 2, 5]), 13, 3), [13, 9, 12])
    np.testing.assert_array_equal(pool_caps(np.array([0, 0, 0]), 13, 3), [13, 13, 13])


def test_the_round_loop_hands_each_round_the_previous_rounds_pools(tiny_clip, monkeypatch):
    """CPL's caps read the pools of round t-1: train_iterations passes them to relabel (none on round 0)."""
    import air_core.rounds as rounds

    calls = []

    def recording(scores, recipe, iteration, classes, n_classes, previous=None):
        out = relabel(scores, recipe, iteration, classes, n_classes, previous)
        calls.append((previous, out))
        return out

    monkeypatch.setattr(rounds, "relabel", recording)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(60, 32)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    data = TrainingData(
        real_features=feats, given_labels=np.full(60, -1), zero_shot_text=feats[:3].copy(), logit_scale=20.0
    )
    entry = {"base": "cpl", "iterations": 3, "epochs": 1, "n_ctx": 2, "cpl_alpha": 75, "cpl_beta": 0.5}
    rounds.train_iterations(data, resolve_recipe("cpl", entry), tiny_clip.model, tiny_clip.tokenizer, "abc", seed=0)
    assert len(calls) == 3 and calls[0][0] is None
    assert all(calls[t][0] is calls[t - 1][1] for t in (1, 2))
