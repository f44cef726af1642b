"""Statements run on the database driver's own cursor, inside the SQLAlchemy transaction.

Ingestion sends a thousand-row ``IN (…)`` lookup and a thousand-row insert per request. Through
SQLAlchemy Core each of those spends more time expanding, binding and converting parameters than
the database spends on the statement (measured: about 12 ms of a 1,000-event request). The
statements here are fixed text with positional parameters, already in stored form, so they go
straight to the driver. They run on the connection SQLAlchemy holds, in its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

IN_CHUNK = 500
"""Values per ``IN (…)`` list, below SQLite's limit on bound parameters."""


def _mark(conn: Connection) -> str:
    # sqlite3 takes ``?``; psycopg takes ``%s``.
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def select_in(
    conn: Connection, columns: str, table: str, key: str, values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM table WHERE key IN (values)``, in chunks; rows as tuples.

    ``columns``, ``table`` and ``key`` are identifiers written in this package, never input.
    """
    mark = _mark(conn)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    out: list[tuple[Any, ...]] = []
    try:
        for start in range(0, len(values), IN_CHUNK):
            part = values[start : start + IN_CHUNK]
            marks = ",".join([mark] * len(part))
            cursor.execute(f"SELECT {columns} FROM {table} WHERE {key} IN ({marks})", part)
            out.extend(cursor.fetchall())
    finally:
        cursor.close()
    return out


def insert_ignore_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    conflict: str,
    rows: Sequence[Sequence[Any]],
) -> None:
    """``INSERT INTO table (columns) VALUES … ON CONFLICT (conflict) DO NOTHING`` for each row.

    Rows are tuples in the order of ``columns``, in the form the driver stores as is (integers,
    bytes, JSON as text).
    """
    mark = _mark(conn)
    names = ", ".join(columns)
    marks = ", ".join([mark] * len(columns))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({conflict}) DO NOTHING",
            rows,
        )
    finally:
        cursor.close()


def select_newest(conn: Connection, id_hash: bytes, limit: int) -> list[tuple[Any, ...]]:
    """``(item_id, type, value, ts, received_at)`` of a user's newest ``limit`` events."""
    mark = _mark(conn)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            "SELECT e.item_id, e.type, e.value, e.ts, e.received_at FROM events e "
            f"JOIN users u ON u.pk = e.user_pk WHERE u.id_hash = {mark} "
            f"ORDER BY e.ts DESC, e.seq DESC LIMIT {mark}",
            (id_hash, limit),
        )
        return list(cursor.fetchall())
    finally:
        cursor.close()
