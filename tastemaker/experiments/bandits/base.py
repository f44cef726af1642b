"""The one base class of bandit policies: select with propensities, learn online, rebuild.

A policy chooses among ``n_arms`` arms (integer indices; callers map their own names, such as
item ids or placement configurations, to indices). :meth:`BanditPolicy.select` returns the
chosen arms with their *propensities*: the probability each chosen arm had of being chosen, the
number an exposure logs so that the policy can later be evaluated off-policy. When ``n > 1``
arms are chosen at once, an arm's propensity is its probability of being among the ``n`` (its
inclusion probability; they sum to ``n`` over the eligible arms).

:meth:`BanditPolicy.update` learns from one reward online; :meth:`BanditPolicy.rebuild` starts
over and replays logged rewards, which reproduces the online state exactly (the state is sums
of the same numbers added in the same order). :meth:`BanditPolicy.to_dict` and
:meth:`BanditPolicy.from_dict` round-trip a policy through JSON-able dicts, without pickle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from tastemaker.errors import FieldProblem, InvalidInput


@dataclass(frozen=True)
class Selection:
    """What :meth:`BanditPolicy.select` chose.

    ``arms`` are the chosen arm indices in the order they were picked (best first),
    ``propensities`` the probability each had of being chosen, in (0, 1].
    """

    arms: np.ndarray
    propensities: np.ndarray


@dataclass(frozen=True)
class LoggedReward:
    """One logged outcome: the arm shown, its reward, and the context it was shown in
    (contextual policies only: the chosen arm's feature vector or every arm's)."""

    arm: int
    reward: float
    context: np.ndarray | None = None


def _problem(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"invalid {field}: {reason}", [FieldProblem(field=field, reason=reason)])


def top_n(scores: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` highest ``scores`` (ties broken uniformly at random) and every score's
    probability of being among them: 1 above the cut, the tied share at it, 0 below.

    >>> chosen, p = top_n(np.array([0.2, 0.9, 0.9, 0.1]), 1, np.random.default_rng(0))
    >>> p.tolist()
    [0.0, 0.5, 0.5, 0.0]
    >>> int(chosen[0]) in (1, 2)
    True
    """
    count = len(scores)
    n = min(n, count)
    probs = np.zeros(count)
    if n == 0:
        return np.zeros(0, dtype=np.int64), probs
    # A random permutation first, then a stable sort: ties come out in random order.
    perm = rng.permutation(count)
    order = perm[np.argsort(-scores[perm], kind="stable")]
    cut = scores[order[n - 1]]
    above = scores > cut
    tied = scores == cut
    probs[above] = 1.0
    probs[tied] = (n - int(above.sum())) / int(tied.sum())
    return order[:n].astype(np.int64), probs


class BanditPolicy(ABC):
    """A bandit policy over ``n_arms`` arms.

    Subclasses implement :meth:`_choose` (the choice and every eligible arm's probability),
    :meth:`_learn` (one reward), :meth:`_reset`, :meth:`_grow` and the state accessors; this
    class does the validation, the eligible subset, rebuilding and serialization once.

    Parameters
    ----------
    n_arms
        The number of arms (more can be added with :meth:`grow`).
    """

    kind: ClassVar[str] = ""
    contextual: ClassVar[bool] = False
    _kinds: ClassVar[dict[str, type[BanditPolicy]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            BanditPolicy._kinds[cls.kind] = cls

    def __init__(self, n_arms: int) -> None:
        if n_arms < 0:
            raise _problem("n_arms", "must be 0 or more")
        self.n_arms = int(n_arms)

    # --- the public verbs ------------------------------------------------------------------

    def select(
        self,
        context: np.ndarray | None = None,
        n: int = 1,
        *,
        rng: np.random.Generator,
        arms: Sequence[int] | np.ndarray | None = None,
    ) -> Selection:
        """Choose ``n`` distinct arms among ``arms`` (all if ``None``).

        Returns the chosen arms (fewer when fewer are eligible) and the probability each had
        of being chosen, with respect to the same eligible set.
        """
        eligible = self._eligible(arms, n)
        if not len(eligible):
            return Selection(np.zeros(0, dtype=np.int64), np.zeros(0))
        chosen, probs = self._choose(eligible, min(n, len(eligible)), context, rng)
        return Selection(eligible[chosen], probs[chosen])

    def probabilities(
        self,
        context: np.ndarray | None = None,
        n: int = 1,
        *,
        rng: np.random.Generator,
        arms: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Every eligible arm's probability of being among ``n`` chosen (aligned with
        ``arms``, or with all arms): a distribution summing to 1 when ``n`` is 1."""
        eligible = self._eligible(arms, n)
        if not len(eligible):
            return np.zeros(0)
        return self._choose(eligible, min(n, len(eligible)), context, rng)[1]

    def update(self, arm: int, reward: float, context: np.ndarray | None = None) -> None:
        """Learn from one ``reward`` of ``arm`` (shown in ``context``)."""
        if not 0 <= arm < self.n_arms:
            raise _problem("arm", f"{arm} is not one of the {self.n_arms} arms")
        if not np.isfinite(reward):
            raise _problem("reward", "must be a finite number")
        if self.contextual and context is None:
            raise _problem("context", f"{self.kind} learns from the arm's features")
        self._learn(int(arm), float(reward), context)

    def rebuild(self, rewards: Iterable[LoggedReward]) -> Self:
        """Forget everything learnt and replay ``rewards`` in order: the state equals the one
        :meth:`update` built online from the same rewards. Arms beyond ``n_arms`` are added."""
        rows = list(rewards)
        self._reset()
        top = max((r.arm for r in rows), default=-1)
        if top >= self.n_arms:
            self.grow(top + 1)
        for r in rows:
            self.update(r.arm, r.reward, r.context)
        return self

    def grow(self, n_arms: int) -> None:
        """Add arms (with no history) up to ``n_arms`` in all."""
        if n_arms > self.n_arms:
            self._grow(n_arms - self.n_arms)
            self.n_arms = int(n_arms)

    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON-able data: kind, parameters and learnt state."""
        return {
            "kind": self.kind,
            "n_arms": self.n_arms,
            "params": self.params(),
            "state": self._state(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BanditPolicy:
        """The policy :meth:`to_dict` described (of any kind)."""
        kind = data.get("kind")
        found = BanditPolicy._kinds.get(str(kind))
        if found is None:
            known = ", ".join(sorted(BanditPolicy._kinds))
            raise _problem("kind", f"unknown bandit policy {kind!r} (known: {known})")
        policy = found(int(data["n_arms"]), **data.get("params", {}))
        policy._load_state(data.get("state", {}))
        return policy

    def fresh(self) -> BanditPolicy:
        """A policy with the same kind and parameters and nothing learnt."""
        return BanditPolicy.from_dict(
            {"kind": self.kind, "n_arms": self.n_arms, "params": self.params()}
        )

    # --- for subclasses --------------------------------------------------------------------

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The constructor's keyword parameters (besides ``n_arms``)."""

    @abstractmethod
    def _choose(
        self, eligible: np.ndarray, n: int, context: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices into ``eligible`` of the ``n`` chosen arms (in pick order) and every
        eligible arm's probability of being chosen."""

    @abstractmethod
    def _learn(self, arm: int, reward: float, context: np.ndarray | None) -> None: ...

    @abstractmethod
    def _reset(self) -> None: ...

    @abstractmethod
    def _grow(self, extra: int) -> None: ...

    @abstractmethod
    def _state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _load_state(self, state: dict[str, Any]) -> None: ...

    def _eligible(self, arms: Sequence[int] | np.ndarray | None, n: int) -> np.ndarray:
        if n < 1:
            raise _problem("n", "must be 1 or more")
        if arms is None:
            return np.arange(self.n_arms, dtype=np.int64)
        out = np.asarray(arms, dtype=np.int64).reshape(-1)
        if len(out) and (out.min() < 0 or out.max() >= self.n_arms):
            raise _problem("arms", f"arms must lie in [0, {self.n_arms})")
        if len(np.unique(out)) != len(out):
            raise _problem("arms", "eligible arms must be distinct")
        return out
