"""Eq. 1 and 7 and the pseudo-label selection on hand-made scores with known answers."""

import numpy as np
import pytest

from air_core.pseudo_labels import class_probs, fuse, grip_k, pseudo_label, ranked_top_k, top_k_per_class


def test_class_probs_is_softmax_of_scaled_cosines():
    # eq. 1: two images, two classes, tau = 1/2 (logit scale 2)
    f = np.array([[1.0, 0.0], [0.0, 1.0]])
    g = np.array([[1.0, 0.0], [0.6, 0.8]])
    p = class_probs(f, g, logit_scale=2.0)
    # image 0: cosines (1, 0.6) -> softmax(2, 1.2); image 1: cosines (0, 0.8) -> softmax(0, 1.6)
    expect0 = np.exp([2.0, 1.2]) / np.exp([2.0, 1.2]).sum()
    expect1 = np.exp([0.0, 1.6]) / np.exp([0.0, 1.6]).sum()
    np.testing.assert_allclose(p, [expect0, expect1], rtol=1e-12)
    np.testing.assert_allclose(p.sum(1), 1.0)


def test_fusion_adds_lambda_times_prototype_probs():
    # eq. 7: p* = p + lambda * p_hat; the text classifier says class 0, the prototypes flip it
    p_text = np.array([[0.55, 0.45]])
    p_proto = np.array([[0.2, 0.8]])
    np.testing.assert_allclose(fuse(p_text, p_proto, 1.0), [[0.75, 1.25]])
    np.testing.assert_allclose(fuse(p_text, p_proto, 0.5), [[0.65, 0.85]])
    assert fuse(p_text, p_proto, 1.0).argmax() == 1
    assert fuse(p_text, p_proto, 0.0) is p_text
    assert fuse(p_text, None, 1.0) is p_text


def test_top_k_per_class_falls_through_to_next_class():
    scores = np.array(
        [
            [0.9, 0.1, 0.0],  # 0: best for class 0
            [0.8, 0.2, 0.0],  # 1: second for class 0, pushed off -> class 1
            [0.7, 0.0, 0.3],  # 2: third for class 0, pushed off -> class 2
            [0.1, 0.8, 0.1],  # 3: best for class 1
        ]
    )
    np.testing.assert_array_equal(top_k_per_class(scores, 1), [0, -1, 2, 1])
    # with K = 2 class 0 keeps images 0 and 1; image 2 falls through to class 2
    np.testing.assert_array_equal(top_k_per_class(scores, 2), [0, 0, 2, 1])


def test_top_k_per_class_eviction_reoffers_the_evicted_image():
    # image 0 sits on class 0's board until image 1 (higher) evicts it; image 0 then takes its
    # second choice, class 1, and image 2 (weaker for class 1, nothing for class 0) is left out.
    scores = np.array(
        [
            [0.6, 0.5],
            [0.9, 0.1],
            [0.0, 0.4],
        ]
    )
    np.testing.assert_array_equal(top_k_per_class(scores, 1), [1, 0, -1])


def test_top_k_per_class_gives_every_image_at_most_one_label_and_k_per_class():
    rng = np.random.default_rng(0)
    scores = rng.random((200, 7))
    labels = top_k_per_class(scores, 5)
    assert np.bincount(labels[labels >= 0], minlength=7).tolist() == [5] * 7
    assert (labels >= 0).sum() == 35


def test_ranked_top_k_ranks_within_class():
    scores = np.array([[0.5, 0.1], [0.9, 0.0], [0.2, 0.7], [0.0, 0.8]])
    positions, labels, kept, rank = ranked_top_k(scores, 2)
    by_pos = dict(zip(positions.tolist(), zip(labels.tolist(), rank.tolist(), strict=True), strict=True))
    assert by_pos == {0: (0, 1), 1: (0, 0), 2: (1, 1), 3: (1, 0)}
    np.testing.assert_allclose(kept, scores[positions, labels])


@pytest.mark.parametrize("t,expected", [(0, 10), (1, 20), (4, 50), (9, 100), (12, 100)])
def test_grip_k_schedule(t, expected):
    # |U| = 1000, C = 10: K_t = int((t+1) * 100 / 10), capped at floor(1000 / 10) = 100
    assert grip_k(t, 1000, 10) == expected


def test_pseudo_label_strategies():
    scores = np.eye(4)[[0, 1, 2, 3, 0, 1, 2, 3]] + 0.01 * np.arange(8)[:, None]
    assert (pseudo_label(scores, "none", 0, 16, 10) == -1).all()
    assert (pseudo_label(scores, "fpl", 0, 1, 10) >= 0).sum() == 4
    assert (pseudo_label(scores, "grip", 0, 16, 1) >= 0).sum() == 8  # K_0 = int(8/1/4) = 2
    with pytest.raises(ValueError, match="unknown pseudo-labelling strategy"):
        pseudo_label(scores, "cpl?", 0, 16, 10)
