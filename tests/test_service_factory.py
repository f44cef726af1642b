"""The uvicorn factory reads its settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tastemaker.service.app import app_from_env


def test_app_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASTEMAKER_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("TASTEMAKER_INSECURE_DEV", "true")
    monkeypatch.setenv("TASTEMAKER_MAX_BATCH_EVENTS", "2")
    with TestClient(app_from_env()) as client:
        events = [
            {"event_id": f"e{i}", "user_id": "u", "item_id": "i", "type": "view"} for i in range(3)
        ]
        assert client.post("/v1/events", json={"events": events}).status_code == 413
        assert client.post("/v1/events", json={"events": events[:2]}).status_code == 200
    assert (tmp_path / "env.db").exists()
