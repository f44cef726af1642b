"""``/v1/users/{id}/recommendations`` end to end over real HTTP: rules, hybrids, diversity,
explanations, fallbacks and freshness, on the hand-made world of :mod:`tests.serving_world`."""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tastemaker.catalog.exposures import Exposure
from tastemaker.config import Settings
from tastemaker.errors import ConfigurationError
from tastemaker.pipeline.pipeline import new_id
from tastemaker.service import create_app
from tastemaker.service.answers import RecommendationsOut
from tastemaker.service.routes.recommendations import PAGE_SETTLE_SECONDS
from tastemaker.serving.runtime import check_placements
from tastemaker.storage import DataStore, open_store
from tastemaker.training.ranker import train_ranker
from tastemaker.training.trainer import train
from tests import serving_world as world
from tests.conftest import make_settings
from tests.live import free_port, serve

NEVER = {"n-0", "n-1"}  # not recommendable, expired

PLACEMENTS: dict[str, Any] = {
    "collab": {
        "sources": [{"kind": "model", "model": "item_knn", "k": 50}],
        "diversity": {"strength": 0},
    },
    "repeat": {
        "sources": [{"kind": "model", "model": "item_knn", "k": 50}],
        "rules": {"exclude_seen": []},
    },
    "sport-only": {
        "sources": [{"kind": "popular", "k": 50}],
        "rules": {"include": {"tags": ["Sport"]}},
    },
    "no-sport": {
        "sources": [{"kind": "popular", "k": 50}],
        "rules": {"exclude": {"tags": ["Sport"]}},
    },
    "fresh": {
        "sources": [{"kind": "popular", "k": 50}],
        "rules": {"max_age_days": 3.5},
    },
    "premium": {
        "sources": [{"kind": "popular", "k": 50}],
        "rules": {"include": {"properties": {"premium": [True]}}},
    },
    "boosted": {
        "sources": [{"kind": "model", "model": "item_knn", "k": 50}, {"kind": "popular"}],
        "rules": {"boosts": [{"filter": {"authors": ["Cid"]}, "factor": 50}]},
    },
    "promoted": {
        "sources": [{"kind": "model", "model": "item_knn", "k": 50}, {"kind": "popular"}],
        "rules": {"promotions": [{"filter": {"tags": ["Sport"]}, "slots": 2}]},
    },
    "pinned": {
        "sources": [{"kind": "pinned", "items": ["s-9", "t-9", "nope"]}],
    },
    "newest": {"sources": [{"kind": "recent", "k": 5}]},
    "weighted": {
        "sources": [
            {"kind": "model", "model": "item_knn", "k": 50},
            {"kind": "popular", "k": 50},
        ],
        "ranking": {
            "kind": "weighted",
            "weights": {"item_knn": 1.0, "popular": 0.0},
            "newcomer_weights": {"popular": 1.0},
            "history_threshold": 5,
        },
    },
    "switching": {
        "sources": [
            {"kind": "model", "model": "item_knn", "k": 50},
            {"kind": "trending", "k": 50},
        ],
        "ranking": {"kind": "switching", "cold_sources": ["trending"], "history_threshold": 5},
    },
    "diverse": {
        "sources": [{"kind": "popular", "k": 50}],
        "diversity": {"strength": 0.9},
    },
    "undiverse": {
        "sources": [{"kind": "popular", "k": 50}],
        "diversity": {"strength": 0.0},
    },
    "untrained": {
        "sources": [{"kind": "model", "model": "ease"}],
        "fallback": ["popular"],
    },
    "similar": {
        "sources": [{"kind": "similar_to_context", "k": 20}],
    },
}


@dataclass(frozen=True)
class Served:
    url: str
    store: DataStore
    app: FastAPI
    settings: Settings


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("recommend") / "db.sqlite"
    settings = make_settings(f"sqlite:///{db}", insecure_dev=True, placements=PLACEMENTS)
    store = open_store(settings)
    world.build(store, settings)
    app = create_app(settings, store)
    with serve(app) as base:
        yield Served(base, store, app, settings)
    store.close()


@pytest.fixture(scope="module")
def url(served: Served) -> str:
    return served.url


@pytest.fixture(scope="module")
def store_of(served: Served) -> DataStore:
    return served.store


def recommend(url: str, user: str, placement: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(
        f"{url}/v1/users/{user}/recommendations",
        params={"placement": placement, **params},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def seen_by(user: str) -> set[str]:
    return {e.item_id for e in world.events() if e.user_id == user and e.item_id}


def test_collaborative_placement_recommends_unseen_items_of_the_users_taste(url: str) -> None:
    body = recommend(url, "tech-0", "collab", k=4)
    got = ids(body)
    assert len(got) == 4
    assert not set(got) & seen_by("tech-0")
    assert all(i.startswith("t-") for i in got)
    assert body["ranking"] == "weighted"
    assert body["fallback"] is None
    assert body["models"]["item_knn"] >= 1


def test_seen_items_come_back_only_when_the_rule_allows(url: str) -> None:
    assert not set(ids(recommend(url, "tech-0", "collab", k=10))) & seen_by("tech-0")
    assert set(ids(recommend(url, "tech-0", "repeat", k=10))) & seen_by("tech-0")


def test_request_exclusions_and_never_showable_items(url: str) -> None:
    first = ids(recommend(url, "tech-0", "collab", k=3))
    again = ids(recommend(url, "tech-0", "collab", k=3, exclude=first[:2]))
    assert not set(first[:2]) & set(again)
    for placement in PLACEMENTS:
        if placement == "untrained":
            continue
        got = ids(recommend(url, "sport-3", placement, k=20, item_id="t-1"))
        assert not set(got) & NEVER, placement


def test_tag_subtree_filters(url: str) -> None:
    assert all(i.startswith("s-") for i in ids(recommend(url, "tech-0", "sport-only", k=20)))
    got = ids(recommend(url, "tech-0", "no-sport", k=20))
    assert got
    assert not any(i.startswith("s-") for i in got)


def test_freshness_window(url: str) -> None:
    got = ids(recommend(url, "newcomer-fresh", "fresh", k=20))
    # t-0 … t-3 and n-2 are younger than 3.5 days; n-1 is young but expired
    assert set(got) == {"t-0", "t-1", "t-2", "t-3", "n-2"}


def test_property_filter(url: str) -> None:
    assert set(ids(recommend(url, "newcomer-prop", "premium", k=20))) == {"t-0", "t-1", "t-2"}


def test_boost_lifts_an_author_to_the_top(url: str) -> None:
    plain = ids(recommend(url, "tech-1", "collab", k=4))
    boosted = recommend(url, "tech-1", "boosted", k=5, explain="true")
    assert not any(i.startswith("s-") for i in plain)
    assert ids(boosted)[0].startswith("s-")
    assert boosted["items"][0]["features"]["boost"] == pytest.approx(50.0, rel=0.01)
    assert boosted["items"][0]["reasons"][0]["kind"] == "promoted"


def test_promotion_reserves_slots(url: str) -> None:
    got = ids(recommend(url, "tech-1", "promoted", k=5))
    assert [i[0] for i in got[:2]] == ["s", "s"]
    assert all(i.startswith("t-") for i in got[2:])


def test_pinned_items_in_the_editors_order(url: str) -> None:
    body = recommend(url, "anyone", "pinned")
    assert ids(body) == ["s-9", "t-9"]
    assert body["items"][0]["reasons"][0]["text"] == "editor's pick"


def test_recent_source_lists_the_newest(url: str) -> None:
    got = ids(recommend(url, "anyone", "newest", k=3))
    assert got == ["t-0", "n-2", "t-1"]  # published 1 h, 5 h and 1 day 1 h ago


def test_weighted_hybrid_moves_from_popular_to_collaborative_with_history(url: str) -> None:
    newcomer = recommend(url, "newcomer-w", "weighted", k=5, explain="true")
    assert all(set(i["contributions"]) <= {"popular"} for i in newcomer["items"])
    veteran = recommend(url, "tech-2", "weighted", k=4, explain="true")
    assert all(set(i["contributions"]) <= {"item_knn"} for i in veteran["items"])
    assert all(i.startswith("t-") for i in ids(veteran))


def test_switching_hybrid(url: str) -> None:
    cold = recommend(url, "newcomer-s", "switching", k=5)
    assert {i["source"] for i in cold["items"]} == {"trending"}
    warm = recommend(url, "tech-3", "switching", k=5)
    assert {i["source"] for i in warm["items"]} == {"item_knn"}


def test_diversity_spreads_the_top_over_the_tag_tree(url: str) -> None:
    def subtrees(got: list[str]) -> int:
        return len({i[0] + (str(int(i[2:]) % 2) if i[0] == "t" else "") for i in got})

    plain = ids(recommend(url, "newcomer-d", "undiverse", k=3))
    diverse = ids(recommend(url, "newcomer-d", "diverse", k=3))
    assert subtrees(diverse) == 3
    assert subtrees(diverse) > subtrees(plain)


def test_explanations_name_the_reason(url: str) -> None:
    body = recommend(url, "tech-4", "homepage", k=5, explain="true")
    for item in body["items"]:
        assert item["reasons"], item
        assert item["contributions"]
        assert item["features"]
        kinds = {r["kind"] for r in item["reasons"]}
        assert kinds & {
            "because_you_read",
            "interest",
            "collaborative",
            "similar",
            "trending",
            "popular",
            "new",
        }
    similar = recommend(url, "tech-4", "similar", k=3, item_id="t-2")
    assert similar["items"][0]["reasons"][0]["text"] == "similar to “Phone review 2”"


def test_context_item_drives_similar_items(url: str) -> None:
    got = ids(recommend(url, "anyone", "similar", k=4, item_id="t-2"))
    assert "t-2" not in got
    assert all(i in {"t-0", "t-4", "t-6", "t-8"} for i in got)


def test_missing_model_falls_back_and_says_so(url: str) -> None:
    body = recommend(url, "tech-0", "untrained", k=5)
    assert body["ranking"] == "fallback"
    assert "ease" in body["fallback"]
    assert len(body["items"]) == 5
    assert not set(ids(body)) & NEVER


def test_a_click_changes_the_very_next_answer(url: str) -> None:
    user = "fresh-reader"
    before = recommend(url, user, "homepage", k=5)
    assert before["items"]
    r = httpx.post(
        f"{url}/v1/events",
        json={
            "events": [
                {"event_id": "fr-1", "user_id": user, "item_id": "s-4", "type": "click"},
                {"event_id": "fr-2", "user_id": user, "item_id": "s-4", "type": "like"},
            ]
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    after = recommend(url, user, "homepage", k=5)
    assert "s-4" not in ids(after)  # read: not shown again
    assert ids(after) != ids(before)
    assert sum(i.startswith("s-") for i in ids(after)) >= 3
    reasons = [r_ for i in after["items"] for r_ in i["reasons"]]
    assert any(r_.get("item_id") == "s-4" for r_ in reasons)


def test_bad_requests_are_4xx(url: str) -> None:
    r = httpx.get(f"{url}/v1/users/u/recommendations", params={"placement": "nope"})
    assert r.status_code == 404
    assert "nope" in r.json()["error"]["message"]
    r = httpx.get(f"{url}/v1/users/u/recommendations", params={"placement": "collab", "k": 500})
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0]["field"] == "k"
    r = httpx.post(f"{url}/v1/users/u/recommendations", json={"placement": "collab", "x": 1})
    assert r.status_code == 422
    for wrong in ({"explain": 0}, {"k": "5"}, {"k": 2.0}):
        r = httpx.post(f"{url}/v1/users/u/recommendations", json={"placement": "collab", **wrong})
        assert r.status_code == 422, wrong
        assert [e["field"] for e in r.json()["error"]["errors"]] == list(wrong)


def test_bad_query_parameters_are_named(url: str) -> None:
    """The GET route reads its own query string: a parameter outside its documented bounds is
    named as FastAPI names query parameters, an id that is no external id by the request's
    field, and parameters it does not know are ignored."""

    def fields(params: dict[str, Any]) -> list[str]:
        r = httpx.get(f"{url}/v1/users/u/recommendations", params=params)
        assert r.status_code == 422, r.text
        return [e["field"] for e in r.json()["error"]["errors"]]

    assert fields({"k": "0"}) == ["query.k"]
    assert fields({"k": "ten", "explain": "maybe"}) == ["query.k", "query.explain"]
    assert fields({"placement": ""}) == ["query.placement"]
    assert fields({"exclude": ["a"] * 1001}) == ["query.exclude"]
    assert fields({"device": "d" * 65}) == ["query.device"]
    assert fields({"item_id": "has space"}) == ["item_id"]
    assert fields({"exclude": ["ok", "not/ok"]}) == ["exclude.1"]
    body = recommend(url, "tech-4", "collab", k="3", explain="1", utm_source="news")
    assert len(body["items"]) == 3
    assert body["items"][0]["features"]


def test_answers_are_the_documented_document(url: str) -> None:
    """The answer is rendered without the response model; it must still be exactly it."""
    for params in ({"k": 4}, {"k": 4, "explain": "true"}):
        for placement in ("homepage", "untrained", "pinned"):
            body = recommend(url, "tech-4", placement, **params)
            assert RecommendationsOut.model_validate(body).model_dump() == body
            assert all(len(i["reasons"][0]) == 4 for i in body["items"])  # no key left out


def test_similar_items_endpoint(url: str) -> None:
    r = httpx.get(f"{url}/v1/items/s-1/similar", params={"k": 3})
    assert r.status_code == 200
    got = [i["item_id"] for i in r.json()["items"]]
    assert len(got) == 3
    assert all(i.startswith("s-") for i in got)
    assert httpx.get(f"{url}/v1/items/zz/similar").status_code == 404
    assert httpx.get(f"{url}/v1/items/s-1/similar", params={"model": "ease"}).status_code == 404


def test_post_takes_rich_context(url: str) -> None:
    r = httpx.post(
        f"{url}/v1/users/tech-0/recommendations",
        json={"placement": "similar", "item_id": "s-2", "k": 3, "context": {"device": "app"}},
    )
    assert r.status_code == 200, r.text
    assert all(i["item_id"].startswith("s-") for i in r.json()["items"])


def test_models_missing_entirely_still_answer(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}", insecure_dev=True)
    store = open_store(settings)
    store.items.upsert(world.items(), world.NOW)
    with serve(create_app(settings, store)) as base:
        body = recommend(base, "u1", "homepage", k=3)
    store.close()
    assert body["ranking"] == "fallback"
    assert len(body["items"]) == 3
    assert not set(ids(body)) & NEVER


def test_answers_computed_in_a_thread_are_the_same(tmp_path: Path) -> None:
    """Answers are computed on the event loop unless ``compute_on_loop`` is false; then in a
    thread, which answers and caches alike."""
    settings = make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}", insecure_dev=True)
    store = open_store(settings)
    store.items.upsert(world.items(), world.NOW)
    app = create_app(settings, store)
    assert app.state.computes_on_loop
    assert not create_app(
        settings.model_copy(update={"compute_on_loop": False})
    ).state.computes_on_loop
    on_a_loop: list[bool] = []

    def running_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    with serve(app) as base:
        pipeline = app.state.serving.pipeline
        compute = pipeline.recommend

        def spied(*args: Any) -> Any:
            on_a_loop.append(running_loop())
            return compute(*args)

        pipeline.recommend = spied
        on_loop = recommend(base, "u1", "homepage", k=3)
        app.state.computes_on_loop = False
        in_thread = recommend(base, "u2", "homepage", k=3)
        again = recommend(base, "u2", "homepage", k=3)
    store.close()
    assert on_a_loop == [True, False]  # the repeat came from the cache
    assert ids(in_thread) == ids(on_loop)  # both the fallback's popular items
    assert not in_thread["cached"]
    assert again["cached"]
    assert ids(again) == ids(in_thread)


def test_cache_serves_repeats_and_an_event_invalidates_it(url: str) -> None:
    first = recommend(url, "sport-5", "homepage", k=4)
    again = recommend(url, "sport-5", "homepage", k=4)
    assert not first["cached"]
    assert again["cached"]
    assert ids(again) == ids(first)
    assert again["recommendation_id"] != first["recommendation_id"]
    assert not recommend(url, "sport-5", "homepage", k=5)["cached"]  # another variant
    r = httpx.post(
        f"{url}/v1/events",
        json={
            "events": [
                {"event_id": "c-1", "user_id": "sport-5", "item_id": ids(first)[0], "type": "like"}
            ]
        },
    )
    assert r.status_code == 200
    after = recommend(url, "sport-5", "homepage", k=4)
    assert not after["cached"]
    assert ids(first)[0] not in ids(after)
    metrics = httpx.get(f"{url}/metrics").text
    assert 'tastemaker_cache_lookups_total{placement="homepage",result="hit"}' in metrics
    assert "tastemaker_recommendation_duration_seconds_bucket" in metrics


def test_new_model_versions_swap_in_without_dropping_a_request(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        insecure_dev=True,
        placements=PLACEMENTS,
        model_poll_seconds=0.2,
    )
    store = open_store(settings)
    world.build(store, settings, ["popular", "item_knn"])
    failures: list[str] = []
    versions: set[int] = set()
    stop = threading.Event()
    with serve(create_app(settings, store)) as base:

        def hammer() -> None:
            with httpx.Client(timeout=30) as client:
                n = 0
                while not stop.is_set():
                    n += 1
                    r = client.get(
                        f"{base}/v1/users/tech-{n % 12}/recommendations",
                        params={"placement": "collab", "k": 3 + n % 5},
                    )
                    if r.status_code != 200 or len(r.json()["items"]) != 3 + n % 5:
                        failures.append(r.text)
                    else:
                        versions.add(r.json()["models"]["item_knn"])

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while 1 not in versions and time.monotonic() < deadline:
                time.sleep(0.01)  # answers from version 1 first
            train(store, settings, world.NOW, ["item_knn"], force=True)
            deadline = time.monotonic() + 20
            while 2 not in versions and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join()
        metrics = httpx.get(f"{base}/metrics").text
    store.close()
    assert not failures
    assert versions == {1, 2}
    assert 'tastemaker_model_version{model="item_knn"} 2.0' in metrics


def test_pages_never_repeat_and_every_page_is_logged(url: str) -> None:
    first = recommend(url, "tech-6", "homepage", k=4)
    rid = first["recommendation_id"]
    second = recommend(url, "tech-6", "homepage", k=4, recommendation_id=rid)
    third = recommend(url, "tech-6", "homepage", k=4, recommendation_id=rid)
    pages = [ids(first), ids(second), ids(third)]
    shown = [i for page in pages for i in page]
    assert len(shown) == len(set(shown)) == 12
    assert [second["page"], third["page"]] == [1, 2]
    assert second["recommendation_id"] == rid
    assert [i["position"] for i in third["items"]] == list(range(8, 12))
    # Another user cannot page through someone else's list.
    r = httpx.get(
        f"{url}/v1/users/tech-7/recommendations",
        params={"placement": "homepage", "recommendation_id": rid},
    )
    assert r.status_code == 404
    r = httpx.get(
        f"{url}/v1/users/tech-6/recommendations",
        params={"placement": "homepage", "recommendation_id": "never-issued"},
    )
    assert r.status_code == 404


def test_the_next_page_can_be_asked_of_another_process(served: Served) -> None:
    """Two processes on one store (two apps, each with its own exposure writer). The second is
    asked for the next page before the first has stored the first page: it waits for it to be
    stored (an id says when it was made) instead of answering 404, and repeats nothing."""
    writer = served.app.state.serving.exposures
    with serve(create_app(served.settings, served.store)) as other:
        writer._flush_lock.acquire()  # the first process cannot store its page yet
        try:
            first = recommend(served.url, "tech-9", "homepage", k=4)
            rid = first["recommendation_id"]
        finally:
            threading.Timer(0.5, writer._flush_lock.release).start()
        started = time.monotonic()
        second = recommend(other, "tech-9", "homepage", k=4, recommendation_id=rid)
        waited = time.monotonic() - started
        third = recommend(served.url, "tech-9", "homepage", k=4, recommendation_id=rid)
    assert waited >= 0.2, "the page was stored before it was asked for: nothing was tested"
    assert [second["page"], third["page"]] == [1, 2]
    shown = ids(first) + ids(second) + ids(third)
    assert len(shown) == len(set(shown)) == 12


def test_an_unknown_recommendation_id_is_a_404_without_waiting(url: str) -> None:
    """Only an id made within the last moments is waited for; an old or foreign id that no
    process stored is a 404 at once."""
    for rid in (new_id(time.time() - 60), uuid.uuid4().hex, "never-issued"):
        started = time.monotonic()
        r = httpx.get(
            f"{url}/v1/users/tech-6/recommendations",
            params={"placement": "homepage", "recommendation_id": rid},
        )
        assert r.status_code == 404, r.text
        assert time.monotonic() - started < 1.0, rid


def test_a_fresh_id_no_process_stores_is_a_404_after_the_wait(url: str) -> None:
    started = time.monotonic()
    r = httpx.get(
        f"{url}/v1/users/tech-6/recommendations",
        params={"placement": "homepage", "recommendation_id": new_id()},
    )
    waited = time.monotonic() - started
    assert r.status_code == 404, r.text
    assert PAGE_SETTLE_SECONDS - 0.5 <= waited < PAGE_SETTLE_SECONDS + 5


def test_exposures_are_logged_with_features_for_attribution(url: str, store_of: DataStore) -> None:
    body = recommend(url, "sport-8", "weighted", k=3)
    rid = body["recommendation_id"]
    deadline = time.monotonic() + 10
    logged: list[Exposure] = []
    while not logged and time.monotonic() < deadline:
        logged = store_of.exposures.get(rid)
        time.sleep(0.05)
    assert len(logged) == 1
    exposure = logged[0]
    assert exposure.placement == "weighted"
    assert exposure.item_ids() == ids(body)
    assert exposure.models["item_knn"] >= 1
    assert all(
        "item_knn.score" in i.features or "popular.score" in i.features for i in exposure.items
    )
    assert [i.position for i in exposure.items] == [0, 1, 2]


def test_anonymous_history_merges_into_the_known_user(url: str) -> None:
    session, known = "anon-s1", "signed-in-1"
    r = httpx.post(
        f"{url}/v1/events",
        json={
            "events": [
                {"event_id": f"an-{n}", "user_id": session, "item_id": f"s-{n}", "type": "like"}
                for n in range(4)
            ]
        },
    )
    assert r.status_code == 200
    anonymous = recommend(url, session, "homepage", k=5)
    assert sum(i.startswith("s-") for i in ids(anonymous)) >= 3
    before = recommend(url, known, "homepage", k=5)  # cached now; the merge must drop it
    r = httpx.post(f"{url}/v1/users/{known}/merge", json={"anonymous_id": session})
    assert r.status_code == 200, r.text
    assert r.json()["events_moved"] == 4
    after = recommend(url, known, "homepage", k=5)
    assert not after["cached"]
    assert ids(after) != ids(before)
    assert not {f"s-{n}" for n in range(4)} & set(ids(after))  # read while anonymous
    assert sum(i.startswith("s-") for i in ids(after)) >= 3
    profile = httpx.get(f"{url}/v1/users/{known}/profile").json()
    assert profile["events"] == 4
    again = httpx.post(f"{url}/v1/users/{known}/merge", json={"anonymous_id": session})
    assert again.json()["events_moved"] == 0
    bad = httpx.post(f"{url}/v1/users/{known}/merge", json={"anonymous_id": known})
    assert bad.status_code == 422


def test_placements_are_listed_and_editable_at_run_time(url: str) -> None:
    listed = {p["name"]: p for p in httpx.get(f"{url}/v1/placements").json()}
    assert {"homepage", "article-bottom", "email-digest", "collab"} <= set(listed)
    assert listed["homepage"]["origin"] == "built-in or settings"
    new = {"sources": [{"kind": "pinned", "items": ["t-5", "s-5"]}], "k": 2}
    r = httpx.put(f"{url}/v1/placements/editorial", json=new)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    assert ids(recommend(url, "anyone", "editorial")) == ["t-5", "s-5"]
    new["sources"][0]["items"] = ["s-6"]  # type: ignore[index]
    assert httpx.put(f"{url}/v1/placements/editorial", json=new).json()["version"] == 2
    assert ids(recommend(url, "anyone", "editorial")) == ["s-6"]
    # Overriding a configured placement, then deleting the override, restores it.
    override = {"sources": [{"kind": "pinned", "items": ["t-7"]}]}
    assert httpx.put(f"{url}/v1/placements/newest", json=override).status_code == 200
    assert ids(recommend(url, "anyone", "newest", k=3)) == ["t-7"]
    assert httpx.delete(f"{url}/v1/placements/newest").status_code == 204
    assert ids(recommend(url, "anyone", "newest", k=3)) == ["t-0", "n-2", "t-1"]
    assert httpx.delete(f"{url}/v1/placements/newest").status_code == 404
    assert httpx.delete(f"{url}/v1/placements/editorial").status_code == 204
    r = httpx.get(f"{url}/v1/users/u/recommendations", params={"placement": "editorial"})
    assert r.status_code == 404


def test_bad_placement_documents_are_422_and_change_nothing(url: str) -> None:
    cases = [
        ({"sources": []}, "sources"),
        ({"sources": [{"kind": "model", "model": "nope"}]}, "sources.0.model"),
        ({"sources": [{"kind": "popular"}], "ranking": {"weights": {"x": 1}}}, "body"),
        ({"sources": [{"kind": "popular"}], "extra": 1}, "extra"),
    ]
    for body, field in cases:
        r = httpx.put(f"{url}/v1/placements/broken", json=body)
        assert r.status_code == 422, body
        fields = [e["field"] for e in r.json()["error"]["errors"]]
        assert any(f.startswith(field) for f in fields), (body, fields)
    assert httpx.get(f"{url}/v1/placements/broken").status_code == 404


def test_settings_placements_must_name_configured_models(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        insecure_dev=True,
        placements={"odd": {"sources": [{"kind": "model", "model": "bpr"}]}},
    )
    with pytest.raises(ConfigurationError, match=r"placements\.odd\.sources\.0\.model: 'bpr'"):
        check_placements(settings)


def test_redis_down_still_answers_and_says_so(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        insecure_dev=True,
        placements=PLACEMENTS,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    store = open_store(settings)
    world.build(store, settings, ["popular", "item_knn"])
    with serve(create_app(settings, store)) as base:
        body = recommend(base, "tech-0", "collab", k=3)
        again = recommend(base, "tech-0", "collab", k=3)
    store.close()
    assert len(body["items"]) == 3
    assert body["fallback"] is None
    assert any(d.startswith("cache") for d in body["degraded"])
    assert not again["cached"]


def test_learned_ranker_placement_end_to_end(tmp_path: Path) -> None:
    placements = {
        "learned": {
            "sources": [
                {"kind": "model", "model": "item_knn", "k": 50},
                {"kind": "model", "model": "popular", "k": 50},
            ],
            "ranking": {"kind": "learned"},
        }
    }
    settings = make_settings(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        insecure_dev=True,
        placements=placements,
        model_poll_seconds=0.2,
        training={
            "ranker": {
                "sources": ["item_knn", "popular"],
                "params": {"n_estimators": 20, "min_child_samples": 1, "candidates": 50},
            }
        },
    )
    store = open_store(settings)
    world.build(store, settings, ["popular", "item_knn"])
    with serve(create_app(settings, store)) as base:
        before = recommend(base, "tech-0", "learned", k=4)
        assert before["ranking"] == "weighted"
        assert any("learned ranker" in d for d in before["degraded"])
        outcome = train_ranker(store, settings, world.NOW)
        assert outcome.source == "history"
        deadline = time.monotonic() + 20
        body = before
        while body["ranking"] != "learned" and time.monotonic() < deadline:
            time.sleep(0.1)
            body = recommend(base, "tech-0", "learned", k=4, explain="true")
        assert body["ranking"] == "learned"
        assert body["models"]["ranker"] == 1
        got = ids(body)
        assert len(got) == 4
        assert not set(got) & seen_by("tech-0")
        assert not set(got) & NEVER
        first = body["items"][0]
        assert {"score:item_knn", "rank:item_knn", "item_count"} <= set(first["features"])
        assert set(first["contributions"]) & {"item_knn", "popular"}
        assert first["reasons"]
        # A click since training counts in the user's features at once, as in the models.
        click = {"event_id": "lr-fresh", "user_id": "tech-0", "item_id": first["item_id"]}
        r = httpx.post(f"{base}/v1/events", json={"events": [{**click, "type": "click"}]})
        assert r.status_code == 200, r.text
        fresh = recommend(base, "tech-0", "learned", k=4, explain="true")
        assert fresh["ranking"] == "learned"
        assert first["item_id"] not in ids(fresh)
        count = [math.expm1(b["items"][0]["features"]["user_count"]) for b in (body, fresh)]
        # The user's stored history counts (training read it; a model artifact keeps none).
        assert count[0] >= 1
        assert first["features"]["tag_share"] > 0
        assert count[1] == pytest.approx(count[0] + 1, abs=1e-3)
        assert fresh["items"][0]["features"]["user_idle_days"] < 1 / 24
        # The learned ranking is logged with its features, ready for fit_exposures.
        deadline = time.monotonic() + 10
        logged: list[Exposure] = []
        while not logged and time.monotonic() < deadline:
            logged = store.exposures.get(body["recommendation_id"])
            time.sleep(0.05)
        assert "score:item_knn" in logged[0].items[0].features
        # Clicks echo the recommendation id; the ranker then retrains from what was shown.
        shown = [recommend(base, f"tech-{u}", "learned", k=4) for u in range(1, 12)]
        clicks = [
            {
                "event_id": f"lr-{n}",
                "user_id": f"tech-{n + 1}",
                "item_id": b["items"][n % 4]["item_id"],
                "type": "click",
                "context": {"recommendation_id": b["recommendation_id"], "position": n % 4},
            }
            for n, b in enumerate(shown)
        ]
        assert httpx.post(f"{base}/v1/events", json={"events": clicks}).status_code == 200
        deadline = time.monotonic() + 10
        while store.exposures.count() < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        again = train_ranker(store, settings, world.NOW, from_exposures=True)
        assert again.source == "exposures"
        assert again.version.version == 2
        assert again.examples >= 44
    store.close()


def test_exploration_slots_carry_their_propensity_into_the_log(tmp_path: Path) -> None:
    placements = {
        "exploring": {
            "sources": [{"kind": "model", "model": "popular", "k": 50}],
            "exploration": {"policy": "epsilon_greedy", "slots": 2, "first_position": 1},
        }
    }
    settings = make_settings(
        f"sqlite:///{tmp_path / 'db.sqlite'}", insecure_dev=True, placements=placements
    )
    store = open_store(settings)
    world.build(store, settings, ["popular"])
    with serve(create_app(settings, store)) as base:
        body = recommend(base, "tech-0", "exploring", k=5)
        explored = [i for i in body["items"] if i["propensity"] < 1.0]
        assert len(explored) == 2
        assert all(i["source"] == "explore" for i in explored)
        deadline = time.monotonic() + 10
        logged: list[Exposure] = []
        while not logged and time.monotonic() < deadline:
            logged = store.exposures.get(body["recommendation_id"])
            time.sleep(0.05)
        propensities = {i.item_id: i.propensity for i in logged[0].items}
        assert all(propensities[i["item_id"]] == i["propensity"] for i in body["items"])
    store.close()
