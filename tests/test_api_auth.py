"""API keys and scopes, and the refusal to serve without a key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tastemaker.errors import ConfigurationError
from tastemaker.service import create_app
from tastemaker.storage import DataStore, open_store
from tests.conftest import make_settings
from tests.live import client

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EVENT = {"events": [{"event_id": "e1", "user_id": "u", "item_id": "i", "type": "view"}]}


def test_scopes_are_enforced(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite")
    store = open_store(settings)
    reader, _ = store.keys.create("dash", ["read"], NOW)
    writer, _ = store.keys.create("tracker", ["write"], NOW)
    admin, _ = store.keys.create("ops", ["admin"], NOW)
    with client(create_app(settings, store)) as api:
        assert api.get("/healthz").status_code == 200  # no key needed
        r = api.post("/v1/events", json=EVENT)
        assert r.status_code == 401
        assert "Authorization" in r.json()["error"]["message"]
        bad = {"Authorization": "Bearer tm_nope_nope"}
        assert api.post("/v1/events", json=EVENT, headers=bad).status_code == 401

        as_reader = {"Authorization": f"Bearer {reader}"}
        r = api.post("/v1/events", json=EVENT, headers=as_reader)
        assert r.status_code == 403
        assert "write" in r.json()["error"]["message"]

        assert api.post("/v1/events", json=EVENT, headers={"X-API-Key": writer}).status_code == 200
        as_writer = {"Authorization": f"Bearer {writer}"}
        assert api.get("/v1/users/u", headers=as_writer).status_code == 403
        assert api.get("/v1/users/u", headers=as_reader).status_code == 200
        # Erasure needs admin; admin can do everything.
        assert api.delete("/v1/users/u", headers=as_writer).status_code == 403
        as_admin = {"Authorization": f"Bearer {admin}"}
        assert api.get("/v1/users/u", headers=as_admin).status_code == 200
        assert api.delete("/v1/users/u", headers=as_admin).status_code == 200
    store.close()


def test_revoked_key_is_refused(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite")
    store = open_store(settings)
    secret, key = store.keys.create("x", ["read"], NOW)
    store.keys.revoke(key.prefix, NOW)
    store.keys.create("other", ["read"], NOW)
    with client(create_app(settings, store)) as api:
        r = api.get("/v1/items/a", headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 401
    store.close()


def test_server_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite")
    app = create_app(settings)
    with pytest.raises(ConfigurationError, match="keys create"), TestClient(app):
        pass


def test_insecure_dev_mode_starts_without_keys(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/db.sqlite", insecure_dev=True)
    with TestClient(create_app(settings)) as api:
        assert api.post("/v1/events", json=EVENT).status_code == 200


def test_no_secret_key_refuses_outside_dev_mode(tmp_path: Path) -> None:
    from tastemaker.config import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite")
    with pytest.raises(ConfigurationError, match="secret key"):
        open_store(settings)


def test_store_fixture_unused_marker(store: DataStore) -> None:
    """Keys live in the store of every backend (the contract suite covers the details)."""
    secret, _ = store.keys.create("k", ["read", "write"], NOW)
    assert store.keys.verify(secret) is not None
