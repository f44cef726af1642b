"""``GET /v1/segments`` and ``GET /v1/segments/{id}`` over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tastemaker.catalog.sample import SampleConfig, generate_sample
from tastemaker.cli.demo import load_sample
from tastemaker.config import Settings
from tastemaker.profiles.segments import SegmentationConfig, segment_store
from tastemaker.service import create_app
from tastemaker.storage import DataStore, open_store
from tests.conftest import make_settings
from tests.live import client, serve

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SAMPLE = SampleConfig(seed=3, n_items=300, n_users=300)
_spec = create_app(make_settings("sqlite://", insecure_dev=True)).openapi()
schema = schemathesis.openapi.from_dict(_spec).include(path_regex="^/v1/segments")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, DataStore]]:
    """A store holding a small sample (and no segmentation yet)."""
    db = tmp_path_factory.mktemp("api-segments") / "db.sqlite"
    settings = make_settings(f"sqlite:///{db}", insecure_dev=True)
    store = open_store(settings)
    load_sample(store, generate_sample(SAMPLE), NOW)
    yield settings, store
    store.close()


@pytest.fixture(scope="module")
def trained_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A live server with a read key, whose store holds a trained DBSCAN segmentation (so
    "Unsegmented" is served too)."""
    db = tmp_path_factory.mktemp("api-segments-fuzz") / "db.sqlite"
    settings = make_settings(f"sqlite:///{db}")
    store = open_store(settings)
    secret, _ = store.keys.create("reader", ["read"], NOW)
    load_sample(store, generate_sample(SAMPLE), NOW)
    segment_store(store, settings, SegmentationConfig(method="dbscan"), NOW)
    with serve(create_app(settings, store)) as url:
        yield url, secret
    store.close()


@schema.parametrize()
@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_trained_segments_conform_to_the_spec(
    case: schemathesis.Case, trained_server: tuple[str, str]
) -> None:
    url, secret = trained_server
    case.call_and_validate(base_url=url, headers={"Authorization": f"Bearer {secret}"})


def test_segments_404_until_trained_then_served_per_version(
    filled: tuple[Settings, DataStore],
) -> None:
    settings, store = filled
    with client(create_app(settings, store)) as api:
        r = api.get("/v1/segments")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
        assert "tastemaker segment" in r.json()["error"]["message"]
        assert api.get("/v1/segments/0").status_code == 404

        first = segment_store(store, settings, SegmentationConfig(seed=1), NOW)
        r = api.get("/v1/segments")
        assert r.status_code == 200
        body = r.json()
        assert body["version"] == first.version.version
        assert body["method"] == "kmeans"
        assert body["users"] == 300
        assert "tag_share:News" in body["features"]
        segments = body["segments"]
        assert len(segments) == first.segmentation.k == 5
        assert sum(s["size"] for s in segments) == 300
        assert {s["name"] for s in segments} == {s.name for s in first.segmentation.segments}
        assert set(segments[0]) == {"id", "name", "description", "size", "share"}

        for s in segments:
            r = api.get(f"/v1/segments/{s['id']}")
            assert r.status_code == 200
            detail = r.json()
            assert {k: detail[k] for k in s} == s
            z = [abs(d["z"]) for d in detail["distinguishing"]]
            assert z == sorted(z, reverse=True)
            assert detail["distinguishing"][0]["feature"].startswith("tag_share:")
            assert 0 <= detail["statistics"]["ctr"] <= 1
            top = detail["top_items"]
            assert len(top) == 10
            assert all(t["title"] and 0 < t["share"] <= 1 for t in top)
            assert [t["users"] for t in top] == sorted((t["users"] for t in top), reverse=True)

        r = api.get("/v1/segments/42")
        assert r.status_code == 404
        assert "ids 0, 1, 2, 3, 4" in r.json()["error"]["message"]
        assert api.get("/v1/segments/first").status_code == 422

        # A new version is served on the next request, without a restart.
        second = segment_store(store, settings, SegmentationConfig(method="dbscan"), NOW)
        body = api.get("/v1/segments").json()
        assert body["version"] == second.version.version == first.version.version + 1
        assert body["method"] == "dbscan"
        assert body["segments"][-1]["id"] == -1
        assert body["segments"][-1]["name"] == "Unsegmented"
        assert api.get("/v1/segments/-1").json()["name"] == "Unsegmented"


def test_segments_need_the_read_scope(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = open_store(settings)
    reader, _ = store.keys.create("dash", ["read"], NOW)
    writer, _ = store.keys.create("tracker", ["write"], NOW)
    try:
        with client(create_app(settings, store)) as api:
            assert api.get("/v1/segments").status_code == 401
            r = api.get("/v1/segments", headers={"Authorization": f"Bearer {writer}"})
            assert r.status_code == 403
            r = api.get("/v1/segments/0", headers={"X-API-Key": reader})
            assert r.status_code == 404  # authorized; nothing trained yet
    finally:
        store.close()


def test_the_spec_documents_the_segment_routes() -> None:
    spec = create_app(make_settings("sqlite://", insecure_dev=True)).openapi()
    listing = spec["paths"]["/v1/segments"]["get"]
    detail = spec["paths"]["/v1/segments/{segment_id}"]["get"]
    assert {"200", "401", "403", "404", "503"} <= set(listing["responses"])
    assert {"200", "401", "403", "404", "422", "503"} <= set(detail["responses"])
    assert "segments" in listing["tags"]
