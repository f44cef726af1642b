"""``/v1/users/{user_id}/recommendations`` and ``/v1/items/{item_id}/similar``.

A cold recommendation request is the placement pipeline's CPU plus what this route adds, which
is kept small: the GET query string is validated once, by one model (FastAPI would validate each
parameter, through a dependency each, and the request model would check them again); the event
loop resolves the request (placement, experiment arm, cache address) once, looks it up in the
cache and, on a miss, computes the answer itself unless configured to hand both to threads
(:func:`computes_on_loop`); the answer is rendered once into
plain data and serialized by pydantic-core (:mod:`tastemaker.service.answers`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import QueryParams

from tastemaker.catalog.columns import Columns
from tastemaker.catalog.common import ExternalId
from tastemaker.config import Settings
from tastemaker.errors import (
    FieldProblem,
    InvalidInput,
    NotFound,
    StorageError,
    UnknownRecommendation,
)
from tastemaker.experiments.assignment import Assignment
from tastemaker.models.base import SIMILAR, ItemFilter
from tastemaker.pipeline.pipeline import issued_at, new_id
from tastemaker.pipeline.state import RecommendationRequest
from tastemaker.service.answers import (
    RecommendationsOut,
    Replays,
    encode,
    exposure_of,
    hide_explanations,
    render,
)
from tastemaker.service.deps import ReadKey
from tastemaker.service.openapi import query_params
from tastemaker.service.routes.common import IdPath
from tastemaker.service.schemas import error_responses
from tastemaker.serving.cache import CacheStatus, Lookup, MemoryCache, RecommendationCache
from tastemaker.serving.metrics import ServiceMetrics
from tastemaker.serving.runtime import Serving
from tastemaker.storage.types import from_micros, to_micros

log = logging.getLogger(__name__)
T = TypeVar("T")
router = APIRouter(tags=["recommendations"])
_ERRORS = error_responses(401, 403, 404, 422, 503)


def _serving(request: Request) -> Serving:
    serving: Serving | None = getattr(request.app.state, "serving", None)
    if serving is None:
        raise StorageError("the recommender is not loaded yet; retry once the server has started")
    return serving


async def _serving_dep(request: Request) -> Serving:
    return _serving(request)


ServingDep = Annotated[Serving, Depends(_serving_dep)]


class RecommendationQuery(BaseModel):
    """A request for recommendations with rich context (strict: ``"explain": 0`` or
    ``"k": "5"`` in a JSON body are errors, not coerced)."""

    model_config = ConfigDict(extra="forbid", strict=True)

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


class RecommendationParams(BaseModel):
    """The query string of ``GET /v1/users/{user_id}/recommendations`` (other parameters are
    ignored); the request it makes is checked as a :class:`RecommendationQuery` in turn."""

    placement: str = Field(default="homepage", min_length=1, max_length=128)
    k: int | None = Field(default=None, ge=1, le=1000)
    item_id: str | None = Field(default=None, min_length=1, max_length=256)
    exclude: list[str] | None = Field(default=None, max_length=1000)
    explain: bool = False
    recommendation_id: str | None = Field(default=None, min_length=1, max_length=128)
    device: str | None = Field(default=None, max_length=64)
    page_url: str | None = Field(default=None, max_length=2048)

    @classmethod
    def parse(cls, params: QueryParams) -> RecommendationQuery:
        """The request a query string makes. A parameter its own bounds reject is a 422 named
        like FastAPI's parameter checks name it (``query.k``); an id that is no external id is
        one named by the request's field (``exclude.0``)."""
        raw: dict[str, Any] = {name: params[name] for name in _SINGLE_VALUED if name in params}
        exclude = params.getlist("exclude")
        if exclude:
            raw["exclude"] = exclude
        try:
            p = cls.model_validate(raw)
        except ValidationError as exc:
            errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
            raise RequestValidationError(errors) from None
        context = {k: v for k, v in (("device", p.device), ("page", p.page_url)) if v is not None}
        try:
            return RecommendationQuery(
                placement=p.placement,
                k=p.k,
                item_id=p.item_id,
                context=context,
                exclude=p.exclude or [],
                explain=p.explain,
                recommendation_id=p.recommendation_id,
            )
        except ValidationError as exc:
            problems = [
                FieldProblem(field=".".join(str(x) for x in e["loc"]), reason=e["msg"])
                for e in exc.errors()
            ]
            raise InvalidInput("the query is invalid", problems) from None


_SINGLE_VALUED = tuple(n for n in RecommendationParams.model_fields if n != "exclude")


@dataclass(frozen=True, slots=True)
class _Plan:
    """A request resolved before any answer is computed: the configuration that answers it
    and where its answer is cached."""

    user_id: str
    query: RecommendationQuery
    now: int
    assigned: Assignment | None
    served: str
    """The placement whose configuration answers (the arm's, under an experiment)."""
    ttl: float
    """Seconds the answer may be cached; 0: never (next pages, placements without a cache)."""
    user_key: str
    variant: str
    started: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class _Reader:
    """What answering needs from the app."""

    serving: Serving
    cache: RecommendationCache
    metrics: ServiceMetrics
    replays: Replays

    @property
    def local(self) -> bool:
        """Whether the cache lives in this process: a lookup is cheap and never blocks, so the
        event loop makes it even when answers are computed in threads."""
        return isinstance(self.cache, MemoryCache)

    def plan(self, user_id: str, q: RecommendationQuery, now: int) -> _Plan:
        """Resolve a request (404 for an unknown placement, before any work). When an
        experiment runs on the placement and includes the user, the user's arm's configuration
        answers, cached apart from the other arms'."""
        pipeline = self.serving.pipeline
        config = pipeline.placement(q.placement)
        assigned = self._assign(user_id, q.placement)
        served = q.placement
        if assigned is not None:
            served = assigned.placement
            config = pipeline.placement(served)
        # Pages after the first (recommendation_id) are never cached: each continues its list.
        ttl = max(config.cache_ttl_seconds, 0) if q.recommendation_id is None else 0
        return _Plan(
            user_id,
            q,
            now,
            assigned,
            served,
            ttl,
            pipeline.user_key(user_id),
            _variant(q, assigned),
        )

    def lookup(self, plan: _Plan) -> Lookup | None:
        """The cache's lookup of the answer (counted), or ``None`` when it is never cached."""
        if not plan.ttl:
            return None
        placement = plan.query.placement
        found = self.cache.lookup(plan.user_key, placement, plan.variant)
        if found.status is CacheStatus.HIT and found.value is not None:
            self.metrics.cache_hit(placement)
        elif found.status is CacheStatus.ERROR:
            self.metrics.cache_error(placement)
        else:
            self.metrics.cache_miss(placement)
        return found

    def compute(self, plan: _Plan, found: Lookup | None) -> bytes:
        """The pipeline's answer as JSON, cached (in full: features included, for the exposure
        log) when the placement caches; what is sent leaves them out unless ``explain``. The
        response and its exposure name the experiment and arm the user is in, if any."""
        started = time.perf_counter()
        q = plan.query
        request = RecommendationRequest(
            user_id=plan.user_id,
            placement=plan.served,
            k=q.k,
            context_item=q.item_id,
            context=q.context,
            exclude=tuple(q.exclude),
            explain=q.explain,
            recommendation_id=q.recommendation_id,
        )
        result = self.serving.pipeline.recommend(request, plan.now)
        if found is not None and found.status is CacheStatus.ERROR:
            result.degraded.append("cache: unavailable, answered without it")
        if result.fallback is not None:
            reason = "model_unavailable" if result.degraded else "no_candidates"
            self.metrics.fallback(q.placement, reason)
        doc = render(result, q.placement, plan.assigned)
        full = encode(doc) if plan.ttl or q.explain else b""
        if plan.ttl:
            stamp = None if found is None else found.stamp
            self.cache.put(plan.user_key, q.placement, plan.variant, full, plan.ttl, stamp)
        self.serving.exposures.submit(exposure_of(doc, from_micros(plan.now), q.context))
        body = full if q.explain else encode(hide_explanations(doc))
        self.metrics.observe_recommendation(q.placement, time.perf_counter() - started)
        return body

    def replay(self, plan: _Plan, cached: bytes) -> bytes:
        """A cached answer shown again: a new recommendation id (this showing is attributed on
        its own) and its own exposure. The cached document is parsed once per process
        (:class:`~tastemaker.service.answers.Replays`): a hit must cost little more than a
        trivial request."""
        rid = new_id()
        q = plan.query
        head, tail, exposure = self.replays.get(cached, q.explain)
        self.serving.exposures.submit(
            exposure.model_copy(
                update={
                    "recommendation_id": rid,
                    "created_at": from_micros(plan.now),
                    "context": q.context,
                }
            )
        )
        self.metrics.observe_recommendation(q.placement, time.perf_counter() - plan.started)
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


READ_THREADS = 4
"""Recommendation answers one process computes at once in threads, and Redis cache lookups it
makes at once from threads (both only with ``compute_on_loop: false``). More only make the
threads fight over the interpreter lock: under overload (bench/serve.py at 200/s) the CPU per
request doubled with the default pool of 40 threads."""


def computes_on_loop(settings: Settings) -> bool:
    """Whether cold answers are computed on the event loop rather than in a thread
    (``settings.compute_on_loop``; unset: on the loop). One Python process computes one answer
    at a time anyway (the interpreter lock); a thread only adds the hand-off, which on the
    2-vCPU bench machine costs 0.3-0.9 ms of CPU per request (the answer runs cache-cold on the
    other CPU), and threads computing several answers at once share the CPU among them, so each
    finishes later. Measured with bench/serve.py, cold requests at 200/s: SQLite, --workers 2
    --rate 60, p99 40-42 ms on the loop against 80-157 ms with 4 threads; PostgreSQL on the
    same machine, p99 13 ms on the loop against 370-920 ms with 2-4 threads (the threads only
    overlap sub-millisecond round trips). The price: while an answer is computed (and waits
    for its database reads), the process's other requests wait for it; with a far-away
    database threads may pay off again (``compute_on_loop: false``). Redis cache lookups are made
    on the loop too, unless answers are computed in threads (bench/serve.py --workers 2 with
    Redis and PostgreSQL: 0.66 ms of CPU per cached answer against 0.75 from a thread, cold
    3.4 against 4.0 ms)."""
    return True if settings.compute_on_loop is None else settings.compute_on_loop


async def _run(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in one of the app's :data:`READ_THREADS`."""
    limiter: anyio.CapacityLimiter = request.app.state.read_limiter
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


def _variant(q: RecommendationQuery, assigned: Assignment | None = None) -> str:
    """What besides user and placement makes two requests' answers differ (the experiment
    arm too: arms never share a cached list)."""
    arm = None if assigned is None else [assigned.experiment, assigned.arm]
    return json.dumps(
        [q.k, q.item_id, sorted(q.exclude), q.explain, q.context, arm],
        sort_keys=True,
        default=str,
    )


def _reader(request: Request) -> _Reader:
    state = request.app.state
    return _Reader(_serving(request), state.cache, state.metrics, state.replays)


PAGE_SETTLE_SECONDS = 2.0
"""How long after its recommendation id was made a next-page request waits for the first page
to reach the exposure log, when another process answered it (each stores its exposures in
batches, every 0.2 s while the store keeps up). An id made earlier, or not by
:func:`~tastemaker.pipeline.pipeline.new_id`, that cannot be found is a 404 at once."""

PAGE_POLL_SECONDS = 0.05


async def _answer(request: Request, user_id: str, q: RecommendationQuery) -> Response:
    reader = _reader(request)
    try:
        return await _answer_once(request, reader, user_id, q)
    except UnknownRecommendation as exc:
        if not await _settled(reader.serving, exc.recommendation_id):
            raise
    return await _answer_once(request, reader, user_id, q)


async def _settled(serving: Serving, recommendation_id: str) -> bool:
    """Whether an id this process did not find turned up in the exposure log within
    :data:`PAGE_SETTLE_SECONDS` of being made (polled without holding up the event loop)."""
    issued = issued_at(recommendation_id)
    if issued is None or serving.exposures.pending(recommendation_id):
        return False  # not one of ours, or this process knows it: not found for this user
    exposures = serving.pipeline.store.exposures
    while time.time() < issued + PAGE_SETTLE_SECONDS:
        await anyio.sleep(PAGE_POLL_SECONDS)
        if await anyio.to_thread.run_sync(exposures.get, recommendation_id):
            return True
    return False


async def _answer_once(
    request: Request, reader: _Reader, user_id: str, q: RecommendationQuery
) -> Response:
    plan = reader.plan(user_id, q, to_micros(datetime.now(UTC)))
    if reader.local or request.app.state.computes_on_loop:
        found = reader.lookup(plan)
    else:  # a network round trip, and answers are not computed on the loop either
        found = await _run(request, reader.lookup, plan)
    if found is not None and found.status is CacheStatus.HIT and found.value is not None:
        body = reader.replay(plan, found.value)
    elif request.app.state.computes_on_loop:
        body = reader.compute(plan, found)
    else:
        body = await _run(request, reader.compute, plan, found)
    if q.recommendation_id is not None:
        # A next page is stored before it is sent (the first page is waited for instead).
        await anyio.to_thread.run_sync(reader.serving.exposures.store_now, q.recommendation_id)
    # Returned as is: FastAPI would otherwise validate and serialize the document again.
    return Response(content=body, media_type="application/json")


@router.get(
    "/v1/users/{user_id}/recommendations",
    response_model=RecommendationsOut,
    responses=_ERRORS,
    summary="Recommendations for a user in a placement",
    openapi_extra=query_params(RecommendationParams),
)
async def get_recommendations(user_id: IdPath, request: Request, _: ReadKey) -> Response:
    return await _answer(request, user_id, RecommendationParams.parse(request.query_params))


@router.post(
    "/v1/users/{user_id}/recommendations",
    response_model=RecommendationsOut,
    responses={**_ERRORS, **error_responses(400, 413)},
    summary="Recommendations for a user, with rich context in the body",
)
async def post_recommendations(
    user_id: IdPath, request: Request, query: RecommendationQuery, _: ReadKey
) -> Response:
    return await _answer(request, user_id, query)


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
