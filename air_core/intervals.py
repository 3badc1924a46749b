"""Paired differences with a 95 % interval over independent replicates, and the verdict the interval supports.

A comparison of two methods (AiR on GRIP against GRIP, say) is made on the same replicates (the same run
seeds, so the same splits and initialisations): d_i = a_i - b_i. The interval is Student's t interval of
the mean difference, mean(d) ± t(0.975, n - 1) · sd(d) / sqrt(n) with the sample sd (ddof 1). The verdict
only claims what the interval supports: 'better' when it lies above 0, 'worse' when below, else 'not
distinguishable'. No scipy: the t quantile is the inverse of the t CDF, written with the regularised
incomplete beta function (Numerical Recipes' continued fraction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (Lentz's method)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t (bisection on the CDF, to 1e-10)."""
    low, high = -1e3, 1e3
    for _ in range(200):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
    return 0.5 * (low + high)


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
