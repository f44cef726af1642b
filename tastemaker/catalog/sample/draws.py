"""Cheap scalar draws for the simulation's many small choices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")


class Picker:
    """Uniform numbers from one generator, drawn in blocks, and the choices built on them.

    Asking a :class:`numpy.random.Generator` for one number at a time costs microseconds; the
    simulation makes hundreds of thousands of small choices, so it takes them from a buffer.

    >>> p = Picker(np.random.default_rng(0))
    >>> p.pick("abc") in "abc", p.weighted({"x": 1.0, "y": 0.0})
    (True, 'x')
    """

    def __init__(self, rng: np.random.Generator, block: int = 8192) -> None:
        self._rng = rng
        self._block = block
        self._buffer = rng.random(block)
        self._next = 0

    def uniform(self) -> float:
        """A number in [0, 1)."""
        if self._next == self._block:
            self._buffer = self._rng.random(self._block)
            self._next = 0
        u = float(self._buffer[self._next])
        self._next += 1
        return u

    def chance(self, p: float) -> bool:
        """``True`` with probability ``p``."""
        return self.uniform() < p

    def pick(self, seq: Sequence[T]) -> T:
        """A uniformly chosen element."""
        return seq[int(self.uniform() * len(seq))]

    def weighted(self, weights: Mapping[T, float] | Sequence[tuple[T, float]]) -> T:
        """A key chosen with probability proportional to its weight."""
        pairs = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
        u = self.uniform() * sum(w for _, w in pairs)
        for key, w in pairs:
            u -= w
            if u < 0:
                return key
        return pairs[-1][0]

    def index(self, cdf: npt.NDArray[np.float64]) -> int:
        """An index drawn from cumulative weights ``cdf`` (positions of zero weight never)."""
        i = int(np.searchsorted(cdf, self.uniform() * cdf[-1], side="right"))
        return min(i, len(cdf) - 1)
