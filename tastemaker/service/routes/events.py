"""``/v1/events``: durable, idempotent event ingestion."""

from __future__ import annotations

import logging
from datetime import datetime

import anyio
from fastapi import APIRouter, Request

from tastemaker.catalog.batches import parse_rows
from tastemaker.catalog.events import Event, EventBatch
from tastemaker.catalog.records import AppendResult
from tastemaker.catalog.validation import event_problems
from tastemaker.config import Settings
from tastemaker.errors import InvalidInput
from tastemaker.profiles import ProfileUpdater
from tastemaker.service.deps import NowDep, SettingsDep, StoreDep, WriteKey
from tastemaker.service.freshness import Stored, after_ingest
from tastemaker.service.openapi import json_body
from tastemaker.service.routes import profiles as profile_routes
from tastemaker.service.routes.common import check_batch_size
from tastemaker.service.schemas import error_responses
from tastemaker.storage import DataStore

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/events", tags=["events"])


def ingest(
    body: bytes,
    store: DataStore,
    settings: Settings,
    now: datetime,
    profiles: ProfileUpdater | None = None,
    stored: Stored | None = None,
) -> AppendResult:
    """Validate every row (structure, then vocabulary and bounds), store the batch, then fold
    it into the online profiles (which skip the retried events they have already seen), then
    call ``stored`` (cache invalidation, metrics)."""
    rows, problems = parse_rows(body, "events", Event)
    size = len(rows) + len({p.index for p in problems})
    check_batch_size("events", size, settings.max_batch_events)
    # Rows that parsed still get their semantic checks, so every bad row is reported at once.
    problems.extend(event_problems(rows, settings, now))
    if problems:
        bad_rows = len({p.index for p in problems})
        problems.sort(key=lambda p: (p.index if p.index is not None else -1, p.field))
        raise InvalidInput(
            f"{bad_rows} event(s) of the batch are invalid; nothing was stored", problems
        )
    events = [e for _, e in rows]
    result = store.events.append(events, now)
    if profiles is not None:
        try:
            profiles.apply(events, now)
        except Exception:
            # The batch is durable: a 5xx would tell the client otherwise. A restart rebuilds.
            log.exception("events stored, but updating the profiles failed")
    if stored is not None:
        stored(events, result)
    return result


@router.post(
    "",
    response_model=AppendResult,
    responses=error_responses(401, 403, 409, 413, 422, 503),
    openapi_extra=json_body(EventBatch),
    summary="Store a batch of events, all or nothing",
    description=(
        "Answers only after the batch is durably committed. Events are idempotent by "
        "`event_id`: a retried batch stores nothing twice, and an id stored with a different "
        "payload makes the whole batch fail with 409. Any invalid event rejects the whole batch "
        "with 422, listing each bad row's index, field and reason."
    ),
)
async def post_events(
    request: Request, store: StoreDep, settings: SettingsDep, now: NowDep, _: WriteKey
) -> AppendResult:
    body = await request.body()
    profiles = profile_routes.current(request)
    return await anyio.to_thread.run_sync(
        ingest,
        body,
        store,
        settings,
        now,
        profiles,
        after_ingest(request),
        limiter=request.app.state.ingest_limiter,
    )
