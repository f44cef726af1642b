"""Candidate sources: each proposes items with scores; the pipeline merges them.

Every source is a function of the placement's :class:`SourceSpec`, the request, the user's state,
the catalog and the loaded models, returning ``(item ids, scores, anchors)`` best first. A
source whose model is not loaded proposes nothing and says so (the pipeline reports it as a
degraded answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tastemaker.catalog.columns import Columns
from tastemaker.config import FeedbackClass
from tastemaker.models.base import ItemFilter
from tastemaker.models.popularity import Popularity
from tastemaker.pipeline.catalog import ServingCatalog
from tastemaker.pipeline.config import SourceSpec
from tastemaker.pipeline.models import LoadedModel, ModelSet
from tastemaker.pipeline.state import RecommendationRequest, UserState


@dataclass
class Proposal:
    """What one source proposed: catalog rows (``-1`` for items the catalog does not hold)
    and their scores, best first."""

    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    anchors: dict[int, str] = field(default_factory=dict)
    """Row → the item it was found similar to."""
    missing: str | None = None
    """Why the source could not answer (its model is not loaded …), else ``None``."""

    @classmethod
    def of_ids(
        cls,
        catalog: ServingCatalog,
        item_ids: Sequence[str],
        scores: Sequence[float] | np.ndarray,
        anchors: dict[str, str] | None = None,
    ) -> Proposal:
        rows = catalog.index(item_ids)
        at = dict(zip(item_ids, rows.tolist(), strict=True))
        return cls(
            rows,
            np.asarray(scores, dtype=np.float64),
            {at[i]: a for i, a in (anchors or {}).items() if at.get(i, -1) >= 0},
        )

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class SourceInput:
    spec: SourceSpec
    request: RecommendationRequest
    user: UserState
    catalog: ServingCatalog
    models: ModelSet
    now: int
    exclude_seen: bool
    shared: SharedLists


def _filters(spec: SourceSpec) -> ItemFilter:
    # The request's exclusions are applied by the rules, so what a source proposes depends on
    # the spec alone and non-personal sources can be shared between requests.
    return ItemFilter(include_tags=tuple(spec.tags))


def _key(spec: SourceSpec) -> tuple[object, ...]:
    return (spec.kind, spec.model, spec.k, spec.by_segment, tuple(spec.tags))


class SharedLists:
    """Non-personalized proposals (popular, trending, recent) kept for ``ttl_seconds``: every
    request of a placement would otherwise compute the same list again. Also each model's
    item → catalog row mapping, so sources hand on rows, not item ids."""

    def __init__(self, ttl_seconds: float = 5.0, capacity: int = 1024) -> None:
        self.ttl = ttl_seconds
        self.capacity = capacity
        self._lists: dict[tuple[object, ...], tuple[float, Proposal]] = {}
        self._rows: dict[tuple[str, int], tuple[ServingCatalog, np.ndarray]] = {}

    def rows(self, loaded: LoadedModel, catalog: ServingCatalog) -> np.ndarray:
        """The catalog row of each of the model's items (``-1`` where the catalog has none),
        made once per model version and catalog."""
        key = (loaded.name, loaded.version)
        hit = self._rows.get(key)
        if hit is not None and hit[0] is catalog:
            return hit[1]
        rows = catalog.index(loaded.model.data.item_ids.astype(str).tolist())
        if len(self._rows) >= self.capacity:
            self._rows.clear()
        self._rows[key] = (catalog, rows)
        return rows

    def get(self, key: tuple[object, ...], make: Callable[[], Proposal]) -> Proposal:
        now = time.monotonic()
        hit = self._lists.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        proposal = make()
        if len(self._lists) >= self.capacity:
            self._lists.clear()
        self._lists[key] = (now + self.ttl, proposal)
        return proposal


def _model_source(x: SourceInput) -> Proposal:
    loaded = x.models.get(x.spec.model or "")
    if loaded is None:
        return Proposal(missing=f"model {x.spec.model!r} is not trained or not loaded")
    user = x.user
    idx, scores = loaded.model.recommend_indices(
        user.user_key,
        x.spec.k,
        exclude_seen=x.exclude_seen,
        filters=_filters(x.spec),
        history=user.folded(loaded.trained_at_micros),
    )
    return Proposal(x.shared.rows(loaded, x.catalog)[idx], scores.astype(np.float64))


def _popular_source(x: SourceInput) -> Proposal:
    loaded = x.models.get(x.spec.model or "")
    if loaded is None:
        return Proposal(missing=f"model {x.spec.model!r} is not trained or not loaded")
    model = loaded.model
    if not isinstance(model, Popularity):
        return _model_source(x)
    segment = (x.user.segment if x.spec.by_segment else None) or ""

    def make() -> Proposal:
        frame = model.recommend_segments([segment], x.spec.k, filters=_filters(x.spec))
        return Proposal.of_ids(
            x.catalog, frame[Columns.ITEM].astype(str).tolist(), frame[Columns.SCORE].to_numpy()
        )

    return x.shared.get((*_key(x.spec), loaded.version, segment, id(x.catalog)), make)


def _similar(x: SourceInput, anchors: list[str]) -> Proposal:
    loaded = x.models.get(x.spec.model or "")
    if loaded is None:
        return Proposal(missing=f"model {x.spec.model!r} is not trained or not loaded")
    if not anchors or not loaded.model.compares_items():
        return Proposal()
    model = loaded.model
    idx, scores, closest = model.similar_to_any(anchors, x.spec.k, filters=_filters(x.spec))
    rows = x.shared.rows(loaded, x.catalog)[idx]
    names = model.data.item_ids[closest].astype(str).tolist()
    return Proposal(
        rows,
        scores.astype(np.float64),
        {r: a for r, a in zip(rows.tolist(), names, strict=True) if r >= 0},
    )


def _similar_to_context(x: SourceInput) -> Proposal:
    item = x.request.context_item
    return _similar(x, [item] if item else [])


def _similar_to_recent(x: SourceInput) -> Proposal:
    recent: list[str] = []
    for e in x.user.history:  # newest first
        if e.feedback is FeedbackClass.POSITIVE and e.item_id not in recent:
            recent.append(e.item_id)
        if len(recent) >= x.spec.recent_items:
            break
    if not recent and x.user.profile is not None:
        recent = list(reversed(x.user.profile.recent_items))[: x.spec.recent_items]
    return _similar(x, recent)


def _recent_source(x: SourceInput) -> Proposal:
    # Shared for a minute at a time: the clock moves the scores only slowly.
    return x.shared.get(
        (*_key(x.spec), id(x.catalog), x.now // (60 * 1_000_000)), lambda: _newest(x)
    )


def _newest(x: SourceInput) -> Proposal:
    cat = x.catalog
    published = cat.published_at
    ok = cat.recommendable & (published >= 0) & (published <= x.now)
    ok &= (cat.expires_at < 0) | (cat.expires_at > x.now)
    if x.spec.tags:
        rows = np.flatnonzero(ok)
        ok[rows[~cat.matches(rows, tags=x.spec.tags)]] = False
    rows = np.flatnonzero(ok)
    order = rows[np.argsort(-published[rows], kind="stable")][: x.spec.k]
    day = 86_400 * 1_000_000
    return Proposal(order.astype(np.int64), np.exp2(-(x.now - published[order]) / (7 * day)))


def _pinned_source(x: SourceInput) -> Proposal:
    items = [i for i in x.spec.items if i in x.catalog][: x.spec.k]
    n = len(items)
    return Proposal.of_ids(x.catalog, items, [float(n - j) for j in range(n)])


SOURCES: dict[str, Callable[[SourceInput], Proposal]] = {
    "model": _model_source,
    "popular": _popular_source,
    "trending": _popular_source,
    "similar_to_context": _similar_to_context,
    "similar_to_recent": _similar_to_recent,
    "recent": _recent_source,
    "pinned": _pinned_source,
}


def propose(x: SourceInput) -> Proposal:
    """What the source of ``x.spec`` proposes for the request."""
    return SOURCES[x.spec.kind](x)
