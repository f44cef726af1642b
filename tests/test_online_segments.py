"""Profiles get their segment online, and erasure removes the online profile too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tastemaker.catalog.sample import SampleConfig, generate_sample
from tastemaker.cli.demo import load_sample
from tastemaker.profiles.segments import SegmentationConfig, segment_store
from tastemaker.service import create_app
from tastemaker.storage import open_store
from tests.conftest import make_settings
from tests.live import client

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SAMPLE = SampleConfig(seed=3, n_items=300, n_users=300)


def test_profiles_are_assigned_to_the_active_segmentation(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite", insecure_dev=True)
    store = open_store(settings)
    sample = generate_sample(SAMPLE)
    load_sample(store, sample, NOW)
    run = segment_store(store, settings, SegmentationConfig(method="kmeans"), NOW)
    names = {s.name for s in run.segmentation.segments}
    user = next(iter(sample.segments))
    with client(create_app(settings, store)) as api:
        profile = api.get(f"/v1/users/{user}/profile").json()
        assert profile["segment"] in names
        # A brand-new user is assigned as soon as their first events arrive.
        item = sample.items[0].id
        events = [
            {"event_id": f"new-{i}", "user_id": "newcomer", "item_id": item, "type": "view"}
            for i in range(3)
        ]
        assert api.post("/v1/events", json={"events": events}).status_code == 200
        assert api.get("/v1/users/newcomer/profile").json()["segment"] in names

        # Erasure removes the stored user and the online profile.
        assert api.delete("/v1/users/newcomer").status_code == 200
        assert api.get("/v1/users/newcomer/profile").status_code == 404
        assert api.delete("/v1/users/newcomer").status_code == 404
    store.close()
