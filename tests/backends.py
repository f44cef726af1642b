"""The real PostgreSQL and Redis the suite runs against, found once per session.

Outside CI a missing server skips the tests that need it, with the reason shown; with ``CI=true``
it fails them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
import sqlalchemy as sa

from tastemaker.config import backends_for_tests

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def _in_ci() -> bool:
    return (backends_for_tests()["ci"] or "").lower() in ("1", "true", "yes")


def _missing(what: str, url: str, exc: Exception) -> None:
    reason = f"{what} not reachable at {url} ({exc.__class__.__name__}: {exc})"
    if _in_ci():
        pytest.fail(f"CI needs {reason}", pytrace=False)
    pytest.skip(reason)


@cache
def _postgres_url() -> tuple[str, Exception | None]:
    url = backends_for_tests()["postgres"] or DEFAULT_POSTGRES
    try:
        engine = sa.create_engine(
            "postgresql+psycopg://" + url.split("://", 1)[1], connect_args={"connect_timeout": 3}
        )
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return url, exc
    return url, None


def postgres_url() -> str:
    """The base URL of the test PostgreSQL, or skip/fail."""
    url, exc = _postgres_url()
    if exc is not None:
        _missing("PostgreSQL", url, exc)
    return url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose tables live in a fresh schema, dropped afterwards."""
    base = postgres_url()
    schema = "tm_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine("postgresql+psycopg://" + base.split("://", 1)[1])
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@cache
def _redis_url() -> tuple[str, Exception | None]:
    import redis

    url = backends_for_tests()["redis"] or DEFAULT_REDIS
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        return url, exc
    return url, None


def redis_url() -> str:
    url, exc = _redis_url()
    if exc is not None:
        _missing("Redis", url, exc)
    return url


@contextmanager
def redis_namespace() -> Iterator[tuple[str, str]]:
    """The test Redis's URL and a fresh key prefix whose keys are deleted afterwards (tests of
    several worktrees share the database, so nothing flushes it)."""
    from tastemaker.serving.cache_redis import RedisCache

    url = redis_url()
    prefix = f"tmtest:{uuid.uuid4().hex[:12]}:"
    try:
        yield url, prefix
    finally:
        cleaner = RedisCache(url, key_prefix=prefix, socket_timeout_ms=3000)
        cleaner.delete_namespace()
        cleaner.close()
