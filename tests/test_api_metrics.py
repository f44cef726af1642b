"""``/metrics`` and the cache's invalidation by ingested events, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tastemaker.config import Settings
from tastemaker.service import create_app
from tastemaker.service.timing import RequestMetrics
from tastemaker.serving.cache import CacheStatus, RecommendationCache
from tastemaker.serving.metrics import ServiceMetrics
from tastemaker.storage import DataStore, open_store
from tests.backends import redis_namespace
from tests.conftest import make_settings
from tests.live import client, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def samples(api: httpx.Client) -> Samples:
    r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def event(i: int, user: str = "u1") -> dict[str, Any]:
    return {"event_id": f"e{i}", "user_id": user, "item_id": "a1", "type": "view"}


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(f"sqlite:///{tmp_path / 'tm.db'}", insecure_dev=True, max_body_bytes=4096)


@pytest.fixture
def app_store(sqlite_settings: Settings) -> Iterator[DataStore]:
    store = open_store(sqlite_settings)
    yield store
    store.close()


@pytest.fixture
def app(sqlite_settings: Settings, app_store: DataStore) -> FastAPI:
    return create_app(sqlite_settings, app_store)


@pytest.fixture
def api(app: FastAPI) -> Iterator[httpx.Client]:
    with client(app) as c:
        yield c


REQUESTS = "tastemaker_http_request_duration_seconds_count"


def test_requests_are_timed_by_route_template(api: httpx.Client) -> None:
    for _ in range(3):
        assert api.get("/healthz").status_code == 200
    assert api.get("/v1/items/nothing-here").status_code == 404
    assert api.get("/v1/items/neither").status_code == 404
    assert api.get("/no/such/route").status_code == 404
    found = samples(api)
    assert value(found, REQUESTS, route="/healthz", method="GET", status="2xx") == 3
    item = value(found, REQUESTS, route="/v1/items/{item_id}", method="GET", status="4xx")
    assert item == 2
    assert value(found, REQUESTS, route="unmatched", method="GET", status="4xx") == 1
    text = api.get("/metrics").text
    assert "nothing-here" not in text
    assert "/no/such/route" not in text
    # the buckets of a histogram, and the scrape itself is timed like any request
    assert (
        value(
            found,
            "tastemaker_http_request_duration_seconds_bucket",
            route="/healthz",
            method="GET",
            status="2xx",
            le="+Inf",
        )
        == 3
    )
    assert value(samples(api), REQUESTS, route="/metrics", method="GET", status="2xx") >= 1


def test_a_request_refused_before_routing_is_timed(api: httpx.Client) -> None:
    r = api.post("/v1/events", content=b"[" + b" " * 5000 + b"]")
    assert r.status_code == 413
    found = samples(api)
    assert value(found, REQUESTS, route="unmatched", method="POST", status="4xx") == 1


def test_metrics_are_unauthenticated_and_not_in_the_api_schema(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'k.db'}")
    store = open_store(settings)
    store.keys.create("reader", ["read"], datetime.now(UTC))
    with client(create_app(settings, store)) as api:
        assert api.get("/v1/items/x").status_code == 401
        assert api.get("/metrics").status_code == 200
        assert "/metrics" not in api.get("/openapi.json").json()["paths"]
    store.close()


def test_openmetrics_when_the_scraper_asks(api: httpx.Client) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    r = api.get("/metrics", headers={"Accept": accept})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.endswith("# EOF\n")


def test_ingested_events_are_counted_once(api: httpx.Client) -> None:
    batch = {"events": [event(1), event(2), event(3, "u2")]}
    assert api.post("/v1/events", json=batch).json() == {"stored": 3, "duplicates": 0}
    assert api.post("/v1/events", json=batch).json() == {"stored": 0, "duplicates": 3}
    assert value(samples(api), "tastemaker_events_ingested_total") == 3


def test_each_app_has_its_own_registry(app: FastAPI, sqlite_settings: Settings) -> None:
    other = create_app(sqlite_settings, app.state.store)
    app.state.metrics.cache_hit("homepage")
    assert b"homepage" not in other.state.metrics.render()[0]


def test_metrics_record_what_the_read_path_reports(app: FastAPI, api: httpx.Client) -> None:
    """The calls the recommendation route makes show up as documented."""
    metrics = app.state.metrics
    metrics.observe_recommendation("homepage", 0.004)
    metrics.cache_hit("homepage")
    metrics.cache_miss("homepage")
    metrics.cache_miss("homepage")
    metrics.cache_error("homepage")
    metrics.fallback("homepage", "model_missing")
    metrics.model_version("als", 7)
    metrics.model_version("als", 8)
    found = samples(api)
    count = "tastemaker_recommendation_duration_seconds_count"
    assert value(found, count, placement="homepage") == 1
    lookups = "tastemaker_cache_lookups_total"
    assert value(found, lookups, placement="homepage", result="hit") == 1
    assert value(found, lookups, placement="homepage", result="miss") == 2
    assert value(found, lookups, placement="homepage", result="error") == 1
    fallbacks = "tastemaker_fallbacks_total"
    assert value(found, fallbacks, placement="homepage", reason="model_missing") == 1
    assert value(found, "tastemaker_model_version", model="als") == 8
    assert value(found, "tastemaker_cache_available") == 1


def test_the_exposure_log_is_reported(api: httpx.Client) -> None:
    """Each answer's exposure is queued, then written: operators see a backlog or drops."""
    item = {"id": "a1", "title": "A"}
    assert api.post("/v1/items", json={"items": [item]}).status_code == 200
    for _ in range(3):
        assert api.get("/v1/users/u1/recommendations?placement=homepage").status_code == 200
    deadline = time.monotonic() + 10
    while (found := samples(api)) and value(found, "tastemaker_exposures_written_total") < 3:
        assert time.monotonic() < deadline, "the exposures were not written within 10 s"
        time.sleep(0.05)
    assert value(found, "tastemaker_exposures_queued") == 0
    assert value(found, "tastemaker_exposures_dropped_total") == 0
    assert value(found, "tastemaker_exposure_write_failures_total") == 0


# ---------------------------------------------------------------------------------------------
# Events invalidate the cache


def cache_of(app: FastAPI) -> RecommendationCache:
    cache: RecommendationCache = app.state.cache
    return cache


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cache_settings(request: pytest.FixtureRequest, sqlite_settings: Settings) -> Iterator[Settings]:
    if request.param == "memory":
        yield sqlite_settings
        return
    with redis_namespace() as (url, prefix):
        yield sqlite_settings.model_copy(
            update={
                "redis_url": url,
                "cache": sqlite_settings.cache.model_copy(update={"key_prefix": prefix}),
            }
        )


def test_an_event_drops_its_users_cached_lists(
    cache_settings: Settings, app_store: DataStore
) -> None:
    app = create_app(cache_settings, app_store)
    cache = cache_of(app)
    u1, u2 = app_store.snapshot.user_key("u1"), app_store.snapshot.user_key("u2")
    with client(app) as api:
        cache.put(u1, "homepage", "k=10", b"u1's list", 60)
        cache.put(u1, "article", "k=5", b"u1's other list", 60)
        cache.put(u2, "homepage", "k=10", b"u2's list", 60)
        assert api.post("/v1/events", json={"events": [event(1, "u1")]}).status_code == 200
        assert cache.get(u1, "homepage", "k=10") is None
        assert cache.get(u1, "article", "k=5") is None
        assert cache.get(u2, "homepage", "k=10") == b"u2's list"


@pytest.mark.redis
def test_an_event_on_one_replica_reaches_the_other(
    sqlite_settings: Settings, app_store: DataStore
) -> None:
    """Two API replicas on one store and one Redis: replica a ingests u1's click, replica b's
    cached list for u1 is gone."""
    with redis_namespace() as (url, prefix):
        settings = sqlite_settings.model_copy(
            update={
                "redis_url": url,
                "cache": sqlite_settings.cache.model_copy(update={"key_prefix": prefix}),
            }
        )
        a, b = create_app(settings, app_store), create_app(settings, app_store)
        u1 = app_store.snapshot.user_key("u1")
        with client(a) as api_a, client(b):
            miss = cache_of(b).lookup(u1, "homepage", "")
            cache_of(b).put(u1, "homepage", "", b"before the click", 60, stamp=miss.stamp)
            assert cache_of(b).get(u1, "homepage", "") == b"before the click"
            click = event(1, "u1") | {"type": "click"}
            assert api_a.post("/v1/events", json={"events": [click]}).status_code == 200
            assert cache_of(b).lookup(u1, "homepage", "").status is CacheStatus.MISS


def test_redis_down_never_fails_ingestion(sqlite_settings: Settings, app_store: DataStore) -> None:
    settings = sqlite_settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    app = create_app(settings, app_store)
    with client(app) as api:
        r = api.post("/v1/events", json={"events": [event(1)]})
        assert r.status_code == 200
        assert r.json()["stored"] == 1
        found = samples(api)
        assert value(found, "tastemaker_cache_available") == 0
        assert value(found, "tastemaker_events_ingested_total") == 1
    assert cache_of(app).stats().errors == 1


def test_a_failing_route_counts_as_a_server_error() -> None:
    metrics = ServiceMetrics()
    app = FastAPI()

    @app.get("/boom/{n}")
    def boom(n: int) -> None:
        raise RuntimeError("a bug")

    app.add_middleware(RequestMetrics, metrics=metrics)
    with client(app) as api:
        assert api.get("/boom/1").status_code == 500
    found = parse(metrics.render()[0].decode())
    assert value(found, REQUESTS, route="/boom/{n}", method="GET", status="5xx") == 1
