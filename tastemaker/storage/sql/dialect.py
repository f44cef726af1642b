"""The few statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tastemaker.errors import FieldProblem, InvalidInput

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


_JSON_NUL = re.compile(r"(?:^|[^\\])(?:\\\\)*\\u0000")
"""``\\u0000`` escaping NUL in JSON text (an odd number of backslashes before ``u0000``)."""


def reject_nul(field: str, text: str, *, json: bool = False) -> None:
    r"""Refuse text PostgreSQL cannot store: the NUL character, or in ``json`` text also its
    escape ``\u0000``. Every backend refuses it alike, with an error naming the field.

    >>> import json
    >>> reject_nul("config", json.dumps({"path": r"C:\u0000"}), json=True)  # a backslash: fine
    >>> reject_nul("config", json.dumps({"text": "\x00"}), json=True)
    Traceback (most recent call last):
    tastemaker.errors.InvalidInput: config contains the NUL character
    """
    if "\x00" in text or (json and "\\u0000" in text and _JSON_NUL.search(text)):
        raise InvalidInput(
            f"{field} contains the NUL character",
            [FieldProblem(field, "text must not contain the NUL character (\\u0000)")],
        )
