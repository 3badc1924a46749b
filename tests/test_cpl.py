"""CPL on hand-made probability matrices with known answers: candidate sets, pools, weights, loss."""

import math

import numpy as np
import pytest
import torch

from air_core.cpl import (
    candidate_loss,
    candidate_sets,
    candidate_weights,
    cpl_round,
    fill_pools,
    inter_instance,
    intra_instance,
    parse_beta,
)

# Five images, three classes. Per-image max: 0.7, 0.4, 0.5, 0.9, 0.6 -> median 0.6.
P = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.4, 0.35, 0.25],
        [0.5, 0.3, 0.2],
        [0.9, 0.05, 0.05],
        [0.6, 0.1, 0.3],
    ]
)


def test_parse_beta():
    assert parse_beta(0.97, 10) == 0.97
    assert parse_beta("auto*2", 10) == pytest.approx(0.8)  # 1 - 2/10
    assert parse_beta("auto*1.5", 100) == pytest.approx(0.985)
    assert parse_beta("auto*30", 10) == 0.0  # clipped to a quantile
    with pytest.raises(ValueError, match="auto\\*<g>"):
        parse_beta("half", 10)
    with pytest.raises(ValueError, match="after 'auto\\*' must be a number"):
        parse_beta("auto*x", 10)
    with pytest.raises(ValueError, match="not a quantile"):
        parse_beta(1.5, 10)


def test_intra_instance_keeps_labels_up_to_and_one_past_the_threshold():
    # alpha = 50: threshold = median of the per-image max = 0.6.
    # row 0: 0.7 passes at once -> {0}; row 1: 0.4 <= 0.6, then 0.75 passes -> {0, 1};
    # row 2: 0.5, then 0.8 -> {0, 1}; row 3: {0}; row 4: 0.6 stays *at* the threshold, so the
    # next label (class 2, cumulative 0.9) is the first to pass it -> {0, 2}.
    expected = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 0, 0], [1, 0, 1]], bool)
    np.testing.assert_array_equal(intra_instance(P, 50), expected)


def test_intra_instance_at_least_one_label_even_at_a_high_threshold():
    # alpha = 100: threshold = the largest max, 0.9. Image 3's 0.9 stays *at* it, so its next
    # label (cumulative 0.95) is kept too, as the first to pass.
    keep = intra_instance(P, 100)
    assert keep.sum(1).min() >= 1
    np.testing.assert_array_equal(keep[3], [True, True, False])
    # alpha = 0: threshold = the smallest max, 0.4; every image keeps at least its best label
    np.testing.assert_array_equal(intra_instance(P, 0)[[0, 3]], [[True, False, False], [True, False, False]])
    # exact binary fractions: max 0.5 everywhere -> threshold 0.5
    halves = np.array([[0.5, 0.25, 0.25], [0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(intra_instance(halves, 30), [[True, True, False], [True, True, False]])


def test_inter_instance_keeps_images_at_or_above_the_column_quantile():
    # beta = 0.5: column medians 0.6, 0.2, 0.2
    expected = np.array([[1, 1, 0], [0, 1, 1], [0, 1, 1], [1, 0, 0], [1, 0, 1]], bool)
    np.testing.assert_array_equal(inter_instance(P, 0.5), expected)
    # beta = 0.8 (position 3.2 of 5): thresholds 0.74, 0.31, 0.26 -> one image per class
    np.testing.assert_array_equal(inter_instance(P, 0.8), [[0, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 1]])
    # auto*1 with C = 3 is beta = 2/3
    np.testing.assert_array_equal(inter_instance(P, "auto*1"), inter_instance(P, 2 / 3))


def test_candidates_are_the_intersection_and_may_be_empty():
    np.testing.assert_array_equal(candidate_sets(P, 50, 0.5), [[1, 0, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [1, 0, 1]])
    # beta = 0.8: images 0 and 2 lose every candidate (they are dropped)
    cand = candidate_sets(P, 50, 0.8)
    np.testing.assert_array_equal(cand, [[0, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 1]])


def test_pools_evict_to_the_next_candidate_and_drop_images_without_one():
    probs = np.array([[0.6, 0.4], [0.9, 0.1], [0.7, 0.3], [0.8, 0.2]])
    cand = np.array([[1, 1], [1, 0], [0, 1], [0, 0]], bool)
    # K = 1: image 1 (0.9) evicts image 0 (0.6) from class 0; image 0 moves to its next candidate,
    # class 1, where it beats image 2 (0.4 > 0.3); image 2 has no other candidate (class 0 is not
    # one, although it is its most probable class), image 3 has none at all.
    np.testing.assert_array_equal(fill_pools(probs, cand, 1), [1, 0, -1, -1])
    np.testing.assert_array_equal(fill_pools(probs, cand, 2), [0, 0, 1, -1])


def test_candidate_weights_soft_then_hard():
    cand = np.array([[1, 0, 1], [0, 0, 0]], bool)
    probs = np.array([[0.6, 0.1, 0.3], [0.5, 0.3, 0.2]])
    np.testing.assert_allclose(candidate_weights(probs, cand, soft=True), [[2 / 3, 0, 1 / 3], [0, 0, 0]])
    np.testing.assert_array_equal(candidate_weights(probs, cand, soft=False), [[1, 0, 1], [0, 0, 0]])


def test_cpl_round_renormalises_fused_scores():
    # AiR on CPL: p + lambda * p_hat sums to 1 + lambda per image; CPL sees it renormalised.
    p_hat = np.array([[0.1, 0.8, 0.1]] * 5)
    fused = P + 1.0 * p_hat
    pools, weights = cpl_round(fused, 50, 0.5, k=5, soft=True)
    ref_pools, ref_weights = cpl_round(fused / 2.0, 50, 0.5, k=5, soft=True)
    np.testing.assert_array_equal(pools, ref_pools)
    np.testing.assert_allclose(weights, ref_weights)
    np.testing.assert_allclose(weights.sum(1)[pools >= 0], 1.0)
    # the prototypes pull images 0, 2 and 4 towards class 1 compared with text alone
    text_pools, _ = cpl_round(P, 50, 0.5, k=5, soft=True)
    assert (pools == 1).sum() > (text_pools == 1).sum()


def test_cpl_round_zeroes_weights_of_images_no_pool_kept():
    pools, weights = cpl_round(P, 50, 0.8, k=1, soft=False)
    np.testing.assert_array_equal(pools, [-1, 1, -1, 0, 2])
    np.testing.assert_array_equal(weights[[0, 2]], 0)
    np.testing.assert_array_equal(weights[[1, 3, 4]], [[0, 1, 0], [1, 0, 0], [0, 0, 1]])


def test_candidate_loss_values():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]] * 3))
    targets = torch.tensor([[2 / 3, 0.0, 1 / 3], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    loss = candidate_loss(logits, targets)
    # soft: -log(2/3 * 0.5 + 1/3 * 0.2) = -log 0.4; 0/1: -log(0.5 + 0.2); one-hot: CE = -log 0.3
    torch.testing.assert_close(loss, torch.tensor([-math.log(0.4), -math.log(0.7), -math.log(0.3)]))
    ce = torch.nn.functional.cross_entropy(logits[2:], torch.tensor([1]), reduction="none")
    torch.testing.assert_close(loss[2:], ce)
    # gradients flow only through the candidates' probabilities and are finite
    logits = logits.clone().requires_grad_(True)
    candidate_loss(logits, targets).sum().backward()
    assert torch.isfinite(logits.grad).all()
