"""Stored placement configurations, on every backend: versions, history, deletion, revision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tastemaker.errors import InvalidInput
from tastemaker.storage import DataStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOME = {"candidates": [{"source": "als", "k": 200}], "rank": {"kind": "weighted"}, "k": 10}


def test_put_numbers_versions_and_get_gives_the_latest(store: DataStore) -> None:
    assert store.placements.get("home") is None
    assert store.placements.put("home", HOME, NOW) == 1
    assert store.placements.get("home") == (1, HOME)
    changed = {**HOME, "k": 20}
    assert store.placements.put("home", changed, NOW + timedelta(minutes=1)) == 2
    assert store.placements.get("home") == (2, changed)
    assert store.placements.put("email", {"k": 5}, NOW) == 1  # versions count per name
    assert store.placements.history("home") == [(2, changed), (1, HOME)]


def test_list_gives_the_latest_of_each_and_skips_deleted(store: DataStore) -> None:
    assert store.placements.list() == {}
    store.placements.put("home", HOME, NOW)
    store.placements.put("home", {"k": 3}, NOW)
    store.placements.put("email", {"k": 5}, NOW)
    store.placements.put("gone", {"k": 1}, NOW)
    store.placements.delete("gone", NOW)
    assert store.placements.list() == {"email": (1, {"k": 5}), "home": (2, {"k": 3})}


def test_delete_keeps_history_and_a_new_put_continues_numbering(store: DataStore) -> None:
    assert store.placements.delete("home") is False
    store.placements.put("home", HOME, NOW)
    assert store.placements.delete("home", NOW) is True
    assert store.placements.delete("home", NOW) is False
    assert store.placements.get("home") is None
    assert store.placements.history("home") == [(2, None), (1, HOME)]
    assert store.placements.put("home", {"k": 1}, NOW) == 3
    assert store.placements.get("home") == (3, {"k": 1})


def test_revision_moves_on_every_change_only(store: DataStore) -> None:
    seen = [store.placements.revision()]
    assert seen[0] == 0
    store.placements.put("home", HOME, NOW)
    seen.append(store.placements.revision())
    store.placements.get("home")
    store.placements.list()
    assert store.placements.delete("nothing") is False
    assert store.placements.revision() == seen[-1]  # reads and no-op deletes change nothing
    store.placements.put("email", {"k": 5}, NOW)
    seen.append(store.placements.revision())
    store.placements.delete("home")
    seen.append(store.placements.revision())
    assert seen == sorted(set(seen))


def test_a_name_is_checked(store: DataStore) -> None:
    with pytest.raises(InvalidInput):
        store.placements.put("", HOME, NOW)
    with pytest.raises(InvalidInput):
        store.placements.put("x" * 129, HOME, NOW)
    with pytest.raises(InvalidInput):  # PostgreSQL cannot store it: no backend takes it
        store.placements.put("home", {"note": "a\x00b"}, NOW)
    assert store.placements.revision() == 0


_text = st.text(st.characters(exclude_characters="\x00"), max_size=8)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(config=st.dictionaries(_text, _json, max_size=5))
def test_configurations_round_trip(store: DataStore, config: dict[str, object]) -> None:
    version = store.placements.put("p", config, NOW)
    assert store.placements.get("p") == (version, config)


def test_concurrent_puts_get_distinct_versions(store: DataStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = list(pool.map(lambda n: store.placements.put("home", {"n": n}, NOW), range(12)))
    assert sorted(versions) == list(range(1, 13))
    assert [v for v, _ in store.placements.history("home")] == list(range(12, 0, -1))
