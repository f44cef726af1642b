"""Scores that halve every half-life, updated in an order-independent way.

Each key keeps a value ``v`` and a reference time ``t_ref`` (the latest event time seen for it).
An event of weight ``w`` at time ``t``:

* ``t ≥ t_ref``: ``v ← v·2^(−(t − t_ref)/h) + w`` and ``t_ref ← t``;
* ``t < t_ref``: ``v ← v + w·2^(−(t_ref − t)/h)``.

Either way ``v`` equals ``Σ wᵢ·2^(−(t_ref − tᵢ)/h)`` over the events seen, so the result does not
depend on the order they arrived in (up to floating-point rounding), and a late event costs the
same constant work as a timely one.

Examples
--------
>>> day = 86_400_000_000
>>> s = DecayedScores(half_life=30 * day)
>>> s.add("Tech", 1.0, 0)
>>> s.add("Tech", 1.0, 30 * day)     # the first event is one half-life old: 0.5 + 1
>>> s.at("Tech", 30 * day)
1.5
>>> s.at("Tech", 60 * day)           # read one half-life later
0.75
>>> late = DecayedScores(half_life=30 * day)
>>> late.add("Tech", 1.0, 30 * day)
>>> late.add("Tech", 1.0, 0)         # the same events in the other order
>>> late.at("Tech", 60 * day)
0.75
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from math import exp2


class DecayedScores:
    """Per-key time-decayed sums.

    Parameters
    ----------
    half_life
        Time after which a contribution counts half, in microseconds.
    """

    # Two flat dicts of floats and ints rather than one of [v, t] lists: such dicts hold no
    # container, so the garbage collector does not track them (profiles are many and long-lived).
    __slots__ = ("_refs", "_values", "half_life", "inverse")

    def __init__(self, half_life: float) -> None:
        if not half_life > 0:
            raise ValueError("half_life must be positive")
        self.half_life = half_life
        self.inverse = 1.0 / half_life
        self._values: dict[str, float] = {}
        self._refs: dict[str, int] = {}

    def add(self, key: str, weight: float, t: int) -> None:
        """Add ``weight`` at time ``t`` (microseconds) to ``key``."""
        ref = self._refs.get(key)
        if ref is None:
            self._values[key] = weight
            self._refs[key] = t
        elif t >= ref:
            self._values[key] = self._values[key] * exp2((ref - t) * self.inverse) + weight
            self._refs[key] = t
        else:
            self._values[key] += weight * exp2((t - ref) * self.inverse)

    def at(self, key: str, now: int) -> float:
        """The score of ``key`` decayed to ``now`` (0 for an unknown key).

        A reference time after ``now`` (an event from the near future) is read undecayed.
        """
        ref = self._refs.get(key)
        if ref is None:
            return 0.0
        return self._values[key] * exp2(min(0.0, (ref - now) * self.inverse))

    def values_at(self, now: int) -> dict[str, float]:
        """Every score decayed to ``now``."""
        inverse, refs = self.inverse, self._refs
        return {k: v * exp2(min(0.0, (refs[k] - now) * inverse)) for k, v in self._values.items()}

    def top(
        self, n: int, now: int, prior: Mapping[str, float] | None = None
    ) -> list[tuple[str, float]]:
        """The ``n`` highest positive scores at ``now`` (plus ``prior``), highest first; ties
        by key."""
        values = self.values_at(now)
        for key, extra in (prior or {}).items():
            values[key] = values.get(key, 0.0) + extra
        positive = ((k, v) for k, v in values.items() if v > 0)
        return heapq.nsmallest(n, positive, key=lambda kv: (-kv[1], kv[0]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def to_json(self) -> dict[str, list[float]]:
        """``{key: [value, reference time]}``, JSON-able."""
        refs = self._refs
        return {k: [v, refs[k]] for k, v in self._values.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, list[float]], half_life: float) -> DecayedScores:
        """The inverse of :meth:`to_json`."""
        scores = cls(half_life)
        scores._values = {k: float(v) for k, (v, _) in data.items()}
        scores._refs = {k: int(t) for k, (_, t) in data.items()}
        return scores
