"""``GET /v1/users/{id}/profile`` through real HTTP: ingest changes the profile at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tastemaker.catalog.events import Event
from tastemaker.catalog.items import Item
from tastemaker.catalog.users import Preferences, User
from tastemaker.config import Settings
from tastemaker.service import create_app
from tastemaker.storage import DataStore
from tests.conftest import make_settings
from tests.live import client

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


def event(i: int, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "user_id": "alice",
        "item_id": "phone",
        "type": "view",
        "timestamp": at(i),
    } | kw


@pytest.fixture
def seeded(store: DataStore) -> DataStore:
    """A store with a catalog, a user with explicit preferences and two stored events."""
    store.items.upsert(
        [
            Item(
                id="phone",
                title="Pixel",
                tags=["Tech > Phones > Android"],
                author="Ann",
                source="Wire",
            ),
            Item(id="vote", title="Vote", tags=["News > Politics"], author="Cy"),
        ],
        START,
    )
    store.users.upsert([User(id="alice", preferences=Preferences(tags=["Sports"]))], START)
    store.events.append(
        [Event.model_validate(event(0, type="impression")), Event.model_validate(event(1))],
        START,
    )
    return store


@pytest.fixture
def dev_settings(database_url: str) -> Settings:
    return make_settings(database_url, insecure_dev=True)


@pytest.fixture
def api(dev_settings: Settings, seeded: DataStore) -> Iterator[httpx.Client]:
    with client(create_app(dev_settings, seeded)) as c:
        yield c


def names(affinities: list[dict[str, Any]]) -> list[str]:
    return [a["name"] for a in affinities]


def test_profile_is_rebuilt_at_start_and_follows_every_event(api: httpx.Client) -> None:
    r = api.get("/v1/users/alice/profile")
    assert r.status_code == 200
    body = r.json()
    assert body["counts"] == {"impression": 1, "view": 1}
    assert body["sessions"] == 1
    assert body["ctr"] == 0.0
    assert body["recent_items"] == ["phone"]
    assert names(body["top_tags"]) == [
        "Sports",  # the explicit preference: a prior of 2
        "Tech > Phones > Android",
        "Tech > Phones",
        "Tech",
    ]
    assert body["segment"] is None
    assert body["avg_dwell_seconds"] is None

    batch = {
        "events": [
            event(2, type="click"),
            event(3, type="dwell", value=90.0),
            event(50, type="like", item_id="vote", channel="app", context={"device": "tablet"}),
        ]
    }
    assert api.post("/v1/events", json=batch).json() == {"stored": 3, "duplicates": 0}
    body = api.get("/v1/users/alice/profile").json()
    assert body["counts"] == {"click": 1, "dwell": 1, "impression": 1, "like": 1, "view": 1}
    assert body["ctr"] == 1.0
    assert body["sessions"] == 2  # 47 minutes between the dwell and the like
    assert body["avg_dwell_seconds"] == 90.0
    assert body["recent_items"] == ["vote", "phone"]
    assert names(body["top_authors"]) == ["Ann", "Cy"]  # 3 (view, click, dwell) against 2
    assert body["channels"] == {"app": 0.2, "web": 0.8}
    assert body["devices"] == {"tablet": 0.2, "unknown": 0.8}
    assert 0 < body["engagement"] <= 1

    # A retried batch changes nothing; the next new event changes the profile at once.
    assert api.post("/v1/events", json=batch).json() == {"stored": 0, "duplicates": 3}
    assert api.get("/v1/users/alice/profile").json()["counts"]["like"] == 1
    api.post("/v1/events", json={"events": [event(51, type="purchase", value=30.0)]})
    body = api.get("/v1/users/alice/profile").json()
    assert (body["purchases"], body["purchase_amount"]) == (1, 30.0)


def test_items_created_through_the_api_reach_the_profiles(api: httpx.Client) -> None:
    item = {"id": "boots", "title": "Boots", "tags": ["Shop > Shoes"], "source": "Store"}
    assert api.put("/v1/items/boots", json=item).status_code == 201
    api.post("/v1/items", json={"items": [{"id": "hat", "title": "Hat", "author": "Dee"}]})
    events = [event(10, item_id="boots", type="purchase"), event(11, item_id="hat")]
    assert api.post("/v1/events", json={"events": events}).status_code == 200
    body = api.get("/v1/users/alice/profile").json()
    assert "Shop > Shoes" in names(body["top_tags"])
    assert names(body["top_sources"])[0] == "Store"
    assert "Dee" in names(body["top_authors"])


def test_new_users_and_unknown_users(api: httpx.Client) -> None:
    r = api.get("/v1/users/nobody/profile")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    api.post("/v1/events", json={"events": [event(1, event_id="b1", user_id="bob")]})
    body = api.get("/v1/users/bob/profile").json()
    assert body["user_id"] == "bob"
    assert body["events"] == 1
    assert api.get("/v1/users/bad%20id/profile").status_code == 422


def test_a_restart_rebuilds_the_same_profile(dev_settings: Settings, seeded: DataStore) -> None:
    batch = {"events": [event(i, type=t) for i, t in enumerate(["click", "like", "share"], 2)]}
    with client(create_app(dev_settings, seeded)) as api:
        api.post("/v1/events", json=batch)
        before = api.get("/v1/users/alice/profile").json()
    with client(create_app(dev_settings, seeded)) as api:
        after = api.get("/v1/users/alice/profile").json()
    stable = ("counts", "sessions", "avg_session_minutes", "recent_items", "devices", "channels")
    assert {k: after[k] for k in stable} == {k: before[k] for k in stable}
    assert names(after["top_tags"]) == names(before["top_tags"])
    for got, expected in zip(after["top_tags"], before["top_tags"], strict=True):
        assert got["score"] == pytest.approx(expected["score"], rel=1e-4)


def test_reading_a_profile_needs_the_read_scope(database_url: str, seeded: DataStore) -> None:
    write, _ = seeded.keys.create("w", ["write"], START)
    read, _ = seeded.keys.create("r", ["read"], START)
    with client(create_app(make_settings(database_url), seeded)) as api:
        assert api.get("/v1/users/alice/profile").status_code == 401
        denied = api.get("/v1/users/alice/profile", headers={"X-API-Key": write})
        assert denied.status_code == 403
        ok = api.get("/v1/users/alice/profile", headers={"X-API-Key": read})
        assert ok.status_code == 200
