"""The report of an experiment: numbers per arm and metric, the tests, and the decision in words.

The decision follows a **fixed-horizon** rule: the experiment states its planned sample size
(users per arm) up front, and no winner is called before every arm reached it, however good the
numbers look earlier (looking repeatedly and stopping at the first significant result inflates
the false-positive rate far above ``alpha``). With several variants each is tested at ``alpha``
divided by their number (Bonferroni). A sample ratio mismatch overrides everything: the
experiment cannot be trusted.

Per segment (when labels are given) the same numbers and comparisons are shown for the primary
metric, as exploration: no decision is taken per segment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field

from tastemaker.catalog.columns import Columns
from tastemaker.config import Settings
from tastemaker.experiments.definition import HOLDOUT, Experiment
from tastemaker.experiments.kpis import SEGMENT, GroupNumbers, load_outcomes, summarize
from tastemaker.experiments.metrics import Metric
from tastemaker.experiments.stats import (
    Comparison,
    chi_square_rates,
    compare_means,
    compare_rates,
    sample_ratio_mismatch,
)
from tastemaker.storage import DataStore

__all__ = ["ExperimentReport", "build_report", "experiment_report", "segment_labels"]

Verdict = Literal["draft", "srm", "not_yet", "winner", "no_difference", "worse"]


def _num(value: float | None) -> float | None:
    """JSON has no NaN: missing numbers are ``null``."""
    return None if value is None or not math.isfinite(value) else float(value)


class MetricOut(BaseModel):
    value: float | None = Field(description="The rate (share of users) or the mean per user")
    successes: int | None = Field(default=None, description="Users with an event (rates)")
    sd: float | None = Field(default=None, description="Per-user standard deviation")


class GroupOut(BaseModel):
    name: str
    users: int
    exposures: int = Field(description="Lists shown (pages)")
    impressions: int = Field(description="Items shown")
    metrics: dict[str, MetricOut]

    @classmethod
    def of(cls, name: str, numbers: GroupNumbers) -> GroupOut:
        return cls(
            name=name,
            users=numbers.users,
            exposures=numbers.exposures,
            impressions=numbers.impressions,
            metrics={
                m: MetricOut(
                    value=_num(s.value),
                    successes=s.successes,
                    sd=_num(math.sqrt(s.variance)) if s.variance >= 0 else None,
                )
                for m, s in numbers.metrics.items()
            },
        )


class ComparisonOut(BaseModel):
    metric: str
    arm: str
    control: str
    test: str
    control_value: float | None
    value: float | None
    difference: float | None
    difference_ci: tuple[float | None, float | None]
    relative: float | None = Field(description="variant / control − 1")
    relative_ci: tuple[float | None, float | None] | None = Field(
        description="Delta method on the log of the ratio"
    )
    p_value: float
    confidence: float = Field(description="Of the intervals: 1 − alpha per comparison")
    significant: bool

    @classmethod
    def of(cls, metric: str, arm: str, control: str, c: Comparison, alpha: float) -> ComparisonOut:
        rel_ci = None if c.relative_ci is None else (_num(c.relative_ci[0]), _num(c.relative_ci[1]))
        return cls(
            metric=metric,
            arm=arm,
            control=control,
            test=c.test,
            control_value=_num(c.control),
            value=_num(c.variant),
            difference=_num(c.difference),
            difference_ci=(_num(c.difference_ci[0]), _num(c.difference_ci[1])),
            relative=_num(c.relative),
            relative_ci=rel_ci,
            p_value=c.p_value,
            confidence=c.confidence,
            significant=c.significant(alpha),
        )


class RateTestOut(BaseModel):
    metric: str
    chi_square: float
    df: int
    p_value: float


class SrmOut(BaseModel):
    observed: dict[str, int]
    expected: dict[str, float]
    chi_square: float
    p_value: float
    flagged: bool = Field(description="p < 0.001: the assignment or the logging is broken")


class SegmentOut(BaseModel):
    segment: str
    arms: list[GroupOut]
    comparisons: list[ComparisonOut]


class ExperimentReport(BaseModel):
    experiment: str
    placement: str
    status: str
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    control: str
    primary_metric: str
    metrics: dict[str, str] = Field(description="Metric name → what it measures")
    alpha: float
    comparison_alpha: float = Field(description="alpha divided among the variants (Bonferroni)")
    planned_users: int = Field(description="Users per arm: the fixed horizon")
    progress: float = Field(description="Users of the smallest arm / planned_users")
    horizon_reached: bool
    arms: list[GroupOut]
    holdout: GroupOut | None
    comparisons: list[ComparisonOut]
    rate_tests: list[RateTestOut] = Field(description="Chi-square over all arms, per rate")
    srm: SrmOut
    segments: list[SegmentOut]
    verdict: Verdict
    winner: str | None
    decision: str = Field(description="The decision in plain words")


def _compare(metric: Metric, control: GroupNumbers, arm: GroupNumbers, alpha: float) -> Comparison:
    c, v = control.metrics[metric.name], arm.metrics[metric.name]
    if metric.kind == "rate":
        return compare_rates(c.successes or 0, c.users, v.successes or 0, v.users, alpha)
    return compare_means(c.value, c.variance, c.users, v.value, v.variance, v.users, alpha)


def _comparisons(
    experiment: Experiment, groups: Mapping[str, GroupNumbers], metrics: list[Metric]
) -> list[ComparisonOut]:
    alpha = experiment.comparison_alpha
    control = groups[experiment.control]
    return [
        ComparisonOut.of(
            m.name, a.name, experiment.control, _compare(m, control, groups[a.name], alpha), alpha
        )
        for m in metrics
        for a in experiment.variants
    ]


def _groups(
    users: pd.DataFrame, names: list[str], metrics: list[Metric]
) -> dict[str, GroupNumbers]:
    by_arm = dict(tuple(users.groupby(Columns.ARM, sort=False)))
    empty = users.iloc[0:0]
    return {n: summarize(by_arm.get(n, empty), metrics) for n in names}


def build_report(experiment: Experiment, users: pd.DataFrame) -> ExperimentReport:
    """The report of ``experiment`` from its per-user outcomes (see
    :func:`~tastemaker.experiments.kpis.user_outcomes`; a ``SEGMENT`` column adds the
    breakdown)."""
    metrics = experiment.metric_list()
    arm_names = [experiment.control, *(a.name for a in experiment.variants)]
    groups = _groups(users, [*arm_names, HOLDOUT], metrics)
    comparisons = _comparisons(experiment, groups, metrics)
    rate_tests = []
    for m in metrics:
        if m.kind == "rate" and len(arm_names) > 2:
            chi2, df, p = chi_square_rates(
                [groups[n].metrics[m.name].successes or 0 for n in arm_names],
                [groups[n].users for n in arm_names],
            )
            rate_tests.append(RateTestOut(metric=m.name, chi_square=chi2, df=df, p_value=p))
    srm = sample_ratio_mismatch(
        {n: groups[n].users for n in experiment.planned_shares()}, experiment.planned_shares()
    )
    smallest = min(groups[n].users for n in arm_names)
    progress = smallest / experiment.planned_users
    segments = []
    if SEGMENT in users.columns:
        for label, part in sorted(users.groupby(SEGMENT), key=lambda kv: str(kv[0])):
            seg_groups = _groups(part, arm_names, metrics[:1])
            segments.append(
                SegmentOut(
                    segment=str(label),
                    arms=[GroupOut.of(n, seg_groups[n]) for n in arm_names],
                    comparisons=_comparisons(experiment, seg_groups, metrics[:1]),
                )
            )
    report = ExperimentReport(
        experiment=experiment.id,
        placement=experiment.placement,
        status=experiment.status,
        created_at=experiment.created_at,
        started_at=experiment.started_at,
        stopped_at=experiment.stopped_at,
        control=experiment.control,
        primary_metric=metrics[0].name,
        metrics={m.name: m.label for m in metrics},
        alpha=experiment.alpha,
        comparison_alpha=experiment.comparison_alpha,
        planned_users=experiment.planned_users,
        progress=progress,
        horizon_reached=progress >= 1.0,
        arms=[GroupOut.of(n, groups[n]) for n in arm_names],
        holdout=GroupOut.of(HOLDOUT, groups[HOLDOUT]) if experiment.holdout > 0 else None,
        comparisons=comparisons,
        rate_tests=rate_tests,
        srm=SrmOut(
            observed=srm.observed,
            expected=srm.expected,
            chi_square=srm.statistic,
            p_value=srm.p_value,
            flagged=srm.flagged,
        ),
        segments=segments,
        verdict="draft",
        winner=None,
        decision="",
    )
    verdict, winner, decision = decide(experiment, report, metrics[0])
    return report.model_copy(update={"verdict": verdict, "winner": winner, "decision": decision})


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _effect(c: ComparisonOut, label: str) -> str:
    """'increases CTR by 12.3% (95% CI 4.1%–20.5%)', or by the absolute difference when the
    control's value is 0."""
    level = (
        f"{c.confidence:.0%}"
        if round(c.confidence * 100, 6).is_integer()
        else f"{c.confidence:.1%}"
    )
    verb = "increases" if (c.difference or 0) > 0 else "decreases"
    if c.relative is not None and c.relative_ci is not None:
        lo, hi = c.relative_ci
        size = f"{abs(c.relative):.1%} ({level} CI {_pct(lo)} to {_pct(hi)})"
    else:
        lo, hi = c.difference_ci
        size = f"{abs(c.difference or 0):.4g} ({level} CI {lo or 0:.4g} to {hi or 0:.4g}, absolute)"
    return f"{verb} {label} by {size}"


def decide(
    experiment: Experiment, report: ExperimentReport, primary: Metric
) -> tuple[Verdict, str | None, str]:
    """The verdict, the winning arm (if any) and the decision in plain words."""
    label = primary.label
    if experiment.status == "draft":
        return "draft", None, "Not started: the experiment is a draft."
    if report.srm.flagged:
        return (
            "srm",
            None,
            "SRM detected: do not trust this experiment. The users per group "
            f"({', '.join(f'{k} {v}' for k, v in report.srm.observed.items())}) differ from the "
            f"planned shares (chi-square p = {report.srm.p_value:.2g} < 0.001): look for a broken "
            "assignment, a redirect or lost logging in one arm.",
        )
    smallest = min(a.users for a in report.arms)
    if not report.horizon_reached:
        return (
            "not_yet",
            None,
            f"Not yet: {report.progress:.0%} of the planned sample ({smallest} of "
            f"{experiment.planned_users} users in the smallest arm). This is a fixed-horizon "
            "test: no winner is called before every arm reached the planned sample size.",
        )
    alpha = f"α={experiment.alpha:g}" + (
        f" (α={experiment.comparison_alpha:.3g} per variant, Bonferroni)"
        if len(experiment.variants) > 1
        else ""
    )
    primary_rows = [c for c in report.comparisons if c.metric == primary.name]
    better = [c for c in primary_rows if c.significant and (c.difference or 0) > 0]
    worse = [c for c in primary_rows if c.significant and (c.difference or 0) < 0]
    if better:
        best = max(better, key=lambda c: c.difference or 0)
        text = (
            f"Variant {best.arm} {_effect(best, label)}, significant at {alpha}; the planned "
            "sample size was reached."
        )
        others = [c for c in better if c is not best]
        if others:
            text += " Also better than the control: " + ", ".join(c.arm for c in others) + "."
        return "winner", best.arm, text
    if worse and len(worse) == len(primary_rows):
        parts = "; ".join(f"variant {c.arm} {_effect(c, label)}" for c in worse)
        return (
            "worse",
            experiment.control,
            f"Keep the control: {parts}, significant at {alpha}; the planned sample size was "
            "reached.",
        )
    parts = "; ".join(
        f"{c.arm} {'+' if (c.relative or c.difference or 0) >= 0 else '−'}"
        f"{abs(c.relative if c.relative is not None else c.difference or 0):.1%}"
        f" (p = {c.p_value:.2g})"
        for c in primary_rows
    )
    return (
        "no_difference",
        None,
        f"No significant difference in {label} at {alpha} ({parts}); the planned sample size "
        "was reached. Keep the control, or plan a larger test for a smaller effect.",
    )


def segment_labels(store: DataStore, settings: Settings, now: datetime) -> dict[str, str] | None:
    """User key → segment name by the active segmentation, or ``None`` without one.

    The labels are the users' current segments; a variant that changes behaviour can move users
    between segments, so the per-segment breakdown is exploratory.
    """
    from tastemaker.profiles.segments import UNSEGMENTED_NAME, label_store, load_segmentation

    found = load_segmentation(store)
    if found is None:
        return None
    names = label_store(store, settings, found[1], now)
    return {str(u): str(n) for u, n in names.items() if n is not None and n != UNSEGMENTED_NAME}


def experiment_report(
    store: DataStore, experiment: Experiment, labels: Mapping[str, str] | None = None
) -> ExperimentReport:
    """The report of a stored experiment from the store's exposures and events."""
    return build_report(experiment, load_outcomes(store, experiment, labels))
