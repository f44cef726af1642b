"""Context-free bandits over counts: epsilon-greedy, UCB1 and Beta-Bernoulli Thompson sampling.

Each keeps, per arm, the number of rewards seen (``pulls``) and their sum; everything else is
derived, so replaying logged rewards rebuilds the state exactly.

Examples
--------
>>> rng = np.random.default_rng(7)
>>> policy = ThompsonSampling(3, draws=2000)
>>> for arm, reward in [(0, 1), (0, 1), (0, 0), (1, 0), (1, 0), (2, 0)]:
...     policy.update(arm, reward)
>>> choice = policy.select(rng=rng)
>>> float(choice.propensities[0]) > 0
True
>>> p = policy.probabilities(rng=rng)
>>> bool(abs(p.sum() - 1) < 1e-9 and p[0] > p[1])
True
>>> rebuilt = ThompsonSampling(3, draws=2000).rebuild(
...     [LoggedReward(a, r) for a, r in [(0, 1), (0, 1), (0, 0), (1, 0), (1, 0), (2, 0)]])
>>> rebuilt.to_dict() == policy.to_dict()
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tastemaker.experiments.bandits.base import BanditPolicy, LoggedReward, _problem, top_n

__all__ = ["UCB1", "CountingPolicy", "EpsilonGreedy", "LoggedReward", "ThompsonSampling"]


class CountingPolicy(BanditPolicy):
    """The context-free policies' shared state: rewards seen (pulls) and their sum per arm."""

    def __init__(self, n_arms: int) -> None:
        super().__init__(n_arms)
        self._reset()

    @property
    def pulls(self) -> np.ndarray:
        """Rewards seen per arm."""
        return self.pulls_

    @property
    def means(self) -> np.ndarray:
        """Mean reward per arm (NaN for an arm never pulled)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.pulls_ > 0, self.sums_ / self.pulls_, np.nan)

    def _learn(self, arm: int, reward: float, context: np.ndarray | None) -> None:
        self.pulls_[arm] += 1.0
        self.sums_[arm] += reward

    def _reset(self) -> None:
        self.pulls_ = np.zeros(self.n_arms)
        self.sums_ = np.zeros(self.n_arms)

    def _grow(self, extra: int) -> None:
        self.pulls_ = np.concatenate([self.pulls_, np.zeros(extra)])
        self.sums_ = np.concatenate([self.sums_, np.zeros(extra)])

    def _state(self) -> dict[str, Any]:
        return {"pulls": self.pulls_.tolist(), "sums": self.sums_.tolist()}

    def _load_state(self, state: dict[str, Any]) -> None:
        if state:
            self.pulls_ = np.asarray(state["pulls"], dtype=np.float64)
            self.sums_ = np.asarray(state["sums"], dtype=np.float64)
            if self.pulls_.shape != (self.n_arms,) or self.sums_.shape != (self.n_arms,):
                raise _problem("state", f"pulls and sums need one value per arm ({self.n_arms})")

    def _optimistic_means(self, eligible: np.ndarray) -> np.ndarray:
        """Means of the eligible arms, +inf for arms never pulled (so each is tried once)."""
        pulls = self.pulls_[eligible]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(pulls > 0, self.sums_[eligible] / pulls, np.inf)


class EpsilonGreedy(CountingPolicy):
    """Epsilon-greedy: with probability ε a uniformly random choice, else the best mean.

    ε decays as ``epsilon / (1 + decay · t)`` after ``t`` rewards; with ``decay = 0`` it
    explores at a constant rate forever (so its regret grows linearly, by design), with
    ``decay > 0`` the exploration shrinks like 1/t and the regret grows logarithmically
    (Auer, Cesa-Bianchi & Fischer 2002, ε_n-greedy). Arms never pulled count as the best.

    With ``n`` arms at once the choice is all-or-nothing: with probability ε a uniform random
    ``n``-subset, else the ``n`` best means (ties shared). An arm's propensity is then exactly
    ``(1 - ε) · g + ε · n / K`` with ``g`` its greedy inclusion probability and ``K`` the
    number of eligible arms.
    """

    kind = "epsilon_greedy"

    def __init__(self, n_arms: int, epsilon: float = 0.1, decay: float = 0.0) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise _problem("epsilon", "must lie in [0, 1]")
        if decay < 0:
            raise _problem("decay", "must be 0 or more")
        self.epsilon = float(epsilon)
        self.decay = float(decay)
        super().__init__(n_arms)

    def params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "decay": self.decay}

    def current_epsilon(self) -> float:
        """The exploration rate now."""
        return self.epsilon / (1.0 + self.decay * float(self.pulls_.sum()))

    def _choose(
        self, eligible: np.ndarray, n: int, context: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        eps = self.current_epsilon()
        greedy, g = top_n(self._optimistic_means(eligible), n, rng)
        probs = (1.0 - eps) * g + eps * n / len(eligible)
        if rng.random() < eps:
            return rng.choice(len(eligible), size=n, replace=False).astype(np.int64), probs
        return greedy, probs


class UCB1(CountingPolicy):
    """UCB1 (Auer, Cesa-Bianchi & Fischer 2002): the arm with the highest upper confidence
    bound ``mean + c · sqrt(2 ln t / pulls)``; arms never pulled first. Rewards in [0, 1].

    Deterministic: a chosen arm's propensity is 1, or its share of a tie at the cut (ties are
    broken uniformly at random).
    """

    kind = "ucb1"

    def __init__(self, n_arms: int, c: float = 1.0) -> None:
        if c < 0:
            raise _problem("c", "must be 0 or more")
        self.c = float(c)
        super().__init__(n_arms)

    def params(self) -> dict[str, Any]:
        return {"c": self.c}

    def bounds(self, eligible: np.ndarray | None = None) -> np.ndarray:
        """The upper confidence bounds of ``eligible`` (all) arms."""
        idx = np.arange(self.n_arms) if eligible is None else eligible
        t = max(float(self.pulls_.sum()), 1.0)
        pulls = self.pulls_[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            width = self.c * np.sqrt(2.0 * np.log(t) / pulls)
        return np.where(pulls > 0, self.sums_[idx] / np.maximum(pulls, 1.0) + width, np.inf)

    def _choose(
        self, eligible: np.ndarray, n: int, context: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return top_n(self.bounds(eligible), n, rng)


class ThompsonSampling(CountingPolicy):
    """Thompson sampling with a Beta-Bernoulli posterior: ``Beta(alpha + successes,
    beta + failures)`` per arm; each choice draws one value per arm and takes the best ``n``.
    Rewards in [0, 1] (a fractional reward counts as that fraction of a success).

    Propensities are estimated by Monte Carlo: ``draws`` posterior draws are taken, the first
    is the actual choice, and an arm's propensity is the share of draws in which it is among
    the best ``n`` (so a chosen arm's is at least ``1 / draws``, and a single pick's estimates
    sum to 1 exactly). The standard error of an estimate ``p`` is ``sqrt(p (1 - p) / draws)``;
    the default 1,000 draws give ±0.016 at ``p = 0.5``. Cost: ``draws × eligible arms`` Beta
    draws per choice.
    """

    kind = "thompson"

    def __init__(
        self, n_arms: int, alpha: float = 1.0, beta: float = 1.0, draws: int = 1000
    ) -> None:
        if alpha <= 0 or beta <= 0:
            raise _problem("alpha", "the Beta prior's alpha and beta must be positive")
        if draws < 1:
            raise _problem("draws", "must be 1 or more")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.draws = int(draws)
        super().__init__(n_arms)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "draws": self.draws}

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """The Beta posterior's ``(alpha, beta)`` per arm."""
        return self.alpha + self.sums_, self.beta + self.pulls_ - self.sums_

    def _learn(self, arm: int, reward: float, context: np.ndarray | None) -> None:
        if not 0.0 <= reward <= 1.0:
            raise _problem("reward", "Beta-Bernoulli Thompson sampling needs rewards in [0, 1]")
        super()._learn(arm, reward, context)

    def _choose(
        self, eligible: np.ndarray, n: int, context: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.posterior()
        k = len(eligible)
        samples = rng.beta(a[eligible], b[eligible], size=(self.draws, k))
        if n == 1:
            best = np.argmax(samples, axis=1)[:, None]
        else:
            best = np.argpartition(-samples, n - 1, axis=1)[:, :n]
        probs = np.bincount(best.ravel(), minlength=k) / self.draws
        first = best[0]
        chosen = first[np.argsort(-samples[0, first], kind="stable")]
        return chosen.astype(np.int64), probs
