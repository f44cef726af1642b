"""The storage contract: every backend (SQLite, PostgreSQL) must pass every test here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tastemaker.catalog import Event, Item, User
from tastemaker.errors import EventConflict
from tastemaker.storage import DataStore
from tastemaker.storage.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ev(i: int, user: str = "u1", item: str = "a1", **kw: object) -> Event:
    data: dict[str, object] = {
        "event_id": f"e{i}",
        "user_id": user,
        "item_id": item,
        "type": "view",
        "timestamp": NOW - timedelta(minutes=i),
    }
    data.update(kw)
    return Event.model_validate(data)


# --- items -----------------------------------------------------------------------------------


def test_item_upsert_creates_then_replaces(store: DataStore) -> None:
    first = store.items.upsert([Item(id="a1", title="One", tags=["A > B"])], NOW)
    assert (first.created, first.updated) == (1, 0)
    later = NOW + timedelta(hours=1)
    second = store.items.upsert([Item(id="a1", title="Uno", author="ann")], later)
    assert (second.created, second.updated) == (0, 1)
    got = store.items.get("a1")
    assert got is not None
    assert got.title == "Uno"
    assert got.tags == []  # replaced, not merged
    assert got.author == "ann"
    assert got.created_at == NOW
    assert got.updated_at == later


def test_item_round_trip_keeps_every_field(store: DataStore) -> None:
    item = Item(
        id="a-1:x@y",
        title="Ünïcode ✓",
        summary="s",
        text="long text " * 100,
        tags=["Tech > Phones > Android", "News"],
        author="Ann",
        source="Wire",
        published_at=datetime(2026, 1, 1, tzinfo=UTC),
        expires_at=datetime(2026, 2, 1, 8, 30, 15, 123456, tzinfo=UTC),
        properties={"price": 9.99, "nested": {"a": [1, 2, None]}, "flag": True},
        recommendable=False,
    )
    store.items.upsert([item], NOW)
    got = store.items.get(item.id)
    assert got is not None
    assert got.model_dump(exclude={"created_at", "updated_at"}) == item.model_dump()


def test_batch_upsert_last_occurrence_wins(store: DataStore) -> None:
    res = store.items.upsert([Item(id="x", title="1"), Item(id="x", title="2")], NOW)
    assert res.created == 1
    got = store.items.get("x")
    assert got is not None
    assert got.title == "2"
    assert store.items.count() == 1


def test_item_delete(store: DataStore) -> None:
    store.items.upsert([Item(id="a", title="A"), Item(id="b", title="B")], NOW)
    assert store.items.delete("a") is True
    assert store.items.delete("a") is False
    assert store.items.get("a") is None
    assert [i.id for i in store.items.iterate()] == ["b"]


def test_items_iterate_in_batches(store: DataStore) -> None:
    store.items.upsert([Item(id=f"i{n}", title=str(n)) for n in range(25)], NOW)
    assert [i.id for i in store.items.iterate(batch_size=7)] == [f"i{n}" for n in range(25)]


# --- users -----------------------------------------------------------------------------------


def test_user_round_trip_with_consent_merge(store: DataStore) -> None:
    user = User.model_validate(
        {
            "id": "alice@example.com",
            "traits": {
                "device": "mobile",
                "geo": "DE-BE",
                "age_band": "25-34",
                "attributes": {"plan": "pro", "visits": 3},
            },
            "preferences": {"tags": ["Tech>Phones"], "authors": ["Ann"]},
            "consent": {"personalization": {"granted": True, "at": "2026-01-01T00:00:00Z"}},
        }
    )
    assert store.users.upsert([user], NOW).created == 1
    got = store.users.get("alice@example.com")
    assert got is not None
    assert got.traits == user.traits
    assert got.preferences.tags == ["Tech > Phones"]
    assert got.consent["personalization"].granted is True  # type: ignore[index]
    assert got.consent["personalization"].at == datetime(2026, 1, 1, tzinfo=UTC)  # type: ignore[index]

    # A later upsert naming only analytics keeps the personalization decision.
    later = User.model_validate(
        {"id": "alice@example.com", "consent": {"analytics": {"granted": False}}}
    )
    assert store.users.upsert([later], NOW + timedelta(days=1)).updated == 1
    got = store.users.get("alice@example.com")
    assert got is not None
    assert set(got.consent) == {"personalization", "analytics"}
    assert got.consent["analytics"].at == NOW + timedelta(days=1)  # type: ignore[index]
    assert got.traits.geo is None  # traits are replaced as a whole


def test_unknown_user_is_none(store: DataStore) -> None:
    assert store.users.get("nobody") is None
    assert store.users.erase("nobody") is None


def test_users_iterate(store: DataStore) -> None:
    store.users.upsert([User(id=f"u{n}") for n in range(12)], NOW)
    assert sorted(u.id for u in store.users.iterate(batch_size=5)) == sorted(
        f"u{n}" for n in range(12)
    )


def test_personal_data_is_not_in_clear_text(store: DataStore) -> None:
    """External ids and personal traits are encrypted; only the plain traits are readable."""
    user = User.model_validate(
        {
            "id": "bob@example.org",
            "traits": {
                "device": "tablet",
                "geo": "FR-75",
                "attributes": {"email": "bob@example.org"},
            },
        }
    )
    store.users.upsert([user], NOW)
    store.events.append([ev(1, user="bob@example.org")], NOW)
    assert isinstance(store, SqlStore)
    dump = []
    with store.engine.connect() as conn:
        for table in ("users", "events", "consents"):
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                dump.extend(repr(v) for v in row)
    text = " ".join(dump)
    assert "bob@example.org" not in text
    assert "FR-75" not in text
    assert "tablet" in text  # device is a plain trait by default


def test_wrong_key_cannot_read_users(store: DataStore, settings: object) -> None:
    from tastemaker.privacy.crypto import SecretBox

    store.users.upsert([User.model_validate({"id": "u", "traits": {"geo": "X"}})], NOW)
    assert isinstance(store, SqlStore)
    other = SqlStore(store.url, SecretBox(["another-secret-key-" + "x" * 20]), ["device"])
    try:
        # Pseudonyms differ under another key, so the user is simply not found.
        assert other.users.get("u") is None
    finally:
        other.close()


# --- events ----------------------------------------------------------------------------------


def test_append_is_idempotent(store: DataStore) -> None:
    batch = [ev(i, user=f"u{i % 3}") for i in range(10)]
    assert store.events.append(batch, NOW).model_dump() == {"stored": 10, "duplicates": 0}
    assert store.events.append(batch, NOW).model_dump() == {"stored": 0, "duplicates": 10}
    mixed = batch[:4] + [ev(i) for i in range(10, 13)]
    assert store.events.append(mixed, NOW).model_dump() == {"stored": 3, "duplicates": 4}
    assert store.events.count() == 13
    assert store.events.ids() == {f"e{i}" for i in range(13)}


def test_same_id_other_payload_conflicts_and_changes_nothing(store: DataStore) -> None:
    store.events.append([ev(1)], NOW)
    with pytest.raises(EventConflict) as info:
        store.events.append([ev(2), ev(1, item="other")], NOW)
    assert info.value.event_ids == ["e1"]
    assert store.events.ids() == {"e1"}  # e2 was not stored either
    assert store.users.count() == 1


def test_duplicate_inside_one_batch_is_stored_once(store: DataStore) -> None:
    assert store.events.append([ev(1), ev(1)], NOW).model_dump() == {
        "stored": 1,
        "duplicates": 1,
    }


def test_events_create_users_and_read_back(store: DataStore) -> None:
    e = ev(
        1,
        user="carol",
        type="dwell",
        value=42.5,
        channel="app",
        context={"placement": "home", "position": 3},
        properties={"k": "v"},
    )
    store.events.append([e], NOW)
    assert store.users.get("carol") is not None
    [back] = store.events.for_user("carol")
    assert back.model_dump(include=set(Event.model_fields)) == e.model_dump()
    assert back.received_at == NOW


def test_missing_timestamp_means_received_time(store: DataStore) -> None:
    store.events.append([ev(1, timestamp=None)], NOW)
    [back] = store.events.for_user("u1")
    assert back.timestamp == NOW
    # A retry later is still the same payload, hence a duplicate.
    assert store.events.append([ev(1, timestamp=None)], NOW + timedelta(seconds=5)).duplicates == 1


def test_for_user_newest_first_with_limit(store: DataStore) -> None:
    store.events.append([ev(i) for i in range(5)], NOW)
    got = store.events.for_user("u1", limit=3)
    assert [e.event_id for e in got] == ["e0", "e1", "e2"]


def test_iterate_in_arrival_order_after_seq(store: DataStore) -> None:
    store.events.append([ev(i, user=f"u{i % 4}") for i in range(30)], NOW)
    all_events = list(store.events.iterate(batch_size=7))
    assert [e.event_id for e in all_events] == [f"e{i}" for i in range(30)]
    assert [e.seq for e in all_events] == sorted(e.seq for e in all_events)
    tail = list(store.events.iterate(after_seq=all_events[19].seq))
    assert [e.event_id for e in tail] == [f"e{i}" for i in range(20, 30)]


# --- erasure ---------------------------------------------------------------------------------


def test_erase_removes_user_everywhere_and_only_them(store: DataStore) -> None:
    store.users.upsert(
        [
            User.model_validate({"id": "gone", "consent": {"analytics": {"granted": True}}}),
            User.model_validate({"id": "kept", "consent": {"analytics": {"granted": True}}}),
        ],
        NOW,
    )
    store.events.append([ev(1, user="gone"), ev(2, user="gone"), ev(3, user="kept")], NOW)
    removed = store.users.erase("gone")
    assert removed == {
        "exposure_items": 0,
        "exposures": 0,
        "events": 2,
        "consents": 1,
        "users": 1,
    }
    assert store.users.get("gone") is None
    assert store.events.for_user("gone") == []
    assert store.events.ids() == {"e3"}
    kept = store.users.get("kept")
    assert kept is not None
    assert "analytics" in kept.consent


# --- keys ------------------------------------------------------------------------------------


def test_api_keys(store: DataStore) -> None:
    assert store.keys.any_active() is False
    secret, key = store.keys.create("tracker", ["write"], NOW)
    assert secret.startswith("tm_")
    assert store.keys.any_active() is True
    verified = store.keys.verify(secret)
    assert verified is not None
    assert verified.scopes == frozenset({"write"})
    assert store.keys.verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert store.keys.verify("garbage") is None
    assert [k.prefix for k in store.keys.list()] == [key.prefix]
    assert store.keys.revoke(key.prefix, NOW) is True
    assert store.keys.revoke(key.prefix, NOW) is False
    assert store.keys.verify(secret) is None
    assert store.keys.any_active() is False


def test_key_secret_is_not_stored(store: DataStore) -> None:
    secret, _ = store.keys.create("x", ["read"], NOW)
    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn:
        rows = [repr(tuple(r)) for r in conn.execute(sa.text("SELECT * FROM api_keys"))]
    assert secret.split("_", 2)[2] not in " ".join(rows)


def test_ping(store: DataStore) -> None:
    store.ping()


def test_item_get_many(store: DataStore) -> None:
    store.items.upsert([Item(id=f"g{n}", title=str(n)) for n in range(3)], NOW)
    got = store.items.get_many(["g2", "nope", "g0", "g2"])
    assert sorted(i.id for i in got) == ["g0", "g2"]
    assert store.items.get_many([]) == []
