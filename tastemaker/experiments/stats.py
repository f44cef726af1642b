"""The statistics of A/B tests: tests for rates and means, lift intervals, sample ratio mismatch,
and the sample-size calculator that sets an experiment's fixed horizon.

The unit of analysis is the **user** (assignment is per user, so users are the independent
draws): a rate is the share of users with an outcome, a mean is over per-user values.

- Rates: the two-proportion z-test with the pooled standard error (equal to Pearson's chi-square
  on the 2×2 table without continuity correction), and a chi-square test of homogeneity over all
  arms at once. Intervals for the difference use the unpooled standard error (Wald).
- Means: Welch's t-test (unequal variances, Welch–Satterthwaite degrees of freedom); the interval
  for the difference uses the same t distribution.
- Relative lift ``variant / control − 1``: the **delta method on the log of the ratio**,
  ``Var(log m₁ − log m₀) ≈ Var(m₁)/m₁² + Var(m₀)/m₀²``, a normal interval there, transformed
  back (so it is asymmetric and never below −100 %; on the log scale it agrees better with the
  test than a symmetric interval of the ratio does).
- Sample ratio mismatch: a chi-square goodness-of-fit test of the users per arm against the
  planned shares, flagged at ``p < 0.001``.
- Peeking: tests are fixed-horizon. The planned sample size per arm comes from
  :func:`sample_size_proportions` or :func:`sample_size_means`; a report calls no winner before
  every arm reached it (see :mod:`tastemaker.experiments.report`).

The test functions take numbers or numpy arrays (elementwise), so thousands of simulated
experiments are analysed in one call.

>>> z, p = two_proportion_ztest(100, 1000, 130, 1000)
>>> round(float(z), 3), round(float(p), 4)
(2.103, 0.0355)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "SRM_THRESHOLD",
    "Comparison",
    "SampleRatio",
    "chi_square_rates",
    "compare_means",
    "compare_rates",
    "power_means",
    "power_proportions",
    "sample_ratio_mismatch",
    "sample_size_means",
    "sample_size_proportions",
    "two_proportion_ztest",
    "welch_ttest",
]

FloatArray = npt.NDArray[np.float64]
SRM_THRESHOLD = 0.001
"""A sample ratio mismatch is flagged below this p-value: strict, because the check runs on
every report of every experiment and a false alarm discards a sound experiment."""


def _arr(x: Any) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def two_proportion_ztest(x0: Any, n0: Any, x1: Any, n1: Any) -> tuple[FloatArray, FloatArray]:
    """z and the two-sided p-value of ``x1/n1 − x0/n0`` with the pooled standard error.

    Elementwise over arrays. Where both rates are 0 or 1 (no variance), ``z`` is 0 and ``p``
    is 1.

    >>> z, p = two_proportion_ztest([50, 50], [1000, 1000], [50, 80], [1000, 1000])
    >>> [round(float(v), 4) for v in p]
    [1.0, 0.0065]
    """
    x0, n0, x1, n1 = _arr(x0), _arr(n0), _arr(x1), _arr(n1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x0 + x1) / (n0 + n1)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
        z = np.where(se > 0, (x1 / n1 - x0 / n0) / se, 0.0)
    p = 2 * stats.norm.sf(np.abs(z))
    return _arr(z), _arr(p)


def welch_ttest(
    mean0: Any, var0: Any, n0: Any, mean1: Any, var1: Any, n1: Any
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Welch's t, its degrees of freedom and the two-sided p-value of ``mean1 − mean0``.

    ``var`` are sample variances (``ddof=1``). Elementwise over arrays; without variance in
    either arm ``t`` is 0 and ``p`` is 1.

    >>> t, df, p = welch_ttest(10.0, 4.0, 50, 11.0, 9.0, 60)
    >>> round(float(t), 3), round(float(df), 1), round(float(p), 4)
    (2.085, 103.3, 0.0395)
    """
    m0, v0, n0, m1, v1, n1 = map(_arr, (mean0, var0, n0, mean1, var1, n1))
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = v0 / n0, v1 / n1
        se = np.sqrt(a + b)
        t = np.where(se > 0, (m1 - m0) / se, 0.0)
        df = np.where(se > 0, (a + b) ** 2 / (a**2 / (n0 - 1) + b**2 / (n1 - 1)), np.inf)
    df = np.where(np.isfinite(df), df, np.maximum(n0 + n1 - 2, 1))
    p = np.where(se > 0, 2 * stats.t.sf(np.abs(t), df), 1.0)
    return _arr(t), _arr(df), _arr(p)


def chi_square_rates(successes: Sequence[int], totals: Sequence[int]) -> tuple[float, int, float]:
    """Pearson's chi-square test that every group has the same rate (no continuity correction):
    statistic, degrees of freedom, p-value. For two groups it equals the pooled z-test (χ² = z²).

    >>> chi2, df, p = chi_square_rates([100, 130], [1000, 1000])
    >>> round(chi2, 3), df, round(p, 4)
    (4.422, 1, 0.0355)
    """
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(totals, dtype=np.float64)
    df = max(len(x) - 1, 0)
    table = np.stack([x, n - x], axis=1)
    if df == 0 or (table.sum(axis=0) == 0).any() or (n == 0).any():
        return 0.0, df, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), df, float(result.pvalue)


@dataclass(frozen=True)
class Comparison:
    """A variant against the control on one metric."""

    control: float
    variant: float
    difference: float
    difference_ci: tuple[float, float]
    relative: float | None
    """``variant / control − 1``; ``None`` when the control's value is 0."""
    relative_ci: tuple[float, float] | None
    """Delta-method interval of the relative lift (on the log scale, see the module)."""
    statistic: float
    p_value: float
    test: str
    confidence: float

    def significant(self, alpha: float) -> bool:
        return self.p_value < alpha


def _relative(
    m0: float, var0: float, n0: float, m1: float, var1: float, n1: float, z: float
) -> tuple[float | None, tuple[float, float] | None]:
    """Relative lift and its delta-method interval on the log scale (``var`` per
    observation); no interval when either mean is not positive."""
    if m0 <= 0 or n0 == 0 or n1 == 0:
        return None, None
    rel = m1 / m0 - 1
    if m1 <= 0:
        return rel, None
    se = math.sqrt(var1 / n1 / m1**2 + var0 / n0 / m0**2)
    log_ratio = math.log(m1 / m0)
    return rel, (math.exp(log_ratio - z * se) - 1, math.exp(log_ratio + z * se) - 1)


def compare_rates(x0: int, n0: int, x1: int, n1: int, alpha: float = 0.05) -> Comparison:
    """The variant's rate ``x1/n1`` against the control's ``x0/n0``: pooled z-test, Wald
    interval of the difference, delta-method interval of the relative lift, at ``1 − alpha``.

    >>> c = compare_rates(100, 1000, 130, 1000)
    >>> round(c.difference, 3), [round(v, 4) for v in c.difference_ci]
    (0.03, [0.0021, 0.0579])
    >>> round(c.relative, 2), [round(v, 4) for v in c.relative_ci]
    (0.3, [0.017, 0.6618])
    """
    if n0 == 0 or n1 == 0:
        return _empty(
            "two-proportion z-test", x0 / n0 if n0 else math.nan, x1 / n1 if n1 else math.nan, alpha
        )
    p0, p1 = x0 / n0, x1 / n1
    z_stat, p = two_proportion_ztest(x0, n0, x1, n1)
    se = math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    q = float(stats.norm.ppf(1 - alpha / 2))
    return _comparison(
        "two-proportion z-test",
        (p0, p0 * (1 - p0), n0),
        (p1, p1 * (1 - p1), n1),
        se,
        q,
        (float(z_stat), float(p)),
        alpha,
    )


def compare_means(
    mean0: float,
    var0: float,
    n0: int,
    mean1: float,
    var1: float,
    n1: int,
    alpha: float = 0.05,
) -> Comparison:
    """The variant's mean against the control's: Welch's t-test, a Welch interval of the
    difference and a delta-method interval of the relative lift, at ``1 − alpha``.

    >>> c = compare_means(10.0, 4.0, 50, 11.0, 9.0, 60)
    >>> round(c.p_value, 4), [round(v, 3) for v in c.difference_ci]
    (0.0395, [0.049, 1.951])
    """
    if n0 < 2 or n1 < 2:
        return _empty("Welch's t-test", mean0, mean1, alpha)
    t_stat, df, p = welch_ttest(mean0, var0, n0, mean1, var1, n1)
    se = math.sqrt(var0 / n0 + var1 / n1)
    q = float(stats.t.ppf(1 - alpha / 2, float(df)))
    return _comparison(
        "Welch's t-test",
        (mean0, var0, n0),
        (mean1, var1, n1),
        se,
        q,
        (float(t_stat), float(p)),
        alpha,
    )


def _comparison(
    test: str,
    control: tuple[float, float, float],
    variant: tuple[float, float, float],
    se: float,
    q: float,
    result: tuple[float, float],
    alpha: float,
) -> Comparison:
    """A comparison from each arm's ``(mean, variance per observation, n)``, the standard
    error of the difference and the quantile ``q`` its interval spans on either side."""
    (m0, var0, n0), (m1, var1, n1) = control, variant
    d = m1 - m0
    z = float(stats.norm.ppf(1 - alpha / 2))
    rel, rel_ci = _relative(m0, var0, n0, m1, var1, n1, z)
    return Comparison(
        control=m0,
        variant=m1,
        difference=d,
        difference_ci=(d - q * se, d + q * se),
        relative=rel,
        relative_ci=rel_ci,
        statistic=result[0],
        p_value=result[1],
        test=test,
        confidence=1 - alpha,
    )


def _empty(test: str, control: float, variant: float, alpha: float) -> Comparison:
    """A comparison without enough data: no interval, p = 1."""
    nan = (math.nan, math.nan)
    return Comparison(
        control, variant, variant - control, nan, None, None, 0.0, 1.0, test, 1 - alpha
    )


@dataclass(frozen=True)
class SampleRatio:
    """The sample-ratio-mismatch check: observed users per group against the planned shares."""

    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float
    p_value: float
    flagged: bool


def sample_ratio_mismatch(
    counts: dict[str, int], shares: dict[str, float], threshold: float = SRM_THRESHOLD
) -> SampleRatio:
    """Chi-square goodness of fit of ``counts`` to the planned ``shares`` (normalized); flagged
    when ``p < threshold``. A mismatch means the assignment or the logging is broken (users
    lost or added in one arm), so the experiment's numbers cannot be trusted.

    >>> sample_ratio_mismatch({"a": 5000, "b": 5000}, {"a": 0.5, "b": 0.5}).flagged
    False
    >>> check = sample_ratio_mismatch({"a": 5200, "b": 4800}, {"a": 0.5, "b": 0.5})
    >>> check.flagged, round(check.p_value, 6)
    (True, 6.3e-05)
    """
    names = list(shares)
    observed = np.array([counts.get(n, 0) for n in names], dtype=np.float64)
    weights = np.array([shares[n] for n in names], dtype=np.float64)
    total = observed.sum()
    expected = total * weights / weights.sum()
    if total == 0 or len(names) < 2:
        chi2, p = 0.0, 1.0
    else:
        result = stats.chisquare(observed, f_exp=expected)
        chi2, p = float(result.statistic), float(result.pvalue)
    return SampleRatio(
        observed={n: int(c) for n, c in zip(names, observed, strict=True)},
        expected={n: float(e) for n, e in zip(names, expected, strict=True)},
        statistic=chi2,
        p_value=p,
        flagged=p < threshold,
    )


# --- planning ---------------------------------------------------------------------------------


def _check_plan(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    if not 0 < power < 1:
        raise ValueError("power must be between 0 and 1")


def power_proportions(p0: float, p1: float, n: float, alpha: float = 0.05) -> float:
    """The power of the two-sided pooled z-test with ``n`` users per arm when the rates are
    ``p0`` and ``p1`` (normal approximation, the far tail neglected).

    >>> round(power_proportions(0.10, 0.11, 14751), 3)
    0.8
    """
    z_a = float(stats.norm.ppf(1 - alpha / 2))
    bar = (p0 + p1) / 2
    spread = math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))
    x = (abs(p1 - p0) * math.sqrt(n) - z_a * math.sqrt(2 * bar * (1 - bar))) / spread
    return float(stats.norm.cdf(x))


def sample_size_proportions(p0: float, p1: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per arm for the two-sided pooled z-test to detect rates ``p0`` → ``p1`` with
    ``power`` at level ``alpha`` (the classic formula without continuity correction, e.g.
    Chow, Shao & Wang, *Sample Size Calculations in Clinical Research*, §4.2)::

        n = (z_{1−α/2}·√(2·p̄·q̄) + z_{1−β}·√(p₀q₀ + p₁q₁))² / (p₁ − p₀)²

    >>> sample_size_proportions(0.10, 0.11)  # a 10 % relative lift on a 10 % rate
    14751
    >>> sample_size_proportions(0.5, 0.6)
    388
    """
    _check_plan(alpha, power)
    if not (0 < p0 < 1 and 0 < p1 < 1) or p0 == p1:
        raise ValueError("rates must lie strictly between 0 and 1 and differ")
    z_a = float(stats.norm.ppf(1 - alpha / 2))
    z_b = float(stats.norm.ppf(power))
    bar = (p0 + p1) / 2
    top = z_a * math.sqrt(2 * bar * (1 - bar)) + z_b * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))
    return math.ceil(top**2 / (p1 - p0) ** 2)


def power_means(delta: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """The power of the two-sided t-test with ``n`` users per arm (equal standard deviations
    ``sd``) to detect a difference ``delta``: exact, from the noncentral t distribution.

    >>> round(power_means(0.5, 1.0, 64), 3)
    0.801
    """
    if n < 2:
        return 0.0
    df = 2 * n - 2
    ncp = abs(delta) / (sd * math.sqrt(2 / n))
    q = float(stats.t.ppf(1 - alpha / 2, df))
    return float(stats.nct.sf(q, df, ncp) + stats.nct.cdf(-q, df, ncp))


def sample_size_means(delta: float, sd: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per arm for the two-sided t-test to detect a difference of means ``delta`` when
    each arm's standard deviation is ``sd``: the smallest ``n`` whose exact power
    (:func:`power_means`) reaches ``power``.

    >>> sample_size_means(0.5, 1.0)  # Cohen's table: d = 0.5 needs 64 per group
    64
    >>> sample_size_means(0.2, 1.0)
    394
    """
    _check_plan(alpha, power)
    if delta == 0 or not sd > 0:
        raise ValueError("delta must be non-zero and sd positive")
    z_a = float(stats.norm.ppf(1 - alpha / 2))
    z_b = float(stats.norm.ppf(power))
    n = max(2, math.ceil(2 * (sd * (z_a + z_b) / delta) ** 2))
    while n > 2 and power_means(delta, sd, n - 1, alpha) >= power:
        n -= 1
    while power_means(delta, sd, n, alpha) < power:
        n += 1
    return n
