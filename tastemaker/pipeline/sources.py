"""Candidate sources: each proposes items with scores; the pipeline merges them.

Every source is a function of the placement's :class:`SourceSpec`, the request, the user's state,
the catalog and the loaded models, returning ``(item ids, scores, anchors)`` best first. A
source whose model is not loaded proposes nothing and says so (the pipeline reports it as a
degraded answer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tastemaker.catalog.columns import Columns
from tastemaker.config import FeedbackClass
from tastemaker.models.base import SIMILAR, ItemFilter
from tastemaker.models.popularity import Popularity
from tastemaker.pipeline.catalog import ServingCatalog
from tastemaker.pipeline.config import SourceSpec
from tastemaker.pipeline.models import ModelSet
from tastemaker.pipeline.state import RecommendationRequest, UserState


@dataclass
class Proposal:
    """What one source proposed."""

    item_ids: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    anchors: dict[str, str] = field(default_factory=dict)
    missing: str | None = None
    """Why the source could not answer (its model is not loaded …), else ``None``."""


@dataclass(frozen=True)
class SourceInput:
    spec: SourceSpec
    request: RecommendationRequest
    user: UserState
    catalog: ServingCatalog
    models: ModelSet
    now: int
    exclude_seen: bool


def _filters(spec: SourceSpec, request: RecommendationRequest) -> ItemFilter:
    return ItemFilter(include_tags=tuple(spec.tags), exclude_items=request.exclude)


def _model_source(x: SourceInput) -> Proposal:
    loaded = x.models.get(x.spec.model or "")
    if loaded is None:
        return Proposal(missing=f"model {x.spec.model!r} is not trained or not loaded")
    user = x.user
    frame = loaded.model.recommend(
        [user.user_key],
        x.spec.k,
        exclude_seen=x.exclude_seen,
        filters=_filters(x.spec, x.request),
        histories={user.user_key: user.folded(loaded.trained_at_micros)},
    )
    return Proposal(
        frame[Columns.ITEM].astype(str).tolist(), frame[Columns.SCORE].astype(float).tolist()
    )


def _popular_source(x: SourceInput) -> Proposal:
    loaded = x.models.get(x.spec.model or "")
    if loaded is None:
        return Proposal(missing=f"model {x.spec.model!r} is not trained or not loaded")
    model = loaded.model
    if not isinstance(model, Popularity):
        return _model_source(x)
    segment = x.user.segment if x.spec.by_segment else None
    frame = model.recommend_segments([segment or ""], x.spec.k, filters=_filters(x.spec, x.request))
    return Proposal(
        frame[Columns.ITEM].astype(str).tolist(), frame[Columns.SCORE].astype(float).tolist()
    )


def _similar(x: SourceInput, anchors: list[str]) -> Proposal:
    loaded = x.models.get(x.spec.model or "")
    if loaded is None:
        return Proposal(missing=f"model {x.spec.model!r} is not trained or not loaded")
    if not anchors or not loaded.model.compares_items():
        return Proposal()
    frame = loaded.model.similar_items(anchors, x.spec.k, filters=_filters(x.spec, x.request))
    best: dict[str, tuple[float, str]] = {}
    for anchor, item, score in zip(
        frame[Columns.ITEM].astype(str),
        frame[SIMILAR].astype(str),
        frame[Columns.SCORE].astype(float),
        strict=True,
    ):
        if item in anchors:
            continue
        if item not in best or score > best[item][0]:
            best[item] = (score, anchor)
    ordered = sorted(best.items(), key=lambda kv: -kv[1][0])[: x.spec.k]
    return Proposal(
        [i for i, _ in ordered],
        [s for _, (s, _) in ordered],
        {i: a for i, (_, a) in ordered},
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
    return Proposal(
        [cat.ids[r] for r in order.tolist()],
        [float(2.0 ** (-(x.now - published[r]) / (7 * day))) for r in order.tolist()],
    )


def _pinned_source(x: SourceInput) -> Proposal:
    items = [i for i in x.spec.items if i in x.catalog][: x.spec.k]
    n = len(items)
    return Proposal(items, [float(n - j) for j in range(n)])


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
