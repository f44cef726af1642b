"""The ingestion API through real HTTP requests, on every store backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tastemaker.service import create_app
from tastemaker.storage import DataStore
from tests.conftest import make_settings
from tests.live import client


@pytest.fixture
def api(database_url: str, store: DataStore) -> Iterator[httpx.Client]:
    settings = make_settings(database_url, insecure_dev=True, max_batch_events=50)
    with client(create_app(settings, store)) as c:
        yield c


def event(i: int, **kw: Any) -> dict[str, Any]:
    return {"event_id": f"e{i}", "user_id": "u1", "item_id": "a1", "type": "view"} | kw


def test_health(api: httpx.Client) -> None:
    assert api.get("/healthz").json()["status"] == "ok"
    assert api.get("/readyz").json()["status"] == "ready"


def test_item_crud(api: httpx.Client) -> None:
    body = {"id": "a1", "title": "Hello", "tags": ["News>Politics > Elections"]}
    r = api.put("/v1/items/a1", json=body)
    assert r.status_code == 201
    assert r.json()["tags"] == ["News > Politics > Elections"]
    assert api.put("/v1/items/a1", json=body | {"title": "Hi"}).status_code == 200
    assert api.get("/v1/items/a1").json()["title"] == "Hi"
    assert api.delete("/v1/items/a1").status_code == 204
    r = api.get("/v1/items/a1")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert api.delete("/v1/items/a1").status_code == 404


def test_item_batch_and_id_mismatch(api: httpx.Client) -> None:
    r = api.post(
        "/v1/items", json={"items": [{"id": "x", "title": "X"}, {"id": "y", "title": "Y"}]}
    )
    assert r.json() == {"created": 2, "updated": 0}
    r = api.put("/v1/items/x", json={"id": "other", "title": "X"})
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0]["field"] == "id"
    assert api.get("/v1/items/other").status_code == 404


def test_item_batch_errors_name_rows_and_store_nothing(api: httpx.Client) -> None:
    r = api.post(
        "/v1/items",
        json={
            "items": [
                {"id": "ok", "title": "fine"},
                {"id": "bad", "title": ""},
                {"id": "b2", "title": "t", "tags": ["A >  > B"]},
            ]
        },
    )
    assert r.status_code == 422
    errors = r.json()["error"]["errors"]
    assert {(e["index"], e["field"]) for e in errors} == {(1, "title"), (2, "tags.0")}
    assert api.get("/v1/items/ok").status_code == 404


def test_user_upsert_read_events_and_erase(api: httpx.Client) -> None:
    user = {
        "id": "alice",
        "traits": {"device": "mobile", "geo": "DE"},
        "preferences": {"tags": ["Tech"]},
        "consent": {"personalization": {"granted": True}},
    }
    assert api.put("/v1/users/alice", json=user).status_code == 201
    got = api.get("/v1/users/alice").json()
    assert got["traits"]["geo"] == "DE"
    assert got["consent"]["personalization"]["granted"] is True
    api.post("/v1/events", json={"events": [event(1, user_id="alice"), event(2, user_id="alice")]})
    # Same timestamp (the time of receipt): newest first means latest arrival first.
    assert [e["event_id"] for e in api.get("/v1/users/alice/events").json()] == ["e2", "e1"]
    r = api.delete("/v1/users/alice")
    assert r.status_code == 200
    removed = r.json()["removed"]
    assert removed == {"exposure_items": 0, "exposures": 0, "events": 2, "consents": 1, "users": 1}
    assert api.get("/v1/users/alice").status_code == 404
    assert api.get("/v1/users/alice/events").status_code == 404


def test_events_idempotent_and_conflict(api: httpx.Client, store: DataStore) -> None:
    batch = {"events": [event(i) for i in range(5)]}
    assert api.post("/v1/events", json=batch).json() == {"stored": 5, "duplicates": 0}
    assert api.post("/v1/events", json=batch).json() == {"stored": 0, "duplicates": 5}
    r = api.post("/v1/events", json={"events": [event(9), event(3, item_id="zz")]})
    assert r.status_code == 409
    assert r.json()["error"]["event_ids"] == ["e3"]
    assert store.events.count() == 5


def test_invalid_batch_lists_every_bad_row(api: httpx.Client, store: DataStore) -> None:
    rows = [
        event(0),
        event(1, type="teleport"),  # unknown type
        event(2, type="dwell"),  # needs a value
        event(3, extra=True),  # unknown field
        event(4, type="scroll", value=180),  # above 100
        {"event_id": "e5", "type": "view"},  # no user
        event(6, item_id=None),  # view needs an item
        event(7, channel="fax"),
        event(8, timestamp="2999-01-01T00:00:00Z"),
        event(9, type="rating", value=4.5),  # valid
    ]
    r = api.post("/v1/events", json={"events": rows})
    assert r.status_code == 422
    body = r.json()["error"]
    got = {(e["index"], e["field"]) for e in body["errors"]}
    assert got == {
        (1, "type"),
        (2, "value"),
        (3, "extra"),
        (4, "value"),
        (5, "user_id"),
        (6, "item_id"),
        (7, "channel"),
        (8, "timestamp"),
    }
    assert all(e["reason"] for e in body["errors"])
    assert store.events.count() == 0


def test_conflicting_duplicate_inside_batch(api: httpx.Client) -> None:
    r = api.post("/v1/events", json={"events": [event(1), event(1, item_id="b")]})
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0]["field"] == "event_id"


def test_batch_over_limit_is_413(api: httpx.Client, store: DataStore) -> None:
    r = api.post("/v1/events", json={"events": [event(i) for i in range(51)]})
    assert r.status_code == 413
    assert "50" in r.json()["error"]["message"]
    assert store.events.count() == 0


@pytest.mark.parametrize(
    "body", [b"{not json", b"[]", b'{"events": []}', b'{"events": 1}', b'{"events": [], "x": 1}']
)
def test_malformed_envelopes_are_422(api: httpx.Client, body: bytes) -> None:
    r = api.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["errors"]


def test_body_over_limit_is_413(database_url: str, store: DataStore) -> None:
    settings = make_settings(database_url, insecure_dev=True, max_body_bytes=2048)
    with client(create_app(settings, store)) as api:
        big = {"events": [event(i, properties={"pad": "x" * 100}) for i in range(40)]}
        r = api.post("/v1/events", json=big)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
            yield b'{"events": ['
            for i in range(40):
                yield (b"," if i else b"") + httpx.Response(200, json=event(i)).content
            yield b"]}"

        r = api.post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
    assert store.events.count() == 0


def test_dates_outside_the_representable_range_are_422(api: httpx.Client) -> None:
    body = {"id": "old", "title": "t", "published_at": "0001-01-01T00:03:01+01:00"}
    r = api.put("/v1/items/old", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0]["field"] == "published_at"
    event = {
        "event_id": "x",
        "user_id": "u",
        "item_id": "i",
        "type": "view",
        "timestamp": "0001-01-01T00:00:00+05:00",
    }
    r = api.post("/v1/events", json={"events": [event]})
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0] == {
        "index": 0,
        "field": "timestamp",
        "reason": "Value error, the date-time lies outside the years 1 to 9999 in UTC",
    }
