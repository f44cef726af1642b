"""What a stored event batch tells the read path.

The users' cached recommendations are dropped (in every replica when the cache is in Redis) and
the events counted. Ingestion calls this after the profiles applied the batch, so a request that
misses the cache afterwards is computed from the updated profiles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import Request

from tastemaker.catalog.events import Event
from tastemaker.catalog.records import AppendResult
from tastemaker.service.routes import profiles as profile_routes
from tastemaker.serving.cache import RecommendationCache, invalidate_user_ids
from tastemaker.serving.metrics import ServiceMetrics
from tastemaker.storage import DataStore

Stored = Callable[[Sequence[Event], AppendResult], None]


def after_ingest(request: Request) -> Stored:
    """The callback for ``ingest``: invalidate the batch's users, count its new events."""
    cache: RecommendationCache = request.app.state.cache
    metrics: ServiceMetrics = request.app.state.metrics
    updater = profile_routes.current(request)
    store: DataStore = request.app.state.store
    # The updater caches user keys (pseudonymizing costs an HMAC per user).
    user_key = updater.user_key if updater is not None else store.snapshot.user_key

    def stored(events: Sequence[Event], result: AppendResult) -> None:
        invalidate_user_ids(cache, (e.user_id for e in events), user_key)
        metrics.events_ingested(result.stored)

    return stored
