"""Every row of one user, found through the tables' ``info["user_column"]``.

Erasure deletes them and merging moves them; both walk the schema instead of naming tables, so
a new table that declares its user column is erased and merged without further code.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tastemaker.storage.tables import metadata, users


def _user_tables() -> list[tuple[sa.Table, sa.Column[int]]]:
    """Tables with a user column, children before parents (``users`` last)."""
    return [
        (table, table.c[table.info["user_column"]])
        for table in reversed(metadata.sorted_tables)
        if "user_column" in table.info
    ]


def delete_user_rows(conn: Connection, user_pk: int) -> dict[str, int]:
    """Delete the user's rows from every table, the user last; rows removed per table."""
    # Children before parents, so the erasure does not rely on ON DELETE CASCADE.
    return {
        table.name: conn.execute(table.delete().where(column == user_pk)).rowcount
        for table, column in _user_tables()
    }


def _collides(table: sa.Table, column: sa.Column[int], to_pk: int) -> sa.ColumnElement[bool]:
    """True for a row of ``table`` that, moved to ``to_pk``, would duplicate a key of a row
    ``to_pk`` holds already: keys (primary or unique) that include the user column, such as
    one consent per user and purpose."""
    keys = [list(table.primary_key.columns)] + [
        list(c.columns) for c in table.constraints if isinstance(c, sa.UniqueConstraint)
    ]
    other = table.alias("other")
    clashes = [
        sa.exists().where(
            other.c[column.name] == to_pk,
            *(other.c[c.name] == c for c in key if c is not column),
        )
        for key in keys
        if column in key
    ]
    return sa.or_(*clashes) if clashes else sa.false()


def move_user_rows(conn: Connection, from_pk: int, to_pk: int) -> dict[str, int]:
    """Give ``to_pk`` every row of ``from_pk`` but the user row itself; rows moved per table.

    A row that would duplicate a key of ``to_pk``'s (a consent for a purpose ``to_pk`` decided
    too) stays with ``from_pk``: the target's row wins.
    """
    moved: dict[str, int] = {}
    for table, column in _user_tables():
        if table is users:
            continue  # the user's own row is not moved
        moved[table.name] = conn.execute(
            table.update()
            .where(column == from_pk, sa.not_(_collides(table, column, to_pk)))
            .values({column.name: to_pk})
        ).rowcount
    return moved
