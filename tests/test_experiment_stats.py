"""The statistics against scipy and textbook values, and simulated experiments: the A/A
false-positive rate, the power the calculator promises, and the sample ratio check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from tastemaker.experiments.assignment import Assigner
from tastemaker.experiments.stats import (
    chi_square_rates,
    compare_means,
    compare_rates,
    power_means,
    power_proportions,
    sample_ratio_mismatch,
    sample_size_means,
    sample_size_proportions,
    two_proportion_ztest,
    welch_ttest,
)

# --- known answers ------------------------------------------------------------------------------


def test_z_test_equals_pearson_chi_square_on_the_2x2_table() -> None:
    z, p = two_proportion_ztest(100, 1000, 130, 1000)
    table = [[100, 900], [130, 870]]
    expected = stats.chi2_contingency(table, correction=False)
    assert float(z) ** 2 == pytest.approx(expected.statistic)
    assert float(p) == pytest.approx(expected.pvalue)
    # By hand: pooled 0.115, se = sqrt(0.115 · 0.885 · 2/1000) = 0.014267, z = 0.03 / se.
    assert float(z) == pytest.approx(0.03 / math.sqrt(0.115 * 0.885 * 0.002))


def test_chi_square_over_three_arms_matches_scipy() -> None:
    chi2, df, p = chi_square_rates([100, 130, 90], [1000, 1000, 900])
    table = [[100, 900], [130, 870], [90, 810]]
    expected = stats.chi2_contingency(table, correction=False)
    assert (chi2, df, p) == pytest.approx((expected.statistic, 2, expected.pvalue))
    assert chi_square_rates([0, 0], [10, 10]) == (0.0, 1, 1.0)  # nothing happened anywhere


def test_welch_matches_scipy_on_raw_data() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.exponential(30.0, 80), rng.exponential(36.0, 120)
    t, df, p = welch_ttest(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    expected = stats.ttest_ind(b, a, equal_var=False)
    assert (float(t), float(p)) == pytest.approx((expected.statistic, expected.pvalue))
    assert float(df) == pytest.approx(expected.df)
    c = compare_means(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    lo, hi = expected.confidence_interval(0.95)
    assert c.difference_ci == pytest.approx((lo, hi))


def test_rate_intervals_by_hand() -> None:
    c = compare_rates(100, 1000, 130, 1000)
    se = math.sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000)
    z = stats.norm.ppf(0.975)
    assert c.difference_ci == pytest.approx((0.03 - z * se, 0.03 + z * se))
    # Delta method on the log ratio: Var = (1 − p₁)/(n₁p₁) + (1 − p₀)/(n₀p₀).
    se_log = math.sqrt(0.87 / 130 + 0.9 / 100)
    assert c.relative == pytest.approx(0.3)
    assert c.relative_ci == pytest.approx(
        (1.3 * math.exp(-z * se_log) - 1, 1.3 * math.exp(z * se_log) - 1)
    )


def test_sample_sizes_match_textbook_values() -> None:
    # Two proportions, α = 0.05 two-sided, power 0.8, no continuity correction.
    assert sample_size_proportions(0.5, 0.6) == 388  # (1.96·√0.495 + 0.8416·√0.49)² / 0.01
    assert sample_size_proportions(0.10, 0.11) == 14751
    assert sample_size_proportions(0.10, 0.11, alpha=0.05, power=0.9) > 14751
    # Cohen (1988), table 2.4.1: d = 0.2, 0.5, 0.8 need 393, 64, 26 per group at power 0.8;
    # the exact noncentral-t answer is 394 for d = 0.2 (Cohen's tables round the other way).
    assert [sample_size_means(d, 1.0) for d in (0.2, 0.5, 0.8)] == [394, 64, 26]
    assert power_means(0.5, 1.0, 64) >= 0.8 > power_means(0.5, 1.0, 63)
    assert power_proportions(0.1, 0.11, 14751) == pytest.approx(0.8, abs=0.001)
    with pytest.raises(ValueError, match="strictly between"):
        sample_size_proportions(0.95, 1.05)


def test_srm_matches_scipy_goodness_of_fit() -> None:
    check = sample_ratio_mismatch(
        {"a": 5100, "b": 4900, "h": 1000}, {"a": 0.45, "b": 0.45, "h": 0.1}
    )
    expected = stats.chisquare([5100, 4900, 1000], [4950, 4950, 1100])
    assert (check.statistic, check.p_value) == pytest.approx((expected.statistic, expected.pvalue))
    assert check.expected == pytest.approx({"a": 4950.0, "b": 4950.0, "h": 1100.0})
    assert not sample_ratio_mismatch({}, {"a": 0.5, "b": 0.5}).flagged


@given(st.integers(0, 500), st.integers(1, 500), st.integers(0, 500), st.integers(1, 500))
def test_rate_comparisons_are_consistent(x0: int, n0: int, x1: int, n1: int) -> None:
    x0, x1 = min(x0, n0), min(x1, n1)
    c = compare_rates(x0, n0, x1, n1)
    assert 0.0 <= c.p_value <= 1.0
    assert c.difference_ci[0] <= c.difference <= c.difference_ci[1]
    if c.relative is not None and c.relative_ci is not None:
        assert c.relative_ci[0] <= c.relative + 1e-12
        assert c.relative <= c.relative_ci[1] + 1e-12
        assert c.relative_ci[0] >= -1.0


# --- simulations (Done when) --------------------------------------------------------------------

RUNS = 1000


def test_aa_tests_of_rates_are_false_positives_about_five_percent_of_the_time() -> None:
    rng = np.random.default_rng(20260301)
    n = 4000
    x0, x1 = rng.binomial(n, 0.08, RUNS), rng.binomial(n, 0.08, RUNS)
    _, p = two_proportion_ztest(x0, n, x1, n)
    rate = float((p < 0.05).mean())
    assert 0.03 <= rate <= 0.07, rate


def test_aa_tests_of_means_are_false_positives_about_five_percent_of_the_time() -> None:
    """Per-user dwell times (skewed: exponential, many zeros), Welch's t-test."""
    rng = np.random.default_rng(7)
    n = 500
    values = rng.exponential(30.0, (2, RUNS, n)) * (rng.random((2, RUNS, n)) < 0.4)
    m, v = values.mean(axis=2), values.var(axis=2, ddof=1)
    _, _, p = welch_ttest(m[0], v[0], n, m[1], v[1], n)
    rate = float((p < 0.05).mean())
    assert 0.03 <= rate <= 0.07, rate


def test_a_planted_lift_of_ten_percent_on_a_rate_reaches_the_promised_power() -> None:
    n = sample_size_proportions(0.10, 0.11, alpha=0.05, power=0.8)
    rng = np.random.default_rng(11)
    x0, x1 = rng.binomial(n, 0.10, RUNS), rng.binomial(n, 0.11, RUNS)
    _, p = two_proportion_ztest(x0, n, x1, n)
    power = float((p < 0.05).mean())
    assert 0.75 <= power <= 0.85, (n, power)


def test_a_planted_lift_of_ten_percent_on_a_mean_reaches_the_promised_power() -> None:
    n = sample_size_means(0.1 * 20.0, sd=20.0, alpha=0.05, power=0.8)  # 20 s → 22 s
    rng = np.random.default_rng(12)
    a = rng.normal(20.0, 20.0, (RUNS, n))
    b = rng.normal(22.0, 20.0, (RUNS, n))
    _, _, p = welch_ttest(a.mean(1), a.var(1, ddof=1), n, b.mean(1), b.var(1, ddof=1), n)
    power = float((p < 0.05).mean())
    assert 0.75 <= power <= 0.85, (n, power)


def test_a_skewed_assignment_is_flagged_and_a_sound_one_is_not() -> None:
    assigner = Assigner("exp", "s", "home", (0.0, 1.0), [("a", "p", 0.5), ("b", "q", 0.5)])
    arms = [assigner.arm(f"u{i}") for i in range(100_000)]
    counts = {"a": arms.count("a"), "b": arms.count("b")}
    assert not sample_ratio_mismatch(counts, {"a": 0.5, "b": 0.5}).flagged
    # Arm b loses 5 % of its users (a redirect that drops some, a logging bug): flagged.
    skewed = {"a": counts["a"], "b": int(counts["b"] * 0.95)}
    check = sample_ratio_mismatch(skewed, {"a": 0.5, "b": 0.5})
    assert check.flagged
    assert check.p_value < 1e-6


def test_sound_assignments_are_rarely_flagged() -> None:
    """Over 1,000 simulated sound experiments the check fires about 0.1 % of the time."""
    rng = np.random.default_rng(3)
    a = rng.binomial(10_000, 0.5, RUNS)
    flagged = sum(
        sample_ratio_mismatch({"a": int(x), "b": 10_000 - int(x)}, {"a": 0.5, "b": 0.5}).flagged
        for x in a
    )
    assert flagged <= 5
