"""Dependencies of the routes, as ``Annotated`` aliases; tests override them.

They are ``async`` although they do not await (but the key check on a cache miss): FastAPI runs
a plain function dependency in the thread pool, and those hops cost more than a cached
recommendation itself (py-spy under bench/serve.py's warm case: a fifth of the server's time).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tastemaker.config import Settings
from tastemaker.errors import Forbidden, Unauthorized
from tastemaker.serving.cache import RecommendationCache
from tastemaker.serving.metrics import ServiceMetrics
from tastemaker.storage.base import ApiKey, DataStore

SCOPES = ("read", "write", "admin")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> DataStore:
    store: DataStore = request.app.state.store
    return store


async def get_now() -> datetime:
    return datetime.now(UTC)


async def get_cache(request: Request) -> RecommendationCache:
    cache: RecommendationCache = request.app.state.cache
    return cache


async def get_metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[DataStore, Depends(get_store)]
NowDep = Annotated[datetime, Depends(get_now)]
CacheDep = Annotated[RecommendationCache, Depends(get_cache)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer tm_…`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


class KeyCache:
    """Verified keys for a few seconds, so single-event requests skip a database read.

    A revoked key stops working within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, ApiKey]] = {}

    def get(self, secret: str) -> ApiKey | None:
        hit = self._entries.get(secret)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, secret: str, key: ApiKey) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[secret] = (time.monotonic() + self.ttl, key)


def require(scope: str) -> Callable[..., Awaitable[ApiKey | None]]:
    """A dependency that admits a request whose key has ``scope`` (``admin`` has every scope)."""

    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_header)],
    ) -> ApiKey | None:
        # Settings and store straight from the app: each dependency costs every request
        # FastAPI's resolution of it (the two key schemes stay: they document the security).
        state = request.app.state
        if state.settings.insecure_dev:
            return None
        secret = bearer.credentials if bearer else header
        if not secret:
            raise Unauthorized(
                "send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`; "
                "create one with `tastemaker keys create`"
            )
        cache: KeyCache = state.key_cache
        key = cache.get(secret)
        if key is None:
            store: DataStore = state.store
            key = await run_in_threadpool(store.keys.verify, secret)
            if key is None:
                raise Unauthorized("the API key is unknown or revoked")
            cache.put(secret, key)
        if scope not in key.scopes and "admin" not in key.scopes:
            raise Forbidden(f"this API key lacks the {scope!r} scope")
        return key

    return check


ReadKey = Annotated[ApiKey | None, Depends(require("read"))]
WriteKey = Annotated[ApiKey | None, Depends(require("write"))]
AdminKey = Annotated[ApiKey | None, Depends(require("admin"))]
