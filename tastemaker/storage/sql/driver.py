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

from tastemaker.storage.sql.dialect import chunks

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
        for part in chunks(values, IN_CHUNK):
            marks = ",".join([mark] * len(part))
            cursor.execute(f"SELECT {columns} FROM {table} WHERE {key} IN ({marks})", part)
            out.extend(cursor.fetchall())
    finally:
        cursor.close()
    return out


def _insert(conn: Connection, table: str, columns: Sequence[str], conflict: str | None) -> str:
    marks = ", ".join([_mark(conn)] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    return sql if conflict is None else f"{sql} ON CONFLICT ({conflict}) DO NOTHING"


def insert_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict: str | None = None,
) -> None:
    """``INSERT INTO table (columns) VALUES …`` for each row, with ``ON CONFLICT (conflict) DO
    NOTHING`` if ``conflict`` names the key columns.

    Rows are tuples in the order of ``columns``, in the form the driver stores as is (integers,
    bytes, JSON as text). Without ``conflict``, PostgreSQL is sent the rows by ``COPY``: a
    hundred rows load in about a quarter of the time ``executemany`` takes (measured).
    """
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if conflict is None and conn.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(_insert(conn, table, columns, conflict), rows)
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


def insert_returning(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    row: Sequence[Any],
    conflict: str,
    returning: str,
) -> Any | None:
    """Insert one row unless its ``conflict`` key is stored; the new row's ``returning``
    column, or ``None`` if it was skipped."""
    sql = f"{_insert(conn, table, columns, conflict)} RETURNING {returning}"
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, row)
        found = cursor.fetchone()
    finally:
        cursor.close()
    return None if found is None else found[0]
