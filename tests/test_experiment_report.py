"""KPIs from exposures and attributed events, and the report's decisions in words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tastemaker.catalog.columns import Columns
from tastemaker.experiments import HOLDOUT, Arm, ExperimentSpec, build_report, resolve
from tastemaker.experiments.definition import Experiment
from tastemaker.experiments.kpis import EXPOSURES, IMPRESSIONS, SEGMENT, user_outcomes
from tastemaker.experiments.metrics import parse_metric
from tastemaker.experiments.plot import lift_chart, render_html
from tastemaker.experiments.stats import compare_rates

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def experiment(arms: int = 2, planned: int = 1000, **extra: Any) -> Experiment:
    spec = ExperimentSpec(
        id="exp",
        placement="home",
        arms=[Arm(name=n, placement="home") for n in ["A", "B", "C"][:arms]],
        planned_users=planned,
        **extra,
    )
    draft = resolve(spec, NOW, salt="s")
    return draft.model_copy(update={"status": "running", "started_at": NOW, "slice": (0.0, 1.0)})


def users(counts: dict[str, tuple[int, int]], segment: str | None = None) -> pd.DataFrame:
    """Per-user rows: ``arm → (users, users who clicked)``."""
    rows = []
    for arm, (n, clicked) in counts.items():
        for i in range(n):
            rows.append(
                {
                    Columns.USER: f"{arm}-{segment}-{i}",
                    Columns.ARM: arm,
                    EXPOSURES: 2,
                    IMPRESSIONS: 10,
                    "ctr": float(i < clicked),
                }
            )
    frame = pd.DataFrame(rows)
    if segment is not None:
        frame[SEGMENT] = segment
    return frame


def test_user_outcomes_attribute_events_by_recommendation_and_user() -> None:
    shown = pd.DataFrame(
        {
            Columns.RECOMMENDATION_ID: ["r1", "r1", "r1", "r2", "r3"],
            Columns.PAGE: [0, 0, 1, 0, 0],
            Columns.USER: ["u1", "u1", "u1", "u1", "u2"],
            Columns.ARM: ["A", "A", "A", "A", "B"],
        }
    )
    events = pd.DataFrame(
        {
            Columns.RECOMMENDATION_ID: ["r1", "r2", "r3", "r3", None, "r9"],
            Columns.USER: ["u1", "u1", "u9", "u2", "u2", "u2"],
            Columns.TYPE: ["click", "dwell", "click", "purchase", "click", "click"],
            Columns.VALUE: [np.nan, 30.0, np.nan, np.nan, np.nan, np.nan],
        }
    )
    metrics = [parse_metric(m) for m in ("ctr", "conversion", "dwell", "mean:click")]
    out = user_outcomes(shown, events, metrics).set_index(Columns.USER)
    assert out.loc["u1", EXPOSURES] == 3  # r1 pages 0 and 1, r2
    assert out.loc["u1", IMPRESSIONS] == 4
    # u2's click came with another user's id or none: not attributed; its purchase is.
    assert out[["ctr", "conversion"]].to_dict("index") == {
        "u1": {"ctr": 1.0, "conversion": 0.0},
        "u2": {"ctr": 0.0, "conversion": 1.0},
    }
    assert out.loc["u1", "dwell"] == pytest.approx(10.0)  # 30 s over 3 exposures
    assert out.loc["u1", "mean:click"] == pytest.approx(1 / 3)  # a click without value is 1


def test_a_winner_is_called_in_words_with_its_interval() -> None:
    report = build_report(experiment(), users({"A": (1000, 100), "B": (1000, 130)}))
    c = compare_rates(100, 1000, 130, 1000)
    assert c.relative_ci is not None
    assert (report.verdict, report.winner) == ("winner", "B")
    lo, hi = c.relative_ci
    assert report.decision == (
        f"Variant B increases click-through rate by 30.0% (95% CI {lo:.1%} to {hi:.1%}), "
        "significant at α=0.05; the planned sample size was reached."
    )
    (row,) = report.comparisons
    assert (row.p_value, row.relative) == pytest.approx((c.p_value, 0.3))
    assert not report.srm.flagged


def test_no_winner_before_the_planned_sample_size() -> None:
    """However significant: 43 % of the horizon is not enough."""
    report = build_report(experiment(planned=1000), users({"A": (430, 20), "B": (440, 90)}))
    assert report.comparisons[0].significant
    assert (report.verdict, report.winner) == ("not_yet", None)
    assert report.decision.startswith("Not yet: 43% of the planned sample (430 of 1000 users")


def test_a_sample_ratio_mismatch_overrides_everything() -> None:
    report = build_report(experiment(planned=100), users({"A": (1000, 100), "B": (850, 200)}))
    assert report.srm.flagged
    assert report.verdict == "srm"
    assert report.decision.startswith("SRM detected: do not trust this experiment.")


def test_no_difference_and_a_worse_variant() -> None:
    same = build_report(experiment(), users({"A": (1000, 100), "B": (1000, 104)}))
    assert same.verdict == "no_difference"
    assert same.decision.startswith("No significant difference in click-through rate at α=0.05")
    worse = build_report(experiment(), users({"A": (1000, 130), "B": (1000, 80)}))
    assert (worse.verdict, worse.winner) == ("worse", "A")
    assert "variant B decreases click-through rate by" in worse.decision


def test_several_variants_are_tested_at_a_bonferroni_level() -> None:
    report = build_report(
        experiment(arms=3), users({"A": (1000, 100), "B": (1000, 128), "C": (1000, 160)})
    )
    assert report.comparison_alpha == pytest.approx(0.025)
    by_arm = {c.arm: c for c in report.comparisons}
    assert 0.025 < by_arm["B"].p_value < 0.05  # significant at 0.05, not at 0.025
    assert not by_arm["B"].significant
    assert by_arm["C"].significant
    assert report.winner == "C"
    assert "Bonferroni" in report.decision
    assert "97.5% CI" in report.decision
    (omnibus,) = report.rate_tests
    assert omnibus.df == 2
    assert omnibus.p_value < 0.001


def test_the_holdout_is_its_own_group_outside_the_comparisons() -> None:
    data = users({"A": (900, 90), "B": (900, 120), HOLDOUT: (200, 10)})
    report = build_report(experiment(holdout=0.1), data)
    assert report.holdout is not None
    assert report.holdout.users == 200
    assert [a.name for a in report.arms] == ["A", "B"]
    assert all(c.arm != HOLDOUT and c.control == "A" for c in report.comparisons)
    assert report.srm.expected == pytest.approx({"A": 900.0, "B": 900.0, HOLDOUT: 200.0})


def test_segments_are_broken_down_and_drawn() -> None:
    data = pd.concat(
        [
            users({"A": (600, 60), "B": (600, 90)}, segment="Readers"),
            users({"A": (400, 40), "B": (400, 40)}, segment="Buyers <&>"),
        ]
    )
    report = build_report(experiment(), data)
    assert [s.segment for s in report.segments] == ["Buyers <&>", "Readers"]
    readers = report.segments[1]
    assert [a.users for a in readers.arms] == [600, 600]
    assert readers.comparisons[0].relative == pytest.approx(0.5)
    page = render_html(report)
    assert "Buyers &lt;&amp;&gt;" in page
    assert "Buyers <&>" not in page
    svg = lift_chart(report)
    assert svg.startswith("<svg")
    assert svg.count("<circle") == 1
