"""The demo's verdicts: paired differences with a 95 % t interval, and a verdict word that follows the interval."""

import math

import pytest

from air_core.intervals import paired_difference, replicates_needed, t_quantile, verdict

# Student's t, 0.975 quantile (any statistics table)
T_975 = {1: 12.706, 2: 4.303, 4: 2.776, 7: 2.365, 9: 2.262, 19: 2.093, 29: 2.045, 120: 1.980}


@pytest.mark.parametrize("df,expected", T_975.items())
def test_t_quantile_matches_the_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)


def test_t_quantile_is_symmetric_and_tends_to_the_normal():
    assert t_quantile(0.025, 19) == pytest.approx(-t_quantile(0.975, 19))
    assert t_quantile(0.5, 7) == pytest.approx(0.0, abs=1e-12)
    assert t_quantile(0.975, 10**6) == pytest.approx(1.960, abs=1e-3)  # the normal's 0.975 quantile


def test_paired_difference_known_answer():
    # d = (2, 4, 6): mean 4, sample sd 2, half-width t(0.975, 2) * 2 / sqrt(3) = 4.303 * 1.1547 = 4.968
    cmp = paired_difference([12, 14, 16], [10, 10, 10], "air_grip", "grip")
    assert cmp.mean == pytest.approx(4.0) and cmp.n == 3
    assert cmp.half_width == pytest.approx(4.3027 * 2 / math.sqrt(3), abs=1e-3)
    assert cmp.line() == "air_grip \u2212 grip: +4.0 [\u22121.0, +9.0] not distinguishable"


@pytest.mark.parametrize(
    "low,high,word",
    [
        (0.1, 3.0, "better"),
        (-3.0, -0.2, "worse"),
        (-1.0, 2.0, "not distinguishable"),
        (0.0, 2.0, "not distinguishable"),
    ],
)
def test_the_verdict_word_follows_the_interval(low, high, word):
    assert verdict(low, high) == word


def test_verdicts_of_clear_and_unclear_differences():
    assert paired_difference([70.1, 71.0, 70.6, 70.4], [60.0, 61.2, 60.5, 59.8]).verdict == "better"
    assert paired_difference([50.1, 51.0, 49.6], [60.0, 61.2, 60.5]).verdict == "worse"
    assert math.isnan(paired_difference([1.0], [0.5]).low)  # one replicate: no interval


def test_replicates_needed_for_a_half_width():
    # sd 2.5 points: 5 replicates give 2.776 * 2.5 / sqrt(5) = 3.10, 6 give 2.571 * 2.5 / sqrt(6) = 2.62
    assert replicates_needed(2.5, 3.0) == 6
