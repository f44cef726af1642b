"""``/v1/users/{user_id}/recommendations`` and ``/v1/items/{item_id}/similar``."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, overload

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.common import ExternalId
from tastemaker.catalog.exposures import ExposedItem, Exposure
from tastemaker.errors import FieldProblem, InvalidInput, NotFound, StorageError
from tastemaker.experiments.assignment import Assignment
from tastemaker.models.base import SIMILAR, ItemFilter
from tastemaker.pipeline.pipeline import Recommendations, new_id
from tastemaker.pipeline.state import RecommendationRequest
from tastemaker.service.deps import NowDep, ReadKey
from tastemaker.service.routes.common import IdPath
from tastemaker.service.schemas import error_responses
from tastemaker.serving.cache import CacheStatus, MemoryCache, RecommendationCache
from tastemaker.serving.metrics import ServiceMetrics
from tastemaker.serving.runtime import Serving
from tastemaker.storage.types import from_micros, to_micros

log = logging.getLogger(__name__)
router = APIRouter(tags=["recommendations"])
_ERRORS = error_responses(401, 403, 404, 422, 503)


async def _serving(request: Request) -> Serving:
    serving: Serving | None = getattr(request.app.state, "serving", None)
    if serving is None:
        raise StorageError("the recommender is not loaded yet; retry once the server has started")
    return serving


ServingDep = Annotated[Serving, Depends(_serving)]


class ReasonOut(BaseModel):
    kind: str = Field(description="because_you_read, interest, similar, trending, popular, new …")
    text: str
    item_id: str | None = None
    tag: str | None = None


class RecommendedOut(BaseModel):
    item_id: str
    position: int = Field(description="0-based, counted across pages")
    score: float
    source: str = Field(description="The candidate source that contributed most")
    propensity: float = Field(
        default=1.0,
        description="Probability the item was chosen with: 1 for the ranking's choices, less "
        "for an exploration slot",
    )
    reasons: list[ReasonOut]
    contributions: dict[str, float] | None = Field(
        default=None, description="With explain=true: each source's (or feature's) share"
    )
    features: dict[str, float] | None = Field(
        default=None, description="With explain=true: the features the ranking saw"
    )


class RecommendationsOut(BaseModel):
    recommendation_id: str = Field(
        description="Echo it in events' context.recommendation_id; pass it back as "
        "recommendation_id for the next page"
    )
    placement: str
    user_id: str
    page: int
    items: list[RecommendedOut]
    models: dict[str, int] = Field(description="Model versions the answer used")
    segment: str | None
    ranking: str = Field(description="weighted, switching, learned or fallback")
    fallback: str | None = Field(
        default=None, description="Why a non-personalized answer was given, when it was"
    )
    degraded: list[str] = Field(default_factory=list)
    cached: bool = False
    experiment: str | None = Field(
        default=None, description="The experiment the user is in on this placement, if any"
    )
    arm: str | None = Field(
        default=None, description="The user's arm of the experiment ('holdout': held out)"
    )

    def shown(self, explain: bool) -> RecommendationsOut:
        """The response as sent: contributions and features only when asked for."""
        if explain:
            return self
        items = [i.model_copy(update={"contributions": None, "features": None}) for i in self.items]
        return self.model_copy(update={"items": items})

    def exposure(self, now: datetime, context: dict[str, Any]) -> Exposure:
        """The exposure to log for this response (built without validating again: every
        value was produced and validated by the pipeline)."""
        return _exposure_of(self.model_dump(), now, context)

    @classmethod
    def of(
        cls, r: Recommendations, placement: str, assignment: Assignment | None = None
    ) -> RecommendationsOut:
        """The response to a request for ``placement`` (answered, under an experiment, with
        the configuration of the user's arm)."""
        return cls(
            recommendation_id=r.recommendation_id,
            placement=placement,
            user_id=r.user_id,
            page=r.page,
            items=[
                RecommendedOut(
                    item_id=i.item_id,
                    position=i.position,
                    score=i.score,
                    source=i.source,
                    propensity=i.propensity,
                    reasons=[ReasonOut(**x.as_dict()) for x in i.reasons],
                    contributions=i.contributions,
                    features=i.features,
                )
                for i in r.items
            ],
            models=r.models,
            segment=r.segment,
            ranking=r.ranking,
            fallback=r.fallback,
            degraded=r.degraded,
            experiment=assignment.experiment if assignment else None,
            arm=assignment.arm if assignment else None,
        )


class RecommendationQuery(BaseModel):
    """A request for recommendations with rich context."""

    model_config = ConfigDict(extra="forbid")

    placement: str = Field(default="homepage", min_length=1, max_length=128)
    k: int | None = Field(default=None, ge=1, le=1000)
    item_id: ExternalId | None = Field(
        default=None, description="The item on screen (article-bottom: similar to this)"
    )
    context: dict[str, Any] = Field(
        default_factory=dict, description="Device, page, anything to log with the exposure"
    )
    exclude: list[ExternalId] = Field(default_factory=list, max_length=1000)
    explain: bool = False
    recommendation_id: str | None = Field(
        default=None, max_length=128, description="An earlier answer's id: the next page of it"
    )


@dataclass(frozen=True)
class _Reader:
    """What answering needs from the app."""

    serving: Serving
    cache: RecommendationCache
    metrics: ServiceMetrics
    replays: Replays

    def cached(self, user_id: str, q: RecommendationQuery, now: int) -> bytes | None:
        """The answer if the in-process cache holds it, else ``None`` (nothing counted): cheap
        and non-blocking, so the event loop can try it before handing the request to a thread."""
        if not isinstance(self.cache, MemoryCache) or q.recommendation_id is not None:
            return None
        return self.answer(user_id, q, now, only_cached=True)

    @overload
    def answer(self, user_id: str, q: RecommendationQuery, now: int) -> bytes: ...

    @overload
    def answer(
        self, user_id: str, q: RecommendationQuery, now: int, *, only_cached: bool
    ) -> bytes | None: ...

    def answer(
        self, user_id: str, q: RecommendationQuery, now: int, *, only_cached: bool = False
    ) -> bytes | None:
        """The pipeline's answer as JSON, from the cache when a fresh copy is there
        (``only_cached``: ``None`` instead of computing it).

        Pages after the first (``recommendation_id``) are never cached: each continues its own
        list. A cache that fails counts as a miss. The cache holds the full answer (features
        included, for the exposure log); what is sent leaves them out unless ``explain``.
        When an experiment runs on the placement and includes the user, the user's arm's
        configuration answers (cached apart from the other arms'), and the response and its
        exposure name the experiment and the arm.
        """
        started = time.perf_counter()
        pipeline = self.serving.pipeline
        config = pipeline.placement(q.placement)  # 404 before any work
        assigned = self._assign(user_id, q.placement)
        served = q.placement
        if assigned is not None:
            served = assigned.placement
            config = pipeline.placement(served)
        cacheable = q.recommendation_id is None and config.cache_ttl_seconds > 0
        if only_cached and not cacheable:
            return None
        key = pipeline.user_key(user_id)
        variant = _variant(q, assigned)
        stamp = None
        cache_failed = False
        if cacheable:
            found = self.cache.lookup(key, q.placement, variant)
            stamp = found.stamp
            if found.status is CacheStatus.HIT and found.value is not None:
                self.metrics.cache_hit(q.placement)
                body = self._replay(found.value, now, q)
                self.metrics.observe_recommendation(q.placement, time.perf_counter() - started)
                return body
            if only_cached:
                return None
            if found.status is CacheStatus.ERROR:
                cache_failed = True
                self.metrics.cache_error(q.placement)
            else:
                self.metrics.cache_miss(q.placement)
        request = RecommendationRequest(
            user_id=user_id,
            placement=served,
            k=q.k,
            context_item=q.item_id,
            context=q.context,
            exclude=tuple(q.exclude),
            explain=q.explain,
            recommendation_id=q.recommendation_id,
        )
        result = pipeline.recommend(request, now)
        if cache_failed:
            result.degraded.append("cache: unavailable, answered without it")
        out = RecommendationsOut.of(result, q.placement, assigned)
        if result.fallback is not None:
            reason = "model_unavailable" if result.degraded else "no_candidates"
            self.metrics.fallback(q.placement, reason)
        full = out.model_dump_json().encode()
        if cacheable:
            self.cache.put(key, q.placement, variant, full, config.cache_ttl_seconds, stamp)
        self.serving.exposures.submit(out.exposure(from_micros(now), q.context))
        self.metrics.observe_recommendation(q.placement, time.perf_counter() - started)
        return full if q.explain else out.shown(False).model_dump_json().encode()

    def _replay(self, cached: bytes, now: int, q: RecommendationQuery) -> bytes:
        """A cached answer shown again: a new recommendation id (this showing is attributed on
        its own) and its own exposure. The cached document is parsed once per process
        (:class:`Replays`): a hit must cost little more than a trivial request."""
        rid = new_id()
        head, tail, exposure = self.replays.get(cached, q)
        self.serving.exposures.submit(
            exposure.model_copy(
                update={
                    "recommendation_id": rid,
                    "created_at": from_micros(now),
                    "context": q.context,
                }
            )
        )
        return head + rid.encode() + tail

    def _assign(self, user_id: str, placement: str) -> Assignment | None:
        """The user's experiment arm on ``placement``, if an experiment includes them."""
        found = self.serving.experiments.assign(placement, user_id)
        if found is not None and found.placement not in self.serving.pipeline.placements:
            # The arm's configuration was deleted while the experiment runs: answer as if
            # there were no experiment rather than fail (and attribute nothing to the arm).
            log.warning(
                "experiment %s arm %s: placement %r is gone; serving %r",
                found.experiment,
                found.arm,
                found.placement,
                placement,
            )
            return None
        return found


_RID = "\u0000rid\u0000"


class Replays:
    """Cached answers already parsed: the response around its recommendation id, and the
    exposure to log, per cached document (bounded; the oldest go first)."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._parsed: dict[tuple[bytes, bool], tuple[bytes, bytes, Exposure]] = {}
        self._lock = threading.Lock()

    def get(self, cached: bytes, q: RecommendationQuery) -> tuple[bytes, bytes, Exposure]:
        key = (cached, q.explain)
        found = self._parsed.get(key)
        if found is not None:
            return found
        doc = json.loads(cached)
        doc["cached"] = True
        exposure = _exposure_of(doc, from_micros(0), {})
        doc["recommendation_id"] = _RID
        if not q.explain:
            for item in doc["items"]:
                item["contributions"] = item["features"] = None
        text = json.dumps(doc, separators=(",", ":"))
        head, tail = text.split(json.dumps(_RID)[1:-1], 1)
        found = (head.encode(), tail.encode(), exposure)
        with self._lock:
            if len(self._parsed) >= self.capacity:
                self._parsed.pop(next(iter(self._parsed)))
            self._parsed[key] = found
        return found


def _exposure_of(doc: dict[str, Any], now: datetime, context: dict[str, Any]) -> Exposure:
    """:meth:`RecommendationsOut.exposure` of a cached document, without validating it again."""
    items = [
        ExposedItem.model_construct(
            item_id=i["item_id"],
            position=i["position"],
            score=i["score"],
            source=i["source"],
            propensity=i.get("propensity"),
            features=i["features"] or {},
        )
        for i in doc["items"]
    ]
    return Exposure.model_construct(
        recommendation_id=doc["recommendation_id"],
        user_id=doc["user_id"],
        placement=doc["placement"],
        created_at=now,
        page=doc["page"],
        items=items,
        models=doc["models"],
        context=context,
        experiment=doc.get("experiment"),
        arm=doc.get("arm"),
        fallback=doc["fallback"],
    )


READ_THREADS = 4
"""Recommendation requests one process computes at once. More only make the threads fight over
the interpreter lock: under overload (bench/serve.py at 200/s) the CPU per request doubled with
the default pool of 40 threads."""


async def _run(request: Request, fn: Callable[..., bytes], *args: Any) -> bytes:
    limiter: anyio.CapacityLimiter = request.app.state.read_limiter
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


def _json(body: bytes) -> Response:
    # Returned as is: FastAPI would otherwise validate and serialize the model a second time.
    return Response(content=body, media_type="application/json")


def _variant(q: RecommendationQuery, assigned: Assignment | None = None) -> str:
    """What besides user and placement makes two requests' answers differ (the experiment
    arm too: arms never share a cached list)."""
    arm = None if assigned is None else [assigned.experiment, assigned.arm]
    return json.dumps(
        [q.k, q.item_id, sorted(q.exclude), q.explain, q.context, arm],
        sort_keys=True,
        default=str,
    )


async def _reader(request: Request) -> _Reader:
    state = request.app.state
    return _Reader(await _serving(request), state.cache, state.metrics, state.replays)


ReaderDep = Annotated[_Reader, Depends(_reader)]


@router.get(
    "/v1/users/{user_id}/recommendations",
    response_model=RecommendationsOut,
    responses=_ERRORS,
    summary="Recommendations for a user in a placement",
)
async def get_recommendations(
    user_id: IdPath,
    request: Request,
    reader: ReaderDep,
    now: NowDep,
    _: ReadKey,
    placement: Annotated[str, Query(min_length=1, max_length=128)] = "homepage",
    k: Annotated[int | None, Query(ge=1, le=1000)] = None,
    item_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    exclude: Annotated[list[str] | None, Query(max_length=1000)] = None,
    explain: bool = False,
    recommendation_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    device: Annotated[str | None, Query(max_length=64)] = None,
    page_url: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response:
    context = {k_: v for k_, v in (("device", device), ("page", page_url)) if v is not None}
    try:
        q = RecommendationQuery(
            placement=placement,
            k=k,
            item_id=item_id,
            context=context,
            exclude=exclude or [],
            explain=explain,
            recommendation_id=recommendation_id,
        )
    except ValidationError as exc:
        problems = [
            FieldProblem(field=".".join(str(p) for p in e["loc"]), reason=e["msg"])
            for e in exc.errors()
        ]
        raise InvalidInput("the query is invalid", problems) from None
    return _json(
        reader.cached(user_id, q, to_micros(now))
        or await _run(request, reader.answer, user_id, q, to_micros(now))
    )


@router.post(
    "/v1/users/{user_id}/recommendations",
    response_model=RecommendationsOut,
    responses={**_ERRORS, **error_responses(400, 413)},
    summary="Recommendations for a user, with rich context in the body",
)
async def post_recommendations(
    user_id: IdPath,
    request: Request,
    query: RecommendationQuery,
    reader: ReaderDep,
    now: NowDep,
    _: ReadKey,
) -> Response:
    return _json(
        reader.cached(user_id, query, to_micros(now))
        or await _run(request, reader.answer, user_id, query, to_micros(now))
    )


class SimilarItemOut(BaseModel):
    item_id: str
    score: float
    position: int


class SimilarOut(BaseModel):
    item_id: str
    model: str
    version: int
    items: list[SimilarItemOut]


@router.get(
    "/v1/items/{item_id}/similar",
    response_model=SimilarOut,
    responses=_ERRORS,
    summary="Items similar to an item",
)
def get_similar(
    item_id: IdPath,
    serving: ServingDep,
    _: ReadKey,
    k: Annotated[int, Query(ge=1, le=500)] = 10,
    model: Annotated[str, Query(min_length=1, max_length=128)] = "content",
) -> SimilarOut:
    loaded = serving.models.get(model)
    if loaded is None:
        raise NotFound(f"model {model!r} is not trained (run `tastemaker train`)")
    if not loaded.model.compares_items():
        raise InvalidInput(
            f"model {model!r} cannot compare items",
            [FieldProblem(field="model", reason="use content, item_knn, ease or als")],
        )
    if loaded.model.data.item_index([item_id])[0] < 0:
        raise NotFound(f"no item with id {item_id!r}")
    frame = loaded.model.similar_items([item_id], k, filters=ItemFilter())
    return SimilarOut(
        item_id=item_id,
        model=model,
        version=loaded.version,
        items=[
            SimilarItemOut(item_id=str(i), score=float(s), position=n)
            for n, (i, s) in enumerate(zip(frame[SIMILAR], frame[Columns.SCORE], strict=True))
        ],
    )
