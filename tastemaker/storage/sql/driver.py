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
        if conn.dialect.name == "postgresql":
            # One array parameter: no statement of hundreds of placeholders for the driver to
            # parse each time, and a plan that does not depend on how many values there are.
            if values:
                cursor.execute(
                    f"SELECT {columns} FROM {table} WHERE {key} = ANY(%s)", [list(values)]
                )
                out.extend(cursor.fetchall())
            return out
        for part in chunks(values, IN_CHUNK):
            marks = ",".join([mark] * len(part))
            cursor.execute(f"SELECT {columns} FROM {table} WHERE {key} IN ({marks})", part)
            out.extend(cursor.fetchall())
    finally:
        cursor.close()
    return out


INSERT_CHUNK_PARAMETERS = 30_000
"""Bound parameters per multi-row ``INSERT``: below SQLite's limit (32,766 since 3.32) and
PostgreSQL's (65,535)."""


def _insert_values(
    conn: Connection, table: str, columns: Sequence[str], n: int, conflict: str | None
) -> str:
    row = "(" + ", ".join([_mark(conn)] * len(columns)) + ")"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([row] * n)
    return sql if conflict is None else f"{sql} ON CONFLICT ({conflict}) DO NOTHING"


def _row_chunks(rows: Sequence[Sequence[Any]], width: int) -> list[list[Sequence[Any]]]:
    return chunks(rows, max(1, INSERT_CHUNK_PARAMETERS // max(1, width)))


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
    PostgreSQL is sent the others by ``executemany`` (psycopg pipelines them; a statement of
    thousands of placeholders would cost more to parse in the driver than to run). SQLite is
    sent multi-row ``INSERT`` statements (thousands of rows each): its driver releases and takes
    back the interpreter lock for every row of an ``executemany``, and each time it is taken
    back a busy thread (a server answering requests) may keep it for a whole switch interval
    (5 ms), so a 2,000-row insert could take seconds under load.
    """
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if conflict is None and conn.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif conn.dialect.name == "postgresql":
            cursor.executemany(_insert_values(conn, table, columns, 1, conflict), rows)
        else:
            for part in _row_chunks(rows, len(columns)):
                sql = _insert_values(conn, table, columns, len(part), conflict)
                cursor.execute(sql, [v for row in part for v in row])
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


def insert_many_returning(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict: str,
    returning: str,
) -> list[tuple[Any, ...]]:
    """Insert the rows whose ``conflict`` key is not stored yet, as one multi-row statement
    (per chunk of rows); the ``returning`` columns of each inserted row, in no set order (give
    the key among them to tell which were skipped).

    One statement instead of one per row: every statement releases and takes back the
    interpreter lock, which a busy server thread may hold for a whole switch interval. (On
    SQLite each returned row still costs one: :func:`next_key` avoids ``RETURNING`` there.)
    """
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    out: list[tuple[Any, ...]] = []
    try:
        for part in _row_chunks(rows, len(columns)):
            sql = _insert_values(conn, table, columns, len(part), conflict)
            cursor.execute(f"{sql} RETURNING {returning}", [v for row in part for v in row])
            out.extend(cursor.fetchall())
    finally:
        cursor.close()
    return out


def next_key(conn: Connection, table: str, key: str = "pk") -> int:
    """One more than the largest ``key`` of ``table``: where a writer holding SQLite's write
    lock can number the rows it inserts itself (as SQLite numbers rowids) and so needs no
    ``RETURNING``."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"SELECT coalesce(max({key}), 0) + 1 FROM {table}")
        row = cursor.fetchone()
        assert row is not None  # an aggregate always gives a row
        return int(row[0])
    finally:
        cursor.close()
