"""Ranking the merged candidates: weighted and switching hybrids (the learned ranker plugs in
through :class:`Ranker`).

Scores are normalized per source and request (min–max), so weights compare like with like
whatever scale a model scores on.

Examples
--------
>>> import numpy as np
>>> from tastemaker.pipeline.config import RankingSpec
>>> spec = RankingSpec(weights={"cf": 1.0, "pop": 0.1}, newcomer_weights={"pop": 1.0},
...                    history_threshold=10)
>>> blend_weights(spec, ["cf", "pop"], activity=0).tolist()
[0.0, 1.0]
>>> blend_weights(spec, ["cf", "pop"], activity=5).tolist()
[0.5, 0.55]
>>> blend_weights(spec, ["cf", "pop"], activity=50).tolist()
[1.0, 0.1]
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from tastemaker.pipeline.config import RankingSpec
from tastemaker.pipeline.state import Candidates, UserState


def blend_weights(spec: RankingSpec, sources: list[str], activity: int) -> np.ndarray:
    """Per-source weights for a user with ``activity`` events: ``newcomer_weights`` at none,
    ``weights`` from ``history_threshold`` on, linear in between. Without ``weights`` every
    source weighs 1; with them a source they do not name weighs 0 (likewise for newcomers; no
    ``newcomer_weights`` means newcomers are weighted like everyone)."""

    def vector(table: dict[str, float]) -> np.ndarray:
        if not table:
            return np.ones(len(sources))
        return np.array([table.get(s, 0.0) for s in sources])

    full = vector(spec.weights)
    if not spec.newcomer_weights or spec.history_threshold <= 0:
        return full
    cold = vector(spec.newcomer_weights)
    t = min(1.0, activity / spec.history_threshold)
    return (1 - t) * cold + t * full


class Ranker(ABC):
    """Orders candidates: sets ``candidates.score`` and ``candidates.contributions``."""

    name: str

    @abstractmethod
    def rank(self, candidates: Candidates, user: UserState) -> None: ...


class WeightedHybrid(Ranker):
    """The weighted sum of normalized source scores, weights blended by the user's history."""

    name = "weighted"

    def __init__(self, spec: RankingSpec) -> None:
        self.spec = spec

    def rank(self, candidates: Candidates, user: UserState) -> None:
        w = blend_weights(self.spec, candidates.sources, user.activity)
        self._apply(candidates, w)

    @staticmethod
    def _apply(candidates: Candidates, w: np.ndarray) -> None:
        parts = candidates.norm * w
        candidates.score = parts.sum(axis=1)
        candidates.contributions = {
            s: parts[:, j] for j, s in enumerate(candidates.sources) if w[j] != 0
        }


class SwitchingHybrid(WeightedHybrid):
    """Cold-start sources only (weighted) until the user has ``history_threshold`` events,
    the other sources only from then on."""

    name = "switching"

    def rank(self, candidates: Candidates, user: UserState) -> None:
        spec = self.spec
        cold = user.activity < spec.history_threshold
        chosen = [(s in spec.cold_sources) == cold for s in candidates.sources]
        base = blend_weights(
            spec.model_copy(update={"newcomer_weights": {}}), candidates.sources, 0
        )
        w = base * np.array(chosen)
        if not w.any():  # none of the chosen side answered: rank by whatever did
            w = base
        self._apply(candidates, w)


def hybrid(spec: RankingSpec) -> Ranker:
    """The hybrid ranker of ``spec`` (the learned ranker is wired by the pipeline)."""
    return SwitchingHybrid(spec) if spec.kind == "switching" else WeightedHybrid(spec)
