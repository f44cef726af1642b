"""Engines with the durability settings Tastemaker promises.

SQLite runs in WAL mode with ``synchronous=FULL``: a commit returns only after the WAL is synced,
so an acknowledged write survives a crash or power loss. Write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing half-way;
reads start deferred and never block on writers.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from tastemaker.errors import ConfigurationError

_WRITE = "tastemaker_write"


def normalize_url(url: str) -> str:
    """Pick psycopg 3 for ``postgresql://`` URLs."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    if url.startswith("postgresql+psycopg://"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise ConfigurationError(
        f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:///path or postgresql://"
    )


def _sqlite_engine(url: str) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if memory:
        kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_size=8, max_overflow=16)
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> AbstractContextManager[object]:
    # SQLite admits one writer at a time. A writer that finds the lock taken waits in SQLite's
    # busy handler, which sleeps in steps of up to 100 ms however soon the lock frees; queueing
    # this process's writers on a Python lock hands the database over at once. (Other
    # processes still meet the busy handler, which is correct, only slower.)
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _LOCKS_GUARD:
        lock = _LOCKS.get(engine)
        if lock is None:
            lock = _LOCKS[engine] = threading.Lock()
    return lock


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on exit, rolled back on any exception."""
    with (
        _writer_lock(engine),
        engine.connect().execution_options(**{_WRITE: True}) as conn,
        conn.begin(),
    ):
        yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read transaction with a consistent snapshot."""
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def read_one(engine: Engine) -> Iterator[Connection]:
    """A connection for a single statement read on the driver's cursor, outside any
    transaction: one statement sees one snapshot on its own, and the serving path's newest
    events read then skips a ``BEGIN`` and its bookkeeping on every request."""
    with engine.connect() as conn:
        yield conn
