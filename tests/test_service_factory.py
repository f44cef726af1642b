"""The uvicorn factory reads its settings from the environment and tunes its process."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from threadpoolctl import threadpool_info, threadpool_limits

from tastemaker.service.app import app_from_env


@pytest.fixture
def process_state() -> Iterator[None]:
    """The garbage collector's and the math libraries' state, restored after the test (the
    factory tunes the whole process it runs in: here, pytest's)."""
    threshold = gc.get_threshold()
    with threadpool_limits(limits=None):  # restores the thread counts on exit
        try:
            yield
        finally:
            gc.unfreeze()
            gc.set_threshold(*threshold)


def test_app_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_state: None) -> None:
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
    # Tuned as `tastemaker serve` tunes its process(es).
    assert gc.get_threshold() == (10_000, 50, 100)
    assert gc.get_freeze_count() > 0
    assert all(pool["num_threads"] == 1 for pool in threadpool_info())
