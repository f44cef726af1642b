"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tastemaker.config import Settings
from tastemaker.storage import DataStore, open_store
from tests.backends import postgres_schema

TEST_SECRET = "test-secret-key-0123456789abcdef-0123456789"


def make_settings(database_url: str, **overrides: object) -> Settings:
    return Settings(database_url=database_url, secret_keys=[TEST_SECRET], **overrides)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every backend of the durable store: a fresh SQLite file, a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tastemaker.db'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[DataStore]:
    s = open_store(settings)
    yield s
    s.close()
