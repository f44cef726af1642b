"""Business rules after ranking: filters, exclusions, freshness, boosts and promotions."""

from __future__ import annotations

import numpy as np

from tastemaker.config import FeedbackClass
from tastemaker.pipeline.catalog import ServingCatalog
from tastemaker.pipeline.config import Filter, RulesSpec
from tastemaker.pipeline.state import Candidates, RecommendationRequest, UserState

DAY = 86_400 * 1_000_000


def matches(catalog: ServingCatalog, rows: np.ndarray, f: Filter) -> np.ndarray:
    return catalog.matches(
        rows, tags=f.tags, authors=f.authors, sources=f.sources, properties=f.properties
    )


def excluded_as_seen(spec: RulesSpec, user: UserState, now: int) -> set[str]:
    """Items the user's history rules out: the configured feedback classes (within
    ``seen_days`` when set) and explicit negatives, always."""
    classes = {FeedbackClass(c) for c in spec.exclude_seen}
    since = None if spec.seen_days is None else now - int(spec.seen_days * DAY)
    out: set[str] = set()
    for e in user.history:
        if e.feedback is FeedbackClass.NEGATIVE or (
            e.feedback in classes and (since is None or e.ts >= since)
        ):
            out.add(e.item_id)
    return out


def apply_filters(
    candidates: Candidates,
    spec: RulesSpec,
    request: RecommendationRequest,
    user: UserState,
    catalog: ServingCatalog,
    now: int,
) -> Candidates:
    """Drop what may not be shown: unknown, unrecommendable or expired items, seen items,
    the request's exclusions, earlier pages' items, filtered and stale items."""
    rows = candidates.rows
    keep = rows >= 0
    safe = np.where(keep, rows, 0)
    keep &= catalog.recommendable[safe]
    expires = catalog.expires_at[safe]
    keep &= (expires < 0) | (expires > now)
    drop = excluded_as_seen(spec, user, now) | set(request.exclude) | user.shown
    if request.context_item:
        drop.add(request.context_item)
    if drop:
        dropped = np.zeros(len(catalog) + 1, dtype=bool)  # the last entry stands for -1
        dropped[catalog.index(drop)] = True
        keep &= ~dropped[rows]
    if spec.max_age_days is not None:
        published = catalog.published_at[safe]
        keep &= (published >= 0) & (published >= now - int(spec.max_age_days * DAY))
    if not spec.include.empty():
        keep &= matches(catalog, safe, spec.include)
    if not spec.exclude.empty():
        keep &= ~matches(catalog, safe, spec.exclude)
    return candidates.take(keep)


def apply_boosts(
    candidates: Candidates, spec: RulesSpec, catalog: ServingCatalog, now: int
) -> None:
    """Multiply scores by the matching boosts and the freshness boost (recorded in
    ``candidates.boost``)."""
    factor = np.ones(len(candidates))
    for b in spec.boosts:
        factor[matches(catalog, candidates.rows, b.filter)] *= b.factor
    candidates.promoted = factor > 1.0
    if spec.freshness_boost:
        published = catalog.published_at[candidates.rows]
        age_days = np.where(published >= 0, (now - published) / DAY, np.inf)
        fresh = np.exp2(-np.maximum(age_days, 0) / spec.freshness_half_life_days)
        factor *= 1 + spec.freshness_boost * fresh
    candidates.boost = factor
    # Scores of the hybrids are ≥ 0; a learned ranker's may be negative, where multiplying by a
    # boost > 1 would demote. Shift to a positive range first so a boost always promotes.
    score = candidates.score
    if len(score):
        lo = float(score.min())
        base = score - lo + 1e-6 if lo < 0 else score
        candidates.score = base * factor


def order(candidates: Candidates, catalog: ServingCatalog) -> np.ndarray:
    """Positions of the candidates by score, best first; ties by id for a stable answer."""
    return np.lexsort((catalog.id_order()[candidates.rows], -candidates.score))


def promote(
    ordered: list[int], candidates: Candidates, spec: RulesSpec, catalog: ServingCatalog, k: int
) -> list[int]:
    """Give each promotion's best matching candidates (in score order) the positions from its
    ``first_position`` on; the rest of the list keeps its order around them."""
    result = list(ordered)
    for p in spec.promotions:
        hits = matches(catalog, candidates.rows[result], p.filter) if result else np.zeros(0)
        chosen = [result[j] for j in np.flatnonzero(hits)[: p.slots].tolist()]
        if not chosen:
            continue
        candidates.promoted[chosen] = True
        rest = [c for c in result if c not in chosen]
        at = min(p.first_position, k - 1)
        result = rest[:at] + chosen + rest[at:]
    return result
