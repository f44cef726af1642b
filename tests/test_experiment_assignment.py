"""Assignment: uniform, stable across restarts, shares respected, layers exclusive."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from tastemaker.experiments import HOLDOUT, Arm, ExperimentSpec, RunningExperiments, resolve
from tastemaker.experiments.assignment import Assigner, layer_position, unit_hash
from tastemaker.experiments.definition import Experiment

NOW = datetime(2026, 3, 1, tzinfo=UTC)
IDS = [f"user-{i}" for i in range(100_000)]


def running(
    experiment_id: str,
    shares: tuple[float, ...] = (0.5, 0.5),
    holdout: float = 0.0,
    layer: str = "home",
    slice: tuple[float, float] = (0.0, 1.0),
    placement: str = "home",
) -> Experiment:
    spec = ExperimentSpec(
        id=experiment_id,
        placement=placement,
        arms=[Arm(name=f"arm{i}", placement=f"p{i}", share=s) for i, s in enumerate(shares)],
        holdout=holdout,
        layer=layer,
        planned_users=100,
    )
    draft = resolve(spec, NOW, salt="salt-1")
    return draft.model_copy(update={"status": "running", "slice": slice, "started_at": NOW})


def test_unit_hash_is_sha256_of_salt_experiment_and_user() -> None:
    """A known answer, computed here independently of the module."""
    digest = hashlib.sha256(b"s\x1fexp-1\x1fuser-42").digest()
    assert unit_hash("s", "exp-1", "user-42") == int.from_bytes(digest[:8], "big") / 2**64
    assert unit_hash("s", "exp-1", "user-42") == pytest.approx(0.7173691340)
    assert unit_hash("ab", "c") != unit_hash("a", "bc")


def test_positions_are_uniform_over_100000_ids() -> None:
    """Chi-square goodness of fit of 100,000 positions in 100 equal bins."""
    u = np.array([unit_hash("salt-1", "exp-1", i) for i in IDS])
    assert ((u >= 0) & (u < 1)).all()
    counts = np.bincount((u * 100).astype(int), minlength=100)
    assert stats.chisquare(counts).pvalue > 0.001
    # Kolmogorov–Smirnov against U(0, 1) as well: bins could hide a skew inside them.
    assert stats.kstest(u, "uniform").pvalue > 0.001


def test_arms_are_the_same_after_a_restart() -> None:
    """New objects (as after a restart, or on another replica) give every user the same arm."""
    first = Assigner.of(running("exp-1", (0.2, 0.3, 0.5), holdout=0.1))
    again = Assigner.of(running("exp-1", (0.2, 0.3, 0.5), holdout=0.1))
    sample = IDS[:5000]
    assert [first.arm(u) for u in sample] == [again.arm(u) for u in sample]
    # Another salt or experiment id reshuffles.
    other = Assigner("exp-2", "salt-1", "home", (0.0, 1.0), [("a", "p", 0.5), ("b", "q", 0.5)])
    flips = sum(first.arm(u) != other.arm(u) for u in sample)
    assert flips > 1000


def test_shares_and_holdout_are_respected() -> None:
    assigner = Assigner.of(running("exp-1", (0.2, 0.3, 0.5), holdout=0.1))
    counts = Counter(assigner.arm(u) for u in IDS)
    planned = {HOLDOUT: 0.1, "arm0": 0.18, "arm1": 0.27, "arm2": 0.45}
    assert set(counts) == set(planned)
    observed = np.array([counts[n] for n in planned])
    expected = np.array(list(planned.values())) * len(IDS)
    assert stats.chisquare(observed, expected).pvalue > 0.001
    assert np.abs(observed / len(IDS) - np.array(list(planned.values()))).max() < 0.01


def test_holdout_users_are_served_the_control_placement() -> None:
    assigner = Assigner.of(running("exp-1", holdout=0.3))
    for u in IDS[:500]:
        found = assigner.assign(u)
        assert found is not None
        if found.arm == HOLDOUT:
            assert found.placement == "p0"
        else:
            assert found.placement == {"arm0": "p0", "arm1": "p1"}[found.arm]


def test_experiments_of_a_layer_never_share_a_user() -> None:
    a = running("a", slice=(0.0, 0.3))
    b = running("b", slice=(0.3, 0.8))
    c = running("c", layer="other", placement="email")
    experiments = RunningExperiments([a, b, c])
    seen = Counter()
    for u in IDS[:20_000]:
        in_a, in_b = Assigner.of(a).includes(u), Assigner.of(b).includes(u)
        assert not (in_a and in_b)
        found = experiments.assign("home", u)
        seen[found.experiment if found else None] += 1
        assert experiments.assign("email", u) is not None  # c: all of its layer
    assert seen["a"] / 20_000 == pytest.approx(0.3, abs=0.015)
    assert seen["b"] / 20_000 == pytest.approx(0.5, abs=0.015)
    assert seen[None] / 20_000 == pytest.approx(0.2, abs=0.015)


def test_layer_and_arm_positions_are_independent() -> None:
    """Being in a layer's slice says nothing about the arm: arms stay balanced inside it."""
    assigner = Assigner.of(running("a", slice=(0.0, 0.3)))
    inside = [u for u in IDS[:40_000] if layer_position("home", u) < 0.3]
    counts = Counter(assigner.arm(u) for u in inside)
    assert stats.chisquare([counts["arm0"], counts["arm1"]]).pvalue > 0.001


@given(st.text(min_size=1, max_size=40))
def test_any_user_id_gets_exactly_one_known_arm(user_id: str) -> None:
    assigner = Assigner.of(running("exp-1", (0.1, 0.9), holdout=0.05))
    assert assigner.arm(user_id) in {"arm0", "arm1", HOLDOUT}
    assert assigner.arm(user_id) == assigner.arm(user_id)
