"""Paired differences with a 95 % interval over independent replicates, and the verdict the interval supports.

A comparison of two methods (AiR on GRIP against GRIP, say) is made on the same replicates (the same run
seeds, so the same splits and initialisations): d_i = a_i - b_i. The interval is Student's t interval of
the mean difference, mean(d) ± t(0.975, n - 1) · sd(d) / sqrt(n) with the sample sd (ddof 1). The verdict
only claims what the interval supports: 'better' when it lies above 0, 'worse' when below, else 'not
distinguishable'. The t quantile is scipy's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (scipy's ``t.ppf``)."""
    return float(stats.t.ppf(p, df))


@dataclass(frozen=True)
class Comparison:
    """One paired comparison over replicates: a − b."""

    a: str
    b: str
    mean: float
    low: float
    high: float
    n: int
    sd: float = math.nan  # sample sd (ddof 1) of the paired differences
    measure: str = ""  # what is compared when it is not the test top-1, e.g. 'pseudo-label accuracy'

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def verdict(self) -> str:
        """What the interval supports: better, worse, or not distinguishable."""
        return verdict(self.low, self.high)

    @property
    def label(self) -> str:
        """`a − b`, with the measure in parentheses when there is one."""
        return f"{self.a} \u2212 {self.b}" + (f" ({self.measure})" if self.measure else "")

    def line(self) -> str:
        """`a − b: +1.6 [−1.2, +4.4] not distinguishable` (points; the minus sign is U+2212)."""
        return comparison_line(self.label, self.mean, self.low, self.high, self.n)


def comparison_line(label: str, mean: float, low: float, high: float, n: int) -> str:
    """`<label>: +1.6 [−1.2, +4.4] not distinguishable`: the difference, its interval, the verdict."""

    def signed(x: float) -> str:
        return f"{x:+.1f}".replace("-", "\u2212")

    interval = f"[{signed(low)}, {signed(high)}]" if n > 1 else "[no interval: one replicate]"
    return f"{label}: {signed(mean)} {interval} {verdict(low, high)}"


def verdict(low: float, high: float) -> str:
    """'better' when the interval lies above 0, 'worse' below, else (0 inside, or no interval) 'not distinguishable'."""
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "not distinguishable"


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    name_a: str = "a",
    name_b: str = "b",
    confidence: float = CONFIDENCE,
    measure: str = "",
) -> Comparison:
    """The mean of a_i − b_i over paired replicates with its t interval (NaN bounds with one replicate)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    if n == 0:
        raise ValueError(f"no paired replicates of {name_a} and {name_b} to compare")
    mean = float(d.mean())
    if n < 2:
        return Comparison(name_a, name_b, mean, math.nan, math.nan, n, measure=measure)
    sd = float(d.std(ddof=1))
    half = t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return Comparison(name_a, name_b, mean, mean - half, mean + half, n, sd, measure)


def replicates_needed(sd: float, half_width: float, confidence: float = CONFIDENCE, most: int = 100) -> int:
    """The fewest replicates whose t interval's half-width, at sample sd ``sd``, is at most ``half_width``."""
    for n in range(2, most + 1):
        if t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n) <= half_width:
            return n
    return most
