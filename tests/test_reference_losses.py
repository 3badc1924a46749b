"""Known answers: each base method's loss in each paradigm equals its reference code's formula.

Files and lines are those of BatsResearch/menghini-neurips23-code at 2094fa5 (FPL, GRIP, CoOp/VPT;
"menghini") and vanillaer/CPL-ICML2024 at 3fa3339/e6c6d01 (CPL). Each test writes the reference's
formula out with plain torch on a small fixed batch and compares it with the project's loss.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from air_core.fitting import TrainSet, _batch_loss, lr_at, real_batches
from air_core.real_set import VALIDATION_MIN_K, build_real_set, holdout_keep
from air_core.recipes import resolve_recipe
from air_core.relabel import RoundLabels

C, D, SCALE = 4, 8, 10.0


class FixedLearner(nn.Module):
    """Text features as a parameter, image features passed through: logits = SCALE * f @ g.T."""

    def __init__(self, text: torch.Tensor):
        super().__init__()
        self.text = nn.Parameter(text)

    def text_features(self) -> torch.Tensor:
        return self.text

    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _problem(paradigm: str, n_pool: int = 60, seed: int = 0):
    """Features, true labels, given labels (-1 = unlabelled) and the seen mask of a C-class pool."""
    rng = np.random.default_rng(seed)
    feats = torch.from_numpy(rng.normal(size=(n_pool, D)).astype(np.float32))
    truth = np.arange(n_pool) % C
    given = np.full(n_pool, -1)
    seen = np.ones(C, bool)
    if paradigm == "ssl":  # 2 labelled images per class
        for c in range(C):
            given[np.flatnonzero(truth == c)[:2]] = c
    elif paradigm == "trzsl":  # classes 0, 1 seen (labelled), 2, 3 unseen
        seen = np.array([True, True, False, False])
        given = np.where(seen[truth], truth, -1)
    text = torch.from_numpy(rng.normal(size=(C, D)).astype(np.float32))
    return feats, truth, given, seen, text


def _round_labels(given, truth, seen, k, cpl=False, seed=1):
    """Pseudo-labels for every unlabelled image (its true class, or a random one), over the allowed classes."""
    rng = np.random.default_rng(seed)
    unlabeled = np.flatnonzero(given < 0)
    allowed = np.flatnonzero(~seen) if not seen.all() else np.arange(C)
    labels = np.where(rng.random(len(unlabeled)) < 0.7, truth[unlabeled], rng.choice(allowed, len(unlabeled)))
    targets = np.eye(C, dtype=np.float32)[labels]
    if cpl:  # candidate weights over two allowed classes
        other = rng.choice(allowed, len(unlabeled))
        targets = 0.6 * np.eye(C, dtype=np.float32)[labels] + 0.4 * np.eye(C, dtype=np.float32)[other]
    return unlabeled, RoundLabels(
        rows=np.arange(len(unlabeled)), labels=labels, scores=rng.random(len(unlabeled)), targets=targets, k=k
    )


def _project_loss(recipe, paradigm, k=16, cpl=False, synthetic=None):
    """The project's L on one batch holding every training image; returns it with the pieces to check it."""
    feats, truth, given, seen, text = _problem(paradigm)
    unlabeled, labels = (
        _round_labels(given, truth, seen, k, cpl)
        if recipe.pseudo_labels != "none"
        else (np.flatnonzero(given < 0), None)
    )
    real, held_out = build_real_set(feats, given, unlabeled, labels, recipe, paradigm, seen, torch.device("cpu"))
    batch = (torch.arange(real.n_labeled), torch.arange(real.n_pseudo))
    syn_idx = None if synthetic is None else torch.arange(len(synthetic.rows))
    (loss, _, _), _ = _batch_loss(FixedLearner(text), real, batch, synthetic, syn_idx, recipe, SCALE)
    lab = real.labeled_rows.numpy()
    pseudo = real.pseudo_rows.numpy()
    pseudo_y = torch.as_tensor(labels.labels[~held_out]) if labels is not None else None
    return loss, SCALE * feats @ text.T, lab, torch.as_tensor(given[lab]), pseudo, pseudo_y, real, labels, held_out


def test_ul_fpl_grip_mean_ce_over_the_pseudo_labelled_batch():
    """menghini unsupervised_learning/textual_fpl.py:106 (pseudo-labelled only) and :112-126 (CE over all)."""
    for base in ("fpl", "grip"):
        loss, logits, lab, _, pseudo, y, *_ = _project_loss(resolve_recipe(base, {"base": base}), "ul")
        assert len(lab) == 0
        torch.testing.assert_close(loss, F.cross_entropy(logits[pseudo], y))


def test_ssl_fpl_weighs_the_labelled_loss_by_pseudo_over_labelled():
    """menghini semi_supervised_learning/textual_fpl.py:115 balance = |unseen| / |seen|, :123-128
    balance * CE_labelled + CE_pseudo, each a mean over its rows (:143-163); counts after the 20 % hold-out
    of labelled (main_SSL.py:132-143) and pseudo-labelled images (textual_fpl.py:88-107)."""
    loss, logits, lab, y_lab, pseudo, y, *_ = _project_loss(resolve_recipe("fpl", {"base": "fpl"}), "ssl")
    assert len(lab) == int(2 * C * 0.8) and len(pseudo) == int((60 - 2 * C) * 0.8)
    expected = len(pseudo) / len(lab) * F.cross_entropy(logits[lab], y_lab) + F.cross_entropy(logits[pseudo], y)
    torch.testing.assert_close(loss, expected)


def test_ssl_grip_weighs_the_labelled_loss_by_labelled_over_pseudo():
    """menghini semi_supervised_learning/training_strategies.py:637: GRIP's rounds call update_training_set,
    which sets balance = |seen| / |unseen| (the inverse of one-shot FPL's), used by textual_fpl.py:128."""
    loss, logits, lab, y_lab, pseudo, y, *_ = _project_loss(resolve_recipe("grip", {"base": "grip"}), "ssl")
    expected = len(lab) / len(pseudo) * F.cross_entropy(logits[lab], y_lab) + F.cross_entropy(logits[pseudo], y)
    torch.testing.assert_close(loss, expected)


def test_trzsl_fpl_grip_weigh_the_unseen_pseudo_labelled_loss_by_seen_over_unseen():
    """menghini transductive_zsl/textual_fpl.py:109 balance = |seen| / |unseen|, :117-122 CE_seen + balance *
    CE_unseen, both softmaxes over all classes (training_strategies.py:284-287)."""
    for base in ("fpl", "grip"):
        loss, logits, lab, y_lab, pseudo, y, *_ = _project_loss(
            resolve_recipe(base, {"base": base}, paradigm="trzsl"), "trzsl"
        )
        expected = F.cross_entropy(logits[lab], y_lab) + len(lab) / len(pseudo) * F.cross_entropy(logits[pseudo], y)
        torch.testing.assert_close(loss, expected)


def test_coop_vpt_train_a_softmax_over_the_seen_classes_in_trzsl_and_all_in_ssl():
    """menghini training_strategies.py:282-283 define_model(self.seen_classes) for CoOp, labels re-indexed into
    the seen list (transductive_zsl/textual_prompt.py:118-119; VPT: visual_prompt.py:63,84)."""
    recipe = resolve_recipe("coop", {"base": "none"}, paradigm="trzsl")
    loss, logits, lab, y_lab, pseudo, *_ = _project_loss(recipe, "trzsl")
    seen = np.array([0, 1])
    remapped = torch.as_tensor(np.searchsorted(seen, y_lab.numpy()))
    assert len(pseudo) == 0 and len(lab) == int(30 * 0.8)
    torch.testing.assert_close(loss, F.cross_entropy(logits[lab][:, seen], remapped))
    loss, logits, lab, y_lab, *_ = _project_loss(resolve_recipe("coop", {"base": "none"}), "ssl")
    torch.testing.assert_close(loss, F.cross_entropy(logits[lab], y_lab))  # SSL: every class


def _cpl_term(logits, targets):
    """CPL-ICML2024 utils/loss.py:96-99 forward_cc: -log sum_j y_ij softmax(x_i)_j, mean (:76-77)."""
    return -torch.log((F.softmax(logits, dim=1) * targets).sum(dim=1)).mean()


@pytest.mark.parametrize("paradigm", ["ssl", "trzsl"])
def test_cpl_is_labelled_ce_plus_lambda_times_the_cpl_loss(paradigm):
    """CPL-ICML2024 semi_supervised_learning_new/textual_PL.py:258-265 (transductive_zsl_new/textual_PL.py:297-303):
    loss_seen + LAMBDA * loss_unseen, LAMBDA from the config (methods_config/textual_fpl_config_PLL.yml:86);
    no validation hold-out (ratio_train_val 1.0, :24)."""
    recipe = resolve_recipe("cpl", {"base": "cpl", "cpl_lambda": 0.5}, paradigm=paradigm)
    loss, logits, lab, y_lab, pseudo, _, real, labels, held_out = _project_loss(recipe, paradigm, cpl=True)
    assert not held_out.any() and len(lab) == (2 * C if paradigm == "ssl" else 30)
    targets = torch.as_tensor(labels.targets)
    expected = F.cross_entropy(logits[lab], y_lab) + 0.5 * _cpl_term(logits[pseudo], targets)
    torch.testing.assert_close(loss, expected)


def test_cpl_ul_is_the_mean_cpl_loss():
    """CPL-ICML2024 unsupervised_learning_new/training_strategies.py:644-646: loss_func(logits, labs)."""
    recipe = resolve_recipe("cpl", {"base": "cpl"})
    loss, logits, _, _, pseudo, _, _, labels, _ = _project_loss(recipe, "ul", cpl=True)
    torch.testing.assert_close(loss, _cpl_term(logits[pseudo], torch.as_tensor(labels.targets)))


@pytest.mark.parametrize("paradigm", ["ul", "ssl", "trzsl"])
@pytest.mark.parametrize("base", ["grip", "cpl"])
def test_air_adds_beta_times_the_synthetic_ce_to_its_base_loss(base, paradigm):
    """AiR (eq. 10): its base's L_r, written out as in the tests above, plus beta * CE on the synthetic images."""
    recipe = resolve_recipe("air", {"base": base, "fusion_lambda": 1.0, "synthetic_beta": 0.7}, paradigm=paradigm)
    rng = np.random.default_rng(3)
    syn_feats = torch.from_numpy(rng.normal(size=(6, D)).astype(np.float32))
    syn_y = torch.arange(6) % C
    synthetic = TrainSet(inputs=syn_feats, rows=torch.arange(6), labels=syn_y)
    loss, logits, lab, y_lab, pseudo, y, real, labels, _ = _project_loss(
        recipe, paradigm, cpl=base == "cpl", synthetic=synthetic
    )
    text = _problem(paradigm)[4]
    l_s = F.cross_entropy(SCALE * syn_feats @ text.T, syn_y)
    n_l, n_p = len(lab), len(pseudo)
    if base == "cpl":
        l_r = _cpl_term(logits[pseudo], torch.as_tensor(labels.targets))
    else:
        l_r = F.cross_entropy(logits[pseudo], y)
    if paradigm == "ssl":
        l_r = l_r + (n_l / n_p if base == "grip" else 1.0) * F.cross_entropy(logits[lab], y_lab)
    elif paradigm == "trzsl":
        l_r = F.cross_entropy(logits[lab], y_lab) + (n_l / n_p if base == "grip" else 1.0) * l_r
    torch.testing.assert_close(loss, l_r + 0.7 * l_s)


def test_pseudo_labels_are_held_out_only_when_k_is_at_least_10_with_the_reference_draw():
    """menghini textual_fpl.py:88-107: if N_PSEUDOSHOTS >= 10: np.random.seed(validation_seed);
    np.random.choice(range(n), size=int(n * 0.8), replace=False) train, the rest validation."""
    np.random.seed(0)
    expected = np.sort(np.random.choice(range(37), size=int(37 * 0.8), replace=False))
    np.testing.assert_array_equal(holdout_keep(37, 0.2, 0), expected)
    grip = resolve_recipe("grip", {"base": "grip"})
    for k, kept in ((VALIDATION_MIN_K, int(60 * 0.8)), (VALIDATION_MIN_K - 1, 60)):
        *_, real, _, held_out = _project_loss(grip, "ul", k=k)
        assert real.n_pseudo == kept and held_out.sum() == 60 - kept
    other_seed = resolve_recipe("grip", {"base": "grip", "validation_seed": 5})
    assert not np.array_equal(_project_loss(other_seed, "ul")[-1], _project_loss(grip, "ul")[-1])
    off = resolve_recipe("grip", {"base": "grip", "validation_holdout": 0.0})
    assert _project_loss(off, "ul")[6].n_pseudo == 60


def test_a_cpl_epoch_is_one_pass_over_the_pseudo_labelled_images_with_a_cycled_labelled_stream():
    """CPL-ICML2024 training_strategies.py:312-324 (pseudo loader, batch 64, drop_last), textual_PL.py:126-135
    (labelled batch = clamp(64 * L / P, 8, 256)), utils/utils.py:285-297 (labelled sampler reshuffles)."""
    recipe = resolve_recipe("cpl", {"base": "cpl"}, paradigm="ssl")
    rng = np.random.default_rng(0)
    n_pool, n_lab = 300, 20
    given = np.full(n_pool, -1)
    given[:n_lab] = np.arange(n_lab) % C
    unlabeled = np.flatnonzero(given < 0)
    labels = RoundLabels(
        rows=np.arange(200),
        labels=np.arange(200) % C,
        scores=rng.random(200),
        targets=np.eye(C, dtype=np.float32)[np.arange(200) % C],
        k=50,
    )
    real, _ = build_real_set(
        torch.zeros(n_pool, D), given, unlabeled, labels, recipe, "ssl", np.ones(C, bool), torch.device("cpu")
    )
    assert real.labeled_batch_size == 8  # 64 * 20 / 200 = 6.4, clamped to 8
    batches = real_batches(real, 64, torch.Generator().manual_seed(0))
    assert len(batches) == 200 // 64  # full batches only
    pseudo_seen = torch.cat([p for _, p in batches])
    assert len(pseudo_seen) == 192 and len(set(pseudo_seen.tolist())) == 192  # each pseudo image at most once
    lab_seen = torch.cat([lab for lab, _ in batches]).tolist()
    assert [len(lab) for lab, _ in batches] == [8, 8, 4]  # the sampler's last partial batch is kept
    assert sorted(lab_seen) == list(range(n_lab))  # one pass over the 20 labelled images


def test_mixed_batches_are_one_shuffled_pass_over_labelled_and_pseudo_labelled_images():
    """menghini training_strategies.py:297-303: one DataLoader over both, batch 16, last batch kept."""
    recipe = resolve_recipe("fpl", {"base": "fpl"})
    feats, truth, given, seen, _ = _problem("ssl")
    unlabeled, labels = _round_labels(given, truth, seen, 16)
    real, _ = build_real_set(feats, given, unlabeled, labels, recipe, "ssl", seen, torch.device("cpu"))
    batches = real_batches(real, 16, torch.Generator().manual_seed(0))
    assert len(batches) == -(-(real.n_labeled + real.n_pseudo) // 16)
    assert sorted(torch.cat([lab for lab, _ in batches]).tolist()) == list(range(real.n_labeled))
    assert sorted(torch.cat([p for _, p in batches]).tolist()) == list(range(real.n_pseudo))


def test_warm_up_ramps_linearly_from_zero_or_stays_constant():
    """menghini utils/schedulers.py:55-64 (LambdaLR stepped per epoch, training_strategies.py:589-591): epoch e
    < warmup runs at lr * e / warmup, then 0.5 * (1 + cos(pi * progress)); the AiR paper: 1e-4 while warming up."""
    linear = resolve_recipe("grip", {"base": "grip"})
    assert [lr_at(e, linear) for e in range(5)] == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08])
    assert lr_at(5, linear) == pytest.approx(0.1) and lr_at(77, linear) == pytest.approx(
        0.05 * (1 + np.cos(np.pi * 72 / 145))
    )
    constant = resolve_recipe(
        "paper", {"base": "cpl", "epochs": 150, "lr": 0.1, "warmup_epochs": 5, "warmup": "constant"}
    )
    assert [lr_at(e, constant) for e in range(5)] == [1e-4] * 5 and lr_at(5, constant) == pytest.approx(0.1)
