"""Choosing among named arms (placement configurations) per segment: an adaptive split.

Instead of a fixed A/B split, :class:`SegmentArmChooser` keeps one context-free bandit per user
segment over the same arm names, so each segment drifts towards the configuration that works
for it while still logging the probability of every assignment.

Examples
--------
>>> chooser = SegmentArmChooser(["control", "fresh"], ThompsonSampling(0, draws=500))
>>> for _ in range(30):
...     chooser.update("Frequent Buyers", "fresh", 1.0)
...     chooser.update("Frequent Buyers", "control", 0.0)
>>> arm, propensity = chooser.choose("Frequent Buyers", rng=np.random.default_rng(1))
>>> arm, propensity > 0.9
('fresh', True)
>>> chooser.choose("Newcomers", rng=np.random.default_rng(1))[1] < 1    # nothing learnt yet
True
>>> SegmentArmChooser.from_dict(chooser.to_dict()).to_dict() == chooser.to_dict()
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tastemaker.experiments.bandits.base import BanditPolicy, LoggedReward, _problem
from tastemaker.experiments.bandits.context_free import ThompsonSampling

__all__ = ["SegmentArmChooser", "ThompsonSampling"]

NO_SEGMENT = ""
"""The key of users without a segment."""


class SegmentArmChooser:
    """One bandit per segment over named arms.

    Parameters
    ----------
    arms
        The arm names (e.g. placement configuration or experiment arm names), at least two.
    policy
        A context-free policy whose kind and parameters each segment's bandit copies (its own
        state and arm count are ignored).
    """

    def __init__(self, arms: Sequence[str], policy: BanditPolicy) -> None:
        names = list(arms)
        if len(names) < 2 or len(set(names)) != len(names):
            raise _problem("arms", "needs two or more distinct arm names")
        if policy.contextual:
            raise _problem("policy", "choose among arms with a context-free policy")
        self.arms = names
        self._index = {name: n for n, name in enumerate(names)}
        template = policy.to_dict()
        self._template = {"kind": template["kind"], "params": template["params"]}
        self.policies: dict[str, BanditPolicy] = {}

    def policy(self, segment: str | None) -> BanditPolicy:
        """The segment's bandit (a fresh one for a segment not seen before)."""
        key = segment or NO_SEGMENT
        found = self.policies.get(key)
        if found is None:
            found = BanditPolicy.from_dict({**self._template, "n_arms": len(self.arms)})
            self.policies[key] = found
        return found

    def choose(self, segment: str | None, *, rng: np.random.Generator) -> tuple[str, float]:
        """An arm for a user of ``segment`` and the probability it had of being chosen."""
        picked = self.policy(segment).select(rng=rng)
        return self.arms[int(picked.arms[0])], float(picked.propensities[0])

    def probabilities(self, segment: str | None, *, rng: np.random.Generator) -> dict[str, float]:
        """Every arm's probability of being chosen for ``segment``."""
        p = self.policy(segment).probabilities(rng=rng)
        return {name: float(v) for name, v in zip(self.arms, p, strict=True)}

    def update(self, segment: str | None, arm: str, reward: float) -> None:
        """Learn one outcome of ``arm`` shown to a user of ``segment``."""
        self.policy(segment).update(self._arm(arm), reward)

    def rebuild(self, rows: Iterable[tuple[str | None, str, float]]) -> SegmentArmChooser:
        """Forget everything and replay logged ``(segment, arm, reward)`` rows in order."""
        by_segment: dict[str, list[LoggedReward]] = {}
        for segment, arm, reward in rows:
            by_segment.setdefault(segment or NO_SEGMENT, []).append(
                LoggedReward(self._arm(arm), reward)
            )
        self.policies = {}
        for key, rewards in by_segment.items():
            self.policy(key).rebuild(rewards)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Arms, the template policy and every segment's state, as JSON-able data."""
        return {
            "arms": list(self.arms),
            "policy": self._template,
            "segments": {key: p.to_dict() for key, p in sorted(self.policies.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentArmChooser:
        """The chooser :meth:`to_dict` described."""
        template = BanditPolicy.from_dict({**data["policy"], "n_arms": 0})
        out = cls(data["arms"], template)
        out.policies = {
            key: BanditPolicy.from_dict(state) for key, state in data["segments"].items()
        }
        return out

    def _arm(self, name: str) -> int:
        found = self._index.get(name)
        if found is None:
            raise _problem("arm", f"unknown arm {name!r} (arms: {', '.join(self.arms)})")
        return found
