"""Bandit policies: regret on simulated Bernoulli arms, exact propensities, rebuild == online."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from tastemaker.errors import InvalidInput
from tastemaker.experiments.bandits import (
    UCB1,
    BanditPolicy,
    EpsilonGreedy,
    LinUCB,
    LoggedReward,
    SegmentArmChooser,
    ThompsonSampling,
    joint_features,
)

ARMS = np.array([0.25, 0.4, 0.5, 0.65])
HORIZON = 6000
SEEDS = range(5)

Factory = Callable[[], BanditPolicy]
CONTEXT_FREE: dict[str, Factory] = {
    # A constant ε explores forever (linear regret); the decaying one is the sub-linear variant.
    "epsilon_greedy": lambda: EpsilonGreedy(len(ARMS), epsilon=1.0, decay=0.01),
    "ucb1": lambda: UCB1(len(ARMS)),
    # Few draws: the choice itself takes one posterior draw; the rest only estimate propensities.
    "thompson": lambda: ThompsonSampling(len(ARMS), draws=20),
}


def regret_curve(policy: BanditPolicy, probs: np.ndarray, horizon: int, seed: int) -> np.ndarray:
    """Cumulative pseudo-regret (the gap of each chosen arm's mean to the best) per round."""
    rng = np.random.default_rng(seed)
    gaps = np.empty(horizon)
    for t in range(horizon):
        arm = int(policy.select(rng=rng).arms[0])
        policy.update(arm, float(rng.random() < probs[arm]))
        gaps[t] = probs.max() - probs[arm]
    return np.cumsum(gaps)


def halves(factory: Factory) -> tuple[float, float]:
    """Mean regret over the first and over the second half of the horizon, over the seeds."""
    curves = np.array([regret_curve(factory(), ARMS, HORIZON, s) for s in SEEDS])
    first = curves[:, HORIZON // 2 - 1]
    return float(first.mean()), float((curves[:, -1] - first).mean())


@pytest.mark.parametrize("name", sorted(CONTEXT_FREE))
def test_regret_grows_sublinearly(name: str) -> None:
    # Linear regret would add as much in the second half as in the first; logarithmic regret
    # adds a small fraction (ln 2 / ln(T/2) asymptotically).
    first, second = halves(CONTEXT_FREE[name])
    assert second < 0.5 * first, (first, second)


def test_the_criterion_tells_linear_regret_apart() -> None:
    first, second = halves(lambda: EpsilonGreedy(len(ARMS), epsilon=0.1))
    assert second > 0.6 * first


def test_thompson_sampling_beats_epsilon_greedy() -> None:
    def total(factory: Factory) -> float:
        return float(np.mean([regret_curve(factory(), ARMS, HORIZON, s)[-1] for s in SEEDS]))

    thompson = total(CONTEXT_FREE["thompson"])
    assert thompson < 0.6 * total(CONTEXT_FREE["epsilon_greedy"])
    assert thompson < 0.6 * total(lambda: EpsilonGreedy(len(ARMS), epsilon=0.1))


def test_linucb_beats_the_best_context_free_arm_when_rewards_depend_on_context() -> None:
    # Two kinds of user, three arms: the best arm depends on the user.
    probs = np.array([[0.7, 0.3, 0.4], [0.2, 0.6, 0.4]])
    best_fixed = probs.mean(axis=0).max()  # 0.45: the best a context-free policy can do
    users, items = np.eye(2), np.eye(3)
    earned = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        policy = LinUCB(3, dim=6, alpha=0.5)
        expected = np.empty(3000)
        for t in range(3000):
            u = int(rng.integers(2))
            x = joint_features(users[u], items)
            arm = int(policy.select(x, rng=rng).arms[0])
            policy.update(arm, float(rng.random() < probs[u, arm]), x)
            expected[t] = probs[u, arm]
        earned.append(expected.mean())
    assert np.mean(earned) > best_fixed + 0.15, earned


# --- propensities ---------------------------------------------------------------------------


def trained(policy: BanditPolicy, seed: int = 0, rounds: int = 60) -> BanditPolicy:
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        arm = int(rng.integers(policy.n_arms))
        policy.update(arm, float(rng.random() < 0.2 + 0.15 * arm))
    return policy


@pytest.mark.parametrize(
    "policy",
    [EpsilonGreedy(4, epsilon=0.3), UCB1(4), ThompsonSampling(4, draws=4000)],
    ids=["epsilon_greedy", "ucb1", "thompson"],
)
def test_choices_happen_as_often_as_their_propensities_say(policy: BanditPolicy) -> None:
    trained(policy, rounds=12)
    rng = np.random.default_rng(3)
    expected = policy.probabilities(rng=rng, n=2)
    picks = np.zeros(4)
    rounds = 1500
    for _ in range(rounds):
        s = policy.select(rng=rng, n=2)
        picks[s.arms] += 1
        assert np.allclose(s.propensities, expected[s.arms], atol=0.04)
    se = np.sqrt(np.maximum(expected * (1 - expected), 1e-4) / rounds)
    assert np.all(np.abs(picks / rounds - expected) < 5 * se + 0.01), (picks / rounds, expected)


def test_thompson_propensity_matches_the_exact_integral() -> None:
    # P(θ0 > θ1) for θ0 ~ Beta(3, 5), θ1 ~ Beta(2, 2): ∫ f0(x) F1(x) dx.
    policy = ThompsonSampling(2, draws=200_000)
    for arm, reward in [(0, 1), (0, 1), (0, 0), (0, 0), (0, 0), (0, 0), (1, 1), (1, 0)]:
        policy.update(arm, reward)
    p0, _ = integrate.quad(lambda x: stats.beta.pdf(x, 3, 5) * stats.beta.cdf(x, 2, 2), 0, 1)
    p = policy.probabilities(rng=np.random.default_rng(0))
    assert p[0] == pytest.approx(p0, abs=0.005)


def test_ucb_is_deterministic_except_for_ties() -> None:
    policy = trained(UCB1(4))
    s = policy.select(rng=np.random.default_rng(0))
    assert s.propensities.tolist() == [1.0]
    fresh = UCB1(4)  # every arm untried: a four-way tie
    assert fresh.select(rng=np.random.default_rng(0)).propensities.tolist() == [0.25]


def test_epsilon_greedy_propensities_are_exact() -> None:
    policy = trained(EpsilonGreedy(4, epsilon=0.2))
    best = int(np.nanargmax(policy.means))
    p = policy.probabilities(rng=np.random.default_rng(0))
    assert p[best] == pytest.approx(0.8 + 0.2 / 4)
    assert np.delete(p, best) == pytest.approx([0.05] * 3)


POLICIES: list[Callable[[int], BanditPolicy]] = [
    lambda n: EpsilonGreedy(n, epsilon=0.2),
    lambda n: EpsilonGreedy(n, epsilon=0.5, decay=0.1),
    lambda n: UCB1(n),
    lambda n: ThompsonSampling(n, draws=200),
]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.integers(0, len(POLICIES) - 1),
    n_arms=st.integers(1, 8),
    history=st.lists(st.tuples(st.integers(0, 7), st.sampled_from([0.0, 1.0, 0.5])), max_size=40),
    subset_seed=st.integers(0, 2**16),
    n=st.integers(1, 4),
)
def test_propensities_are_probabilities(
    kind: int, n_arms: int, history: list[tuple[int, float]], subset_seed: int, n: int
) -> None:
    policy = POLICIES[kind](n_arms)
    for arm, reward in history:
        policy.update(arm % n_arms, reward)
    rng = np.random.default_rng(subset_seed)
    eligible = rng.choice(n_arms, size=int(rng.integers(1, n_arms + 1)), replace=False)
    p = policy.probabilities(rng=rng, arms=eligible)
    assert np.all((p >= 0) & (p <= 1))
    assert p.sum() == pytest.approx(1.0)  # a single pick: a distribution over the eligible arms
    p_n = policy.probabilities(rng=rng, n=n, arms=eligible)
    assert np.all(p_n <= 1 + 1e-12)
    assert p_n.sum() == pytest.approx(min(n, len(eligible)))
    s = policy.select(rng=rng, n=n, arms=eligible)
    assert len(s.arms) == min(n, len(eligible)) == len(set(s.arms.tolist()))
    assert set(s.arms.tolist()) <= set(eligible.tolist())
    assert np.all((s.propensities > 0) & (s.propensities <= 1))


@settings(max_examples=60, deadline=None)
@given(
    kind=st.integers(0, len(POLICIES) - 1),
    history=st.lists(
        st.tuples(st.integers(0, 9), st.floats(0, 1, allow_nan=False)), min_size=1, max_size=60
    ),
)
def test_rebuild_from_logged_rewards_equals_the_online_state(
    kind: int, history: list[tuple[int, float]]
) -> None:
    online = POLICIES[kind](3)
    for arm, reward in history:
        online.grow(arm + 1)
        online.update(arm, reward)
    rebuilt = POLICIES[kind](3).rebuild(LoggedReward(a, r) for a, r in history)
    assert rebuilt.to_dict() == online.to_dict()
    # And the round trip through JSON keeps every bit of it.
    again = BanditPolicy.from_dict(json.loads(json.dumps(online.to_dict())))
    assert again.to_dict() == online.to_dict()
    a = again.select(rng=np.random.default_rng(5), n=2)
    b = online.select(rng=np.random.default_rng(5), n=2)
    assert a.arms.tolist() == b.arms.tolist()
    assert a.propensities.tolist() == b.propensities.tolist()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), rounds=st.integers(1, 50))
def test_linucb_rebuild_equals_the_online_state(seed: int, rounds: int) -> None:
    rng = np.random.default_rng(seed)
    online = LinUCB(4, dim=3, alpha=0.7)
    log = []
    for _ in range(rounds):
        x = rng.normal(size=(4, 3))
        s = online.select(x, rng=rng)
        reward = float(rng.random())
        online.update(int(s.arms[0]), reward, x)
        assert 0 < s.propensities[0] <= 1
        log.append(LoggedReward(int(s.arms[0]), reward, x[s.arms[0]]))  # the arm's row only
    rebuilt = LinUCB(4, dim=3, alpha=0.7).rebuild(log)
    assert rebuilt.to_dict() == online.to_dict()
    assert np.array_equal(rebuilt.theta(), online.theta())


def test_bad_input_is_rejected_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="not one of the 3 arms"):
        UCB1(3).update(3, 1.0)
    with pytest.raises(InvalidInput, match=r"rewards in \[0, 1\]"):
        ThompsonSampling(3).update(0, 2.0)
    with pytest.raises(InvalidInput, match="features"):
        LinUCB(3, dim=2).update(0, 1.0)
    with pytest.raises(InvalidInput, match="unknown bandit policy"):
        BanditPolicy.from_dict({"kind": "magic", "n_arms": 2})
    with pytest.raises(InvalidInput, match="distinct"):
        UCB1(3).select(rng=np.random.default_rng(0), arms=[1, 1])


# --- choosing placement configurations per segment ---------------------------------------------


def test_segment_chooser_learns_a_different_winner_per_segment() -> None:
    rates = {("readers", "control"): 0.1, ("readers", "fresh"): 0.3}
    rates |= {("buyers", "control"): 0.3, ("buyers", "fresh"): 0.1}
    chooser = SegmentArmChooser(["control", "fresh"], ThompsonSampling(0, draws=200))
    rng = np.random.default_rng(0)
    shown: dict[tuple[str, str], int] = dict.fromkeys(rates, 0)
    log = []
    for t in range(4000):
        segment = "readers" if t % 2 else "buyers"
        arm, propensity = chooser.choose(segment, rng=rng)
        assert 0 < propensity <= 1
        reward = float(rng.random() < rates[segment, arm])
        chooser.update(segment, arm, reward)
        shown[segment, arm] += 1
        log.append((segment, arm, reward))
    assert shown["readers", "fresh"] > 4 * shown["readers", "control"]
    assert shown["buyers", "control"] > 4 * shown["buyers", "fresh"]
    rebuilt = SegmentArmChooser(["control", "fresh"], ThompsonSampling(0, draws=200)).rebuild(log)
    assert rebuilt.to_dict() == chooser.to_dict()
    assert SegmentArmChooser.from_dict(json.loads(json.dumps(chooser.to_dict()))).to_dict() == (
        chooser.to_dict()
    )
    p = chooser.probabilities("readers", rng=rng)
    assert sum(p.values()) == pytest.approx(1.0)
    with pytest.raises(InvalidInput, match="unknown arm"):
        chooser.update("readers", "other", 1.0)
