"""The placement pipeline: candidates → merge → rank → rules → diversify → explore → explain → log.

:class:`Pipeline` answers a :class:`RecommendationRequest` with :class:`Recommendations`. It reads
the user's newest stored events on every request, so an event stored a moment ago changes the
next answer (it is folded into the models for that request, excluded as seen, and moves the
hybrid's weights) on every replica, not only the one that took the event.

When the personalized path cannot answer (no model trained, a model failing), the placement's
fallback models answer (trending, popular), then the newest items; the answer says so in
``fallback`` and is never an error.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tastemaker.config import FeedbackClass, Settings
from tastemaker.errors import FieldProblem, InvalidInput, NotFound
from tastemaker.pipeline.catalog import LiveCatalog, ServingCatalog
from tastemaker.pipeline.config import PlacementConfig, SourceSpec
from tastemaker.pipeline.diversity import mmr
from tastemaker.pipeline.explain import Explainer, Reason
from tastemaker.pipeline.explore import EXPLORE_SOURCE, ExplorationStore
from tastemaker.pipeline.models import ModelSet
from tastemaker.pipeline.ranking import Ranker, hybrid
from tastemaker.pipeline.rules import apply_boosts, apply_filters, order, promote
from tastemaker.pipeline.sources import Proposal, SharedLists, SourceInput, propose
from tastemaker.pipeline.state import (
    Candidates,
    HistoryEvent,
    RecommendationRequest,
    UserState,
)
from tastemaker.profiles import ProfileUpdater
from tastemaker.storage.base import DataStore

log = logging.getLogger(__name__)

COLLABORATIVE = frozenset({"item_knn", "ease", "als", "segmented"})
"""Model kinds whose lists come from other users' behaviour."""


@dataclass(frozen=True)
class RecommendedItem:
    item_id: str
    position: int
    score: float
    source: str
    """The source that contributed most."""
    reasons: list[Reason]
    contributions: dict[str, float]
    """Each source's (or the learned ranker's features') share of the score."""
    features: dict[str, float]
    """What the ranking saw: logged with the exposure, shown with ``explain=true``."""
    propensity: float = 1.0
    """The probability the item was chosen with: 1 for the ranking's, below for exploration."""


@dataclass
class Recommendations:
    recommendation_id: str
    placement: str
    user_id: str
    page: int
    items: list[RecommendedItem]
    models: dict[str, int]
    segment: str | None
    ranking: str
    fallback: str | None = None
    degraded: list[str] = field(default_factory=list)
    """Sources that could not answer, with the reason."""
    context: dict[str, Any] = field(default_factory=dict)


RankerFactory = Callable[[PlacementConfig, RecommendationRequest, int], Ranker | None]
"""Gives the learned ranker of a placement for a request at a time (``None`` while none is
trained)."""
ShownLookup = Callable[[str, str], tuple[int, set[str]]]
"""``(recommendation_id, user_id) → (pages so far, items shown)``."""


_UUID7 = re.compile(r"[0-9a-f]{12}7[0-9a-f]{19}")


def new_id(now: float | None = None) -> str:
    """A fresh recommendation id: a UUID version 7 (RFC 9562) as 32 hex digits, whose first 48
    bits are the Unix time in milliseconds it was made (``now``, seconds; default: the clock's),
    the rest random. Unique like a random UUID, and :func:`issued_at` can tell how recent one
    is, for a next-page request that may arrive before its first page is stored."""
    ms = int((time.time() if now is None else now) * 1000) & (2**48 - 1)
    value = (ms << 80) | (0x7 << 76) | (secrets.randbits(12) << 64)
    value |= (0b10 << 62) | secrets.randbits(62)
    return f"{value:032x}"


def issued_at(recommendation_id: str) -> float | None:
    """When :func:`new_id` made ``recommendation_id`` (Unix seconds), or ``None`` for an id it
    did not make (other lengths or versions: older ids were random UUIDs)."""
    if _UUID7.fullmatch(recommendation_id) is None:
        return None
    value = int(recommendation_id, 16)
    if (value >> 62) & 0b11 != 0b10:
        return None
    return (value >> 80) / 1000


class Pipeline:
    """Answers recommendation requests for every configured placement.

    Parameters
    ----------
    settings
        The deployment's settings (feedback policy, history limit).
    store
        The durable store (the user's events).
    models
        The loaded models.
    catalog
        The live catalog.
    placements
        Placement configurations by name (a mapping the caller may replace as a whole).
    profiles
        The online profiles (segment, affinities); optional.
    """

    def __init__(
        self,
        settings: Settings,
        store: DataStore,
        models: ModelSet,
        catalog: LiveCatalog,
        placements: Mapping[str, PlacementConfig],
        profiles: ProfileUpdater | None = None,
        *,
        learned: RankerFactory | None = None,
        shown: ShownLookup | None = None,
        history_limit: int = 500,
    ) -> None:
        self.settings = settings
        self.store = store
        self.models = models
        self.catalog = catalog
        self.placements = dict(placements)
        self.profiles = profiles
        self.learned = learned
        self.shown = shown
        self.history_limit = history_limit
        self.shared = SharedLists()
        self.exploration = ExplorationStore(
            lambda name: p.exploration if (p := self.placements.get(name)) else None
        )

    # --- the request ---------------------------------------------------------------------

    def placement(self, name: str) -> PlacementConfig:
        config = self.placements.get(name)
        if config is None:
            known = ", ".join(sorted(self.placements)) or "none"
            raise NotFound(f"no placement {name!r} (configured: {known})")
        return config

    def user_key(self, user_id: str) -> str:
        """The user's pseudonymous key (cached by the profiles when there are some)."""
        if self.profiles is not None:
            return self.profiles.user_key(user_id)
        return self.store.snapshot.user_key(user_id)

    def user_state(self, user_id: str, recommendation_id: str | None) -> tuple[UserState, int]:
        """The user's state and the page the request asks for."""
        key = self.user_key(user_id)
        classify = self.settings.feedback.classify
        classes: dict[tuple[str, float | None], tuple[FeedbackClass, float]] = {}
        history: list[HistoryEvent] = []
        for item_id, kind, value, ts, received in self.store.events.history(
            user_id, self.history_limit
        ):
            if item_id is None:
                continue
            found = classes.get((kind, value))
            if found is None:
                cls, weight = classify(kind, value)
                found = classes[(kind, value)] = (FeedbackClass(cls), weight)
            history.append(HistoryEvent(item_id, found[0], found[1], ts, received))
        profile = self.profiles.get(key) if self.profiles is not None else None
        state = UserState(user_id, key, profile, history)
        page = 0
        if recommendation_id is not None:
            if self.shown is None:
                raise NotFound("pagination needs the exposure log")
            page, state.shown = self.shown(recommendation_id, user_id)
        return state, page

    def recommend(self, request: RecommendationRequest, now: int) -> Recommendations:
        """The ranked, filtered, diversified and explained list for ``request``."""
        config = self.placement(request.placement)
        k = request.k or config.k
        if k > config.max_k:
            raise InvalidInput(
                "k is too large for this placement",
                [FieldProblem(field="k", reason=f"at most {config.max_k} for {request.placement}")],
            )
        user, page = self.user_state(request.user_id, request.recommendation_id)
        catalog = self.catalog.current
        candidates, degraded = self._candidates(config, request, user, catalog, now)
        fallback: str | None = None
        ranking: str = config.ranking.kind
        ranker: Ranker = hybrid(config.ranking)
        if config.ranking.kind == "learned":
            learned = self.learned(config, request, now) if self.learned is not None else None
            if learned is None:
                degraded.append(
                    f"learned ranker {config.ranking.ranker!r} is not ready (not trained yet, or "
                    "its features are being indexed)"
                )
                ranking = "weighted"
            else:
                ranker = learned
        if len(candidates):
            try:
                ranker.rank(candidates, user)
            except Exception as exc:
                log.exception("ranking failed for placement %s", request.placement)
                degraded.append(f"ranker {ranker.name} failed: {exc}")
                ranker = hybrid(config.ranking.model_copy(update={"kind": "weighted"}))
                ranker.rank(candidates, user)
                ranking = "weighted"
            candidates = apply_filters(candidates, config.rules, request, user, catalog, now)
        if not len(candidates):
            fallback = "; ".join(degraded) or "no personalized candidates"
            candidates = self._fallback(config, request, user, catalog, now)
            ranking = "fallback"
        apply_boosts(candidates, config.rules, catalog, now)
        ranked = order(candidates, catalog).tolist()
        positions = self._arrange(candidates, ranked, config, catalog, k)
        explored = self.exploration.arrange(
            request.placement,
            config.exploration,
            candidates,
            positions,
            ranked,
            request.user_id,
            now,
        )
        explainer = Explainer(
            {s.name: s for s in config.sources}, user, catalog, now, self._collaborative()
        )
        items = []
        offset = len(user.shown)
        for n, p in enumerate(explored.positions):
            parts = {s: float(v[p]) for s, v in candidates.contributions.items()}
            top = max(parts, key=lambda s: parts[s]) if parts else "fallback"
            top = EXPLORE_SOURCE if explored.explored[n] else top
            items.append(
                RecommendedItem(
                    item_id=candidates.item_ids[p],
                    position=offset + n,
                    score=float(candidates.score[p]),
                    source=top,
                    reasons=explainer.reasons(candidates, p),
                    contributions=parts,
                    features=self._features(candidates, p),
                    propensity=explored.propensities[n],
                )
            )
        return Recommendations(
            recommendation_id=request.recommendation_id or new_id(),
            placement=request.placement,
            user_id=request.user_id,
            page=page,
            items=items,
            models={m: v for m, v in self.models.versions().items() if m in config.models()},
            segment=user.segment,
            ranking=ranking,
            fallback=fallback,
            degraded=degraded,
            context=dict(request.context),
        )

    # --- stages --------------------------------------------------------------------------

    def _candidates(
        self,
        config: PlacementConfig,
        request: RecommendationRequest,
        user: UserState,
        catalog: ServingCatalog,
        now: int,
    ) -> tuple[Candidates, list[str]]:
        """Every source's proposal, merged into one candidate table."""
        exclude_seen = "positive" in config.rules.exclude_seen and (config.rules.seen_days is None)
        proposals: list[tuple[SourceSpec, Proposal]] = []
        degraded: list[str] = []
        for spec in config.sources:
            p = self._propose(spec, request, user, catalog, now, exclude_seen)
            if p.missing is not None:
                degraded.append(f"{spec.name}: {p.missing}")
            proposals.append((spec, p))
        return merge([s.name for s, _ in proposals], [p for _, p in proposals], catalog), degraded

    def _propose(
        self,
        spec: SourceSpec,
        request: RecommendationRequest,
        user: UserState,
        catalog: ServingCatalog,
        now: int,
        exclude_seen: bool,
    ) -> Proposal:
        """What one source proposes; a source that fails proposes nothing and says why."""
        try:
            return propose(
                SourceInput(
                    spec, request, user, catalog, self.models, now, exclude_seen, self.shared
                )
            )
        except Exception as exc:
            log.exception("source %s failed", spec.name)
            return Proposal(missing=f"failed: {exc}")

    def _fallback(
        self,
        config: PlacementConfig,
        request: RecommendationRequest,
        user: UserState,
        catalog: ServingCatalog,
        now: int,
    ) -> Candidates:
        """Non-personalized candidates: the first fallback model that is loaded and answers,
        else the newest items."""
        specs = [
            SourceSpec(kind="popular", model=name, name=name, k=500) for name in config.fallback
        ]
        specs.append(SourceSpec(kind="recent", k=500))
        for spec in specs:
            p = self._propose(spec, request, user, catalog, now, True)
            if p.missing is not None or not len(p):
                continue
            c = merge([spec.name], [p], catalog)
            c.score = c.norm[:, 0] if len(c) else np.zeros(0)
            c.contributions = {spec.name: c.score.copy()}
            c = apply_filters(c, config.rules, request, user, catalog, now)
            if len(c):
                return c
        return merge([], [], catalog)

    def _arrange(
        self,
        candidates: Candidates,
        ranked: list[int],
        config: PlacementConfig,
        catalog: ServingCatalog,
        k: int,
    ) -> list[int]:
        """Positions of the ``k`` items to show (``ranked``: all by score, best first),
        diversified, promotions placed."""
        strength = config.diversity.strength
        if strength > 0 and len(ranked) > 1:
            window = ranked[: max(config.diversity.window, k)]
            sim = self._similarity(candidates, window, config, catalog)
            # Only the page's positions need choosing; the rest of the window keeps score order.
            picked = mmr(candidates.score[window], sim, strength, k)
            chosen = {window[j] for j in picked}
            ranked = [window[j] for j in picked] + [r for r in ranked if r not in chosen]
        if config.rules.promotions:
            ranked = promote(ranked, candidates, config.rules, catalog, k)
        return [int(p) for p in ranked[:k]]

    def _similarity(
        self,
        candidates: Candidates,
        window: list[int],
        config: PlacementConfig,
        catalog: ServingCatalog,
    ) -> np.ndarray:
        if config.diversity.by == "embeddings":
            content = self.models.get("content")
            if content is not None and content.model.compares_items():
                model = content.model
                idx = model.data.item_index([candidates.item_ids[w] for w in window])
                if (idx >= 0).all():
                    full = np.asarray(model._similar(idx), dtype=np.float64)
                    return np.clip(full[:, idx], 0.0, 1.0)
        return catalog.tag_similarity(candidates.rows[window])

    def _collaborative(self) -> set[str]:
        out = set()
        for name in self.models.versions():
            loaded = self.models.get(name)
            if loaded is not None and loaded.kind in COLLABORATIVE:
                out.add(name)
        return out

    @staticmethod
    def _features(candidates: Candidates, p: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for j, s in enumerate(candidates.sources):
            if not np.isnan(candidates.raw[p, j]):
                out[f"{s}.score"] = float(candidates.raw[p, j])
                out[f"{s}.rank"] = float(candidates.rank[p, j])
        if candidates.features is not None:
            out.update(
                (name, float(v))
                for name, v in zip(candidates.feature_names, candidates.features[p], strict=True)
            )
        if candidates.boost.size:
            out["boost"] = float(candidates.boost[p])
        return out


def merge(names: list[str], proposals: list[Proposal], catalog: ServingCatalog) -> Candidates:
    """One row per proposed item in the catalog; each source's score and rank as columns.

    Candidates come in the order of their first proposal; a source's rank counts every item
    it proposed, items the catalog does not hold included."""
    listed = [p.rows for p in proposals if len(p)]
    every = np.concatenate(listed) if listed else np.zeros(0, dtype=np.int64)
    uniq, first = np.unique(every, return_index=True)
    rows = uniq[np.argsort(first)]
    rows = rows[rows >= 0]  # items the catalog does not hold cannot pass the rules
    position = np.full(len(catalog) + 1, -1, dtype=np.int64)  # the last entry stands for -1
    position[rows] = np.arange(len(rows))
    raw = np.full((len(rows), len(names)), np.nan)
    rank = np.zeros((len(rows), len(names)), dtype=np.int32)
    anchors: dict[str, str] = {}
    ids = catalog.ids
    for j, p in enumerate(proposals):
        if not len(p):
            continue
        at = position[p.rows]
        ranks = np.arange(1, len(at) + 1, dtype=np.int32)
        scores = np.where(np.isfinite(p.scores), p.scores, 0.0)
        held = at >= 0
        at, ranks, scores = at[held], ranks[held], scores[held]
        # A source lists an item once; reversed, the first (best) listing wins the assignment.
        raw[at[::-1], j] = scores[::-1]
        rank[at[::-1], j] = ranks[::-1]
        for row, anchor in p.anchors.items():
            anchors.setdefault(ids[row], anchor)
    c = Candidates(
        rows=rows,
        item_ids=catalog.id_array[rows],
        sources=list(names),
        raw=raw,
        rank=rank,
        anchors=anchors,
    )
    c.score = np.zeros(len(rows))
    c.boost = np.ones(len(rows))
    c.promoted = np.zeros(len(rows), dtype=bool)
    return c
