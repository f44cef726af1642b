"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

T = TypeVar("T")


def insert_ignore(conn: Connection, table: sa.Table, conflict_columns: list[str]) -> sa.Insert:
    """``INSERT … ON CONFLICT (cols) DO NOTHING`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)


def chunks(values: Sequence[T], size: int = 500) -> list[list[T]]:
    """Split ``IN (…)`` lists below SQLite's bound-parameter limit."""
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def upsert(
    conn: Connection, table: sa.Table, conflict_columns: list[str], update_columns: list[str]
) -> sa.Insert:
    """``INSERT … ON CONFLICT (cols) DO UPDATE SET …`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=conflict_columns, set_={c: pg.excluded[c] for c in update_columns}
        )
    lite = sqlite.insert(table)
    return lite.on_conflict_do_update(
        index_elements=conflict_columns, set_={c: lite.excluded[c] for c in update_columns}
    )
