"""``/v1/events``: durable, idempotent event ingestion."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from tastemaker.catalog.batches import parse_rows
from tastemaker.catalog.events import Event, EventBatch
from tastemaker.catalog.records import AppendResult
from tastemaker.catalog.validation import event_problems
from tastemaker.config import Settings
from tastemaker.errors import InvalidInput, PayloadTooLarge
from tastemaker.service.deps import NowDep, SettingsDep, StoreDep, WriteKey
from tastemaker.service.openapi import json_body
from tastemaker.service.schemas import error_responses
from tastemaker.storage import DataStore

router = APIRouter(prefix="/v1/events", tags=["events"])


def ingest(body: bytes, store: DataStore, settings: Settings, now: datetime) -> AppendResult:
    """Validate every row (structure, then vocabulary and bounds) and store the batch."""
    rows, problems = parse_rows(body, "events", Event)
    size = len(rows) + len({p.index for p in problems})
    if size > settings.max_batch_events:
        raise PayloadTooLarge(
            f"events: a batch holds at most {settings.max_batch_events} events, this one has "
            f"{size}; split it"
        )
    # Rows that parsed still get their semantic checks, so every bad row is reported at once.
    problems.extend(event_problems(rows, settings, now))
    if problems:
        bad_rows = len({p.index for p in problems})
        problems.sort(key=lambda p: (p.index if p.index is not None else -1, p.field))
        raise InvalidInput(
            f"{bad_rows} event(s) of the batch are invalid; nothing was stored", problems
        )
    return store.events.append([e for _, e in rows], now)


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
    return await run_in_threadpool(ingest, body, store, settings, now)
