"""The exploration stage: a share of the list shows items a bandit wants to learn about.

After ranking, rules and diversity have fixed the page, :func:`explore` replaces the
configured number of positions (:class:`~tastemaker.pipeline.config.ExplorationSpec`) with
items a context-free bandit (epsilon-greedy, UCB1 or Thompson sampling) picks among the
explorable candidates — the best ``pool`` below the page, optionally only rarely explored ones —
and says, for every shown item, the probability with which it was chosen: 1.0 for the ranking's
items, the policy's propensity for an explored slot. Explored items are marked with the source
``"explore"`` so the exposure log tells them apart.

The bandits live in an :class:`ExplorationStore`, one per placement, in process. They learn
online through :meth:`ExplorationStore.observe` — one ``(item, reward)`` per explored item
shown, reward 1 when a positive event named its recommendation id, else 0 — and
:meth:`ExplorationStore.rebuild` derives the same rewards from the exposure log and the events,
so a restarted replica recovers exactly the state the online updates built.

Examples
--------
>>> from tastemaker.pipeline.config import ExplorationSpec
>>> spec = ExplorationSpec(policy="epsilon_greedy", slots=1, epsilon=0.5)
>>> bandit = ItemBandit(make_policy(spec))
>>> ids = ["a", "b", "c", "d", "e", "f"]
>>> out = explore([0, 1, 2, 3], list(range(6)), ids, spec, bandit, np.random.default_rng(0))
>>> [ids[p] for p in out.positions], out.propensities, out.explored
(['a', 'b', 'f', 'c'], [1.0, 1.0, 0.5, 1.0], [False, False, True, False])
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from tastemaker.catalog.columns import Columns
from tastemaker.config import FeedbackPolicy
from tastemaker.experiments.bandits import (
    UCB1,
    BanditPolicy,
    CountingPolicy,
    EpsilonGreedy,
    LoggedReward,
    ThompsonSampling,
)
from tastemaker.pipeline.config import ExplorationSpec
from tastemaker.pipeline.state import Candidates
from tastemaker.ranking.examples import exposure_labels
from tastemaker.storage.base import DataStore

EXPLORE_SOURCE: Final = "explore"
"""The source of an item an exploration slot showed (in responses and the exposure log)."""


def make_policy(spec: ExplorationSpec) -> CountingPolicy:
    """A fresh bandit of the kind ``spec`` names (no arms yet)."""
    if spec.policy == "epsilon_greedy":
        return EpsilonGreedy(0, epsilon=spec.epsilon)
    if spec.policy == "ucb1":
        return UCB1(0)
    return ThompsonSampling(0, alpha=spec.prior[0], beta=spec.prior[1], draws=spec.draws)


class ItemBandit:
    """A context-free bandit whose arms are item ids (an arm is added when an item first
    becomes explorable)."""

    def __init__(self, policy: CountingPolicy) -> None:
        self.policy = policy
        self.items: list[str] = []
        self._arm: dict[str, int] = {}

    def arms(self, item_ids: Iterable[str]) -> np.ndarray:
        """The arms of ``item_ids``, adding the unknown ones."""
        out = []
        for item in item_ids:
            arm = self._arm.get(item)
            if arm is None:
                arm = self._arm[item] = len(self.items)
                self.items.append(item)
            out.append(arm)
        self.policy.grow(len(self.items))
        return np.asarray(out, dtype=np.int64)

    def pulls(self, item_ids: Sequence[str]) -> np.ndarray:
        """How often each item was explored (0 for an unknown one)."""
        arms = [self._arm.get(i, -1) for i in item_ids]
        return np.array([self.policy.pulls[a] if a >= 0 else 0.0 for a in arms])

    def select(
        self, item_ids: Sequence[str], n: int, rng: np.random.Generator
    ) -> list[tuple[int, float]]:
        """``n`` of ``item_ids``, as ``(index into item_ids, propensity)`` in pick order."""
        arms = self.arms(item_ids)
        picked = self.policy.select(n=n, rng=rng, arms=arms)
        where = {int(a): j for j, a in enumerate(arms)}
        return [
            (where[int(a)], float(p)) for a, p in zip(picked.arms, picked.propensities, strict=True)
        ]

    def update(self, item_id: str, reward: float) -> None:
        """Learn one outcome of an explored item."""
        self.policy.update(int(self.arms([item_id])[0]), reward)

    def rebuild(self, rewards: Iterable[tuple[str, float]]) -> ItemBandit:
        """Forget everything and replay ``(item, reward)`` outcomes in order."""
        rows = list(rewards)
        arms = self.arms(item for item, _ in rows)
        self.policy.rebuild(LoggedReward(int(a), r) for a, (_, r) in zip(arms, rows, strict=True))
        return self

    def stats(self) -> dict[str, tuple[float, float]]:
        """``item → (times explored, summed reward)`` of the items explored at least once."""
        return {
            item: (float(self.policy.pulls_[a]), float(self.policy.sums_[a]))
            for item, a in self._arm.items()
            if self.policy.pulls_[a] > 0
        }

    def to_dict(self) -> dict[str, Any]:
        return {"items": list(self.items), "policy": self.policy.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ItemBandit:
        policy = BanditPolicy.from_dict(data["policy"])
        if not isinstance(policy, CountingPolicy):
            raise TypeError("an item bandit needs a context-free policy")
        out = cls(policy)
        out.arms(data["items"])
        return out


@dataclass(frozen=True)
class Explored:
    """The page after exploration: candidate positions, each one's propensity, and whether
    an exploration slot placed it."""

    positions: list[int]
    propensities: list[float]
    explored: list[bool]

    @classmethod
    def unchanged(cls, page: Sequence[int]) -> Explored:
        return cls(list(page), [1.0] * len(page), [False] * len(page))


def slot_indices(length: int, count: int, first: int) -> list[int]:
    """``count`` distinct indices spread evenly over ``[first, length)``.

    >>> slot_indices(10, 1, 1), slot_indices(10, 3, 1), slot_indices(4, 3, 1)
    ([5], [3, 5, 7], [1, 2, 3])
    """
    span = length - first
    count = max(0, min(count, span))
    return [first + (j + 1) * span // (count + 1) for j in range(count)]


def explore(
    page: Sequence[int],
    ranked: Sequence[int],
    item_ids: Sequence[str],
    spec: ExplorationSpec,
    bandit: ItemBandit,
    rng: np.random.Generator,
) -> Explored:
    """Replace ``spec.count(len(page))`` positions of ``page`` with explored candidates.

    ``page`` and ``ranked`` hold candidate positions (the page as arranged, all candidates
    best first), ``item_ids`` the candidates' ids. The explorable ones are the first
    ``spec.pool`` of ``ranked`` not on the page, of those only the ones explored fewer than
    ``spec.max_exposures`` times when set. Explored items go to evenly spread slots from
    ``spec.first_position`` on; the page's items keep their order around them, the last ones
    making room.
    """
    wanted = spec.count(len(page))
    if wanted == 0:
        return Explored.unchanged(page)
    shown = set(page)
    pool = [c for c in ranked if c not in shown][: spec.pool]
    if spec.max_exposures is not None and pool:
        tried = bandit.pulls([item_ids[c] for c in pool])
        pool = [c for c, n in zip(pool, tried, strict=True) if n < spec.max_exposures]
    if not pool:
        return Explored.unchanged(page)
    picked = bandit.select([item_ids[c] for c in pool], min(wanted, len(pool)), rng)
    slots = set(slot_indices(len(page), len(picked), spec.first_position))
    kept = iter(page[: len(page) - len(picked)])
    chosen = iter(picked)
    positions, propensities, explored = [], [], []
    for j in range(len(page)):
        if j in slots:
            at, p = next(chosen)
            positions.append(pool[at])
            propensities.append(p)
        else:
            positions.append(next(kept))
            propensities.append(1.0)
        explored.append(j in slots)
    return Explored(positions, propensities, explored)


def request_rng(seed: int | None, placement: str, user_id: str, now: int) -> np.random.Generator:
    """The exploration's random generator for one request: fresh entropy without a seed, else
    a function of the seed, placement, user and request time."""
    if seed is None:
        return np.random.default_rng()
    digest = hashlib.blake2b(f"{placement}\0{user_id}\0{now}".encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "big")])


SpecLookup = Callable[[str], ExplorationSpec | None]
"""A placement's exploration configuration by name (``None`` for an unknown placement)."""


class ExplorationStore:
    """The exploration bandits of every placement, in process (thread-safe).

    Parameters
    ----------
    specs
        Looks up a placement's exploration configuration (for :meth:`observe` and
        :meth:`rebuild`, which are not handed one).
    """

    def __init__(self, specs: SpecLookup) -> None:
        self.specs = specs
        self._bandits: dict[str, tuple[tuple[Any, ...], ItemBandit]] = {}
        self._lock = threading.Lock()

    def bandit(self, placement: str, spec: ExplorationSpec) -> ItemBandit:
        """The placement's bandit; a new one when the policy's configuration changed (its
        state then starts over: :meth:`rebuild` recovers it from the log)."""
        key = (spec.policy, spec.epsilon, spec.prior, spec.draws)
        with self._lock:
            found = self._bandits.get(placement)
            if found is None or found[0] != key:
                found = (key, ItemBandit(make_policy(spec)))
                self._bandits[placement] = found
            return found[1]

    def arrange(
        self,
        placement: str,
        spec: ExplorationSpec,
        candidates: Candidates,
        page: Sequence[int],
        ranked: Sequence[int],
        user_id: str,
        now: int,
    ) -> Explored:
        """:func:`explore` for one request of ``placement``; ``ranked`` holds the candidates'
        positions by score, best first (:func:`~tastemaker.pipeline.rules.order`)."""
        if spec.count(len(page)) == 0:
            return Explored.unchanged(page)
        bandit = self.bandit(placement, spec)
        rng = request_rng(spec.seed, placement, user_id, now)
        with self._lock:
            return explore(page, ranked, candidates.item_ids, spec, bandit, rng)

    def observe(self, placement: str, rewards: Iterable[tuple[str, float]]) -> int:
        """Learn outcomes of items ``placement`` explored: one ``(item, reward)`` per explored
        item shown (reward 1 after a positive event naming its recommendation, else 0).
        Returns how many were learnt (none for a placement without exploration)."""
        spec = self.specs(placement)
        if spec is None:
            return 0
        bandit = self.bandit(placement, spec)
        n = 0
        with self._lock:
            for item, reward in rewards:
                bandit.update(item, reward)
                n += 1
        return n

    def rebuild(
        self,
        exposures: pd.DataFrame,
        events: pd.DataFrame,
        feedback: FeedbackPolicy | None = None,
    ) -> dict[str, int]:
        """Rebuild every placement's bandit from the exposure log (:meth:`ExposureLog.frame`)
        and the detailed events (:meth:`Snapshot.events` with ``detail=True``): each explored
        shown item, in logging order, is rewarded 1 if a positive event (by ``feedback``) named
        its recommendation id and item, else 0. Returns the outcomes replayed per placement."""
        explored = exposures[exposures[Columns.SOURCE] == EXPLORE_SOURCE]
        labelled = exposure_labels(explored, events, feedback) if len(explored) else explored
        out: dict[str, int] = {}
        for placement, rows in labelled.groupby(Columns.PLACEMENT, sort=False):
            spec = self.specs(str(placement))
            if spec is None:
                continue
            rewards = (rows[Columns.LABEL].to_numpy() > 0).astype(np.float64).tolist()
            bandit = ItemBandit(make_policy(spec)).rebuild(
                zip(rows[Columns.ITEM].astype(str).tolist(), rewards, strict=True)
            )
            key = (spec.policy, spec.epsilon, spec.prior, spec.draws)
            with self._lock:
                self._bandits[str(placement)] = (key, bandit)
            out[str(placement)] = len(rows)
        return out

    def rebuild_from(
        self, store: DataStore, feedback: FeedbackPolicy | None = None
    ) -> dict[str, int]:
        """:meth:`rebuild` from ``store``'s exposure log and events."""
        return self.rebuild(store.exposures.frame(), store.snapshot.events(detail=True), feedback)
