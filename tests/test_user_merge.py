"""Merging an anonymous user into a known one, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tastemaker.catalog import Event, User
from tastemaker.catalog.columns import Columns
from tastemaker.catalog.exposures import ExposedItem, Exposure
from tastemaker.errors import InvalidInput
from tastemaker.storage import DataStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ev(i: int, user: str, item: str = "a1") -> Event:
    return Event(
        event_id=f"e{i}",
        user_id=user,
        item_id=item,
        type="view",
        timestamp=NOW - timedelta(minutes=i),
    )


def shown(rid: str, user: str) -> Exposure:
    return Exposure(
        recommendation_id=rid,
        user_id=user,
        placement="home",
        created_at=NOW,
        items=[
            ExposedItem(item_id="a1", position=0, score=1.0),
            ExposedItem(item_id="a2", position=1, score=0.5),
        ],
    )


def test_merge_moves_events_and_exposures_and_removes_the_anonymous_user(store: DataStore) -> None:
    store.events.append([ev(1, "anon"), ev(2, "anon"), ev(3, "known"), ev(4, "other")], NOW)
    store.users.upsert([User(id="known")], NOW)
    store.exposures.log(shown("r-anon", "anon"))

    assert store.users.merge("anon", "known", NOW) == 2

    assert store.users.get("anon") is None
    assert store.events.for_user("anon") == []
    assert sorted(e.event_id for e in store.events.for_user("known")) == ["e1", "e2", "e3"]
    assert [e.event_id for e in store.events.for_user("other")] == ["e4"]
    [page] = store.exposures.get("r-anon")
    assert page.user_id == "known"
    frame = store.exposures.frame()
    assert set(frame[Columns.USER]) == {store.snapshot.user_key("known")}
    # Event ids are still idempotency keys: the anonymous client's retry is a duplicate.
    assert store.events.append([ev(1, "anon")], NOW).duplicates == 1
    # So is a retried exposure log; neither brings the anonymous user back.
    store.exposures.log(shown("r-anon", "anon"))
    assert store.exposures.count() == 1
    assert store.users.get("anon") is None
    # Erasing the known user now erases what came from the anonymous one too.
    removed = store.users.erase("known")
    assert removed is not None
    assert (removed["events"], removed["exposures"], removed["exposure_items"]) == (3, 1, 2)


def test_merge_is_idempotent_and_ignores_unknown_ids(store: DataStore) -> None:
    store.events.append([ev(1, "anon")], NOW)
    assert store.users.merge("anon", "known", NOW) == 1
    assert store.users.merge("anon", "known", NOW) == 0
    assert store.users.merge("never-seen", "known", NOW) == 0
    assert store.users.get("never-seen") is None
    assert [e.event_id for e in store.events.for_user("known")] == ["e1"]


def test_merge_creates_the_known_user_also_after_erasure(store: DataStore) -> None:
    store.events.append([ev(1, "known"), ev(2, "anon")], NOW)
    store.users.erase("known")
    assert store.users.get("known") is None
    assert store.users.merge("anon", "known", NOW) == 1
    assert store.users.get("known") is not None
    assert [e.event_id for e in store.events.for_user("known")] == ["e2"]
    assert store.users.count() == 1


def test_consents_of_the_known_user_win(store: DataStore) -> None:
    later = NOW + timedelta(days=1)
    store.users.upsert(
        [
            User.model_validate(
                {
                    "id": "anon",
                    "consent": {
                        "personalization": {"granted": True, "at": "2026-01-01T00:00:00Z"},
                        "analytics": {"granted": True, "at": "2026-01-01T00:00:00Z"},
                    },
                }
            ),
            User.model_validate({"id": "known", "consent": {"analytics": {"granted": False}}}),
        ],
        NOW,
    )
    store.users.merge("anon", "known", later)
    known = store.users.get("known")
    assert known is not None
    assert known.consent["analytics"].granted is False  # type: ignore[index]
    assert known.consent["analytics"].at == NOW  # type: ignore[index]
    personalization = known.consent["personalization"]  # type: ignore[index]
    assert personalization.granted is True  # moved: the known user had not decided
    assert personalization.at == datetime(2026, 1, 1, tzinfo=UTC)


def test_traits_and_preferences_come_from_the_anonymous_user_only_where_missing(
    store: DataStore,
) -> None:
    store.users.upsert(
        [
            User.model_validate(
                {
                    "id": "anon",
                    "traits": {"device": "mobile", "geo": "DE-BE"},
                    "preferences": {"tags": ["Tech"]},
                }
            ),
            User.model_validate({"id": "known", "preferences": {"authors": ["Ann"]}}),
            User.model_validate(
                {"id": "anon2", "traits": {"geo": "FR"}, "preferences": {"tags": ["Art"]}}
            ),
        ],
        NOW,
    )
    store.users.merge("anon", "known", NOW + timedelta(hours=1))
    known = store.users.get("known")
    assert known is not None
    # The known user had no traits: the anonymous ones (encrypted ones re-keyed) are adopted.
    assert (known.traits.device, known.traits.geo) == ("mobile", "DE-BE")
    assert known.preferences.authors == ["Ann"]  # the known user's own preferences win
    assert known.preferences.tags == []
    assert known.updated_at == NOW + timedelta(hours=1)

    store.users.merge("anon2", "known", NOW)  # now the known user has traits of its own
    known = store.users.get("known")
    assert known is not None
    assert known.traits.geo == "DE-BE"


def test_merge_into_itself_is_rejected(store: DataStore) -> None:
    store.events.append([ev(1, "same")], NOW)
    with pytest.raises(InvalidInput):
        store.users.merge("same", "same", NOW)
    assert [e.event_id for e in store.events.for_user("same")] == ["e1"]
