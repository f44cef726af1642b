"""Off-policy estimators: known answers on small logs, unbiasedness by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tastemaker.errors import InvalidInput
from tastemaker.experiments.ope import (
    BanditLog,
    cross_fit_rewards,
    direct_method,
    doubly_robust,
    evaluate,
    ips,
    snips,
)

# Two kinds of round (x = 0, 1) with probabilities 0.3 / 0.7, three actions.
P_X = np.array([0.3, 0.7])
REWARD = np.array([[0.2, 0.5, 0.1], [0.6, 0.1, 0.3]])  # P(click | x, a)
BEHAVIOUR = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])  # μ(a | x), not uniform
TARGET = np.array([[0.1, 0.8, 0.1], [0.7, 0.1, 0.2]])  # π(a | x)
TRUE_VALUE = float((P_X[:, None] * TARGET * REWARD).sum())  # 0.3·0.43 + 0.7·0.49 = 0.472


def simulate(rounds: int, rng: np.random.Generator) -> tuple[BanditLog, np.ndarray]:
    x = (rng.random(rounds) < P_X[1]).astype(np.int64)
    u = rng.random(rounds)[:, None]
    actions = (u > np.cumsum(BEHAVIOUR[x], axis=1)).sum(axis=1)
    rewards = (rng.random(rounds) < REWARD[x, actions]).astype(np.float64)
    log = BanditLog(
        actions=actions,
        rewards=rewards,
        propensities=BEHAVIOUR[x, actions],
        context=np.eye(2)[x],
    )
    return log, TARGET[x]


def balanced_log() -> tuple[BanditLog, np.ndarray]:
    # Uniform logging over two actions; action 0 always pays, action 1 never; target 0.8 / 0.2.
    log = BanditLog(
        actions=np.array([0, 1] * 50),
        rewards=np.array([1.0, 0.0] * 50),
        propensities=np.full(100, 0.5),
    )
    return log, np.tile([0.8, 0.2], (100, 1))


def test_known_answer_on_a_balanced_log() -> None:
    log, target = balanced_log()
    assert ips(log, target).value == pytest.approx(0.8)
    assert snips(log, target).value == pytest.approx(0.8)
    truth = np.tile([1.0, 0.0], (100, 1))
    assert direct_method(target, truth).value == pytest.approx(0.8)
    assert direct_method(target, truth).stderr == pytest.approx(0.0)
    # The logging policy's own value (target = behaviour) is the log's mean reward.
    assert ips(log, np.full((100, 2), 0.5)).value == pytest.approx(0.5)


@settings(max_examples=50, deadline=None)
@given(model=hnp.arrays(np.float64, 2, elements=st.floats(0, 1)))
def test_doubly_robust_is_exact_on_the_balanced_log_whatever_the_reward_model(
    model: np.ndarray,
) -> None:
    log, target = balanced_log()
    rewards_hat = np.tile(model, (100, 1))
    assert doubly_robust(log, target, rewards_hat).value == pytest.approx(0.8)
    dm = direct_method(target, rewards_hat).value
    assert dm == pytest.approx(0.8 * model[0] + 0.2 * model[1])


def test_direct_method_with_the_true_reward_model_gives_the_true_value() -> None:
    log, target = simulate(20_000, np.random.default_rng(0))
    x = log.context.argmax(axis=1) if log.context is not None else None
    assert x is not None
    exact = float((TARGET[x] * REWARD[x]).sum(axis=1).mean())  # the value on these rounds' x
    assert direct_method(target, REWARD[x]).value == pytest.approx(exact)
    assert exact == pytest.approx(TRUE_VALUE, abs=0.01)


def test_ips_is_unbiased_by_simulation() -> None:
    rng = np.random.default_rng(1)
    estimates = np.array(
        [[e.value for e in (ips(*s), snips(*s))] for s in (simulate(500, rng) for _ in range(400))]
    )
    mean, se = estimates.mean(axis=0), estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))
    assert abs(mean[0] - TRUE_VALUE) < 4 * se[0], (mean, se, TRUE_VALUE)
    # SNIPS is biased only at order 1/n: its mean is as close at this size.
    assert abs(mean[1] - TRUE_VALUE) < 4 * se[1] + 0.002


def test_estimators_with_a_cross_fitted_reward_model_land_near_the_truth() -> None:
    log, target = simulate(30_000, np.random.default_rng(2))
    rewards_hat = cross_fit_rewards(log, 3, folds=3, seed=0, regularization=100.0)
    assert rewards_hat.shape == (30_000, 3)
    estimates = evaluate(log, target, rewards_hat)
    assert set(estimates) == {"ips", "snips", "dm", "dr"}
    for name in ("ips", "snips", "dr"):
        e = estimates[name]
        low, high = e.interval(z=4.0)
        assert low < TRUE_VALUE < high, (name, e)
    # A logistic model of x + a (no interaction) cannot fit this table exactly: DM is biased,
    # DR corrects it; its standard error is no larger than IPS's.
    assert estimates["dr"].stderr <= estimates["ips"].stderr


def test_cross_fitting_predicts_each_round_from_the_other_folds() -> None:
    # Each round has a feature of its own: a model that saw the round would memorize its
    # reward; a cross-fitted one cannot, so its predictions do not track the round's reward.
    rng = np.random.default_rng(3)
    n = 300
    rewards = (rng.random(n) < 0.5).astype(np.float64)
    log = BanditLog(
        actions=np.zeros(n, dtype=np.int64),
        rewards=rewards,
        propensities=np.ones(n),
        context=np.eye(n),
    )
    q = cross_fit_rewards(log, 1, folds=3, regularization=1e4)[:, 0]
    assert abs(np.corrcoef(q, rewards)[0, 1]) < 0.2


def test_bad_logs_are_rejected_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="probability 0"):
        BanditLog(np.array([0]), np.array([1.0]), np.array([0.0]))
    log, target = balanced_log()
    with pytest.raises(InvalidInput, match="sum to 1"):
        ips(log, target * 2)
    with pytest.raises(InvalidInput, match="0 or 1"):
        cross_fit_rewards(BanditLog(np.array([0]), np.array([0.5]), np.array([1.0])), 1)
