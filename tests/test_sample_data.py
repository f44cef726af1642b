"""The built-in sample data set and ``tastemaker demo-data``."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tastemaker.catalog import Event, Item, User
from tastemaker.catalog.sample import (
    CATEGORIES,
    DEFAULT_END,
    SEGMENTS,
    SampleConfig,
    SampleData,
    generate_sample,
)
from tastemaker.catalog.tags import split_tag
from tastemaker.catalog.validation import check_events
from tastemaker.cli import app
from tastemaker.cli.demo import holds_other_sample, load_sample
from tastemaker.config import Settings
from tastemaker.storage import DataStore

SMALL = SampleConfig(seed=3, n_items=300, n_users=200)
TINY = SampleConfig(seed=5, n_items=120, n_users=30)
EVENT_TYPES = {
    "impression",
    "view",
    "click",
    "dwell",
    "scroll",
    "like",
    "dislike",
    "rating",
    "share",
    "add_to_cart",
    "purchase",
}


@pytest.fixture(scope="module")
def small() -> SampleData:
    return generate_sample(SMALL)


@pytest.fixture(scope="module")
def full() -> SampleData:
    return generate_sample()


def top_level(item: Item) -> str:
    return split_tag(item.tags[0])[0]


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_same_data(small: SampleData) -> None:
    again = generate_sample(SMALL)
    assert again == small
    assert [e.payload_hash() for e in again.events] == [e.payload_hash() for e in small.events]


def test_other_seed_other_data(small: SampleData) -> None:
    other = generate_sample(SampleConfig(seed=4, n_items=300, n_users=200))
    assert [i.title for i in other.items] != [i.title for i in small.items]
    assert other.segments != small.segments
    assert [e.payload_hash() for e in other.events[:100]] != [
        e.payload_hash() for e in small.events[:100]
    ]


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="n_items"):
        SampleConfig(n_items=10)
    with pytest.raises(ValueError, match="n_users"):
        SampleConfig(n_users=0)
    with pytest.raises(ValueError, match="days"):
        SampleConfig(days=3)
    assert SampleConfig(end=datetime(2026, 1, 1)).end.tzinfo is UTC


# -- validity ------------------------------------------------------------------------------


def test_everything_validates(small: SampleData) -> None:
    for item in small.items:
        assert Item.model_validate_json(item.model_dump_json(exclude_none=True)) == item
    for user in small.users:
        assert User.model_validate_json(user.model_dump_json(exclude_none=True)) == user
    for event in small.events:
        assert Event.model_validate_json(event.model_dump_json(exclude_none=True)) == event
    check_events(small.events, Settings(), now=small.config.end)


def test_default_size(full: SampleData) -> None:
    assert len(full.items) == 3000
    assert len(full.users) == 1200
    assert 60_000 <= len(full.events) <= 100_000
    check_events(full.events, Settings(), now=DEFAULT_END)
    assert {e.type for e in full.events} == EVENT_TYPES
    assert {e.channel for e in full.events} == {"web", "app", "email", "social"}
    assert {e.context.device for e in full.events} == {"mobile", "desktop", "tablet"}
    assert len({e.event_id for e in full.events}) == len(full.events)
    assert len({i.id for i in full.items}) == len(full.items)
    assert set(full.segments) == {u.id for u in full.users}


def test_three_level_tag_tree(small: SampleData) -> None:
    tree: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for item in small.items:
        for tag in item.tags:
            top, sub, leaf = split_tag(tag)
            tree[top][sub].add(leaf)
    assert set(tree) == {c.name for c in CATEGORIES}
    assert len(tree) == 6
    assert all(len(subs) == 3 for subs in tree.values())
    assert all(len(leaves) == 3 for subs in tree.values() for leaves in subs.values())


def test_items_look_like_a_site(small: SampleData) -> None:
    window = (small.config.start, small.config.end)
    for item in small.items:
        assert item.published_at is not None
        assert window[0] <= item.published_at <= window[1]
        assert item.title
        assert len(item.text.split(". ")) >= 2
        assert item.properties["word_count"] > 0
        if top_level(item) == "Shop":
            assert item.properties["price"] > 0
            assert item.id.startswith("product-")
        else:
            assert item.author is not None
            assert item.id.startswith("article-")
    assert any(not i.recommendable for i in small.items)
    assert any(i.expires_at is not None for i in small.items)
    assert len({i.source for i in small.items}) >= 4
    users = small.users
    assert all(u.traits.device and u.traits.geo and u.traits.age_band for u in users)
    assert any(u.preferences.tags for u in users)
    assert any(u.preferences.authors for u in users)
    granted = [c.granted for u in users for c in u.consent.values()]
    assert 0.7 < sum(granted) / len(granted) < 1.0


def test_category_words_tell_categories_apart(small: SampleData) -> None:
    """Each category's texts use its own words: the nearest category centroid is right."""
    words_of: dict[str, Counter[str]] = defaultdict(Counter)
    for item in small.items:
        words_of[top_level(item)].update(item.text.lower().split())
    vocabulary = sorted({w for c in words_of.values() for w in c})
    index = {w: i for i, w in enumerate(vocabulary)}
    names = sorted(words_of)
    centroids = np.zeros((len(names), len(vocabulary)))
    for row, name in enumerate(names):
        for w, n in words_of[name].items():
            centroids[row, index[w]] = n
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    right = 0
    for item in small.items:
        v = np.zeros(len(vocabulary))
        for w in item.text.lower().split():
            v[index[w]] += 1
        right += names[int(np.argmax(centroids @ v))] == top_level(item)
    assert right / len(small.items) > 0.95


# -- behaviour -----------------------------------------------------------------------------


def test_popularity_is_heavy_tailed_and_recent(full: SampleData) -> None:
    clicks = Counter(e.item_id for e in full.events if e.type == "click")
    counts = sorted((clicks.get(i.id, 0) for i in full.items), reverse=True)
    top = counts[: len(counts) // 10]
    assert sum(top) / sum(counts) > 0.5
    # Newer items are clicked more: half the clicks land on items at most two weeks old (with
    # ages spread evenly over 120 days that median would be near 50 days), and news ages
    # faster than lifestyle.
    items = {i.id: i for i in full.items}
    age: dict[str, list[float]] = defaultdict(list)
    for e in full.events:
        if e.type == "click":
            item = items[e.item_id or ""]
            assert e.timestamp is not None
            assert item.published_at is not None
            age[top_level(item)].append((e.timestamp - item.published_at) / timedelta(days=1))
    assert float(np.median([a for ages in age.values() for a in ages])) < 14
    assert np.median(age["News"]) < np.median(age["Lifestyle"])


def test_segments_differ(full: SampleData) -> None:
    category = {i.id: top_level(i) for i in full.items}
    reads: dict[str, Counter[str]] = defaultdict(Counter)
    events: Counter[str] = Counter()
    mobile: Counter[str] = Counter()
    purchases: Counter[str] = Counter()
    social: Counter[str] = Counter()
    for e in full.events:
        segment = full.segments[e.user_id]
        events[segment] += 1
        mobile[segment] += e.context.device == "mobile"
        social[segment] += e.channel == "social"
        if e.type == "view":
            reads[segment][category[e.item_id or ""]] += 1
        purchases[segment] += e.type == "purchase"
    favourite = {s: reads[s].most_common(1)[0][0] for s in full.segment_names}
    assert len(set(favourite.values())) == len(SEGMENTS)
    for seg in SEGMENTS:
        assert favourite[seg.name] == max(seg.categories, key=lambda c: seg.categories[c])
    size = Counter(full.segments.values())
    per_user = {s: events[s] / size[s] for s in full.segment_names}
    assert max(per_user, key=lambda s: per_user[s]) == "News Junkies"
    assert min(per_user, key=lambda s: per_user[s]) == "Lifestyle Browsers"
    assert max(mobile, key=lambda s: mobile[s] / events[s]) == "Sports Fans"
    assert max(social, key=lambda s: social[s] / events[s]) == "Lifestyle Browsers"
    assert max(purchases, key=lambda s: purchases[s] / size[s]) == "Deal Hunters"


def test_segments_can_be_recovered(full: SampleData) -> None:
    """K-Means over simple per-user features finds the planted segments."""
    cluster = pytest.importorskip("sklearn.cluster")
    metrics = pytest.importorskip("sklearn.metrics")
    category = {i.id: top_level(i) for i in full.items}
    names = [c.name for c in CATEGORIES]
    devices = ["mobile", "desktop", "tablet"]
    users = [u.id for u in full.users]
    row = {u: i for i, u in enumerate(users)}
    shares = np.zeros((len(users), len(names)))
    device = np.zeros((len(users), len(devices)))
    for e in full.events:
        r = row[e.user_id]
        device[r, devices.index(e.context.device or "")] += 1
        if e.type != "impression":
            shares[r, names.index(category[e.item_id or ""])] += 1
    counts = device.sum(axis=1, keepdims=True)
    features = np.hstack(
        [shares / shares.sum(axis=1, keepdims=True), device / counts, np.log(counts)]
    )
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    labels = cluster.KMeans(n_clusters=len(SEGMENTS), n_init=4, random_state=0).fit_predict(
        features
    )
    truth = [full.segments[u] for u in users]
    assert metrics.adjusted_rand_score(truth, labels) >= 0.8


def test_timestamps_are_consistent(small: SampleData) -> None:
    items = {i.id: i for i in small.items}
    sessions: dict[str, list[Event]] = defaultdict(list)
    for e in small.events:
        assert e.timestamp is not None
        assert e.item_id is not None
        item = items[e.item_id]
        assert item.published_at is not None
        assert item.published_at <= e.timestamp
        assert item.expires_at is None or e.timestamp < item.expires_at
        assert e.timestamp <= small.config.end
        assert e.context.session_id is not None
        sessions[e.context.session_id].append(e)
    # Ids follow time, so every session's events come in time order too.
    times = [e.timestamp or small.config.start for e in small.events]
    assert times == sorted(times)
    assert [e.event_id for e in small.events] == [
        f"demo-{n:06d}" for n in range(1, len(small.events) + 1)
    ]
    night = 0
    for session in sessions.values():
        assert len({(e.user_id, e.channel, e.context.device) for e in session}) == 1
        start, end = session[0].timestamp, session[-1].timestamp
        assert start is not None
        assert end is not None
        assert end - start < timedelta(hours=6)
        # The audience is in UTC+2: 01:00-05:00 local is 23:00-03:00 UTC.
        night += start.hour in (23, 0, 1, 2)
        # Within a session: a click, then the view, then the rest of the reading.
        first: dict[tuple[str | None, str], int] = {}
        for n, e in enumerate(session):
            first.setdefault((e.item_id, e.type), n)
        for (item_id, kind), n in first.items():
            if kind in ("dwell", "scroll", "like", "share", "rating", "add_to_cart", "purchase"):
                assert first[(item_id, "view")] < n
            if kind == "view" and (item_id, "click") in first:
                assert first[(item_id, "click")] < n
            if kind == "purchase":
                assert first[(item_id, "add_to_cart")] < n
    assert night / len(sessions) < 0.05


def test_event_values_are_plausible(small: SampleData) -> None:
    by_type: dict[str, list[float]] = defaultdict(list)
    for e in small.events:
        if e.value is not None:
            by_type[e.type].append(e.value)
    dwell = np.array(by_type["dwell"])
    assert dwell.min() > 0
    assert 20 < float(np.median(dwell)) < 200
    assert all(0 <= v <= 100 for v in by_type["scroll"])
    assert all(v in (0, 1, 2, 3, 4, 5) for v in by_type["rating"])
    assert all(v > 0 for v in by_type["purchase"])
    prices = {i.id: i.properties.get("price") for i in small.items}
    for e in small.events:
        if e.type in ("purchase", "add_to_cart"):
            assert prices[e.item_id or ""] is not None


# -- loading and the command line ----------------------------------------------------------


def test_load_is_idempotent(store: DataStore) -> None:
    data = generate_sample(TINY)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    seen: Counter[str] = Counter()
    first = load_sample(store, data, now, event_batch=500, advance=lambda w, n: seen.update({w: n}))
    assert first.items_created == len(data.items)
    assert first.users_created == len(data.users)
    assert first.events_stored == len(data.events)
    assert first.events_duplicate == 0
    assert seen == {"items": len(data.items), "users": len(data.users), "events": len(data.events)}
    assert store.items.count() == len(data.items)
    assert store.users.count() == len(data.users)
    assert store.events.count() == len(data.events)
    assert not holds_other_sample(store, data)
    assert holds_other_sample(store, generate_sample(SampleConfig(seed=6, n_items=120, n_users=30)))
    second = load_sample(store, data, now + timedelta(hours=1))
    assert second.events_stored == 0
    assert second.events_duplicate == len(data.events)
    assert second.items_updated == len(data.items)
    assert second.users_updated == len(data.users)
    assert store.events.count() == len(data.events)
    user = data.users[0]
    record = store.users.get(user.id)
    assert record is not None
    assert record.traits == user.traits


def cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(app, ["--database-url", url, "--insecure-dev", "demo-data", *args])
    return result.exit_code, result.output


def test_cli_writes_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    code, output = cli(
        tmp_path, "--out", str(out), "--items", "120", "--users", "30", "--seed", "5"
    )
    assert code == 0, output
    data = generate_sample(TINY)
    lines = {
        name: (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        for name in ("items", "users", "events", "segments")
    }
    assert [Item.model_validate_json(line) for line in lines["items"]] == data.items
    assert [User.model_validate_json(line) for line in lines["users"]] == data.users
    assert [Event.model_validate_json(line) for line in lines["events"]] == data.events
    assert lines["events"][0] == data.events[0].model_dump_json(exclude_none=True)
    segments = [json.loads(line) for line in lines["segments"]]
    assert {s["user_id"]: s["segment"] for s in segments} == data.segments
    assert not (tmp_path / "cli.db").exists()


def test_cli_loads_twice_without_duplicates(tmp_path: Path) -> None:
    args = ("--items", "120", "--users", "30", "--seed", "5")
    code, output = cli(tmp_path, *args)
    assert code == 0, output
    code, output = cli(tmp_path, "--load", *args)
    assert code == 0, output
    from tastemaker.storage import open_store

    store = open_store(Settings(database_url=f"sqlite:///{tmp_path / 'cli.db'}", insecure_dev=True))
    try:
        assert store.events.count() == len(generate_sample(TINY).events)
        assert store.items.count() == 120
        assert store.users.count() == 30
    finally:
        store.close()


def test_cli_refuses_to_mix_samples(tmp_path: Path) -> None:
    code, output = cli(tmp_path, "--items", "120", "--users", "30", "--seed", "5")
    assert code == 0, output
    code, output = cli(tmp_path, "--items", "120", "--users", "30", "--seed", "6")
    assert code == 2
    assert "other options" in output


def test_cli_needs_something_to_do(tmp_path: Path) -> None:
    code, _ = cli(tmp_path, "--no-load")
    assert code == 2
    code, _ = cli(tmp_path, "--items", "10", "--no-load", "--out", str(tmp_path / "x"))
    assert code == 2
