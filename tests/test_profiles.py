"""Profiles: known answers, incremental equals rebuild, idempotency, round trips, the LRU."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tastemaker.catalog.events import Event
from tastemaker.catalog.items import Item
from tastemaker.catalog.users import Preferences, User
from tastemaker.config import Settings
from tastemaker.profiles import (
    ItemIndex,
    ItemMeta,
    Profile,
    ProfileEvent,
    ProfileRules,
    ProfileUpdater,
    event_frame,
    rebuild_profiles,
)
from tastemaker.profiles.rules import DAY, MINUTE
from tastemaker.storage import DataStore, open_store
from tests.conftest import make_settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T0_US = int(T0.timestamp()) * 1_000_000
HALF_LIFE = 30 * DAY
ANDROID = ItemMeta(
    tags=(("Tech > Phones > Android", 1.0), ("Tech > Phones", 0.5), ("Tech", 0.25)),
    author="Ann",
    source="Wire",
)
ITEMS = [
    Item(id="a0", title="Pixel", tags=["Tech > Phones > Android"], author="Ann", source="Wire"),
    Item(id="a1", title="iPhone", tags=["Tech > Phones > iOS"], author="Bob", source="Wire"),
    Item(id="a2", title="Vote", tags=["News > Politics", "News > Economy"], author="Cy"),
    Item(id="a3", title="Shoes", tags=["Shop"], source="Store"),
]


def ev(
    i: int | str,
    kind: str = "view",
    minute: float = 0,
    item: str | None = "a0",
    value: float | None = None,
    **kw: Any,
) -> ProfileEvent:
    return ProfileEvent(
        event_id=str(i),
        item_id=item,
        type=kind,
        value=value,
        ts=T0_US + round(minute * MINUTE),
        channel=kw.get("channel", "web"),
        device=kw.get("device"),
    )


def feed(profile: Profile, *events: ProfileEvent, item: ItemMeta | None = ANDROID) -> Profile:
    for e in events:
        profile.update(e, item)
    return profile


@pytest.fixture
def rules() -> ProfileRules:
    return ProfileRules.default()


# ------------------------------------------------------------------------------------------------
# Known answers


def test_sessions_split_at_the_gap(rules: ProfileRules) -> None:
    p = feed(Profile("u", rules), ev(1, minute=0), ev(2, minute=10), ev(3, minute=40))
    assert p.sessions == 1  # 30 minutes after the last event still continues the session
    assert p.session_micros == 40 * MINUTE
    feed(p, ev(4, minute=70.01))  # just over 30 minutes: a new session
    assert p.sessions == 2
    feed(p, ev(5, minute=75))
    assert p.session_micros == 40 * MINUTE + round(4.99 * MINUTE)
    assert p.avg_session_minutes == pytest.approx((40 + 4.99) / 2)


def test_session_gap_is_configurable() -> None:
    p = feed(Profile("u", ProfileRules.default(session_gap_minutes=5)), ev(1), ev(2, minute=6))
    assert p.sessions == 2
    assert p.avg_session_minutes == 0.0


def test_late_events_extend_the_session_they_fall_into(rules: ProfileRules) -> None:
    p = feed(Profile("u", rules), ev(1, minute=100), ev(2, minute=110))
    feed(p, ev(3, minute=105))  # inside: nothing changes
    assert (p.sessions, p.session_micros) == (1, 10 * MINUTE)
    feed(p, ev(4, minute=80))  # within one gap before the start: extends it backwards
    assert (p.sessions, p.session_micros) == (1, 30 * MINUTE)
    feed(p, ev(5, minute=0))  # further back: counted, but not placed in a session
    assert (p.sessions, p.events, p.first_ts) == (1, 5, T0_US)


def test_counts_ctr_dwell_scroll_purchases(rules: ProfileRules) -> None:
    p = feed(
        Profile("u", rules),
        ev(1, "impression"),
        ev(2, "impression"),
        ev(3, "impression"),
        ev(4, "impression"),
        ev(5, "click"),
        ev(6, "dwell", value=20.0),
        ev(7, "dwell", value=40.0),
        ev(8, "scroll", value=80.0),
        ev(9, "purchase", value=19.5),
        ev(10, "purchase"),
    )
    assert p.counts == {"impression": 4, "click": 1, "dwell": 2, "scroll": 1, "purchase": 2}
    assert (p.impressions, p.clicks, p.ctr) == (4, 1, 0.25)
    assert (p.avg_dwell_seconds, p.avg_scroll_depth) == (30.0, 80.0)
    assert (p.purchases, p.purchase_amount) == (2, 19.5)
    assert (p.events, p.actions) == (10, 6)
    assert Profile("v", rules).ctr is None


def test_time_decay_by_hand(rules: ProfileRules) -> None:
    p = Profile("u", rules)
    p.update(ev(1, minute=0), ANDROID)  # view: weight 1
    p.update(ev(2, minute=HALF_LIFE / MINUTE), ANDROID)  # one half-life later
    at = T0_US + HALF_LIFE
    assert p.tags.at("Tech > Phones > Android", at) == pytest.approx(1.5)
    assert p.authors.at("Ann", at + HALF_LIFE) == pytest.approx(0.75)
    # A late event at T0 − 1 half-life adds 1·2^-2 at the reference time.
    p.update(ev(3, minute=-HALF_LIFE / MINUTE), ANDROID)
    assert p.sources.at("Wire", at) == pytest.approx(1.75)


def test_a_tag_feeds_its_parents_with_decay(rules: ProfileRules) -> None:
    index = ItemIndex.from_items(ITEMS)
    p = Profile("u", rules)
    p.update(ev(1, "like"), index.get("a0"))  # like: weight 2
    assert p.affinities("tags", T0_US) == {
        "Tech > Phones > Android": 2.0,
        "Tech > Phones": 1.0,
        "Tech": 0.5,
    }
    p.update(ev(2, "view", item="a1"), index.get("a1"))
    assert p.tags.at("Tech > Phones", T0_US) == 1.5
    assert p.tags.at("Tech", T0_US) == 0.75
    shallow = ItemIndex.from_items(ITEMS, parent_decay=0.1).get("a0")
    assert shallow is not None
    assert dict(shallow.tags) == pytest.approx(
        {"Tech > Phones > Android": 1.0, "Tech > Phones": 0.1, "Tech": 0.01}
    )
    # Two tags under one parent: the parent gets its share once, not twice.
    news = index.get("a2")
    assert news is not None
    assert dict(news.tags)["News"] == 0.5


def test_negative_feedback_subtracts(rules: ProfileRules) -> None:
    p = feed(Profile("u", rules), ev(1, "view"), ev(2, "dislike"))  # +1, then −2
    assert p.tags.at("Tech", T0_US) == pytest.approx(0.25 - 0.5)
    assert p.authors.at("Ann", T0_US) == pytest.approx(-1.0)
    assert p.top_affinities("authors", T0_US) == []  # only positive affinities are "top"
    feed(p, ev(3, "rating", value=1.0))  # a low rating is negative with weight 1
    assert p.authors.at("Ann", T0_US) == pytest.approx(-2.0)


def test_seen_events_do_not_move_affinities(rules: ProfileRules) -> None:
    p = feed(Profile("u", rules), ev(1, "impression"), ev(2, "dwell", value=5.0))
    assert len(p.tags) == 0
    feed(p, ev(3, "dwell", value=31.0))
    assert p.authors.at("Ann", T0_US) == 1.0


def test_devices_channels_days_recent_items(rules: ProfileRules) -> None:
    p = feed(
        Profile("u", ProfileRules.default(recent_items=3)),
        ev(1, "impression", item="x0", device="mobile"),
        ev(2, item="x1", device="mobile", channel="app"),
        ev(3, item="x2", minute=DAY / MINUTE),
        ev(4, item="x1", minute=DAY / MINUTE + 1),
        ev(5, item="x3", minute=DAY / MINUTE + 2),
        ev(6, item="x4", minute=DAY / MINUTE + 3),
        ev(7, "dwell", item="x4", value=50.0, minute=DAY / MINUTE + 4),
        item=None,
    )
    assert p.devices == {"mobile": 2, "unknown": 5}
    assert p.channels == {"web": 6, "app": 1}
    assert p.active_days == 2
    assert list(p.recent_items) == ["x1", "x3", "x4"]  # distinct, newest last, bounded
    assert len(p.tags) == 0  # no item metadata: no affinities


def test_explicit_preferences_are_a_non_decaying_prior(rules: ProfileRules) -> None:
    p = feed(Profile("u", rules), ev(1, "view"))
    p.apply_preferences(Preferences(tags=["News > Politics"], authors=["Ann"], sources=["X"]))
    later = T0_US + 10 * HALF_LIFE
    assert p.affinities("tags", later)["News > Politics"] == 2.0
    assert p.affinities("tags", later)["News"] == 1.0
    assert p.top_affinities("authors", later)[0] == ("Ann", pytest.approx(2.0 + 2.0**-10))
    assert p.top_affinities("sources", later)[0] == ("X", 2.0)
    p.apply_preferences(Preferences())  # replaced, not added
    assert p.top_affinities("sources", later) == [("Wire", pytest.approx(2.0**-10))]


def test_engagement_grows_with_activity_and_fades(rules: ProfileRules) -> None:
    idle = Profile("idle", rules)
    assert idle.engagement(T0_US) == 0.0
    p = feed(
        Profile("u", rules),
        ev(1, "view"),
        ev(2, "dwell", value=60.0),
        ev(3, "scroll", value=50.0),
        ev(4, "purchase", value=10.0),
    )
    # R = 1, F = 1 − e^(−1/5), D = ½(1 − e^−1) + ½·0.5, C = 1 − e^(−1/2)
    expected = (
        0.35
        + 0.30 * (1 - math.exp(-0.2))
        + 0.20 * (0.5 * (1 - math.exp(-1)) + 0.25)
        + 0.15 * (1 - math.exp(-0.5))
    )
    assert p.engagement(T0_US) == pytest.approx(expected)
    week = T0_US + 7 * DAY
    assert p.engagement(week) < p.engagement(T0_US)
    assert p.engagement(T0_US + 365 * DAY) < 0.2


# ------------------------------------------------------------------------------------------------
# Idempotency and serialization


def test_a_retried_event_counts_once(rules: ProfileRules) -> None:
    p = Profile("u", rules)
    assert p.update(ev(1, "like"), ANDROID) is True
    assert p.update(ev(1, "like"), ANDROID) is False
    assert p.counts == {"like": 1}
    assert p.authors.at("Ann", T0_US) == 2.0


def test_recent_event_ids_are_bounded() -> None:
    p = Profile("u", ProfileRules.default(recent_event_ids=3))
    feed(p, *(ev(i) for i in range(4)))
    assert p.update(ev(3), ANDROID) is False
    assert p.update(ev(0), ANDROID) is True  # forgotten: counted again, as documented
    assert p.counts["view"] == 5
    assert len(p.to_dict()["event_ids"]) == 3


def test_events_without_id_are_not_deduplicated(rules: ProfileRules) -> None:
    p = Profile("u", rules)
    e = ev(1)._replace(event_id=None)
    assert p.update(e)
    assert p.update(e)
    assert p.counts == {"view": 2}


def test_serialization_round_trip(rules: ProfileRules) -> None:
    p = feed(
        Profile("u", rules),
        ev(1, "impression", device="mobile"),
        ev(2, "click"),
        ev(3, "dwell", value=42.0, minute=90),
        ev(4, "purchase", value=5.0, minute=91, channel="app"),
        ev(5, "dislike", minute=-3000),
    )
    p.apply_preferences(Preferences(tags=["News"], authors=["Zed"]))
    p.segment = "Frequent Buyers"
    data = json.loads(json.dumps(p.to_dict()))
    q = Profile.from_dict(data, rules)
    assert q.to_dict() == p.to_dict()
    assert q.update(ev(2, "click"), ANDROID) is False  # the recent ids survive
    later = ev(6, "like", minute=200)
    p.update(later, ANDROID)
    q.update(later, ANDROID)
    assert q.to_dict() == p.to_dict()
    assert p.copy().to_dict() == p.to_dict()
    with pytest.raises(ValueError, match="version"):
        Profile.from_dict({**data, "version": 99}, rules)


# ------------------------------------------------------------------------------------------------
# Incremental equals rebuild (hypothesis)

USERS = ["u0", "u1", "u2"]
KINDS: list[tuple[str, st.SearchStrategy[float | None]]] = [
    ("impression", st.none()),
    ("view", st.none()),
    ("click", st.none()),
    ("dwell", st.floats(0, 300)),
    ("scroll", st.floats(0, 100)),
    ("like", st.none()),
    ("dislike", st.none()),
    ("rating", st.floats(0, 5)),
    ("share", st.none()),
    ("add_to_cart", st.none() | st.floats(0, 10)),
    ("purchase", st.none() | st.floats(0, 500)),
]


@st.composite
def event_streams(draw: st.DrawFn) -> list[Event]:
    n = draw(st.integers(1, 60))
    events = []
    for i in range(n):
        kind, values = draw(st.sampled_from(KINDS))
        events.append(
            Event(
                event_id=f"e{i}",
                user_id=draw(st.sampled_from(USERS)),
                item_id=draw(st.sampled_from(["a0", "a1", "a2", "a3", "unknown-item"])),
                type=kind,
                value=draw(values),
                # Minutes over a few days: sessions split and continue, ties happen.
                timestamp=T0 + timedelta(minutes=draw(st.integers(0, 5 * 24 * 60))),
                channel=draw(st.sampled_from(["web", "app", "email"])),
                context={"device": draw(st.sampled_from([None, "mobile", "desktop"]))},
            )
        )
    return events


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataStore]:
    path = tmp_path_factory.mktemp("profiles") / "empty.db"
    store = open_store(make_settings(f"sqlite:///{path}"))
    yield store
    store.close()


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats within a relative 1e-9 (rounding differs with the summation order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), path
    else:
        assert a == b, path


ORDER_INDEPENDENT = (
    "counts",
    "first_ts",
    "last_ts",
    "active_days",
    "dwell",
    "scroll",
    "purchase_amount",
    "devices",
    "channels",
    "tags",
    "authors",
    "sources",
)


def _incremental(
    store: DataStore, events: list[Event], cuts: list[int], **profiles: Any
) -> dict[str, dict[str, Any]]:
    updater = ProfileUpdater(
        make_settings("sqlite://", profiles=profiles), store, ItemIndex.from_items(ITEMS)
    )
    bounds = [0, *sorted(c % (len(events) + 1) for c in cuts), len(events)]
    for lo, hi in itertools.pairwise(bounds):
        updater.apply(events[lo:hi], T0)
    return {k: p.to_dict() for k in updater if (p := updater.get(k))}


def _rebuilt(store: DataStore, events: list[Event], **profiles: Any) -> dict[str, dict[str, Any]]:
    rules = ProfileRules.default(**profiles)
    frame = event_frame(events, store.snapshot.user_key)
    return {
        k: p.to_dict()
        for k, p in rebuild_profiles(frame, rules, ItemIndex.from_items(ITEMS)).items()
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_streams(), cuts=st.lists(st.integers(0, 1000), max_size=5))
def test_incremental_equals_rebuild_in_time_order(
    empty_store: DataStore, events: list[Event], cuts: list[int]
) -> None:
    events.sort(key=lambda e: e.timestamp or T0)
    online = _incremental(empty_store, events, cuts, recent_event_ids=1000)
    rebuilt = _rebuilt(empty_store, events, recent_event_ids=1000)
    assert len(online) == len({e.user_id for e in events})
    _close(online, rebuilt)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_streams(), cuts=st.lists(st.integers(0, 1000), max_size=5), seed=st.integers())
def test_order_independent_parts_equal_rebuild_in_any_order(
    empty_store: DataStore, events: list[Event], cuts: list[int], seed: int
) -> None:
    random.Random(seed).shuffle(events)
    online = _incremental(empty_store, events, cuts)
    rebuilt = _rebuilt(empty_store, events)
    assert online.keys() == rebuilt.keys()
    for key, data in online.items():
        _close(
            {k: data[k] for k in ORDER_INDEPENDENT}, {k: rebuilt[key][k] for k in ORDER_INDEPENDENT}
        )
        assert data["sessions"] >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_streams(), cuts=st.lists(st.integers(0, 1000), max_size=5))
def test_retried_batches_change_nothing(
    empty_store: DataStore, events: list[Event], cuts: list[int]
) -> None:
    events.sort(key=lambda e: e.timestamp or T0)
    once = _incremental(empty_store, events, cuts, recent_event_ids=1000)
    twice = _incremental(empty_store, events + events, cuts, recent_event_ids=1000)
    _close(once, twice)


# ------------------------------------------------------------------------------------------------
# The updater with a store


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(f"sqlite:///{tmp_path / 'p.db'}")


@pytest.fixture
def sqlite_store(sqlite_settings: Settings) -> Iterator[DataStore]:
    store = open_store(sqlite_settings)
    yield store
    store.close()


def api_event(i: int, user: str = "alice", minute: int = 0, **kw: Any) -> Event:
    fields: dict[str, Any] = {"item_id": "a0", "type": "view"} | kw
    return Event(event_id=f"e{i}", user_id=user, timestamp=T0 + timedelta(minutes=minute), **fields)


def test_lru_keeps_capacity_profiles(sqlite_store: DataStore) -> None:
    settings = make_settings("sqlite://", profiles={"capacity": 3})
    updater = ProfileUpdater(settings, sqlite_store)
    for n, user in enumerate(["u1", "u2", "u3", "u1", "u4", "u5"]):
        updater.apply([api_event(n, user=user)], T0)
    key = sqlite_store.snapshot.user_key
    assert len(updater) == 3
    assert list(updater) == [key("u1"), key("u4"), key("u5")]  # u1 was used again: kept
    assert updater.get(key("u2")) is None


def test_a_missing_profile_is_restored_from_the_store(
    sqlite_settings: Settings, sqlite_store: DataStore
) -> None:
    sqlite_store.items.upsert(ITEMS, T0)
    sqlite_store.users.upsert([User(id="alice", preferences=Preferences(sources=["S"]))], T0)
    history = [api_event(i, minute=i) for i in range(5)]
    sqlite_store.events.append(history, T0)
    updater = ProfileUpdater(sqlite_settings, sqlite_store)  # knows nothing yet
    batch = [api_event(5, minute=5, type="like"), history[0]]  # a new event and a retry
    sqlite_store.events.append(batch, T0)
    assert updater.apply(batch, T0) == 0  # both were replayed from the store
    profile = updater.get(sqlite_store.snapshot.user_key("alice"))
    assert profile is not None
    assert profile.counts == {"view": 5, "like": 1}
    assert profile.prior["sources"] == {"S": 2.0}
    assert profile.authors.at("Ann", T0_US + 5 * MINUTE) == pytest.approx(7.0, rel=1e-3)
    assert updater.apply([api_event(6, minute=6)], T0) == 1
    assert updater.profile("alice").counts == {"view": 6, "like": 1}
    assert updater.profile("nobody").events == 0


def test_rebuild_equals_the_online_path(sqlite_settings: Settings, sqlite_store: DataStore) -> None:
    sqlite_store.items.upsert(ITEMS, T0)
    sqlite_store.users.upsert([User(id="bob", preferences=Preferences(tags=["News"]))], T0)
    rng = random.Random(3)
    minutes = [0]
    for _ in range(199):  # in time order, with pauses shorter and longer than a session gap
        minutes.append(minutes[-1] + rng.choice([1, 20, 45]))
    events = [
        api_event(
            i,
            user=rng.choice(["alice", "bob"]),
            minute=minutes[i],
            item_id=rng.choice(["a0", "a1", "a2", "a3"]),
            type=rng.choice(["view", "like", "dislike", "impression"]),
            channel=rng.choice(["web", "app"]),
            context={"device": rng.choice(["mobile", None])},
        )
        for i in range(200)
    ]
    online = ProfileUpdater(sqlite_settings, sqlite_store)
    online.index.refresh(sqlite_store)
    for lo in range(0, len(events), 17):
        sqlite_store.events.append(events[lo : lo + 17], T0)
        online.apply(events[lo : lo + 17], T0)
    online.profile("bob", Preferences(tags=["News"]))  # as the API does on a read
    rebuilt = ProfileUpdater(sqlite_settings, sqlite_store)
    assert rebuilt.rebuild() == 2
    assert len(rebuilt.index) == len(ITEMS)
    for key in rebuilt:
        a, b = online.get(key), rebuilt.get(key)
        assert a is not None
        assert b is not None
        _close(a.to_dict(), b.to_dict())


def test_items_added_later_are_looked_up(
    sqlite_settings: Settings, sqlite_store: DataStore
) -> None:
    updater = ProfileUpdater(sqlite_settings, sqlite_store)
    updater.index.refresh(sqlite_store)
    updater.apply([api_event(1, item_id="a0")], T0)  # not in the catalog yet
    sqlite_store.items.upsert(ITEMS[:1], T0)
    updater.apply([api_event(2, item_id="a0")], T0)  # remembered as missing for a while
    updater._missing_items.clear()  # as if the time-to-live had passed
    updater.apply([api_event(3, item_id="a0")], T0)
    profile = updater.profile("alice")
    assert profile.authors.at("Ann", T0_US) == 1.0
    updater.index.put([ITEMS[1]])  # what PUT /v1/items does
    updater.apply([api_event(4, item_id="a1")], T0)
    assert updater.profile("alice").authors.at("Bob", T0_US) == 1.0


def test_assign_hook_sets_the_segment(sqlite_settings: Settings, sqlite_store: DataStore) -> None:
    updater = ProfileUpdater(sqlite_settings, sqlite_store)
    calls: list[int] = []

    def assign(profile: Profile) -> str:
        calls.append(profile.events)
        return "Buyers" if profile.purchases else "Browsers"

    updater.assign = assign
    updater.apply([api_event(1), api_event(2)], T0)
    assert updater.profile("alice").segment == "Browsers"
    updater.apply([api_event(3, type="purchase")], T0)
    assert updater.profile("alice").segment == "Buyers"
    assert calls == [2, 3]  # once per profile and batch, after its events


def test_forget_drops_a_profile(sqlite_settings: Settings, sqlite_store: DataStore) -> None:
    updater = ProfileUpdater(sqlite_settings, sqlite_store)
    updater.apply([api_event(1)], T0)
    assert updater.forget("alice") is True
    assert updater.forget("alice") is False
    assert len(updater) == 0


def test_dates_far_apart_do_not_overflow(rules: ProfileRules) -> None:
    p = Profile("u", rules)
    ancient = ProfileEvent("old", "a0", "view", None, -62_135_596_800_000_000)  # year 1
    recent = ProfileEvent("new", "a0", "like", None, 253_402_300_799_000_000)  # year 9999
    for e in (ancient, recent, ProfileEvent("older", "a0", "view", None, ancient.ts - DAY)):
        p.update(e, ANDROID)
    assert p.sessions == 2
    assert p.authors.at("Ann", recent.ts) == 2.0
    assert p.engagement(recent.ts) > 0
    assert p.frequency(ancient.ts) == pytest.approx(1.0)


def test_set_assign_assigns_every_profile_and_a_failing_hook_is_contained(
    sqlite_settings: Settings, sqlite_store: DataStore, caplog: pytest.LogCaptureFixture
) -> None:
    updater = ProfileUpdater(sqlite_settings, sqlite_store)
    updater.apply([api_event(1, user="u1"), api_event(2, user="u2", type="purchase")], T0)
    updater.set_assign(lambda p: "Buyers" if p.purchases else "Readers")
    assert [updater.profile(u).segment for u in ("u1", "u2")] == ["Readers", "Buyers"]

    def broken(profile: Profile) -> str:
        raise RuntimeError("model not loaded")

    updater.assign = broken
    assert updater.apply([api_event(3, user="u1")], T0) == 1  # the events still count
    assert updater.profile("u1").segment == "Readers"
    assert "segment assignment failed" in caplog.text
    updater.set_assign(None)
    assert updater.profile("u2").segment is None
